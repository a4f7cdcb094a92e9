//! Human-readable tables.

use comfy_table::{Cell, CellAlignment, ContentArrangement, LineStyle, Table, TableStyle};

use nnsched::Schedule;
use nnsched::doc::{BlockingDoc, Count, Levels, LoopName, Loops, PartName, PartitionDoc};
use nnsched::hw::Energy;
use nnsched::stats::LayerStats;

use super::format::{fmt_count, fmt_energy};

fn right(s: String) -> Cell {
    Cell::new(s).set_alignment(CellAlignment::Right)
}

fn new_table(header: &[&str]) -> Table {
    let mut t = Table::new();
    // A rule under the header, nothing else: dense enough for 100 columns.
    const STYLE: TableStyle =
        TableStyle::new().header_separator(LineStyle::none().fill('─').junction('─'));
    t.load_style(STYLE)
        .set_content_arrangement(ContentArrangement::Disabled);
    t.set_header(header.to_vec());
    for c in t.column_iter_mut() {
        c.set_padding((0, 1));
    }
    t
}

/// Blocking factors per level, outermost level first and each level's
/// non-trivial loops outer to inner: `B16 | O48 | I3 B4`.
fn blocking_summary(b: &BlockingDoc) -> String {
    let name = |l: LoopName| match l {
        LoopName::Ifm => 'I',
        LoopName::Ofm => 'O',
        LoopName::Bat => 'B',
    };
    let factor = |f: &Loops<u64>, l: LoopName| match l {
        LoopName::Ifm => f.ifm,
        LoopName::Ofm => f.ofm,
        LoopName::Bat => f.bat,
    };
    // The register-file level has no order of its own: loop order.
    let all = [LoopName::Ifm, LoopName::Ofm, LoopName::Bat];
    let f = &b.factors;
    let levels = [
        (&f.dram, &b.orders.dram),
        (&f.gbuf, &b.orders.gbuf),
        (&f.regf, &all),
    ];
    let level = |(t, order): (&Loops<u64>, &[LoopName; 3])| -> String {
        let loops: Vec<String> = order
            .iter()
            .filter(|&&l| factor(t, l) > 1)
            .map(|&l| format!("{}{}", name(l), factor(t, l)))
            .collect();
        if loops.is_empty() {
            "-".into()
        } else {
            loops.join(" ")
        }
    };
    levels.map(level).join(" | ")
}

/// Non-trivial partition dimensions, outermost first: `B2 O2x4 F2x1`
/// (B batch, O output channels, F output map tiles, I input channels).
fn partition_summary(p: &PartitionDoc) -> String {
    let v: Vec<String> = p
        .order
        .iter()
        .map(|&d| {
            let (c, [h, w]) = match d {
                PartName::Outp => ('O', p.dims.outp),
                PartName::Ofmp => ('F', p.dims.ofmp),
                PartName::Batp => ('B', p.dims.batp),
                PartName::Inpp => ('I', p.dims.inpp),
            };
            (c, h, w)
        })
        .filter(|&(_, h, w)| h * w > 1)
        .map(|(c, h, w)| format!("{c}{h}x{w}"))
        .collect();
    if v.is_empty() {
        "-".into()
    } else {
        v.join(" ")
    }
}

/// The pipelined segments: slots side by side, layers in turn.
fn segment_summary(s: &Schedule) -> String {
    let mut out = String::from(
        "\nseg: segment:slot.position. Pipelined segments (slots side by side, layers in turn):",
    );
    for (i, g) in s.segments.iter().enumerate() {
        if g.slots.iter().map(|sl| sl.layers.len()).sum::<usize>() < 2 {
            continue;
        }
        let slots: Vec<String> = g
            .slots
            .iter()
            .map(|sl| {
                format!(
                    "[{}] on {} nodes",
                    sl.layers.join(" > "),
                    sl.region.dim[0] * sl.region.dim[1]
                )
            })
            .collect();
        out.push_str(&format!(
            "\n  {i}: {} | {} cycles",
            slots.join(" || "),
            fmt_count(g.time as f64)
        ));
    }
    out
}

/// Per-level access energies: DRAM, buffer, array, register file.
fn access_parts(a: &Levels<Count>, e: &Energy) -> [Cell; 4] {
    [
        a.dram.0 * e.dram,
        a.gbuf.0 * e.gbuf,
        a.itcn.0 * e.itcn,
        a.regf.0 * e.regf,
    ]
    .map(|v| right(fmt_energy(v)))
}

/// The schedule table: cycles, energy, active PEs, partition, blocking.
fn schedule_rows(s: &Schedule, piped: bool, multi: bool) -> Table {
    let mut header = vec!["layer", "type"];
    if piped {
        header.push("seg");
    }
    header.extend(["cycles", "energy", "PEs"]);
    if multi {
        header.push("partition");
    }
    header.push("blocking");
    let mut t = new_table(&header);
    for r in &s.layers {
        let mut row = vec![Cell::new(&r.name), Cell::new(&r.type_name)];
        if piped {
            row.push(Cell::new(format!(
                "{}:{}.{}",
                r.segment, r.slot, r.slot_position
            )));
        }
        let active_pes = r.ops.0 / r.proc_time as f64 / r.num_nodes as f64;
        row.extend([
            right(fmt_count(r.time as f64)),
            right(fmt_energy(r.cost)),
            right(format!("{active_pes:.1}")),
        ]);
        if multi {
            row.push(Cell::new(partition_summary(&r.partition)));
        }
        row.push(Cell::new(blocking_summary(&r.blocking)));
        t.add_row(row);
    }
    let mut row = vec![Cell::new("total"), Cell::new("")];
    if piped {
        row.push(Cell::new(""));
    }
    row.extend([
        right(fmt_count(s.totals.time as f64)),
        right(fmt_energy(s.totals.cost)),
    ]);
    t.add_row(row);
    t
}

/// Energy by component; static energy is the schedule's, spread over
/// layers by their time.
fn energy_rows(s: &Schedule, e: &Energy) -> Table {
    let mut b = new_table(&[
        "layer", "MAC", "DRAM", "buffer", "array", "RF", "NoC", "static", "energy",
    ]);
    for r in &s.layers {
        let c = &r.cost_breakdown;
        let mut row = vec![Cell::new(&r.name), right(fmt_energy(c.op))];
        row.extend(access_parts(&r.accesses, e));
        row.extend([
            right(fmt_energy(c.noc)),
            right(fmt_energy(c.static_)),
            right(fmt_energy(r.cost)),
        ]);
        b.add_row(row);
    }
    let c = &s.totals.cost_breakdown;
    let mut row = vec![Cell::new("total"), right(fmt_energy(c.op))];
    row.extend(access_parts(&s.totals.accesses, e));
    row.extend([
        right(fmt_energy(c.noc)),
        right(fmt_energy(c.static_)),
        right(fmt_energy(s.totals.cost)),
    ]);
    b.add_row(row);
    b
}

/// Per-layer tables, each within 100 columns: the schedule (cycles,
/// energy, active PEs, partition, blocking) and the energy breakdown, both
/// with totals, then legends.
pub fn layer_table(s: &Schedule, e: &Energy) -> String {
    // Segments only where layers are pipelined; partitions only on
    // multi-node chips.
    let piped = s
        .segments
        .iter()
        .any(|g| g.slots.iter().map(|sl| sl.layers.len()).sum::<usize>() > 1);
    let multi = s.layers.iter().any(|r| r.num_nodes > 1);
    let mut t = schedule_rows(s, piped, multi);
    let mut b = energy_rows(s, e);
    for c in t.column_iter_mut().chain(b.column_iter_mut()) {
        c.set_padding((0, 2));
    }
    let mut out = format!("{}\n\n{}\n", t.trim_fmt(), b.trim_fmt());
    out.push_str(
        "blocking: loops outside the buffer | in the buffer | in a register file, outer first\n",
    );
    out.push_str("  (I input channels, O output channels, B batch)");
    if multi {
        out.push_str("\npartition: over the node grid, outer first (O output channels, F output tiles, B batch,\n  I input channels)");
    }
    if piped {
        out.push_str(&segment_summary(s));
    }
    out
}

/// The layer statistics table.
pub fn stats_table(stats: &[LayerStats]) -> String {
    let mut t = new_table(&[
        "layer",
        "type",
        "ifmap kB",
        "ofmap kB",
        "weight kB",
        "MACs M",
        "min buffer kB",
    ]);
    let kb = |b: u64| right(format!("{:.2}", b as f64 / 1024.0));
    for s in stats {
        t.add_row(vec![
            Cell::new(&s.name),
            Cell::new(s.type_name),
            kb(s.ifmap_bytes),
            kb(s.ofmap_bytes),
            kb(s.weight_bytes),
            right(format!("{:.2}", s.macs as f64 / 1048576.0)),
            right(format!("{:.2}", s.min_opt_buf_bytes / 1024.0)),
        ]);
    }
    let sum = |f: fn(&LayerStats) -> u64| stats.iter().map(f).sum::<u64>();
    t.add_row(vec![
        Cell::new("total"),
        Cell::new(""),
        Cell::new(""),
        kb(sum(|s| s.ofmap_bytes)),
        kb(sum(|s| s.weight_bytes)),
        right(format!("{:.2}", sum(|s| s.macs) as f64 / 1048576.0)),
        Cell::new(""),
    ]);
    t.trim_fmt()
}

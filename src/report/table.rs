//! Human-readable tables.

use comfy_table::{Cell, CellAlignment, ContentArrangement, LineStyle, Table, TableStyle};

use super::{fmt_count, fmt_energy};
use crate::blocking::Blocking;
use crate::dims::{LoopDim, MemLevel, PerLevel};
use crate::hw::Hardware;
use crate::network::Network;
use crate::partition::{PartDim, PartitionScheme};
use crate::search::NetworkSchedule;
use crate::stats::LayerStats;

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
fn blocking_summary(b: &Blocking) -> String {
    let name = |l: LoopDim| match l {
        LoopDim::Ifm => 'I',
        LoopDim::Ofm => 'O',
        LoopDim::Bat => 'B',
    };
    let level = |lvl: usize| -> String {
        let loops: Vec<(LoopDim, u64)> = if lvl < 2 {
            b.ordered_loops(lvl)
        } else {
            LoopDim::ALL
                .into_iter()
                .filter(|&l| b.ts[2][l] > 1)
                .map(|l| (l, b.ts[2][l]))
                .collect()
        };
        if loops.is_empty() {
            "-".into()
        } else {
            loops
                .iter()
                .map(|(l, t)| format!("{}{t}", name(*l)))
                .collect::<Vec<_>>()
                .join(" ")
        }
    };
    format!("{} | {} | {}", level(0), level(1), level(2))
}

/// Non-trivial partition dimensions, outermost first: `B2 O2x4 F2x1`
/// (B batch, O output channels, F output map tiles, I input channels).
fn partition_summary(p: &PartitionScheme) -> String {
    let v: Vec<String> = p
        .order
        .iter()
        .filter(|&&d| p.pdim(d).size() > 1)
        .map(|&d| {
            let c = match d {
                PartDim::Outp => 'O',
                PartDim::Ofmp => 'F',
                PartDim::Batp => 'B',
                PartDim::Inpp => 'I',
            };
            let x = p.pdim(d);
            format!("{c}{}x{}", x.h, x.w)
        })
        .collect();
    if v.is_empty() {
        "-".into()
    } else {
        v.join(" ")
    }
}

/// The pipelined segments: slots side by side, layers in turn.
fn segment_summary(s: &NetworkSchedule) -> String {
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
                    sl.region.dim.size()
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

/// Per-layer tables, each within 100 columns: the schedule (cycles,
/// energy, active PEs, partition, blocking) and the energy breakdown, both
/// with totals, then legends.
pub fn layer_table(net: &Network, hw: &Hardware, s: &NetworkSchedule) -> String {
    let e = &hw.energy;
    // Segments only where layers are pipelined; partitions only on
    // multi-node chips.
    let piped = s
        .segments
        .iter()
        .any(|g| g.slots.iter().map(|sl| sl.layers.len()).sum::<usize>() > 1);
    let multi = s.layers.iter().any(|r| r.num_nodes > 1);
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
        let mut row = vec![
            Cell::new(&r.name),
            Cell::new(net.layer(r.layer).type_name()),
        ];
        if piped {
            let (g, sp, tm) = r.sched_seq;
            row.push(Cell::new(format!("{g}:{sp}.{tm}")));
        }
        row.extend([
            right(fmt_count(r.time as f64)),
            right(fmt_energy(r.cost)),
            right(format!("{:.1}", r.active_pes())),
        ]);
        if multi {
            row.push(Cell::new(partition_summary(&r.part)));
        }
        row.push(Cell::new(blocking_summary(&r.scheme.blocking)));
        t.add_row(row);
    }
    let mut row = vec![Cell::new("total"), Cell::new("")];
    if piped {
        row.push(Cell::new(""));
    }
    row.extend([
        right(fmt_count(s.total_time as f64)),
        right(fmt_energy(s.total_cost)),
    ]);
    t.add_row(row);

    // Energy by component; static energy is the schedule's, spread over
    // layers by their time.
    let mut b = new_table(&[
        "layer", "MAC", "DRAM", "buffer", "array", "RF", "NoC", "static", "energy",
    ]);
    let parts = |a: &PerLevel<f64>| {
        [
            MemLevel::Dram,
            MemLevel::Gbuf,
            MemLevel::Itcn,
            MemLevel::Regf,
        ]
        .map(|m| right(fmt_energy(a[m] * e.access(m))))
    };
    for r in &s.layers {
        let mut row = vec![Cell::new(&r.name), right(fmt_energy(r.cost_op))];
        row.extend(parts(&r.total_accesses()));
        row.extend([
            right(fmt_energy(r.cost_noc)),
            right(fmt_energy(r.cost_static)),
            right(fmt_energy(r.cost)),
        ]);
        b.add_row(row);
    }
    let mut row = vec![Cell::new("total"), right(fmt_energy(s.total_op_cost))];
    row.extend(parts(&s.total_accesses));
    row.extend([
        right(fmt_energy(s.total_noc_cost)),
        right(fmt_energy(s.total_static_cost)),
        right(fmt_energy(s.total_cost)),
    ]);
    b.add_row(row);
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

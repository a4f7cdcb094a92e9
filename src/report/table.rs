//! Human-readable tables.

use comfy_table::{Cell, CellAlignment, ContentArrangement, Table, presets::UTF8_FULL_CONDENSED};

use super::{fmt_count, fmt_energy};
use crate::dims::{LoopDim, MemLevel};
use crate::hw::Hardware;
use crate::network::Network;
use crate::search::NetworkSchedule;
use crate::stats::LayerStats;

fn right(s: String) -> Cell {
    Cell::new(s).set_alignment(CellAlignment::Right)
}

fn new_table(header: &[&str]) -> Table {
    let mut t = Table::new();
    t.load_style(UTF8_FULL_CONDENSED).set_content_arrangement(ContentArrangement::Dynamic).set_width(100);
    t.set_header(header.to_vec());
    t
}

/// Per-layer schedule table with an energy breakdown and totals.
pub fn layer_table(net: &Network, hw: &Hardware, s: &NetworkSchedule) -> String {
    let e = &hw.energy;
    let mut t = new_table(&["layer", "type", "cycles", "ops", "energy", "MAC", "DRAM", "buffer", "array", "regf", "PEs", "blocking I/O/B", "order"]);
    for r in &s.layers {
        let a = r.total_accesses();
        let b = &r.scheme.blocking;
        let f = |l: LoopDim| format!("{}/{}/{}", b.ts[0][l], b.ts[1][l], b.ts[2][l]);
        let ord = |lvl: usize| {
            b.ordered_loops(lvl).iter().map(|(l, _)| match l {
                LoopDim::Ifm => 'I',
                LoopDim::Ofm => 'O',
                LoopDim::Bat => 'B',
            }).collect::<String>()
        };
        t.add_row(vec![
            Cell::new(&r.name),
            Cell::new(net.layer(r.layer).type_name()),
            right(fmt_count(r.time as f64)),
            right(fmt_count(r.ops)),
            right(fmt_energy(r.cost)),
            right(fmt_energy(r.cost_op)),
            right(fmt_energy(a[MemLevel::Dram] * e.dram)),
            right(fmt_energy(a[MemLevel::Gbuf] * e.gbuf)),
            right(fmt_energy(a[MemLevel::Itcn] * e.itcn)),
            right(fmt_energy(a[MemLevel::Regf] * e.regf)),
            right(format!("{:.1}", r.active_pes())),
            Cell::new(format!("{} {} {}", f(LoopDim::Ifm), f(LoopDim::Ofm), f(LoopDim::Bat))),
            Cell::new(format!("{}|{}", ord(0), ord(1))),
        ]);
    }
    let acc = &s.total_accesses;
    t.add_row(vec![
        Cell::new("total"),
        Cell::new(""),
        right(fmt_count(s.total_time as f64)),
        right(fmt_count(s.total_ops)),
        right(fmt_energy(s.total_cost)),
        right(fmt_energy(s.total_op_cost)),
        right(fmt_energy(acc[MemLevel::Dram] * e.dram)),
        right(fmt_energy(acc[MemLevel::Gbuf] * e.gbuf)),
        right(fmt_energy(acc[MemLevel::Itcn] * e.itcn)),
        right(fmt_energy(acc[MemLevel::Regf] * e.regf)),
        Cell::new(""),
        Cell::new(""),
        Cell::new(""),
    ]);
    t.to_string()
}

/// The layer statistics table.
pub fn stats_table(stats: &[LayerStats]) -> String {
    let mut t = new_table(&["layer", "type", "ifmap kB", "ofmap kB", "weight kB", "MACs M", "min buffer kB"]);
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
    t.to_string()
}

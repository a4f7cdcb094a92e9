//! The schedule file: a versioned JSON (or YAML) document with everything a
//! compiler needs to run each layer. See docs/schedule-format.md.

use serde_json::{Map, Value, json};

use crate::blocking::Blocking;
use crate::dims::{DataCat, LoopDim, MemLevel, PerCat, PerLevel, PerLoop};
use crate::hw::Hardware;
use crate::network::Network;
use crate::partition::{DataLayout, NodeRegion, PartDim, PartitionScheme};
use crate::search::{LayerResult, NetworkSchedule, SearchConfig};

/// The format identifier written in every schedule file.
pub const SCHEMA: &str = "nnsched-schedule/1";

/// A count as an exact integer when it is one, else as a float.
fn num(v: f64) -> Value {
    if v.fract() == 0.0 && v.abs() < 9.007_199_254_740_992e15 {
        json!(v as i64)
    } else {
        json!(v)
    }
}

fn per_cat(v: &PerCat<f64>) -> Value {
    json!({"fil": num(v[DataCat::Fil]), "ifm": num(v[DataCat::Ifm]), "ofm": num(v[DataCat::Ofm])})
}

fn per_cat_u(v: &PerCat<u64>) -> Value {
    json!({"fil": v[DataCat::Fil], "ifm": v[DataCat::Ifm], "ofm": v[DataCat::Ofm]})
}

fn per_cat_b(v: &PerCat<bool>) -> Value {
    json!({"fil": v[DataCat::Fil], "ifm": v[DataCat::Ifm], "ofm": v[DataCat::Ofm]})
}

fn per_loop(v: &PerLoop<u64>) -> Value {
    json!({"ifm": v[LoopDim::Ifm], "ofm": v[LoopDim::Ofm], "bat": v[LoopDim::Bat]})
}

fn levels(v: &PerLevel<f64>) -> Value {
    json!({
        "dram": num(v[MemLevel::Dram]),
        "gbuf": num(v[MemLevel::Gbuf]),
        "itcn": num(v[MemLevel::Itcn]),
        "regf": num(v[MemLevel::Regf]),
    })
}

fn loop_name(l: LoopDim) -> &'static str {
    match l {
        LoopDim::Ifm => "ifm",
        LoopDim::Ofm => "ofm",
        LoopDim::Bat => "bat",
    }
}

/// Loop order of a level, outermost first, all three loops.
fn order(b: &Blocking, lvl: usize) -> Value {
    order_of(&b.ords[lvl])
}

fn order_of(ord: &PerLoop<u8>) -> Value {
    let mut ls = LoopDim::ALL;
    ls.sort_by_key(|&l| std::cmp::Reverse(ord[l]));
    json!(ls.map(loop_name))
}

fn layer_doc(net: &Network, r: &LayerResult) -> Value {
    let l = net.layer(r.layer);
    let s = &r.scheme;
    let b = &s.blocking;
    let m = &r.mapping;
    let pe = &m.pe_set;
    let dim = |d: crate::hw::Dim2| json!([d.h, d.w]);
    json!({
        "name": r.name,
        "type": l.type_name(),
        "segment": r.sched_seq.0,
        "slot": r.sched_seq.1,
        "slot_position": r.sched_seq.2,
        "placement": {
            "proc": region(&r.placement.proc),
            "src": region(&r.placement.src),
            "dst": region(&r.placement.dst),
            "filters_pinned_possible": r.placement.no_time_mux,
        },
        "shape": {
            "nifm": l.nifm(), "nofm": l.nofm(), "hofm": l.hofm(), "wofm": l.wofm(),
            "hifm": l.hifm(), "wifm": l.wifm(), "hfil": l.hfil(), "wfil": l.wfil(),
            "htrd": l.htrd(), "wtrd": l.wtrd(), "groups": l.groups(),
        },
        "cost": r.cost,
        "time": r.time,
        "ops": num(r.ops),
        "accesses": levels(&r.total_accesses()),
        "noc_hops": num(r.total_nhops.sum()),
        "cost_breakdown": {"op": r.cost_op, "access": r.cost_access, "noc": r.cost_noc, "static": r.cost_static},
        "proc_time": r.proc_time,
        "bus_time": r.bus_time,
        "dram_time": r.dram_time,
        "num_nodes": r.num_nodes,
        "groups": r.groups,
        "mapping": {
            "logical_pe_set": dim(pe.logical),
            "fold": dim(pe.fold),
            "replication": dim(pe.repl),
            "folded_pe_set": dim(pe.folded),
            "physical_pe_set": dim(pe.physical),
            "utilization": pe.utilization,
            "replicated_ifms": m.repl_ifms,
            "replicated_ofms": m.repl_ofms,
            "loop_counts": per_loop(&m.loopcnt),
            "unit_ops": num(m.unit_ops),
            "unit_time": m.unit_time,
        },
        "blocking": {
            "factors": {"dram": per_loop(&b.ts[0]), "gbuf": per_loop(&b.ts[1]), "regf": per_loop(&b.ts[2])},
            "orders": {"dram": order(b, 0), "gbuf": order(b, 1)},
            "searched_gbuf_order": order_of(&s.searched_gbuf_order),
        },
        "sharing": s.sharing.as_ref().map(|sh| json!({
            "subgroup_size": per_cat_u(&sh.subgrp),
            "level_factors": per_loop(&sh.bs_t),
            "level_order": order_of(&sh.bs_ord),
            "rotation_rounds": per_cat_u(&sh.rot_round_cnt),
            "rotation_units": per_cat_u(&sh.rot_unit_cnt),
            "rotation_hops": per_cat(&sh.rot_fetch),
            "wide_fetch_hops": per_cat(&sh.wide_fetch),
            "wide_fetch_width": per_cat(&sh.wide_fetch_width),
        })),
        "stored_in_gbuf": per_cat_b(&s.stored_in_gbuf),
        "fetches": {"dram": per_cat_u(&s.fetch[0]), "gbuf": per_cat_u(&s.fetch[1])},
        "buffer_words": {"gbuf": per_cat_u(&s.gbuf_words), "regf": per_cat_u(&s.regf_words)},
        "access_by_category": {
            "dram": per_cat(&r.access[MemLevel::Dram]),
            "gbuf": per_cat(&r.access[MemLevel::Gbuf]),
            "itcn": per_cat(&r.access[MemLevel::Itcn]),
            "regf": per_cat(&r.access[MemLevel::Regf]),
            "remote_gbuf": per_cat(&r.remote_gbuf_access),
        },
        "noc_hops_by_category": per_cat(&r.total_nhops),
        "filter_pinned": s.filter_pinned,
        "partition": partition(&r.part),
        "unit_nhops": per_cat_u(&r.unit_nhops),
        "ofmap_layout": layout(&r.ofmap_layout),
    })
}

fn part_dim_name(p: PartDim) -> &'static str {
    match p {
        PartDim::Outp => "outp",
        PartDim::Ofmp => "ofmp",
        PartDim::Batp => "batp",
        PartDim::Inpp => "inpp",
    }
}

/// A partition: its nesting order (outermost first) and the grid extent of
/// each dimension as [rows, cols].
fn partition(p: &PartitionScheme) -> Value {
    let mut dims = Map::new();
    for d in PartDim::ALL {
        let x = p.pdim(d);
        dims.insert(part_dim_name(d).into(), json!([x.h, x.w]));
    }
    json!({"order": p.order.map(part_dim_name), "dims": dims})
}

fn region(r: &NodeRegion) -> Value {
    json!({
        "kind": r.kind,
        "dim": [r.dim.h, r.dim.w],
        "origin": [r.origin.h, r.origin.w],
        "dist": [r.dist.h, r.dist.w],
        "wtot": r.wtot,
        "wbeg": r.wbeg,
    })
}

/// A data layout: each channel range with its region and partition.
fn layout(l: &DataLayout) -> Value {
    json!(
        l.frngs
            .iter()
            .zip(&l.regions)
            .zip(&l.parts)
            .map(|((f, r), p)| json!({
                "begin": f.beg, "end": f.end, "region": region(r), "partition": partition(p),
            }))
            .collect::<Vec<_>>()
    )
}

/// The schedule document.
pub fn schedule_document(
    net: &Network,
    hw: &Hardware,
    cfg: &SearchConfig,
    s: &NetworkSchedule,
) -> Value {
    let layers: Vec<Value> = s.layers.iter().map(|r| layer_doc(net, r)).collect();
    let mut doc = Map::new();
    doc.insert("schema".into(), json!(SCHEMA));
    doc.insert("network".into(), json!(net.name()));
    doc.insert("batch".into(), json!(cfg.batch));
    doc.insert(
        "hardware".into(),
        serde_json::to_value(hw.to_spec()).expect("hardware serializes"),
    );
    let finite = |v: f64| if v.is_finite() { json!(v) } else { Value::Null };
    doc.insert(
        "options".into(),
        json!({
            "goal": cfg.goal,
            "bypass": per_cat_b(&cfg.bypass),
            "solve_loopblocking": cfg.solve_loopblocking,
            "partition": {"hybrid": cfg.partition.hybrid, "batch": cfg.partition.batch, "ifmaps": cfg.partition.ifmaps},
            "access_forwarding": cfg.access_forwarding,
            "gbuf_sharing": cfg.gbuf_sharing,
            "pipeline": {
                "interlayer": cfg.pipeline.interlayer,
                "save_writeback": cfg.pipeline.save_writeback,
                "time_overhead": finite(cfg.pipeline.time_overhead),
                "max_degree": finite(cfg.pipeline.max_degree),
                "optimize": cfg.pipeline.optimize,
            },
            "top": cfg.ntops,
            "noc_hops": if cfg.exact_noc_hops { "exact" } else { "nn_dataflow" },
        }),
    );
    if !s.complete {
        let done: Vec<&str> = s.layers.iter().map(|r| r.name.as_str()).collect();
        let rest: Vec<&str> = net
            .layers()
            .iter()
            .map(|l| l.name.as_str())
            .filter(|n| !done.contains(n))
            .collect();
        doc.insert("incomplete".into(), json!({ "unscheduled": rest }));
    }
    doc.insert("input_layout".into(), layout(&s.input_layout));
    let mut exts = Map::new();
    for (e, l) in net.exts().iter().zip(&s.ext_layouts) {
        exts.insert(e.name.clone(), layout(l));
    }
    doc.insert("ext_layouts".into(), Value::Object(exts));
    doc.insert(
        "totals".into(),
        json!({
            "cost": s.total_cost,
            "time": s.total_time,
            "ops": num(s.total_ops),
            "accesses": levels(&s.total_accesses),
            "noc_hops": num(s.total_noc_hops),
            "cost_breakdown": {
                "op": s.total_op_cost,
                "access": s.total_access_cost,
                "noc": s.total_noc_cost,
                "static": s.total_static_cost,
            },
        }),
    );
    doc.insert(
        "segments".into(),
        json!(
            s.segments
                .iter()
                .map(|g| json!({
                    "slots": g.slots.iter().map(|sl| json!({"layers": sl.layers, "region": region(&sl.region)})).collect::<Vec<_>>(),
                    "time": g.time,
                    "dram_time": g.dram_time,
                    "critical_time": g.critical_time,
                }))
                .collect::<Vec<_>>()
        ),
    );
    doc.insert("layers".into(), json!(layers));
    Value::Object(doc)
}

//! A search result as a document.

use super::*;
use crate::array::NestedLoopDesc;
use crate::blocking::{BlockingScheme, Goal, SharingStats};
use crate::cost::LayerResult;
use crate::dims::{BlockLevel, OrderedLevel};
use crate::hw::{Dim2, Hardware};
use crate::network::{Layer, Network};
use crate::options::{InterlayerSearch, SearchOptions};
use crate::partition::{DataLayout, NodeRegion, PartDim, PartitionScheme, RegionKind};
use crate::search::NetworkSchedule;

/// Loop order of a level, outermost first, all three loops.
pub(super) fn order_of(ord: &PerLoop<u8>) -> [LoopName; 3] {
    let mut ls = LoopDim::ALL;
    ls.sort_by_key(|&l| std::cmp::Reverse(ord[l]));
    ls.map(LoopName::from)
}

pub(super) fn part_name(p: PartDim) -> PartName {
    match p {
        PartDim::Outp => PartName::Outp,
        PartDim::Ofmp => PartName::Ofmp,
        PartDim::Batp => PartName::Batp,
        PartDim::Inpp => PartName::Inpp,
    }
}

fn partition(p: &PartitionScheme) -> PartitionDoc {
    let d = |x: PartDim| [p.pdim(x).h, p.pdim(x).w];
    PartitionDoc {
        order: p.order.map(part_name),
        dims: PartDims {
            outp: d(PartDim::Outp),
            ofmp: d(PartDim::Ofmp),
            batp: d(PartDim::Batp),
            inpp: d(PartDim::Inpp),
        },
    }
}

fn region(r: &NodeRegion) -> Region {
    Region {
        kind: match r.kind {
            RegionKind::Proc => RegionKindName::Proc,
            RegionKind::Dram => RegionKindName::Dram,
        },
        dim: [r.dim.h, r.dim.w],
        origin: [r.origin.h, r.origin.w],
        dist: [r.dist.h, r.dist.w],
        wtot: r.wtot,
        wbeg: r.wbeg,
    }
}

fn layout(l: &DataLayout) -> Layout {
    l.frngs
        .iter()
        .zip(&l.regions)
        .zip(&l.parts)
        .map(|((f, r), p)| LayoutPiece {
            begin: f.beg,
            end: f.end,
            region: region(r),
            partition: partition(p),
        })
        .collect()
}

fn levels(v: &PerLevel<f64>) -> Levels<Count> {
    Levels::from(v.map(|_, x| Count(x)))
}

fn layer(net: &Network, r: &LayerResult) -> LayerDoc {
    let l = net.layer(r.layer);
    let m = &r.mapping;
    let s = &m.scheme;
    LayerDoc {
        name: r.name.clone(),
        type_name: l.type_name().to_string(),
        segment: r.seq.segment as u64,
        slot: r.seq.idx.sp as u64,
        slot_position: r.seq.idx.tm as u64,
        placement: PlacementDoc {
            proc: region(&m.placement.proc),
            src: region(&m.placement.src),
            dst: region(&m.placement.dst),
            filters_pinned_possible: m.placement.no_time_mux,
        },
        shape: shape(l),
        cost: r.cost,
        time: r.time,
        ops: Count(r.ops),
        accesses: levels(&r.total_accesses()),
        noc_hops: Count(r.total_nhops.sum()),
        cost_breakdown: CostBreakdown {
            op: r.cost_op,
            access: r.cost_access,
            noc: r.cost_noc,
            static_: r.cost_static,
        },
        proc_time: r.proc_time,
        bus_time: r.bus_time,
        dram_time: r.dram_time,
        num_nodes: r.num_nodes,
        groups: r.groups,
        mapping: array(&m.array),
        blocking: blocking(s),
        sharing: s.sharing.as_deref().map(sharing),
        stored_in_gbuf: s.stored_in_gbuf.into(),
        fetches: Fetches {
            dram: s.fetch[OrderedLevel::Dram].into(),
            gbuf: s.fetch[OrderedLevel::Gbuf].into(),
        },
        buffer_words: BufferWords {
            gbuf: s.gbuf_words.into(),
            regf: s.regf_words.into(),
        },
        access_by_category: AccessByCategory {
            dram: counts(r.access[MemLevel::Dram]),
            gbuf: counts(r.access[MemLevel::Gbuf]),
            itcn: counts(r.access[MemLevel::Itcn]),
            regf: counts(r.access[MemLevel::Regf]),
            remote_gbuf: counts(r.remote_gbuf_access),
        },
        noc_hops_by_category: counts(r.total_nhops),
        filter_pinned: s.filter_pinned,
        partition: partition(&m.partition),
        unit_nhops: r.unit_nhops.into(),
        ofmap_layout: layout(&r.ofmap_layout),
    }
}

pub(crate) fn shape(l: &Layer) -> ShapeDoc {
    ShapeDoc {
        nifm: l.nifm(),
        nofm: l.nofm(),
        hofm: l.hofm(),
        wofm: l.wofm(),
        hifm: l.hifm(),
        wifm: l.wifm(),
        hfil: l.hfil(),
        wfil: l.wfil(),
        htrd: l.htrd(),
        wtrd: l.wtrd(),
        groups: l.groups(),
        dilation: [l.dilation().0, l.dilation().1],
        upsampling: [l.up().0, l.up().1],
    }
}

fn array(a: &NestedLoopDesc) -> ArrayDoc {
    let pe = &a.pe_set;
    let dim = |d: Dim2| [d.h, d.w];
    ArrayDoc {
        logical_pe_set: dim(pe.logical),
        fold: dim(pe.fold),
        replication: dim(pe.repl),
        folded_pe_set: dim(pe.folded),
        physical_pe_set: dim(pe.physical),
        utilization: pe.utilization,
        replicated_ifms: a.repl_ifms,
        replicated_ofms: a.repl_ofms,
        loop_counts: a.loopcnt.into(),
        unit_ops: Count(a.unit_ops),
        unit_time: a.unit_time,
    }
}

fn blocking(s: &BlockingScheme) -> BlockingDoc {
    let b = &s.blocking;
    BlockingDoc {
        factors: BlockFactors {
            dram: b.ts[BlockLevel::Dram].into(),
            gbuf: b.ts[BlockLevel::Gbuf].into(),
            regf: b.ts[BlockLevel::Regf].into(),
        },
        orders: BlockOrders {
            dram: order_of(&b.ords[OrderedLevel::Dram]),
            gbuf: order_of(&b.ords[OrderedLevel::Gbuf]),
        },
        searched_gbuf_order: order_of(&s.searched_gbuf_order),
    }
}

fn sharing(sh: &SharingStats) -> SharingDoc {
    SharingDoc {
        subgroup_size: sh.subgrp.into(),
        level_factors: sh.bs_t.into(),
        level_order: order_of(&sh.bs_ord),
        rotation_rounds: sh.rot_round_cnt.into(),
        rotation_units: sh.rot_unit_cnt.into(),
        rotation_hops: counts(sh.rot_fetch),
        wide_fetch_hops: counts(sh.wide_fetch),
        wide_fetch_width: counts(sh.wide_fetch_width),
    }
}

fn options(o: &SearchOptions) -> Options {
    let finite = |v: f64| v.is_finite().then_some(v);
    Options {
        goal: match o.goal {
            Goal::Energy => GoalName::E,
            Goal::Delay => GoalName::D,
            Goal::EnergyDelay => GoalName::Ed,
        },
        bypass: o.bypass.into(),
        solve_loopblocking: o.solve_loopblocking,
        partition: PartitionOpts {
            hybrid: o.partition.hybrid,
            batch: o.partition.batch,
            ifmaps: o.partition.ifmaps,
        },
        access_forwarding: o.access_forwarding,
        gbuf_sharing: o.gbuf_sharing,
        pipeline: PipelineOpts {
            interlayer: o.pipeline.interlayer,
            save_writeback: o.pipeline.save_writeback,
            time_overhead: finite(o.pipeline.time_overhead),
            max_degree: finite(o.pipeline.max_degree),
            optimize: o.pipeline.optimize,
        },
        top: o.ntops as u64,
        noc_hops: if o.exact_noc_hops {
            NocHops::Exact
        } else {
            NocHops::NnDataflow
        },
        search: match o.interlayer_search {
            InterlayerSearch::Beam => SearchName::Beam,
            InterlayerSearch::Frontier => SearchName::Frontier,
        },
    }
}

impl Schedule {
    /// The document of a search result. `stopped` says why the search
    /// ended early, if it did.
    pub fn new(
        net: &Network,
        hw: &Hardware,
        opts: &SearchOptions,
        s: &NetworkSchedule,
        stopped: Option<&str>,
    ) -> Schedule {
        let incomplete = stopped.map(|reason| {
            let done: Vec<&str> = s.layers.iter().map(|r| r.name.as_str()).collect();
            Incomplete {
                reason: reason.to_string(),
                unscheduled: net
                    .layers()
                    .iter()
                    .map(|l| l.name.clone())
                    .filter(|n| !done.contains(&n.as_str()))
                    .collect(),
            }
        });
        Schedule {
            schema: SCHEMA.to_string(),
            network: net.name().to_string(),
            batch: opts.batch,
            hardware: hw.to_spec(),
            options: options(opts),
            incomplete,
            input_layout: layout(&s.input_layout),
            ext_layouts: net
                .exts()
                .iter()
                .zip(&s.ext_layouts)
                .map(|(e, l)| (e.name.clone(), layout(l)))
                .collect(),
            totals: Totals {
                cost: s.total_cost,
                time: s.total_time,
                ops: Count(s.total_ops),
                accesses: levels(&s.total_accesses),
                noc_hops: Count(s.total_noc_hops),
                cost_breakdown: CostBreakdown {
                    op: s.total_op_cost,
                    access: s.total_access_cost,
                    noc: s.total_noc_cost,
                    static_: s.total_static_cost,
                },
            },
            segments: s
                .segments
                .iter()
                .map(|g| SegmentDoc {
                    slots: g
                        .slots
                        .iter()
                        .map(|sl| SlotDoc {
                            layers: sl.layers.clone(),
                            region: region(&sl.region),
                        })
                        .collect(),
                    time: g.time,
                    dram_time: g.dram_time,
                    critical_time: g.critical_time,
                })
                .collect(),
            layers: s.layers.iter().map(|r| layer(net, r)).collect(),
        }
    }

    /// The document as JSON text (keys in alphabetical order, two-space
    /// indents, a final newline), as `-o FILE.json` writes it.
    pub fn to_json(&self) -> String {
        // Through a `Value`, whose maps are sorted: the key order of
        // nnsched-schedule/1 files.
        let v = serde_json::to_value(self).expect("a schedule serializes");
        serde_json::to_string_pretty(&v).expect("a value serializes") + "\n"
    }

    /// The document as YAML text, as `-o FILE.yaml` writes it.
    pub fn to_yaml(&self) -> String {
        let v = serde_json::to_value(self).expect("a schedule serializes");
        serde_yaml::to_string(&v).expect("a value serializes")
    }
}

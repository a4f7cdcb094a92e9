//! Scheduling one layer: partitions x array mappings x blockings, ranked by
//! full cost (operations, accesses, NoC hops, static energy).

use std::sync::Arc;

use serde::Serialize;

use crate::blocking::{
    self, Blocking, BlockingScheme, DataSite, Infeasible, NodeEnv, TopConstraint, cmp_key,
    exhaustive, solver,
};
use crate::dims::{DataLoops, LoopDim, MemLevel, PerCat, PerLevel, PerLoop};
use crate::hw::Hardware;
use crate::mapping::{NestedLoopDesc, row_stationary};
use crate::network::{Layer, LayerId};
use crate::partition::{
    BufShr, Coord, DataLayout, FmapRange, HopMemo, HopQuery, NodeRegion, PartitionScheme,
    RegionKind,
};
use crate::pipeline::LayerTimes;

use super::SearchConfig;

/// Where a layer runs and where its data lives.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
pub struct Placement {
    /// The processing nodes.
    pub proc: NodeRegion,
    /// DRAM; filters are read from every node of it.
    pub dram: NodeRegion,
    /// Where the input maps are.
    pub src: NodeRegion,
    /// Where the output maps go.
    pub dst: NodeRegion,
    /// Each node runs this layer only, so filters may stay in buffers.
    pub no_time_mux: bool,
}

impl Placement {
    fn site(&self, r: &NodeRegion) -> DataSite {
        if r.kind == RegionKind::Dram {
            DataSite::Dram
        } else if r == &self.proc {
            DataSite::SameNodes
        } else {
            DataSite::OtherNodes
        }
    }
}

/// The schedule of one layer, with its costs.
#[derive(Clone, Debug, PartialEq)]
pub struct LayerResult {
    pub layer: LayerId,
    pub name: String,
    pub cost: f64,
    pub time: u64,
    pub ops: f64,
    pub num_nodes: u64,
    pub cost_op: f64,
    pub cost_access: f64,
    pub cost_noc: f64,
    pub cost_static: f64,
    pub proc_time: u64,
    pub bus_time: u64,
    pub dram_time: u64,
    /// Accesses per level and category (all groups of a grouped conv).
    pub access: PerLevel<PerCat<f64>>,
    pub remote_gbuf_access: PerCat<f64>,
    /// NoC word-hops per category: within the processing nodes plus to and
    /// from memory.
    pub total_nhops: PerCat<f64>,
    /// Hops to move each category once between memory and the nodes.
    pub unit_nhops: PerCat<u64>,
    /// Times the group schedule repeats (groups of a grouped conv).
    pub groups: u64,
    pub placement: Placement,
    pub part: PartitionScheme,
    /// Where the output maps are stored.
    pub ofmap_layout: Arc<DataLayout>,
    /// The array mapping of one node (and one group).
    pub mapping: Arc<NestedLoopDesc>,
    /// The blocking of one node (and one group).
    pub scheme: BlockingScheme,
    /// (segment, slot, position in slot).
    pub sched_seq: (usize, usize, usize),
}

impl LayerResult {
    /// Accesses per level summed over categories, remote buffer accesses
    /// counted at the buffer level.
    pub fn total_accesses(&self) -> PerLevel<f64> {
        let mut a = PerLevel::from_fn(|m| self.access[m].sum());
        a[MemLevel::Gbuf] += self.remote_gbuf_access.sum();
        a
    }

    /// Active PEs per node on average over processing time.
    pub fn active_pes(&self) -> f64 {
        self.ops / self.proc_time as f64 / self.num_nodes as f64
    }

    pub fn node_time(&self) -> u64 {
        self.proc_time.max(self.bus_time)
    }

    /// What segment timing needs: times, and the outermost blocking loops
    /// (batch groups if batch is outermost, then the next loop's groups).
    pub fn layer_times(&self, is_conv: bool) -> LayerTimes {
        let mut outer = self.scheme.blocking.ordered_loops(0).into_iter().peekable();
        let mut top = PerLoop::splat(1u64);
        if let Some(&(LoopDim::Bat, t)) = outer.peek() {
            top[LoopDim::Bat] = t;
            outer.next();
        }
        if let Some((l, t)) = outer.next() {
            top[l] = t;
        }
        LayerTimes {
            time: self.time,
            node_time: self.node_time(),
            dram_time: self.dram_time,
            num_nodes: self.num_nodes,
            top_bat: top[LoopDim::Bat],
            top_ifm: top[LoopDim::Ifm],
            top_ofm: top[LoopDim::Ofm],
            is_conv,
        }
    }
}

/// Why a layer has no schedule.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum NoSchedule {
    #[error("the register file is too small: a PE needs {need} words, it has {have}")]
    Regf { need: u64, have: u64 },
    #[error(
        "the global buffer is too small: a node needs {need} words for data that may not bypass it, it has {have}"
    )]
    Gbuf { need: u64, have: u64 },
    #[error("no loop blocking satisfies the scheduling constraints")]
    Constraints,
}

/// The blockings of one partition of a layer, found for one node.
#[derive(Debug)]
pub struct NodeSchemes {
    pub part: PartitionScheme,
    pub schemes: Vec<(Arc<NestedLoopDesc>, BlockingScheme)>,
    /// Candidate blockings costed.
    pub evaluated: u64,
    /// Why there are none.
    pub failure: Option<NoSchedule>,
}

/// The best blockings of one node's share of `layer` (one group of a
/// grouped conv) under partition `part`: all solver results, or the
/// `cfg.ntops` best of the exhaustive search per mapping.
pub fn search_node(
    layer: &Layer,
    batch: u64,
    part: &PartitionScheme,
    pl: &Placement,
    hw: &Hardware,
    cfg: &SearchConfig,
    cstr: &TopConstraint,
) -> NodeSchemes {
    let (p_layer, p_batch, p_occ) = part.part_layer(layer, batch);
    let nlds = row_stationary(&p_layer, p_batch, p_occ, hw.pe_array);
    let (env, bufshr) = node_env(pl, part, p_layer.data_loops(), hw, cfg);
    let shared = cfg.gbuf_sharing.then_some(&bufshr);
    let mut schemes = Vec::new();
    let mut evaluated = 0;
    for nld in nlds.iter() {
        let nld_arc = Arc::new(nld.clone());
        if cfg.solve_loopblocking && nld.data_loops == DataLoops::CONV {
            for b in solver::solve(nld, env.gbuf_words, env.regf_words, env.bypass) {
                evaluated += 1;
                if let Ok(s) = blocking::evaluate(nld, &env, &hw.energy, &b)
                    && cstr.allows(&s.blocking)
                {
                    let s = match shared {
                        Some(bs) => blocking::with_sharing(nld, &env, s, bs),
                        None => s,
                    };
                    schemes.push((nld_arc.clone(), s));
                }
            }
        } else {
            let (v, n) =
                exhaustive::search(nld, &env, &hw.energy, cstr, cfg.goal, cfg.ntops, shared);
            evaluated += n;
            schemes.extend(v.into_iter().map(|s| (nld_arc.clone(), s)));
        }
    }
    let failure = schemes.is_empty().then(|| diagnose(&nlds, &env));
    NodeSchemes {
        part: *part,
        schemes,
        evaluated,
        failure,
    }
}

/// The node resources one partition of a layer runs on, and its buffer
/// sharing groups.
pub(crate) fn node_env(
    pl: &Placement,
    part: &PartitionScheme,
    loops: DataLoops,
    hw: &Hardware,
    cfg: &SearchConfig,
) -> (NodeEnv, BufShr) {
    let bufshr = BufShr::new(&pl.proc, part, loops);
    let sizes = PerCat::from_fn(|d| bufshr.size(d));
    let env = NodeEnv {
        gbuf_words: hw.gbuf_words,
        regf_words: hw.regf_words,
        num_nodes: pl.proc.dim.size(),
        bus_words: hw.array_bus_words,
        dram_bw: hw.dram_words_per_cycle,
        src: pl.site(&pl.src),
        dst: pl.site(&pl.dst),
        no_time_mux: pl.no_time_mux,
        bypass: cfg.bypass,
        accfwd: if cfg.access_forwarding || cfg.gbuf_sharing {
            sizes
        } else {
            PerCat::splat(1)
        },
        share_grp: if cfg.gbuf_sharing {
            sizes
        } else {
            PerCat::splat(1)
        },
    };
    (env, bufshr)
}

/// What a layer needs besides its per-node schemes to become results.
pub struct LayerCtx<'a> {
    pub id: LayerId,
    pub name: &'a str,
    /// The whole layer.
    pub layer: &'a Layer,
    /// The layer scheduled per group (itself unless grouped).
    pub slice: &'a Layer,
    pub batch: u64,
    pub placement: &'a Placement,
    pub hw: &'a Hardware,
    pub cfg: &'a SearchConfig,
}

/// Full-cost results of every scheme of every partition, given where the
/// input maps are; the `cfg.ntops` best.
pub fn layer_results(
    ctx: &LayerCtx<'_>,
    nodes: &[Arc<NodeSchemes>],
    ifmap_layout: &DataLayout,
    memo: &mut HopMemo,
    sched_seq: (usize, usize, usize),
) -> Vec<LayerResult> {
    let pl = ctx.placement;
    let filter_nodes: Vec<Coord> = pl.dram.nodes().collect();
    let fwd = ctx.cfg.access_forwarding || ctx.cfg.gbuf_sharing;
    let l = ctx.layer;
    let ofrng = FmapRange::full(ctx.batch, l.nofm(), l.hofm(), l.wofm());
    // Output layouts of the layer (and of one group, which hops count).
    let live: Vec<&NodeSchemes> = nodes
        .iter()
        .map(|n| n.as_ref())
        .filter(|n| !n.schemes.is_empty())
        .collect();
    let layouts: Vec<(Arc<DataLayout>, Arc<DataLayout>)> = live
        .iter()
        .map(|ns| {
            let proj = ns.part.projection(&pl.dst, true);
            let full = Arc::new(DataLayout::single(ofrng, pl.dst, proj));
            let slice = if ctx.slice == ctx.layer {
                full.clone()
            } else {
                let s = ctx.slice;
                Arc::new(DataLayout::single(
                    FmapRange::full(ctx.batch, s.nofm(), s.hofm(), s.wofm()),
                    pl.dst,
                    proj,
                ))
            };
            (full, slice)
        })
        .collect();
    let queries: Vec<HopQuery<'_>> = live
        .iter()
        .zip(&layouts)
        .map(|(ns, (_, slice))| HopQuery {
            layer: ctx.slice,
            batch: ctx.batch,
            region: &pl.proc,
            part: &ns.part,
            filter_nodes: &filter_nodes,
            ifmap_layout,
            ofmap_layout: slice,
            forwarding: fwd,
        })
        .collect();
    let hops = memo.unit_nhops(&queries);
    let mut out = Vec::new();
    for ((ns, (full, _)), unh) in live.iter().zip(&layouts).zip(hops) {
        for (nld, s) in &ns.schemes {
            out.push(make_result(ctx, nld, s, unh, &ns.part, full, sched_seq));
        }
    }
    let goal = ctx.cfg.goal;
    out.sort_by(|a, b| cmp_key(&goal.key(a.cost, a.time), &goal.key(b.cost, b.time)));
    out.truncate(ctx.cfg.ntops);
    out
}

/// Full cost of a blocking, summed in nn_dataflow's order: ops, accesses,
/// NoC, static. A grouped conv runs its groups one after another.
pub(crate) fn make_result(
    ctx: &LayerCtx<'_>,
    nld: &Arc<NestedLoopDesc>,
    s: &BlockingScheme,
    unh: PerCat<u64>,
    part: &PartitionScheme,
    ofmap_layout: &Arc<DataLayout>,
    sched_seq: (usize, usize, usize),
) -> LayerResult {
    let e = &ctx.hw.energy;
    let groups = ctx.layer.groups();
    let g = groups as f64;
    let total_nhops = PerCat::from_fn(|d| s.noc_access[d] + (unh[d] * s.fetch[0][d]) as f64);
    let cost_op = e.mac * s.ops;
    let cost_access = s.access_cost;
    let cost_noc = e.noc_hop * total_nhops.sum();
    let cost_static = e.idle * s.time as f64;
    let cost = cost_op + cost_access + cost_noc + cost_static;
    let scale = |v: f64| if groups == 1 { v } else { v * g };
    LayerResult {
        layer: ctx.id,
        name: ctx.name.to_string(),
        cost: scale(cost),
        time: s.time * groups,
        ops: scale(s.ops),
        num_nodes: ctx.placement.proc.dim.size(),
        cost_op: scale(cost_op),
        cost_access: scale(cost_access),
        cost_noc: scale(cost_noc),
        cost_static: scale(cost_static),
        proc_time: s.proc_time * groups,
        bus_time: s.bus_time * groups,
        dram_time: s.dram_time * groups,
        access: s.access.map(|_, a| a.map(|_, v| scale(v))),
        remote_gbuf_access: s.remote_gbuf_access.map(|_, v| scale(v)),
        total_nhops: total_nhops.map(|_, v| scale(v)),
        unit_nhops: unh,
        groups,
        placement: *ctx.placement,
        part: *part,
        ofmap_layout: ofmap_layout.clone(),
        mapping: nld.clone(),
        scheme: s.clone(),
        sched_seq,
    }
}

/// The most specific reason no blocking fits: the least any blocking needs
/// is every loop outside the buffer.
fn diagnose(nlds: &[NestedLoopDesc], env: &NodeEnv) -> NoSchedule {
    let mut worst = NoSchedule::Constraints;
    for nld in nlds {
        let b = Blocking {
            ts: [nld.loopcnt, PerLoop::splat(1), PerLoop::splat(1)],
            ords: [PerLoop([0, 1, 2]); 2],
        };
        match blocking::fits_before_ordering(nld, env, &b) {
            Ok(()) => return NoSchedule::Constraints,
            Err(Infeasible::RegfOverflow { need, have }) => worst = NoSchedule::Regf { need, have },
            Err(Infeasible::GbufOverflow { need, have }) => {
                if !matches!(worst, NoSchedule::Regf { .. }) {
                    worst = NoSchedule::Gbuf { need, have };
                }
            }
            Err(Infeasible::OnChipRefetch) => {}
        }
    }
    worst
}

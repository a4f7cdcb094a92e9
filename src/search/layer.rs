//! Scheduling one layer: partitions x array mappings x blockings, ranked by
//! full cost (operations, accesses, NoC hops, static energy).

use std::sync::{Arc, OnceLock};

use rayon::prelude::*;

use crate::array::{NestedLoopDesc, row_stationary};
use crate::blocking::{
    self, Blocking, BlockingScheme, Infeasible, NodeEnv, TopConstraint, cmp_key, exhaustive, solver,
};
use crate::cost::{LayerCtx, LayerMapping, LayerResult, SchemeCost, node_env};
use crate::dims::DataLoops;
use crate::hw::Hardware;
use crate::network::Layer;
use crate::partition::{BufShr, DataLayout, HopMemo, HopQuery, PartHops, PartitionScheme, Pieces};
use crate::pipeline::SchedSeq;
use crate::placement::Placement;

use crate::options::SearchOptions;

/// Why a layer has no schedule.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum NoSchedule {
    /// The innermost block of every mapping overflows a register file.
    #[error("the register file is too small: a PE needs {need} words, it has {have}")]
    Regf {
        /// Words needed.
        need: u64,
        /// Words a PE has.
        have: u64,
    },
    /// The data that may not bypass the buffer overflows it.
    #[error(
        "the global buffer is too small: a node needs {need} words for data that may not bypass it, it has {have}"
    )]
    Gbuf {
        /// Words needed.
        need: u64,
        /// Words a node has.
        have: u64,
    },
    /// Mappings fit, but none meets the pipelining constraints.
    #[error("no loop blocking satisfies the scheduling constraints")]
    Constraints,
}

/// The mappings of one partition of a layer: its node problem's best
/// blockings, with buffer sharing arranged for a blocking when a ranking
/// first needs it (sharing only adds NoC traffic, so most never do).
#[derive(Debug)]
pub struct NodeSchemes {
    pub part: PartitionScheme,
    blockings: Arc<NodeBlockings>,
    /// Each mapping's blocking with buffer sharing arranged; empty without
    /// buffer sharing.
    shared: Vec<OnceLock<Box<BlockingScheme>>>,
}

impl NodeSchemes {
    pub fn new(part: PartitionScheme, blockings: Arc<NodeBlockings>, sharing: bool) -> NodeSchemes {
        let shared = if sharing {
            blockings.index.iter().map(|_| OnceLock::new()).collect()
        } else {
            Vec::new()
        };
        NodeSchemes {
            part,
            blockings,
            shared,
        }
    }

    pub fn len(&self) -> usize {
        self.blockings.index.len()
    }

    pub fn failure(&self) -> Option<&NoSchedule> {
        self.blockings.failure.as_ref()
    }

    /// Mapping `j`'s array, and its blocking before buffer sharing.
    fn unshared(&self, j: usize) -> (&Arc<NestedLoopDesc>, &BlockingScheme) {
        let (a, b) = self.blockings.index[j];
        let (array, schemes) = &self.blockings.per_array[a as usize];
        (array, &schemes[b as usize])
    }

    /// Mapping `j`'s blocking as run: with buffer sharing arranged for the
    /// partition's groups `bufshr` on nodes `env`.
    fn scheme(&self, j: usize, env: &NodeEnv, bufshr: &BufShr) -> &BlockingScheme {
        let (array, s) = self.unshared(j);
        match self.shared.get(j) {
            None => s,
            Some(cell) => {
                cell.get_or_init(|| Box::new(blocking::with_sharing(array, env, s.clone(), bufshr)))
            }
        }
    }
}

/// One node's share of a partitioned layer and the resources it runs on:
/// all its blockings depend on. Partitions that hand their nodes the same
/// share (the same split in another order, or another split of equal
/// shares) share one blocking search.
#[derive(Clone, Debug, PartialEq)]
pub struct NodeProblem {
    layer: Layer,
    batch: u64,
    occupancy: f64,
    env: NodeEnv,
}

impl Eq for NodeProblem {}

impl std::hash::Hash for NodeProblem {
    fn hash<H: std::hash::Hasher>(&self, h: &mut H) {
        self.layer.hash(h);
        self.batch.hash(h);
        self.occupancy.to_bits().hash(h);
        self.env.hash(h);
    }
}

impl NodeProblem {
    /// The share of `layer` (one group of a grouped conv) a node of
    /// partition `part` on placement `pl` runs, and its buffer-sharing
    /// groups.
    pub fn new(
        layer: &Layer,
        part: &PartitionScheme,
        pl: &Placement,
        hw: &Hardware,
        opts: &SearchOptions,
    ) -> (NodeProblem, BufShr) {
        let (p_layer, p_batch, p_occ) = part.part_layer(layer, opts.batch);
        let (env, bufshr) = node_env(pl, part, &p_layer, hw, opts);
        let p = NodeProblem {
            layer: p_layer,
            batch: p_batch,
            occupancy: p_occ,
            env,
        };
        (p, bufshr)
    }
}

impl NodeProblem {
    /// The nodes' resources.
    pub fn env(&self) -> &NodeEnv {
        &self.env
    }
}

/// The best blockings of a node problem per array mapping, before buffer
/// sharing arranges them: all solver results, or the `opts.ntops` best of
/// the exhaustive search.
#[derive(Debug)]
pub struct NodeBlockings {
    per_array: Vec<(Arc<NestedLoopDesc>, Vec<BlockingScheme>)>,
    /// (array, blocking) of each mapping in `per_array`, in order.
    index: Vec<(u32, u32)>,
    /// Candidate blockings costed.
    pub evaluated: u64,
    failure: Option<NoSchedule>,
}

/// The node's share of the layer, which alone decides its array mappings.
pub type Share = (Layer, u64, u64);

impl NodeProblem {
    pub fn share(&self) -> Share {
        (self.layer, self.batch, self.occupancy.to_bits())
    }

    /// The row-stationary mappings of the node's share onto its PE array.
    pub fn array_mappings(&self, hw: &Hardware) -> Vec<Arc<NestedLoopDesc>> {
        row_stationary(&self.layer, self.batch, self.occupancy, hw.pe_array)
            .into_iter()
            .map(Arc::new)
            .collect()
    }
}

/// Searches the blockings of a node problem under a constraint, on each
/// of its array mappings `nlds` (`NodeProblem::array_mappings`).
pub fn search_blockings(
    p: &NodeProblem,
    nlds: &[Arc<NestedLoopDesc>],
    hw: &Hardware,
    opts: &SearchOptions,
    cstr: &TopConstraint,
) -> NodeBlockings {
    let env = &p.env;
    let mut per_array = Vec::with_capacity(nlds.len());
    let mut evaluated = 0;
    for nld in nlds.iter() {
        let schemes = if opts.solve_loopblocking && nld.data_loops == DataLoops::CONV {
            let mut v = Vec::new();
            for b in solver::solve(nld, env.gbuf_words, env.regf_words, env.bypass) {
                evaluated += 1;
                if cstr.allows(&b)
                    && let Ok(s) = blocking::evaluate(nld, env, &hw.energy, &b)
                {
                    v.push(s);
                }
            }
            v
        } else {
            let (v, n) = exhaustive::search(nld, env, &hw.energy, cstr, opts.goal, opts.ntops);
            evaluated += n;
            v
        };
        if !schemes.is_empty() {
            per_array.push((nld.clone(), schemes));
        }
    }
    let failure = per_array.is_empty().then(|| diagnose(nlds, env));
    let index = (per_array.iter().enumerate())
        .flat_map(|(a, (_, v))| (0..v.len()).map(move |b| (a as u32, b as u32)))
        .collect();
    NodeBlockings {
        per_array,
        index,
        evaluated,
        failure,
    }
}

/// One partition of a layer on a placement, to rank: its mappings, what
/// arranging their buffer sharing needs, its hops, and its input hops from
/// the layout being tried (counted when first needed).
pub struct PartCand<'a> {
    pub nodes: &'a NodeSchemes,
    pub env: &'a NodeEnv,
    pub bufshr: &'a BufShr,
    pub hops: &'a PartHops,
    pub ifm: &'a OnceLock<u64>,
}

impl PartCand<'_> {
    fn ifm(&self, pieces: &Pieces) -> u64 {
        *self.ifm.get_or_init(|| self.hops.ifm(pieces))
    }

    fn scheme(&self, j: usize) -> &BlockingScheme {
        self.nodes.scheme(j, self.env, self.bufshr)
    }

    fn result(
        &self,
        ctx: &LayerCtx<'_>,
        pl: &Placement,
        j: usize,
        unit_nhops: crate::dims::PerCat<u64>,
        seq: SchedSeq,
    ) -> LayerResult {
        let m = LayerMapping {
            placement: *pl,
            partition: self.nodes.part,
            array: self.nodes.unshared(j).0.clone(),
            scheme: self.scheme(j).clone(),
        };
        let (full, _) = ctx.ofmap_layouts(&self.nodes.part, pl);
        m.cost(ctx, unit_nhops, &full, seq)
    }
}

/// What a layer's mappings are ranked for: the layer, where it runs,
/// where its inputs are (`ifmap`, resolved to `pieces`), its place in its
/// segment, and how many results to keep.
#[derive(Clone, Copy)]
pub struct LayerQuery<'a> {
    pub ctx: &'a LayerCtx<'a>,
    pub pl: &'a Placement,
    pub ifmap: &'a DataLayout,
    pub pieces: &'a Pieces,
    pub seq: SchedSeq,
    pub keep: usize,
}

/// A mapping's lower bound on its goal key (`bounds`), its index in
/// partition and mapping order, its partition and its mapping.
pub type Bound = ((f64, f64), usize, usize, usize);

/// Lower bounds on a layer's results under one constraint, from any input
/// layout.
pub struct LayerBounds {
    /// Every mapping of every partition by a lower bound on its goal key,
    /// in rank order.
    pub list: Vec<Bound>,
    /// The least energy without static energy of any mapping (infinite
    /// without one): static energy follows a segment's time, the rest adds
    /// up over layers.
    pub least_dynamic: f64,
}

/// Every mapping of every partition by a lower bound on its goal key: its
/// cost without input hops and buffer-sharing traffic, which depends on
/// neither the input layout nor the query, so one list serves them all.
pub fn bounds(ctx: &LayerCtx<'_>, parts: &[PartCand<'_>]) -> LayerBounds {
    let goal = ctx.opts.goal;
    let mut list: Vec<Bound> = Vec::new();
    let mut least_dynamic = f64::INFINITY;
    for (p, pc) in parts.iter().enumerate() {
        for j in 0..pc.nodes.len() {
            let s = pc.nodes.unshared(j).1;
            let c = SchemeCost::new(ctx, s, pc.hops.unit_nhops(0));
            least_dynamic = least_dynamic.min(c.dynamic());
            list.push((c.key(goal), list.len(), p, j));
        }
    }
    list.sort_by(|a, b| cmp_key(&a.0, &b.0).then(a.1.cmp(&b.1)));
    LayerBounds {
        list,
        least_dynamic,
    }
}

/// The `q.keep` best results of every mapping of every partition, by goal
/// key, ties to the first in partition and mapping order.
///
/// With exact hops, mappings are visited by their lower bounds (`bounds`
/// of the same `parts`), and hops and sharing are worked out only until
/// the bound passes the `keep`-th best: the same results as costing all.
/// nn_dataflow's memo depends on query order, so with it every partition
/// is costed, in order.
pub fn layer_results(
    q: &LayerQuery<'_>,
    parts: &[PartCand<'_>],
    bounds: &[Bound],
    memo: &mut HopMemo,
) -> Vec<LayerResult> {
    if memo.memoizes() {
        return rank_all(q, parts, memo);
    }
    let LayerQuery {
        ctx,
        pl,
        pieces,
        seq,
        keep,
        ..
    } = *q;
    let goal = ctx.opts.goal;
    let mut best: Vec<Bound> = Vec::with_capacity(keep.min(bounds.len()) + 1);
    let beyond = |best: &[Bound], lb: &(f64, f64)| {
        best.len() == keep && best.last().is_some_and(|b| cmp_key(lb, &b.0).is_gt())
    };
    // Hops and sharing are worked out for a few candidates at a time, in
    // parallel; how many changes the work done, not the result.
    let batch = 2 * rayon::current_num_threads();
    let mut pos = 0;
    while pos < bounds.len() && !beyond(&best, &bounds[pos].0) {
        let chunk = &bounds[pos..(pos + batch).min(bounds.len())];
        chunk.par_iter().for_each(|&(_, _, p, j)| {
            parts[p].ifm(pieces);
            parts[p].scheme(j);
        });
        for &(lb, i, p, j) in chunk {
            if beyond(&best, &lb) {
                break;
            }
            let pc = &parts[p];
            let unh = pc.hops.unit_nhops(pc.ifm(pieces));
            let key = SchemeCost::new(ctx, pc.scheme(j), unh).key(goal);
            debug_assert!(cmp_key(&key, &lb).is_ge(), "the bound is below the key");
            let at = best.partition_point(|b| cmp_key(&b.0, &key).then(b.1.cmp(&i)).is_lt());
            best.insert(at, (key, i, p, j));
            best.truncate(keep);
        }
        pos += chunk.len();
    }
    best.into_iter()
        .map(|(_, _, p, j)| {
            let pc = &parts[p];
            pc.result(ctx, pl, j, pc.hops.unit_nhops(pc.ifm(pieces)), seq)
        })
        .collect()
}

/// `layer_results` costing every mapping: every partition's hops in order
/// (as nn_dataflow's hop memo needs them), then every mapping.
pub(super) fn rank_all(
    q: &LayerQuery<'_>,
    parts: &[PartCand<'_>],
    memo: &mut HopMemo,
) -> Vec<LayerResult> {
    let LayerQuery {
        ctx,
        pl,
        ifmap,
        pieces,
        seq,
        keep,
    } = *q;
    let live: Vec<&PartCand<'_>> = parts.iter().filter(|p| p.nodes.len() > 0).collect();
    live.par_iter().for_each(|p| {
        p.ifm(pieces);
        (0..p.nodes.len()).for_each(|j| {
            p.scheme(j);
        });
    });
    let queries: Vec<HopQuery<'_>> = live
        .iter()
        .map(|p| HopQuery {
            part: p.hops,
            ifmap_layout: ifmap,
            ifm: p.ifm(pieces),
        })
        .collect();
    let hops = memo.unit_nhops(&queries);
    let goal = ctx.opts.goal;
    let mut rank: Vec<((f64, f64), usize, usize)> = Vec::new();
    for (p, unh) in live.iter().zip(&hops) {
        for j in 0..p.nodes.len() {
            let key = SchemeCost::new(ctx, p.scheme(j), *unh).key(goal);
            rank.push((key, rank.len(), j));
        }
    }
    // Partition of each ranked entry, by its position.
    let owner: Vec<usize> = (live.iter().enumerate())
        .flat_map(|(k, p)| std::iter::repeat_n(k, p.nodes.len()))
        .collect();
    rank.sort_by(|a, b| cmp_key(&a.0, &b.0).then(a.1.cmp(&b.1)));
    rank.iter()
        .take(keep)
        .map(|&(_, i, j)| {
            let k = owner[i];
            live[k].result(ctx, pl, j, hops[k], seq)
        })
        .collect()
}

/// The most specific reason no blocking fits: the least any blocking needs
/// is every loop outside the buffer.
fn diagnose(nlds: &[Arc<NestedLoopDesc>], env: &NodeEnv) -> NoSchedule {
    let mut worst = NoSchedule::Constraints;
    for nld in nlds {
        match blocking::fits_before_ordering(nld, env, &Blocking::all_outside(nld.loopcnt)) {
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

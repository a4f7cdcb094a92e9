//! Scheduling one layer: partitions x array mappings x blockings, ranked by
//! full cost (operations, accesses, NoC hops, static energy).

use std::sync::Arc;

use crate::array::{NestedLoopDesc, row_stationary};
use crate::blocking::{
    self, Blocking, BlockingScheme, Infeasible, NodeEnv, TopConstraint, cmp_key, exhaustive, solver,
};
use crate::cost::{LayerCtx, LayerMapping, LayerResult, node_env};
use crate::dims::DataLoops;
use crate::hw::Hardware;
use crate::network::Layer;
use crate::partition::{BufShr, HopMemo, HopQuery, PartitionScheme};
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

/// The best mappings of one partition of a layer, each costed on one node.
#[derive(Debug)]
pub struct NodeSchemes {
    pub part: PartitionScheme,
    pub mappings: Vec<LayerMapping>,
    /// Why there are none.
    pub failure: Option<NoSchedule>,
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

/// The best blockings of a node problem per array mapping, before buffer
/// sharing arranges them: all solver results, or the `opts.ntops` best of
/// the exhaustive search.
#[derive(Debug)]
pub struct NodeBlockings {
    per_array: Vec<(Arc<NestedLoopDesc>, Vec<BlockingScheme>)>,
    /// Candidate blockings costed.
    pub evaluated: u64,
    failure: Option<NoSchedule>,
}

/// Searches the blockings of a node problem under a constraint.
pub fn search_blockings(
    p: &NodeProblem,
    hw: &Hardware,
    opts: &SearchOptions,
    cstr: &TopConstraint,
) -> NodeBlockings {
    let nlds = row_stationary(&p.layer, p.batch, p.occupancy, hw.pe_array);
    let env = &p.env;
    let mut per_array = Vec::new();
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
            per_array.push((Arc::new(nld.clone()), schemes));
        }
    }
    let failure = per_array.is_empty().then(|| diagnose(&nlds, env));
    NodeBlockings {
        per_array,
        evaluated,
        failure,
    }
}

/// The mappings of partition `part` on placement `pl` from its node
/// problem's blockings, with buffer sharing arranged for its groups.
pub fn node_schemes(
    part: &PartitionScheme,
    pl: &Placement,
    p: &NodeProblem,
    bufshr: &BufShr,
    b: &NodeBlockings,
    opts: &SearchOptions,
) -> NodeSchemes {
    let mut mappings = Vec::new();
    for (array, schemes) in &b.per_array {
        for s in schemes {
            let scheme = if opts.gbuf_sharing {
                blocking::with_sharing(array, &p.env, s.clone(), bufshr)
            } else {
                s.clone()
            };
            mappings.push(LayerMapping {
                placement: *pl,
                partition: *part,
                array: array.clone(),
                scheme,
            });
        }
    }
    NodeSchemes {
        part: *part,
        mappings,
        failure: b.failure.clone(),
    }
}

/// Full-cost results of every mapping of every partition, each with its
/// hop query (where its inputs are); the `keep` best.
pub fn layer_results(
    ctx: &LayerCtx<'_>,
    pl: &Placement,
    nodes: &[(&NodeSchemes, HopQuery<'_>)],
    memo: &mut HopMemo,
    seq: SchedSeq,
    keep: usize,
) -> Vec<LayerResult> {
    let live: Vec<&(&NodeSchemes, HopQuery<'_>)> = nodes
        .iter()
        .filter(|(n, _)| !n.mappings.is_empty())
        .collect();
    let queries: Vec<HopQuery<'_>> = live.iter().map(|l| l.1).collect();
    let hops = memo.unit_nhops(&queries);
    let mut out = Vec::new();
    for ((ns, _), unh) in live.iter().zip(hops) {
        let (full, _) = ctx.ofmap_layouts(&ns.part, pl);
        for m in &ns.mappings {
            out.push(m.cost(ctx, unh, &full, seq));
        }
    }
    // Rank by (key, index) without moving the results about.
    let goal = ctx.opts.goal;
    let mut rank: Vec<((f64, f64), usize)> = out
        .iter()
        .enumerate()
        .map(|(i, r)| (goal.key(r.cost, r.time), i))
        .collect();
    rank.sort_by(|a, b| cmp_key(&a.0, &b.0).then(a.1.cmp(&b.1)));
    let mut out: Vec<Option<LayerResult>> = out.into_iter().map(Some).collect();
    rank.iter()
        .take(keep)
        .map(|&(_, i)| out[i].take().expect("each index once"))
        .collect()
}

/// The most specific reason no blocking fits: the least any blocking needs
/// is every loop outside the buffer.
fn diagnose(nlds: &[NestedLoopDesc], env: &NodeEnv) -> NoSchedule {
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

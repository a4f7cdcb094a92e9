//! Scheduling one layer: partitions x array mappings x blockings, ranked by
//! full cost (operations, accesses, NoC hops, static energy).

use std::sync::Arc;

use crate::array::{NestedLoopDesc, row_stationary};
use crate::blocking::{
    self, Blocking, Infeasible, NodeEnv, TopConstraint, cmp_key, exhaustive, solver,
};
use crate::cost::{LayerCtx, LayerMapping, LayerResult, node_env};
use crate::dims::DataLoops;
use crate::hw::Hardware;
use crate::network::Layer;
use crate::partition::{Coord, DataLayout, HopMemo, HopQuery, PartitionScheme};
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
    /// Candidate blockings costed.
    pub evaluated: u64,
    /// Why there are none.
    pub failure: Option<NoSchedule>,
}

/// The best blockings of one node's share of `layer` (one group of a
/// grouped conv) under partition `part`: all solver results, or the
/// `opts.ntops` best of the exhaustive search per array mapping.
pub fn search_node(
    layer: &Layer,
    part: &PartitionScheme,
    pl: &Placement,
    hw: &Hardware,
    opts: &SearchOptions,
    cstr: &TopConstraint,
) -> NodeSchemes {
    let (p_layer, p_batch, p_occ) = part.part_layer(layer, opts.batch);
    let nlds = row_stationary(&p_layer, p_batch, p_occ, hw.pe_array);
    let (env, bufshr) = node_env(pl, part, &p_layer, hw, opts);
    let shared = opts.gbuf_sharing.then_some(&bufshr);
    let mut mappings = Vec::new();
    let mut evaluated = 0;
    for nld in nlds.iter() {
        let array = Arc::new(nld.clone());
        let mapping = |scheme| LayerMapping {
            placement: *pl,
            partition: *part,
            array: array.clone(),
            scheme,
        };
        if opts.solve_loopblocking && nld.data_loops == DataLoops::CONV {
            for b in solver::solve(nld, env.gbuf_words, env.regf_words, env.bypass) {
                evaluated += 1;
                if cstr.allows(&b)
                    && let Ok(s) = blocking::cost(nld, &env, &hw.energy, &b, shared)
                {
                    mappings.push(mapping(s));
                }
            }
        } else {
            let (v, n) =
                exhaustive::search(nld, &env, &hw.energy, cstr, opts.goal, opts.ntops, shared);
            evaluated += n;
            mappings.extend(v.into_iter().map(mapping));
        }
    }
    let failure = mappings.is_empty().then(|| diagnose(&nlds, &env));
    NodeSchemes {
        part: *part,
        mappings,
        evaluated,
        failure,
    }
}

/// Full-cost results of every mapping of every partition, given where the
/// input maps are; the `opts.ntops` best.
pub fn layer_results(
    ctx: &LayerCtx<'_>,
    pl: &Placement,
    nodes: &[Arc<NodeSchemes>],
    ifmap_layout: &DataLayout,
    memo: &mut HopMemo,
    seq: SchedSeq,
) -> Vec<LayerResult> {
    let filter_nodes: Vec<Coord> = pl.dram.nodes().collect();
    let live: Vec<&NodeSchemes> = nodes
        .iter()
        .map(|n| n.as_ref())
        .filter(|n| !n.mappings.is_empty())
        .collect();
    let layouts: Vec<_> = live
        .iter()
        .map(|ns| ctx.ofmap_layouts(&ns.part, pl))
        .collect();
    let queries: Vec<HopQuery<'_>> = live
        .iter()
        .zip(&layouts)
        .map(|(ns, (_, slice))| HopQuery {
            layer: ctx.slice,
            batch: ctx.opts.batch,
            region: &pl.proc,
            part: &ns.part,
            filter_nodes: &filter_nodes,
            ifmap_layout,
            ofmap_layout: slice,
            forwarding: ctx.opts.forwarding(),
        })
        .collect();
    let hops = memo.unit_nhops(&queries);
    let mut out = Vec::new();
    for ((ns, (full, _)), unh) in live.iter().zip(&layouts).zip(hops) {
        for m in &ns.mappings {
            out.push(m.cost(ctx, unh, full, seq));
        }
    }
    let goal = ctx.opts.goal;
    out.sort_by(|a, b| cmp_key(&goal.key(a.cost, a.time), &goal.key(b.cost, b.time)));
    out.truncate(ctx.opts.ntops);
    out
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

//! The search over the network: a dynamic program over the scheduling
//! order that keeps the `ntops` best schedules of each prefix, extended by
//! every segment ending at the next layer (nn_dataflow's
//! `schedule_search`).

use std::collections::HashMap;

use std::sync::Arc;
use std::sync::atomic::Ordering;

use rayon::prelude::*;

use crate::blocking::{TopConstraint, cmp_key};
use crate::cost::{LayerCtx, LayerResult, part_hops};
use crate::dims::{BlockLevel, LoopDim};
use crate::hw::Hardware;
use crate::network::{Layer, LayerId, Network};
use crate::partition::{
    BufShr, DataLayout, FmapRange, HopMemo, PartHops, PartTarget, PartitionScheme,
    gen_partition,
};
use crate::pipeline::{Dag, LayerConstraint, PipelineSegment, SchedIdx, SchedSeq, SegmentOptions};
use crate::placement::Placement;
use crate::placement::stored_inputs;
use crate::util::Lru;

use super::layer::{
    NoSchedule, NodeBlockings, NodeProblem, NodeSchemes, layer_results, node_schemes,
    search_blockings,
};
use super::result::{NetworkSchedule, Partial, check_consistency};
use super::{Progress, SearchError, SearchOptions};
use crate::options::Stopper;

/// A layer's scheduling condition, as nn_dataflow memoizes layer searches.
type SchedKey = (Layer, Placement, TopConstraint, DataLayout, SchedSeq);

/// Node searches are shared by every condition with the same inputs.
type NodeKey = (Layer, PartitionScheme, Placement, TopConstraint);

/// The search state shared by all segments: hardware, options, memos.
struct Searcher<'a> {
    net: &'a Network,
    hw: &'a Hardware,
    opts: &'a SearchOptions,
    node_cache: rustc_hash::FxHashMap<NodeKey, Arc<NodeSchemes>>,
    parts: rustc_hash::FxHashMap<(Layer, PartitionScheme, Placement), Arc<PartEntry>>,
    blockings: rustc_hash::FxHashMap<(Layer, NodeProblem, TopConstraint), Arc<NodeBlockings>>,
    memo: HopMemo,
    sched_memo: Lru<SchedKey, Vec<LayerResult>>,
    evaluated: u64,
    /// Why each layer failed, for the error message.
    failures: HashMap<LayerId, NoSchedule>,
}

/// What a partition of a layer on a placement needs, whatever the
/// constraint and the input layout.
struct PartEntry {
    problem: NodeProblem,
    bufshr: BufShr,
    hops: PartHops,
}

/// Where a layer runs in its segment, and what it must agree on.
struct Step<'s> {
    id: LayerId,
    placement: &'s Placement,
    idx: SchedIdx,
}

impl Searcher<'_> {
    fn key(&self, p: &Partial) -> (f64, f64) {
        let n = self.net.len();
        self.opts.goal.key(p.total_cost(n), p.total_time(n))
    }

    fn sort_truncate(&self, v: &mut Vec<Partial>) {
        v.sort_by(|a, b| cmp_key(&self.key(a), &self.key(b)));
        v.truncate(self.opts.ntops);
    }

    /// The node searches of every partition of a layer (one group of a
    /// grouped conv) on a placement, with the partition's input-independent
    /// hops. Missing parts are made in parallel, in a fixed order.
    fn node_schemes(
        &mut self,
        slice: &Layer,
        pl: &Placement,
        cstr: &TopConstraint,
    ) -> Vec<(Arc<NodeSchemes>, Arc<PartEntry>)> {
        let (o, hw) = (self.opts, self.hw);
        let parts = gen_partition(
            PartTarget::Layer(slice),
            o.batch,
            pl.proc.dim,
            &o.partition,
            true,
        );
        let memo_keys = self.memo.memoizes();
        let missing: Vec<&PartitionScheme> = parts
            .iter()
            .filter(|p| !self.parts.contains_key(&(*slice, **p, *pl)))
            .collect();
        let found: Vec<PartEntry> = missing
            .par_iter()
            .map(|p| {
                let (problem, bufshr) = NodeProblem::new(slice, p, pl, hw, o);
                PartEntry {
                    problem,
                    bufshr,
                    hops: part_hops(slice, p, pl, o, memo_keys),
                }
            })
            .collect();
        for (p, e) in missing.into_iter().zip(found) {
            self.parts.insert((*slice, *p, *pl), Arc::new(e));
        }
        let entries: Vec<Arc<PartEntry>> = parts
            .iter()
            .map(|p| self.parts[&(*slice, *p, *pl)].clone())
            .collect();
        let missing: Vec<usize> = (0..parts.len())
            .filter(|&i| !self.node_cache.contains_key(&(*slice, parts[i], *pl, *cstr)))
            .collect();
        let mut problems: Vec<&NodeProblem> = Vec::new();
        for &i in &missing {
            let p = &entries[i].problem;
            if !self.blockings.contains_key(&(*slice, p.clone(), *cstr)) && !problems.contains(&p)
            {
                problems.push(p);
            }
        }
        let found: Vec<NodeBlockings> = problems
            .par_iter()
            .map(|p| search_blockings(p, hw, o, cstr))
            .collect();
        for (p, b) in problems.into_iter().zip(found) {
            self.evaluated += b.evaluated;
            self.blockings
                .insert((*slice, p.clone(), *cstr), Arc::new(b));
        }
        let blockings = &self.blockings;
        let made: Vec<NodeSchemes> = missing
            .par_iter()
            .map(|&i| {
                let e = &entries[i];
                let b = &blockings[&(*slice, e.problem.clone(), *cstr)];
                node_schemes(&parts[i], pl, &e.problem, &e.bufshr, b, o)
            })
            .collect();
        for ns in made {
            self.node_cache
                .insert((*slice, ns.part, *pl, *cstr), Arc::new(ns));
        }
        parts
            .iter()
            .zip(entries)
            .map(|(p, e)| (self.node_cache[&(*slice, *p, *pl, *cstr)].clone(), e))
            .collect()
    }

    /// Drops the node searches of layer slices no later segment needs.
    fn forget(&mut self, slices: &rustc_hash::FxHashSet<Layer>) {
        if slices.is_empty() {
            return;
        }
        self.node_cache.retain(|k, _| !slices.contains(&k.0));
        self.parts.retain(|k, _| !slices.contains(&k.0));
        self.blockings.retain(|k, _| !slices.contains(&k.0));
    }

    /// nn_dataflow's Scheduling.schedule_search: every partition's node
    /// schemes with hops for this input layout, the best `ntops`.
    fn schedule_layer(
        &mut self,
        id: LayerId,
        pl: &Placement,
        cstr: &TopConstraint,
        ifmap: DataLayout,
        seq: SchedSeq,
    ) -> Vec<LayerResult> {
        let nl = self.net.get(id);
        let key = (nl.layer, *pl, *cstr, ifmap, seq);
        if let Some(r) = self.sched_memo.get(&key) {
            // Equal layers share results, under their own names.
            return r
                .into_iter()
                .map(|r| LayerResult {
                    layer: id,
                    name: nl.name.clone(),
                    ..r
                })
                .collect();
        }
        let slice = nl.layer.group_slice();
        let nodes = self.node_schemes(&slice, pl, cstr);
        let ctx = LayerCtx {
            id,
            name: &nl.name,
            layer: &nl.layer,
            slice: &slice,
            hw: self.hw,
            opts: self.opts,
        };
        let with_hops: Vec<_> = nodes.iter().map(|(n, e)| (n.clone(), &e.hops)).collect();
        let results = layer_results(&ctx, pl, &with_hops, &key.3, &mut self.memo, seq);
        if results.is_empty() {
            let reason = nodes
                .iter()
                .find_map(|(n, _)| n.failure.clone())
                .unwrap_or(NoSchedule::Constraints);
            self.failures.entry(id).or_insert(reason);
        }
        self.sched_memo.insert(key, results.clone());
        results
    }

    /// Schedules one layer of a segment after each previous schedule.
    fn layer_step(
        &mut self,
        step: &Step<'_>,
        cstr: &mut LayerConstraint,
        prev_tops: &[Partial],
    ) -> Vec<Partial> {
        let mut out = Vec::new();
        for prev in prev_tops {
            let stored = stored_inputs(self.net, step.id, |s| {
                Ok::<_, std::convert::Infallible>(prev.source_layout(s))
            });
            let ifmap = step
                .placement
                .input_layout(stored.unwrap_or_else(|e| match e {}));
            let seq = SchedSeq {
                segment: prev.segment_of(step.idx),
                idx: step.idx,
            };
            // nn_dataflow updates the shared constraint in place: the first
            // previous schedule decides for all.
            if let Some(c) = cstr.update_from.take() {
                let conv = prev.by_layer[c.0]
                    .as_ref()
                    .expect("the conv precedes in the segment");
                cstr.topofm = conv.mapping.scheme.blocking.ts[BlockLevel::Dram][LoopDim::Ofm];
            }
            let top = TopConstraint {
                topbat: cstr.topbat,
                topifm: cstr.topifm,
                topofm: cstr.topofm,
            };
            for r in self.schedule_layer(step.id, step.placement, &top, ifmap, seq) {
                let mut p = prev.clone();
                p.push(self.net, r);
                out.push(p);
            }
        }
        self.sort_truncate(&mut out);
        out
    }

    /// nn_dataflow's segment search: each constraint in order, skipping
    /// those dominated by one that already succeeded.
    fn segment(&mut self, seg: &PipelineSegment, prev_tops: &[Partial]) -> Vec<Partial> {
        let max_ovhd = self.opts.pipeline.time_overhead;
        let mut frontier: Vec<Vec<u64>> = Vec::new();
        let mut tops = Vec::new();
        for (mut cstr, hints) in seg.constraints(max_ovhd) {
            if frontier
                .iter()
                .any(|f| hints.iter().zip(f).all(|(h, f)| h >= f))
            {
                continue;
            }
            let mut curr = prev_tops.to_vec();
            for (sp, slot) in seg.slots.iter().enumerate() {
                for (tm, &id) in slot.iter().enumerate() {
                    let step = Step {
                        id,
                        placement: &seg.placements[sp][tm],
                        idx: SchedIdx { sp, tm },
                    };
                    curr = self.layer_step(&step, &mut cstr[sp][tm], &curr);
                }
            }
            curr.retain(|p| p.timings.iter().all(|t| t.time_overhead() <= max_ovhd));
            if !curr.is_empty() {
                frontier.push(hints);
            }
            tops.extend(curr);
        }
        self.sort_truncate(&mut tops);
        tops
    }
}

/// Schedules `net` on `hw`; `progress`, if given, is kept up to date.
pub fn run(
    net: &Network,
    hw: &Hardware,
    opts: &SearchOptions,
    progress: Option<&Progress>,
) -> Result<NetworkSchedule, SearchError> {
    opts.validate().map_err(SearchError::Options)?;
    let stopper = Stopper::start(opts);
    let whole = Placement::whole_chip(hw);
    let dag = Dag::new(net);
    let order: Vec<LayerId> = dag.vertices.iter().flatten().copied().collect();
    let mut pos = vec![0usize; net.len()];
    for (i, l) in order.iter().enumerate() {
        pos[l.0] = i;
    }
    let segments = gen_segments(net, &dag, opts, &whole, hw.gbuf_words);
    if let Some(p) = progress {
        p.layers_total.store(order.len(), Ordering::Relaxed);
    }
    let mut s = Searcher {
        net,
        hw,
        opts,
        node_cache: rustc_hash::FxHashMap::default(),
        parts: rustc_hash::FxHashMap::default(),
        blockings: rustc_hash::FxHashMap::default(),
        memo: HopMemo::new(opts.exact_noc_hops),
        sched_memo: Lru::new(1024),
        evaluated: 0,
        failures: HashMap::new(),
    };
    let expiring = expiring_slices(net, &segments, &pos);
    let initial = initial_partials(net, opts, &whole);
    let mut tops: Vec<Vec<Partial>> = Vec::with_capacity(order.len());
    let mut stopped = None;
    for (i, &id) in order.iter().enumerate() {
        let mut here = Vec::new();
        for seg in segments.iter().filter(|g| g.last() == id) {
            let first = pos[seg.slots[0][0].0];
            let prev = if first == 0 {
                &initial
            } else {
                &tops[first - 1]
            };
            if prev.is_empty() {
                continue;
            }
            let prev = prev.clone();
            here.extend(s.segment(seg, &prev));
        }
        s.sort_truncate(&mut here);
        s.forget(&expiring[i]);
        let some = !here.is_empty();
        tops.push(here);
        if let Some(p) = progress {
            p.layers_done.store(i + 1, Ordering::Relaxed);
        }
        // Stop between layers, once a prefix has a schedule.
        if some && i + 1 < order.len() {
            stopped = stopper.check();
            if stopped.is_some() {
                break;
            }
        }
    }
    let Some(best) = tops.pop().and_then(|t| t.into_iter().next()) else {
        let (layer, reason) = order
            .iter()
            .find_map(|id| s.failures.get(id).map(|r| (*id, r.clone())))
            .unwrap_or((order[0], NoSchedule::Constraints));
        return Err(SearchError::NoSchedule {
            layer: net.layer_name(layer).to_string(),
            reason,
        });
    };
    if let Some(p) = progress {
        p.schemes_evaluated.store(s.evaluated, Ordering::Relaxed);
    }
    let mut sched = best.finish(net, hw, s.evaluated);
    sched.stopped = stopped;
    check_consistency(net, opts, &sched).map_err(SearchError::Inconsistent)?;
    Ok(sched)
}

/// For each position of the scheduling order, the layer slices no segment
/// ending later schedules: their node searches can be dropped there.
fn expiring_slices(
    net: &Network,
    segments: &[PipelineSegment],
    pos: &[usize],
) -> Vec<rustc_hash::FxHashSet<Layer>> {
    let mut last_use: rustc_hash::FxHashMap<Layer, usize> = Default::default();
    for seg in segments {
        let end = pos[seg.last().0];
        for id in seg.slots.iter().flatten() {
            let e = last_use.entry(net.layer(*id).group_slice()).or_insert(end);
            *e = (*e).max(end);
        }
    }
    let mut out = vec![rustc_hash::FxHashSet::default(); pos.len()];
    for (slice, end) in last_use {
        out[end].insert(slice);
    }
    out
}

/// Candidate segments in nn_dataflow's order: every layer alone, then the
/// vertex runs as spatial pipelines (one slot per vertex) and temporal ones
/// (everything in one slot), when enabled and valid.
pub(super) fn gen_segments(
    net: &Network,
    dag: &Dag,
    opts: &SearchOptions,
    whole: &Placement,
    gbuf_words: u64,
) -> Vec<PipelineSegment> {
    let seg_opts = SegmentOptions {
        with_opt: opts.pipeline.optimize,
    };
    let new = |slots| PipelineSegment::new(slots, net, opts.batch, whole, gbuf_words, seg_opts);
    let mut out: Vec<PipelineSegment> = Vec::new();
    let mut push = |seg: Option<PipelineSegment>| {
        if let Some(seg) = seg
            && !out.iter().any(|o| o.slots == seg.slots)
        {
            out.push(seg);
        }
    };
    for id in net.ids() {
        push(new(vec![vec![id]]));
    }
    let pl = &opts.pipeline;
    if pl.interlayer || pl.save_writeback {
        for vseg in dag.vertex_segments() {
            if vseg.len() as f64 > pl.max_degree
                || (vseg.len() == 1 && dag.vertices[vseg[0]].len() == 1)
            {
                continue;
            }
            let spatial: Vec<Vec<LayerId>> =
                vseg.iter().map(|&v| dag.vertices[v].clone()).collect();
            let temporal = vec![spatial.concat()];
            if pl.interlayer {
                push(new(spatial.clone()));
            }
            if pl.save_writeback && !(pl.interlayer && temporal == spatial) {
                push(new(temporal));
            }
        }
    }
    out
}

/// One empty schedule per layout of the network input (and external
/// inputs, partitioned alike) over the source region.
fn initial_partials(net: &Network, opts: &SearchOptions, pl: &Placement) -> Vec<Partial> {
    let inp = net.input();
    let target = PartTarget::Input {
        nofm: inp.n,
        hofm: inp.h,
        wofm: inp.w,
    };
    gen_partition(target, opts.batch, pl.src.dim, &opts.partition, true)
        .into_iter()
        .map(|part| {
            let proj = part.projection(&pl.src, true);
            let layout = |n, h, w| {
                Arc::new(DataLayout::single(
                    FmapRange::full(opts.batch, n, h, w),
                    pl.src,
                    proj,
                ))
            };
            let exts = net
                .exts()
                .iter()
                .map(|e| layout(e.shape.n, e.shape.h, e.shape.w))
                .collect();
            Partial::new(net, layout(inp.n, inp.h, inp.w), exts)
        })
        .collect()
}

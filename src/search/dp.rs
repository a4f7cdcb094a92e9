//! The search over the network: a dynamic program over the scheduling
//! order that keeps the `ntops` best schedules of each prefix, extended by
//! every segment ending at the next layer (nn_dataflow's
//! `schedule_search`, the beam), and alongside it the frontier search: the
//! same program with wider prefixes, one per frontier of live data
//! layouts, seeded with the beam's (see ARCHITECTURE.md).

use std::collections::HashMap;

use std::sync::Arc;
use std::sync::atomic::Ordering;

use rayon::prelude::*;

use crate::blocking::{Goal, TopConstraint, cmp_key};
use crate::cost::{LayerCtx, LayerResult, SchemeCost, part_hops};
use crate::dims::{BlockLevel, LoopDim};
use crate::hw::Hardware;
use crate::network::{Layer, LayerId, Network, Source};
use crate::partition::{
    BufShr, DataLayout, FmapRange, HopMemo, PartHops, PartTarget, PartitionScheme, Pieces,
    gen_partition,
};
use crate::pipeline::{Dag, LayerConstraint, PipelineSegment, SchedIdx, SchedSeq, SegmentOptions};
use crate::placement::Placement;
use crate::placement::stored_inputs;
use crate::util::Lru;

use super::layer::{
    LayerBounds, LayerQuery, NoSchedule, NodeBlockings, NodeProblem, NodeSchemes, PartCand, Share,
    bounds, layer_results, search_blockings,
};
use super::result::{NetworkSchedule, Partial, check_consistency};
use super::{InterlayerSearch, Progress, SearchError, SearchOptions};
use crate::array::NestedLoopDesc;
use crate::options::Stopper;

/// A layer's scheduling condition, as layer searches are memoized. With
/// nn_dataflow's NoC-hop memo a result depends on when it is asked for,
/// so its key also holds the layer's place in the schedule and the number
/// of results kept; with exact hops the place only labels results, and
/// more results serve a query for fewer.
type SchedKey = (
    Layer,
    Placement,
    TopConstraint,
    DataLayout,
    Option<(SchedSeq, usize)>,
);

/// How one dynamic program over the scheduling order keeps schedules.
#[derive(Clone, Copy)]
struct Lane {
    /// Schedules kept per prefix and after each layer of a segment.
    width: usize,
    /// Results kept per layer and condition.
    per_layer: usize,
    /// nn_dataflow's beam: the first previous schedule decides a layer's
    /// constraint for all, and constraints dominated by one that succeeded
    /// are skipped. Otherwise every previous schedule decides its own and
    /// every constraint is tried.
    beam: bool,
    /// Partial schedules that cannot be kept are not extended (`Bar`;
    /// not with the beam, whose truncation the bar would change).
    bar: bool,
}

/// Prefixes the frontier search keeps per position (different frontiers).
const FRONTIER_WIDTH: usize = 4;
/// Results per layer and condition the frontier search extends with.
const FRONTIER_PER_LAYER: usize = 2;

/// The keys of the best `width` complete schedules of a prefix found so
/// far by the frontier lane: a partial schedule whose key already exceeds
/// the worst of them cannot be kept (keys never decrease as layers are
/// added), so it is not extended.
struct Bar {
    width: usize,
    keys: Vec<(f64, f64)>,
}

impl Bar {
    fn new(width: usize) -> Bar {
        Bar {
            width,
            keys: Vec::new(),
        }
    }

    fn add(&mut self, k: (f64, f64)) {
        let at = self.keys.partition_point(|x| cmp_key(x, &k).is_le());
        self.keys.insert(at, k);
        self.keys.truncate(self.width);
    }

    /// Whether a partial schedule with key `k` cannot be kept. A margin
    /// absorbs the rounding of static energy recomputed from the time.
    fn excludes(&self, k: &(f64, f64)) -> bool {
        if self.keys.len() < self.width {
            return false;
        }
        let t = self.keys[self.width - 1];
        let m = |v: f64| v + v.abs() * 1e-9;
        k.0 > m(t.0) || (k.0 == t.0 && k.1 > m(t.1))
    }
}

/// The search state shared by all segments: hardware, options, memos.
struct Searcher<'a> {
    net: &'a Network,
    hw: &'a Hardware,
    opts: &'a SearchOptions,
    node_lists: rustc_hash::FxHashMap<(Layer, Placement, TopConstraint), Arc<Vec<NodeSchemes>>>,
    parts: rustc_hash::FxHashMap<(Layer, Placement), Arc<Parts>>,
    /// Node problems of each layer slice by number: blocking searches are
    /// looked up by number, which hashes faster than the problem.
    problem_ids: rustc_hash::FxHashMap<(Layer, NodeProblem), u32>,
    /// Numbers given so far (never reused: expired ones stay unused).
    numbered: u32,
    /// Blocking searches by problem number and constraint, with the
    /// problem's slice (for expiry).
    blockings: rustc_hash::FxHashMap<(u32, TopConstraint), (Layer, Arc<NodeBlockings>)>,
    /// Array mappings by node share, shared by all problems with that share.
    arrays: rustc_hash::FxHashMap<Share, Arc<[Arc<NestedLoopDesc>]>>,
    /// The ranking's lower bounds of a layer on a placement, by constraint
    /// (with exact hops).
    bounds: rustc_hash::FxHashMap<(Layer, Placement, TopConstraint), Arc<LayerBounds>>,
    /// A lower bound on the dynamic energy of a layer on a placement, by
    /// constraint, before its search (`SchemeCost::least_dynamic` of its
    /// best partition and array mapping).
    floors: rustc_hash::FxHashMap<(Layer, Placement, TopConstraint), f64>,
    /// Input hops of the partitions of a slice on a placement, by layout.
    ifm_cache: rustc_hash::FxHashMap<(Layer, Placement, DataLayout), Arc<IfmHops>>,
    memo: HopMemo,
    /// Layer results by condition, with how many were asked for.
    sched_memo: Lru<SchedKey, Arc<(usize, Vec<LayerResult>)>>,
    /// Results a layer search keeps at least (with exact hops), so that
    /// the lanes' searches of one condition are one.
    rank_keep: usize,
    evaluated: u64,
    /// Why each layer failed, for the error message.
    failures: HashMap<LayerId, NoSchedule>,
}

/// The partitions of a layer slice on a placement and their distinct node
/// problems (partitions often give nodes equal shares).
struct Parts {
    entries: Vec<PartEntry>,
    problems: Vec<NodeProblem>,
    /// Each problem's number (`Searcher::problem_ids`).
    ids: Vec<u32>,
}

/// What a partition of a layer on a placement needs, whatever the
/// constraint and the input layout.
struct PartEntry {
    part: PartitionScheme,
    /// Index of its node problem in `Parts::problems`.
    problem: usize,
    bufshr: BufShr,
    hops: PartHops,
}

/// The input hops of each partition of a slice on a placement from one
/// layout, counted when a ranking first needs them.
struct IfmHops {
    pieces: Pieces,
    per_part: Vec<std::sync::OnceLock<u64>>,
}

/// The partitions of a slice on a placement, as the ranking takes them:
/// node schemes, partition entries and input hops, all in partition order.
fn part_cands<'a>(
    nodes: &'a [NodeSchemes],
    parts: &'a Parts,
    ifm: &'a IfmHops,
) -> Vec<PartCand<'a>> {
    nodes
        .iter()
        .zip(&parts.entries)
        .zip(&ifm.per_part)
        .map(|((n, e), ifm)| PartCand {
            nodes: n,
            env: parts.problems[e.problem].env(),
            bufshr: &e.bufshr,
            hops: &e.hops,
            ifm,
        })
        .collect()
}

/// Where a layer runs in its segment, and what it must agree on.
struct Step<'s> {
    id: LayerId,
    placement: &'s Placement,
    idx: SchedIdx,
}

impl<'a> Searcher<'a> {
    fn new(net: &'a Network, hw: &'a Hardware, opts: &'a SearchOptions) -> Searcher<'a> {
        Searcher {
            net,
            hw,
            opts,
            node_lists: rustc_hash::FxHashMap::default(),
            parts: rustc_hash::FxHashMap::default(),
            problem_ids: rustc_hash::FxHashMap::default(),
            numbered: 0,
            blockings: rustc_hash::FxHashMap::default(),
            arrays: rustc_hash::FxHashMap::default(),
            bounds: rustc_hash::FxHashMap::default(),
            floors: rustc_hash::FxHashMap::default(),
            ifm_cache: rustc_hash::FxHashMap::default(),
            memo: HopMemo::new(opts.exact_noc_hops),
            sched_memo: Lru::new(1024),
            rank_keep: 1,
            evaluated: 0,
            failures: HashMap::new(),
        }
    }

    fn key(&self, p: &Partial) -> (f64, f64) {
        let n = self.net.len();
        self.opts.goal.key(p.total_cost(n), p.total_time(n))
    }

    fn sort_truncate(&self, v: &mut Vec<Partial>, width: usize) {
        v.sort_by(|a, b| cmp_key(&self.key(a), &self.key(b)));
        v.truncate(width);
    }

    /// The partitions of a layer slice on a placement, with what each
    /// needs whatever the constraint and the input layout; made in
    /// parallel, in a fixed order.
    fn parts(&mut self, slice: &Layer, pl: &Placement) -> Arc<Parts> {
        let (o, hw) = (self.opts, self.hw);
        let memo_keys = self.memo.memoizes();
        let (ids, numbered) = (&mut self.problem_ids, &mut self.numbered);
        self.parts
            .entry((*slice, *pl))
            .or_insert_with(|| {
                let parts = gen_partition(
                    PartTarget::Layer(slice),
                    o.batch,
                    pl.proc.dim,
                    &o.partition,
                    true,
                );
                let made: Vec<(PartEntry, NodeProblem)> = parts
                    .par_iter()
                    .map(|p| {
                        let (problem, bufshr) = NodeProblem::new(slice, p, pl, hw, o);
                        let e = PartEntry {
                            part: *p,
                            problem: 0,
                            bufshr,
                            hops: part_hops(slice, p, pl, o, memo_keys),
                        };
                        (e, problem)
                    })
                    .collect();
                let mut index: rustc_hash::FxHashMap<NodeProblem, usize> = Default::default();
                let mut problems = Vec::new();
                let entries = made
                    .into_iter()
                    .map(|(mut e, p)| {
                        e.problem = *index.entry(p).or_insert_with_key(|p| {
                            problems.push(p.clone());
                            problems.len() - 1
                        });
                        e
                    })
                    .collect();
                let ids = (problems.iter())
                    .map(|p| {
                        *ids.entry((*slice, p.clone())).or_insert_with(|| {
                            *numbered += 1;
                            *numbered - 1
                        })
                    })
                    .collect();
                Arc::new(Parts {
                    entries,
                    problems,
                    ids,
                })
            })
            .clone()
    }

    /// The node searches of every partition of a layer slice on a
    /// placement under a constraint, in the order of `parts`. Node
    /// problems not searched yet are searched in parallel, in a fixed
    /// order.
    fn node_schemes(
        &mut self,
        slice: &Layer,
        pl: &Placement,
        cstr: &TopConstraint,
    ) -> (Arc<Vec<NodeSchemes>>, Arc<Parts>) {
        let parts = self.parts(slice, pl);
        if let Some(n) = self.node_lists.get(&(*slice, *pl, *cstr)) {
            return (n.clone(), parts);
        }
        let (o, hw) = (self.opts, self.hw);
        let mut found: Vec<Option<Arc<NodeBlockings>>> = (parts.ids.iter())
            .map(|&id| self.blockings.get(&(id, *cstr)).map(|b| b.1.clone()))
            .collect();
        let missing: Vec<usize> = (0..found.len()).filter(|&i| found[i].is_none()).collect();
        let arrays: Vec<Arc<[Arc<NestedLoopDesc>]>> = (missing.iter())
            .map(|&i| self.array_mappings(&parts.problems[i]))
            .collect();
        let searched: Vec<NodeBlockings> = missing
            .par_iter()
            .zip(&arrays)
            .map(|(&i, a)| search_blockings(&parts.problems[i], a, hw, o, cstr))
            .collect();
        for (i, b) in missing.into_iter().zip(searched) {
            self.evaluated += b.evaluated;
            let b = Arc::new(b);
            (self.blockings).insert((parts.ids[i], *cstr), (*slice, b.clone()));
            found[i] = Some(b);
        }
        let made: Vec<NodeSchemes> = (parts.entries.par_iter())
            .map(|e| {
                let b = found[e.problem].clone().expect("searched above");
                NodeSchemes::new(e.part, b, o.gbuf_sharing)
            })
            .collect();
        let made = Arc::new(made);
        self.node_lists.insert((*slice, *pl, *cstr), made.clone());
        (made, parts)
    }

    /// What costing layer `id` needs, with its group `slice`.
    fn layer_ctx<'s>(&self, id: LayerId, slice: &'s Layer) -> LayerCtx<'s>
    where
        'a: 's,
    {
        let (net, hw, opts): (&'a Network, _, _) = (self.net, self.hw, self.opts);
        let nl = net.get(id);
        LayerCtx {
            id,
            name: &nl.name,
            layer: &nl.layer,
            slice,
            hw,
            opts,
        }
    }

    /// A node problem's array mappings, shared by all problems with its
    /// share.
    fn array_mappings(&mut self, p: &NodeProblem) -> Arc<[Arc<NestedLoopDesc>]> {
        let hw = self.hw;
        let a = self.arrays.entry(p.share());
        a.or_insert_with(|| p.array_mappings(hw).into()).clone()
    }

    /// The input hops of each partition from `ifmap`, counted once per
    /// layout whatever the constraint.
    fn ifm_hops(
        &mut self,
        slice: &Layer,
        pl: &Placement,
        ifmap: &DataLayout,
        n: usize,
    ) -> Arc<IfmHops> {
        let key = (*slice, *pl, ifmap.clone());
        self.ifm_cache
            .entry(key)
            .or_insert_with(|| {
                Arc::new(IfmHops {
                    pieces: ifmap.pieces(),
                    per_part: (0..n).map(|_| Default::default()).collect(),
                })
            })
            .clone()
    }

    /// The best `width` schedules of distinct frontiers, in goal order (the
    /// first of equals wins): a prefix's future depends only on where the
    /// data later layers read lies, so of prefixes that agree on it only
    /// the best can lead to the best schedule (exactly so for additive
    /// goals).
    fn distinct_frontiers(
        &self,
        mut v: Vec<Partial>,
        live: &[Source],
        width: usize,
    ) -> Vec<Partial> {
        v.sort_by(|a, b| cmp_key(&self.key(a), &self.key(b)));
        let mut seen: rustc_hash::FxHashSet<Vec<&DataLayout>> = Default::default();
        let mut keep = vec![false; v.len()];
        for (k, p) in keep.iter_mut().zip(&v) {
            if seen.len() == width {
                break;
            }
            *k = seen.insert(live.iter().map(|&s| p.source_layout(s)).collect());
        }
        let mut keep = keep.into_iter();
        v.retain(|_| keep.next().unwrap_or(false));
        v
    }

    /// Drops what no later segment needs.
    fn forget(&mut self, e: &Expiry) {
        if !e.sites.is_empty() {
            let gone = |k: &(Layer, Placement)| e.sites.contains(k);
            self.node_lists.retain(|k, _| !gone(&(k.0, k.1)));
            self.parts.retain(|k, _| !gone(k));
            self.ifm_cache.retain(|k, _| !gone(&(k.0, k.1)));
            self.bounds.retain(|k, _| !gone(&(k.0.group_slice(), k.1)));
            self.floors.retain(|k, _| !gone(&(k.0.group_slice(), k.1)));
        }
        if !e.slices.is_empty() {
            self.blockings.retain(|_, v| !e.slices.contains(&v.0));
            self.problem_ids.retain(|k, _| !e.slices.contains(&k.0));
        }
    }

    /// nn_dataflow's Scheduling.schedule_search: every partition's node
    /// schemes with hops for this input layout, the best `keep`.
    fn schedule_layer(
        &mut self,
        id: LayerId,
        pl: &Placement,
        cstr: &TopConstraint,
        ifmap: DataLayout,
        seq: SchedSeq,
        keep: usize,
    ) -> Vec<LayerResult> {
        let nl = self.net.get(id);
        let exact = !self.memo.memoizes();
        let key = (nl.layer, *pl, *cstr, ifmap, (!exact).then_some((seq, keep)));
        if let Some(m) = self.sched_memo.get(&key)
            && m.0 >= keep
        {
            // Equal layers share results, under their own names.
            return (m.1.iter().take(keep))
                .map(|r| LayerResult {
                    layer: id,
                    name: nl.name.clone(),
                    seq,
                    ..r.clone()
                })
                .collect();
        }
        let rank_keep = if exact {
            keep.max(self.rank_keep)
        } else {
            keep
        };
        let slice = nl.layer.group_slice();
        let (nodes, site) = self.node_schemes(&slice, pl, cstr);
        let ctx = self.layer_ctx(id, &slice);
        let ifm = self.ifm_hops(&slice, pl, &key.3, site.entries.len());
        let parts = part_cands(&nodes, &site, &ifm);
        let query = LayerQuery {
            ctx: &ctx,
            pl,
            ifmap: &key.3,
            pieces: &ifm.pieces,
            seq,
            keep: rank_keep,
        };
        let bounds = exact.then(|| {
            let b = self.bounds.entry((nl.layer, *pl, *cstr));
            b.or_insert_with(|| Arc::new(bounds(&ctx, &parts))).clone()
        });
        let list = bounds.as_ref().map_or(&[][..], |b| &b.list);
        let mut results = layer_results(&query, &parts, list, &mut self.memo);
        if results.is_empty() {
            let reason = nodes
                .iter()
                .find_map(|n| n.failure().cloned())
                .unwrap_or(NoSchedule::Constraints);
            self.failures.entry(id).or_insert(reason);
        }
        (self.sched_memo).insert(key, Arc::new((rank_keep, results.clone())));
        results.truncate(keep);
        results
    }

    /// Schedules one layer of a segment after each previous schedule.
    fn layer_step(
        &mut self,
        step: &Step<'_>,
        cstr: &mut LayerConstraint,
        prev_tops: &[Partial],
        lane: Lane,
        bar: Option<(&Bar, f64)>,
    ) -> Vec<Partial> {
        let mut out = Vec::new();
        for prev in prev_tops {
            // nn_dataflow (the beam) updates the shared constraint in
            // place: the first previous schedule decides for all. The
            // frontier search lets each decide its own.
            let mut own = *cstr;
            let c = if lane.beam { &mut *cstr } else { &mut own };
            if let Some(conv) = c.update_from.take() {
                let conv = prev
                    .result_of(conv)
                    .expect("the conv precedes in the segment");
                c.topofm = conv.mapping.scheme.blocking.ts[BlockLevel::Dram][LoopDim::Ofm];
            }
            let top = c.top();
            // Results beyond the bar whatever this layer costs are not
            // searched. With a goal that ranks `cost + rest` as it ranks
            // `cost`, results they would have truncated are beyond it too;
            // with energy-delay, only without `rest`.
            if let Some((bar, rest)) = bar {
                let rest = match self.opts.goal {
                    Goal::EnergyDelay => 0.0,
                    Goal::Energy | Goal::Delay => rest,
                };
                let least = self.least_dynamic(step.id, step.placement, &top);
                if bar.excludes(&self.bounded_key(prev, least + rest)) {
                    continue;
                }
            }
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
            let results =
                self.schedule_layer(step.id, step.placement, &top, ifmap, seq, lane.per_layer);
            for r in results {
                let mut p = prev.clone();
                p.push(self.net, r);
                out.push(p);
            }
        }
        self.sort_truncate(&mut out, lane.width);
        if let Some((bar, rest)) = bar {
            out.retain(|p| !bar.excludes(&self.bounded_key(p, rest)));
        }
        out
    }

    /// A lower bound on the energy without static energy a layer adds on
    /// a placement under constraint `top`, from any input layout: the
    /// bounds of its search under `top` if made, else its floor there.
    fn least_dynamic(&mut self, id: LayerId, pl: &Placement, top: &TopConstraint) -> f64 {
        let nl = self.net.get(id);
        if let Some(b) = self.bounds.get(&(nl.layer, *pl, *top)) {
            return b.least_dynamic;
        }
        if let Some(&f) = self.floors.get(&(nl.layer, *pl, *top)) {
            return f;
        }
        let slice = nl.layer.group_slice();
        let site = self.parts(&slice, pl);
        let ctx = self.layer_ctx(id, &slice);
        let arrays: Vec<_> = (site.problems.iter())
            .map(|p| self.array_mappings(p))
            .collect();
        let least = |e: &PartEntry| {
            let env = site.problems[e.problem].env();
            let unh = e.hops.unit_nhops(0);
            (arrays[e.problem].iter())
                .map(|nld| SchemeCost::least_dynamic(&ctx, nld, env, top, unh))
                .fold(f64::INFINITY, f64::min)
        };
        let f = site
            .entries
            .par_iter()
            .map(least)
            .reduce(|| f64::INFINITY, f64::min);
        self.floors.insert((nl.layer, *pl, *top), f);
        f
    }

    /// The least key `p` can have once layers adding at least `more`
    /// dynamic energy follow in its last segment: dynamic energy adds up,
    /// and neither the segment's time nor its static energy shrinks.
    fn bounded_key(&self, p: &Partial, more: f64) -> (f64, f64) {
        let n = self.net.len();
        self.opts.goal.key(p.total_cost(n) + more, p.total_time(n))
    }

    /// nn_dataflow's segment search: each constraint in order; the beam
    /// skips those dominated by one that already succeeded, the frontier
    /// search tries them all.
    fn segment(
        &mut self,
        seg: &PipelineSegment,
        prev_tops: &[Partial],
        lane: Lane,
        mut bar: Option<&mut Bar>,
    ) -> Vec<Partial> {
        let max_ovhd = self.opts.pipeline.time_overhead;
        let mut succeeded: Vec<Vec<u64>> = Vec::new();
        let mut tops = Vec::new();
        for (mut cstr, hints) in seg.constraints(max_ovhd) {
            if lane.beam
                && succeeded
                    .iter()
                    .any(|f| hints.iter().zip(f).all(|(h, f)| h >= f))
            {
                continue;
            }
            let mut curr = prev_tops.to_vec();
            let steps: Vec<Step<'_>> = (seg.slots.iter().enumerate())
                .flat_map(|(sp, slot)| {
                    slot.iter().enumerate().map(move |(tm, &id)| Step {
                        id,
                        placement: &seg.placements[sp][tm],
                        idx: SchedIdx { sp, tm },
                    })
                })
                .collect();
            for (k, step) in steps.iter().enumerate() {
                // The least the segment's later layers add; the output
                // channels a constraint takes from a conv's schedule are
                // not known yet, so not constrained.
                let rest = bar.is_some().then(|| {
                    (steps[k + 1..].iter())
                        .map(|s| {
                            let c = &cstr[s.idx.sp][s.idx.tm];
                            let mut top = c.top();
                            if c.update_from.is_some() {
                                top.topofm = 0;
                            }
                            self.least_dynamic(s.id, s.placement, &top)
                        })
                        .sum::<f64>()
                });
                let b = bar.as_deref().zip(rest);
                let c = &mut cstr[step.idx.sp][step.idx.tm];
                curr = self.layer_step(step, c, &curr, lane, b);
            }
            // Earlier segments passed when they were finished.
            curr.retain(|p| {
                p.timings
                    .last()
                    .is_none_or(|t| t.time_overhead() <= max_ovhd)
            });
            if !curr.is_empty() {
                succeeded.push(hints);
            }
            if let Some(bar) = bar.as_deref_mut() {
                for p in &curr {
                    bar.add(self.key(p));
                }
            }
            tops.extend(curr);
        }
        self.sort_truncate(&mut tops, lane.width);
        tops
    }

    /// The schedules of the prefix ending at `pos`: the best of each
    /// segment ending there, extended from the prefixes before it.
    fn prefix(
        &mut self,
        segments: &[&PipelineSegment],
        tops: &[Vec<Partial>],
        initial: &[Partial],
        first_pos: impl Fn(&PipelineSegment) -> usize,
        lane: Lane,
    ) -> Vec<Partial> {
        let mut here = Vec::new();
        let n = self.net.len();
        let mut bar = lane.bar.then(|| Bar::new(lane.width));
        for seg in segments {
            let first = first_pos(seg);
            let prev = if first == 0 {
                initial
            } else {
                &tops[first - 1]
            };
            if prev.is_empty() {
                continue;
            }
            // A segment of the whole network is timed by its critical
            // path once complete: its partial keys bound nothing.
            let whole = first == 0 && seg.slots.iter().map(Vec::len).sum::<usize>() == n;
            let b = if whole { None } else { bar.as_mut() };
            here.extend(self.segment(seg, prev, lane, b));
        }
        self.sort_truncate(&mut here, lane.width);
        here
    }
}

/// Schedules `net` on `hw`; `progress`, if given, is kept up to date.
pub fn run(
    net: &Network,
    hw: &Hardware,
    opts: &SearchOptions,
    progress: Option<&Progress>,
) -> Result<NetworkSchedule, SearchError> {
    run_lanes(net, hw, opts, progress, true, None)
}

/// `run`, with the frontier lane's bar (`Lane::bar`) or without, noting
/// the goal keys of the schedules kept for each prefix in `kept`.
fn run_lanes(
    net: &Network,
    hw: &Hardware,
    opts: &SearchOptions,
    progress: Option<&Progress>,
    bar: bool,
    mut kept: Option<&mut Vec<Vec<(f64, f64)>>>,
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
    let mut s = Searcher::new(net, hw, opts);
    let expiring = expiries(net, &segments, &pos);
    let live = live_sources(net, &order, &pos);
    let initial = initial_partials(net, opts, &whole);
    let beam = Lane {
        width: opts.ntops,
        per_layer: opts.ntops,
        beam: true,
        bar: false,
    };
    let wide = (opts.interlayer_search == InterlayerSearch::Frontier).then_some(Lane {
        width: FRONTIER_WIDTH.max(opts.ntops),
        per_layer: FRONTIER_PER_LAYER.max(opts.ntops),
        beam: false,
        bar,
    });
    if let Some(lane) = wide {
        s.rank_keep = lane.per_layer;
    }
    let first_pos = |seg: &PipelineSegment| pos[seg.slots[0][0].0];
    // The beam's prefixes, and the frontier search's (beam's included).
    let mut tops: Vec<Vec<Partial>> = Vec::with_capacity(order.len());
    let mut wide_tops: Vec<Vec<Partial>> = Vec::with_capacity(order.len());
    let mut stopped = None;
    for (i, &id) in order.iter().enumerate() {
        let ending: Vec<&PipelineSegment> = segments.iter().filter(|g| g.last() == id).collect();
        let here = s.prefix(&ending, &tops, &initial, first_pos, beam);
        if let Some(lane) = wide {
            let mut found = here.clone();
            found.extend(s.prefix(&ending, &wide_tops, &initial, first_pos, lane));
            wide_tops.push(s.distinct_frontiers(found, &live[i], lane.width));
        }
        s.forget(&expiring[i]);
        if let Some(k) = kept.as_deref_mut() {
            let last = wide_tops.last().filter(|_| wide.is_some());
            k.push(last.unwrap_or(&here).iter().map(|p| s.key(p)).collect());
        }
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
    if wide.is_some() {
        tops = wide_tops;
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

/// For each position of the scheduling order, the sources whose data a
/// layer later in the order reads: what a prefix ending there hands on.
fn live_sources(net: &Network, order: &[LayerId], pos: &[usize]) -> Vec<Vec<Source>> {
    let mut last_read: Vec<(Source, usize)> = Vec::new();
    for (i, &id) in order.iter().enumerate() {
        for &s in net.prevs(id) {
            match last_read.iter_mut().find(|(t, _)| *t == s) {
                Some(e) => e.1 = e.1.max(i),
                None => last_read.push((s, i)),
            }
        }
    }
    let made_at = |s: Source| match s {
        Source::Layer(id) => pos[id.0],
        Source::Input | Source::Ext(_) => 0,
    };
    // Read after position i, made at or before it.
    (0..order.len())
        .map(|i| {
            last_read
                .iter()
                .filter(|&&(s, last)| last > i && made_at(s) <= i)
                .map(|&(s, _)| s)
                .collect()
        })
        .collect()
}

/// What no segment ending after a position schedules: layer slices (whose
/// blocking searches, shared across placements, can go) and slices on a
/// placement (whose partitions, node schemes and hops can go).
#[derive(Clone, Default)]
struct Expiry {
    slices: rustc_hash::FxHashSet<Layer>,
    sites: rustc_hash::FxHashSet<(Layer, Placement)>,
}

/// The `Expiry` of each position of the scheduling order.
fn expiries(net: &Network, segments: &[PipelineSegment], pos: &[usize]) -> Vec<Expiry> {
    let mut slice_end: rustc_hash::FxHashMap<Layer, usize> = Default::default();
    let mut site_end: rustc_hash::FxHashMap<(Layer, Placement), usize> = Default::default();
    for seg in segments {
        let end = pos[seg.last().0];
        for (slot, pls) in seg.slots.iter().zip(&seg.placements) {
            for (id, pl) in slot.iter().zip(pls) {
                let slice = net.layer(*id).group_slice();
                let e = slice_end.entry(slice).or_insert(end);
                *e = (*e).max(end);
                let e = site_end.entry((slice, *pl)).or_insert(end);
                *e = (*e).max(end);
            }
        }
    }
    let mut out = vec![Expiry::default(); pos.len()];
    for (slice, end) in slice_end {
        out[end].slices.insert(slice);
    }
    for (site, end) in site_end {
        out[end].sites.insert(site);
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
            Partial::new(layout(inp.n, inp.h, inp.w), exts)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::blocking::Goal;
    use crate::network::zoo;
    use crate::search::layer::rank_all;

    /// Batch 16, every partitioning option and buffer sharing.
    fn every_partition(goal: Goal) -> SearchOptions {
        let mut opts = SearchOptions::new(16);
        opts.partition = crate::search::PartitionOptions {
            hybrid: true,
            batch: true,
            ifmaps: true,
        };
        opts.gbuf_sharing = true;
        opts.goal = goal;
        opts
    }

    /// The bar only skips what could not be kept: the frontier search
    /// keeps the same schedules of every prefix and finds the same
    /// schedule with it as without, for every goal, and costs fewer
    /// blockings. AlexNet on TANGRAM with every option.
    #[test]
    fn bar_changes_nothing_but_the_work() {
        let hw = Hardware::from_arg("tangram").unwrap();
        let net = zoo::get("alex_net").unwrap();
        for goal in [Goal::Energy, Goal::Delay, Goal::EnergyDelay] {
            let mut opts = every_partition(goal);
            opts.pipeline.interlayer = true;
            opts.pipeline.save_writeback = true;
            let (mut kept_with, mut kept_without) = (Vec::new(), Vec::new());
            let with = run_lanes(&net, &hw, &opts, None, true, Some(&mut kept_with)).unwrap();
            let without =
                run_lanes(&net, &hw, &opts, None, false, Some(&mut kept_without)).unwrap();
            assert_eq!(kept_with, kept_without, "{goal:?}");
            assert!(
                with.schemes_evaluated < without.schemes_evaluated,
                "{goal:?}: {} vs {}",
                with.schemes_evaluated,
                without.schemes_evaluated
            );
            let evaluated = without.schemes_evaluated;
            let with = NetworkSchedule {
                schemes_evaluated: evaluated,
                ..with
            };
            assert_eq!(with, without, "{goal:?}");
        }
    }

    /// Ranking mappings by lower bounds, with input hops and buffer
    /// sharing worked out only for those that may win, keeps what costing
    /// every mapping keeps: AlexNet's conv1 on TANGRAM with every
    /// partitioning option and buffer sharing, for several goals and
    /// numbers kept.
    #[test]
    fn bounded_ranking_keeps_what_costing_all_keeps() {
        let hw = Hardware::from_arg("tangram").unwrap();
        let net = zoo::get("alex_net").unwrap();
        let id = LayerId(0);
        let whole = Placement::whole_chip(&hw);
        for goal in [Goal::Energy, Goal::Delay, Goal::EnergyDelay] {
            let opts = every_partition(goal);
            let mut s = Searcher::new(&net, &hw, &opts);
            let prev = &initial_partials(&net, &opts, &whole)[0];
            let stored = stored_inputs(&net, id, |src| {
                Ok::<_, std::convert::Infallible>(prev.source_layout(src))
            });
            let ifmap = whole.input_layout(stored.unwrap_or_else(|e| match e {}));
            let nl = net.get(id);
            let slice = nl.layer.group_slice();
            let (nodes, site) = s.node_schemes(&slice, &whole, &TopConstraint::default());
            let ctx = LayerCtx {
                id,
                name: &nl.name,
                layer: &nl.layer,
                slice: &slice,
                hw: &hw,
                opts: &opts,
            };
            let seq = SchedSeq {
                segment: 0,
                idx: SchedIdx { sp: 0, tm: 0 },
            };
            for keep in [1, 2, 7, usize::MAX] {
                let mut results = |bounded: bool| {
                    // Fresh input hops: nothing worked out yet.
                    s.ifm_cache.clear();
                    let ifm = s.ifm_hops(&slice, &whole, &ifmap, site.entries.len());
                    let parts = part_cands(&nodes, &site, &ifm);
                    let mut memo = HopMemo::new(true);
                    let query = LayerQuery {
                        ctx: &ctx,
                        pl: &whole,
                        ifmap: &ifmap,
                        pieces: &ifm.pieces,
                        seq,
                        keep,
                    };
                    if bounded {
                        layer_results(&query, &parts, &bounds(&ctx, &parts).list, &mut memo)
                    } else {
                        rank_all(&query, &parts, &mut memo)
                    }
                };
                let (bounded, all) = (results(true), results(false));
                assert!(!all.is_empty());
                assert_eq!(bounded, all, "{goal:?}, keep {keep}");
            }
        }
    }
}

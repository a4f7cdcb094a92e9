//! The search driver: for each layer, every partition over the nodes, array
//! mapping and blocking (exhaustive or solved) is costed and ranked; across
//! layers, a dynamic program over the scheduling order keeps the `ntops`
//! best network schedules, as nn_dataflow does. Data layouts pass from each
//! layer to its consumers and decide NoC hops.
//!
//! Invariants: results do not depend on the thread count (candidates are
//! ranked by (goal key, enumeration index), parallel work is merged in
//! order); every finished schedule passes `check_consistency`, in release
//! builds too.

mod layer;

use std::collections::HashMap;
use std::ops::Range;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Instant;

use rayon::prelude::*;
use serde::Serialize;

use crate::blocking::{Goal, TopConstraint, cmp_key};
use crate::dims::LoopDim;
use crate::dims::{MemLevel, PerCat, PerLevel};
use crate::hw::{Dim2, Hardware, Memory};
use crate::network::{Layer, LayerId, Network, Source};
use crate::partition::{
    Coord, DataLayout, FmapRange, HopMemo, NodeRegion, PartTarget, PartitionOptions,
    PartitionScheme, RegionKind, gen_partition,
};
use crate::pipeline::{
    Dag, LayerConstraint, PipelineSegment, SchedIdx, SegmentOptions, SegmentTiming,
};
use crate::util::Lru;

pub use layer::{
    LayerCtx, LayerResult, NoSchedule, NodeSchemes, Placement, layer_results, search_node,
};
pub(crate) use layer::{make_result, node_env};

/// Search options.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SearchConfig {
    pub batch: u64,
    pub goal: Goal,
    /// Data categories allowed to bypass the global buffer.
    pub bypass: PerCat<bool>,
    /// Use the analytical bypass solvers instead of exhaustive blocking for
    /// conv and FC layers.
    pub solve_loopblocking: bool,
    /// Which partitions over the node grid to consider.
    pub partition: PartitionOptions,
    /// Nodes needing the same data fetch it once and forward it.
    pub access_forwarding: bool,
    /// Nodes share their global buffers over the NoC (implies forwarding).
    pub gbuf_sharing: bool,
    /// Schedules kept per layer and per network prefix.
    pub ntops: usize,
    /// Inter-layer pipelining.
    pub pipeline: PipelineOptions,
    /// Count NoC hops of every partition for itself, instead of
    /// reproducing nn_dataflow's memoization (see `partition::HopMemo`).
    pub exact_noc_hops: bool,
}

impl SearchConfig {
    /// Default options for a batch size: energy goal, bypass allowed,
    /// exhaustive blocking, naive partitioning, one top.
    pub fn new(batch: u64) -> Self {
        SearchConfig {
            batch,
            goal: Goal::Energy,
            bypass: PerCat::splat(true),
            solve_loopblocking: false,
            partition: PartitionOptions {
                hybrid: false,
                batch: false,
                ifmaps: false,
            },
            access_forwarding: false,
            gbuf_sharing: false,
            ntops: 1,
            pipeline: PipelineOptions {
                interlayer: false,
                save_writeback: false,
                time_overhead: f64::INFINITY,
                max_degree: f64::INFINITY,
                optimize: true,
            },
            exact_noc_hops: false,
        }
    }

    /// Rejects combinations nn_dataflow rejects.
    pub fn validate(&self) -> Result<(), SearchError> {
        use OptionsError::*;
        let checks = [
            (self.batch == 0, BatchZero),
            (self.ntops == 0, TopZero),
            (
                self.solve_loopblocking && self.gbuf_sharing,
                SolverWithSharing,
            ),
            (
                self.access_forwarding && self.gbuf_sharing,
                ForwardingWithSharing,
            ),
            (
                self.partition.ifmaps && !self.partition.hybrid,
                IfmapsWithoutHybrid,
            ),
            (
                self.solve_loopblocking && self.pipeline.save_writeback,
                SolverWithSaveWriteback,
            ),
            (
                self.pipeline.time_overhead.is_nan() || self.pipeline.time_overhead < 0.0,
                NegativeOverhead,
            ),
            (
                self.pipeline.max_degree.is_nan() || self.pipeline.max_degree < 0.0,
                NegativeDegree,
            ),
        ];
        match checks.into_iter().find(|c| c.0) {
            Some((_, e)) => Err(SearchError::Options(e)),
            None => Ok(()),
        }
    }
}

/// Option combinations the search rejects (as nn_dataflow does).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum OptionsError {
    #[error("the batch size must be positive")]
    BatchZero,
    #[error("the number of tops must be positive")]
    TopZero,
    #[error("the loop blocking solver cannot be combined with buffer sharing")]
    SolverWithSharing,
    #[error("buffer sharing implies access forwarding; enable only one of them")]
    ForwardingWithSharing,
    #[error("input-channel partitioning requires hybrid partitioning")]
    IfmapsWithoutHybrid,
    #[error("the loop blocking solver cannot be combined with save-writeback")]
    SolverWithSaveWriteback,
    #[error("the layer pipeline time overhead must be non-negative")]
    NegativeOverhead,
    #[error("the layer pipeline degree must be non-negative")]
    NegativeDegree,
}

/// Counters a caller may watch from another thread, and the ways to end a
/// search early: a stop flag and a deadline. Either ends the search after
/// the layer at hand; the schedule then covers the layers done so far
/// (`complete` false).
#[derive(Debug, Default)]
pub struct Progress {
    pub layers_done: AtomicUsize,
    pub layers_total: AtomicUsize,
    /// Set from another thread (e.g. on Ctrl-C) to stop.
    pub stop: AtomicBool,
    /// Stop once this instant has passed.
    pub deadline: Option<Instant>,
}

impl Progress {
    /// A progress record whose search stops at `deadline`, if any.
    pub fn with_deadline(deadline: Option<Instant>) -> Self {
        Progress {
            deadline,
            ..Progress::default()
        }
    }

    /// Whether the search should end now.
    pub fn should_stop(&self) -> bool {
        self.stop.load(Ordering::Relaxed) || self.deadline_passed()
    }

    /// Whether the deadline (if any) has passed.
    pub fn deadline_passed(&self) -> bool {
        self.deadline.is_some_and(|d| Instant::now() >= d)
    }
}

/// Why a network has no schedule.
#[derive(Debug, thiserror::Error)]
pub enum SearchError {
    #[error("layer '{layer}': {reason}")]
    NoSchedule { layer: String, reason: NoSchedule },
    #[error("invalid options: {0}")]
    Options(OptionsError),
    #[error("internal consistency check failed: {0}")]
    Inconsistent(String),
}

/// A group of layers scheduled together; without inter-layer pipelining,
/// one layer.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Segment {
    /// Slots running side by side (spatial pipelining), each a sequence of
    /// layers running one after another on its nodes (temporal).
    pub slots: Vec<SegmentSlot>,
    pub time: u64,
    pub dram_time: u64,
    pub critical_time: u64,
}

/// Layers sharing one node region in a segment.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SegmentSlot {
    pub layers: Vec<String>,
    pub region: NodeRegion,
}

/// Inter-layer pipelining options.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PipelineOptions {
    /// Spatial pipelining: consecutive layers on disjoint node regions.
    pub interlayer: bool,
    /// Temporal pipelining: consecutive layers in turn on the same nodes,
    /// keeping intermediate data on chip.
    pub save_writeback: bool,
    /// Largest slowdown of a segment against its layers alone (may be
    /// infinite).
    pub time_overhead: f64,
    /// Most scheduling-DAG vertices per segment (may be infinite).
    pub max_degree: f64,
    /// TANGRAM's optimizations (otherwise linear chains only).
    pub optimize: bool,
}

/// A network schedule with its totals.
#[derive(Clone, Debug, PartialEq)]
pub struct NetworkSchedule {
    /// Layer results in scheduling order.
    pub layers: Vec<LayerResult>,
    pub segments: Vec<Segment>,
    /// Layout of the network input, and of each external input.
    pub input_layout: Arc<DataLayout>,
    pub ext_layouts: Vec<Arc<DataLayout>>,
    pub total_cost: f64,
    pub total_time: u64,
    pub total_ops: f64,
    pub total_accesses: PerLevel<f64>,
    pub total_noc_hops: f64,
    pub total_op_cost: f64,
    pub total_access_cost: f64,
    pub total_noc_cost: f64,
    pub total_static_cost: f64,
    /// Candidate blockings costed.
    pub schemes_evaluated: u64,
    /// False when the search was stopped early: `layers` is then the best
    /// schedule of a prefix of the scheduling order.
    pub complete: bool,
}

/// The placement of every layer when layers run one after another on the
/// whole chip: DRAM at the corners (2D) or on every node (3D).
pub fn whole_chip(hw: &Hardware) -> Placement {
    let one = Coord::new(1, 1);
    let proc = NodeRegion::new(hw.nodes, Coord::new(0, 0), one, RegionKind::Proc);
    let dram = match hw.memory {
        Memory::TwoD => NodeRegion::new(
            Dim2::new(2, 2),
            Coord::new(0, 0),
            Coord::new(hw.nodes.h as i64 - 1, hw.nodes.w as i64 - 1),
            RegionKind::Dram,
        ),
        Memory::ThreeD => NodeRegion::new(hw.nodes, Coord::new(0, 0), one, RegionKind::Dram),
    };
    Placement {
        proc,
        dram,
        src: dram,
        dst: dram,
        no_time_mux: false,
    }
}

/// A prefix of a network schedule during the search (nn_dataflow's
/// NNDataflowScheme).
#[derive(Clone)]
struct Partial {
    layers: Vec<Arc<LayerResult>>,
    /// Result of each scheduled layer, by layer index.
    by_layer: Vec<Option<Arc<LayerResult>>>,
    input_layout: Arc<DataLayout>,
    ext_layouts: Vec<Arc<DataLayout>>,
    sum_cost: f64,
    sum_static: f64,
    sum_time: u64,
    timings: Vec<SegmentTiming>,
    /// Position of each scheduled layer in its segment.
    seg_pos: Vec<Option<(usize, usize)>>,
}

impl Partial {
    fn last_seg_idx(&self) -> isize {
        self.timings.len() as isize - 1
    }

    fn total_time(&self, n_layers: usize) -> u64 {
        if self.timings.len() == 1 && self.layers.len() == n_layers {
            self.timings[0].critical_time
        } else {
            self.timings.iter().map(SegmentTiming::time).sum()
        }
    }

    fn total_cost(&self, n_layers: usize) -> f64 {
        if self.sum_time == 0 {
            return self.sum_cost;
        }
        let t = self.total_time(n_layers) as f64;
        self.sum_cost - self.sum_static * (1.0 - t / self.sum_time as f64)
    }

    fn key(&self, goal: Goal, n_layers: usize) -> (f64, f64) {
        goal.key(self.total_cost(n_layers), self.total_time(n_layers))
    }

    fn source_layout(&self, s: Source) -> &DataLayout {
        match s {
            Source::Input => &self.input_layout,
            Source::Ext(i) => &self.ext_layouts[i],
            Source::Layer(id) => {
                &self.by_layer[id.0]
                    .as_ref()
                    .expect("producers are scheduled first")
                    .ofmap_layout
            }
        }
    }

    /// Appends a layer's result at `seq` (segment, slot, position).
    fn push(&mut self, net: &Network, r: LayerResult) {
        let (seg, sp, tm) = r.sched_seq;
        if seg as isize == self.last_seg_idx() + 1 {
            self.timings.push(SegmentTiming::new());
        }
        let prevs: Vec<(usize, usize)> = net
            .prevs(r.layer)
            .iter()
            .filter_map(|p| match p {
                Source::Layer(id)
                    if self.by_layer[id.0]
                        .as_ref()
                        .is_some_and(|q| q.sched_seq.0 == seg) =>
                {
                    self.seg_pos[id.0]
                }
                _ => None,
            })
            .collect();
        let times = r.layer_times(net.layer(r.layer).is_conv());
        self.timings
            .last_mut()
            .expect("a segment is open")
            .add(sp, tm, times, &prevs);
        self.sum_cost += r.cost;
        self.sum_static += r.cost_static;
        self.sum_time += r.time;
        self.seg_pos[r.layer.0] = Some((sp, tm));
        let r = Arc::new(r);
        self.by_layer[r.layer.0] = Some(r.clone());
        self.layers.push(r);
    }
}

/// A layer's scheduling condition, as nn_dataflow memoizes layer searches:
/// layer, placement, constraint, input layout, (segment, slot, position).
type SchedKey = (
    Layer,
    Placement,
    TopConstraint,
    DataLayout,
    (usize, usize, usize),
);

/// The search state shared by all segments: hardware, options, memos.
struct Searcher<'a> {
    net: &'a Network,
    hw: &'a Hardware,
    cfg: &'a SearchConfig,
    n_layers: usize,
    node_cache:
        rustc_hash::FxHashMap<(Layer, PartitionScheme, Placement, TopConstraint), Arc<NodeSchemes>>,
    memo: HopMemo,
    sched_memo: Lru<SchedKey, Vec<LayerResult>>,
    evaluated: u64,
    /// Why each layer failed, for the error message.
    failures: HashMap<LayerId, NoSchedule>,
}

impl Searcher<'_> {
    fn sort_truncate(&self, v: &mut Vec<Partial>) {
        let (g, n) = (self.cfg.goal, self.n_layers);
        v.sort_by(|a, b| cmp_key(&a.key(g, n), &b.key(g, n)));
        v.truncate(self.cfg.ntops);
    }

    /// nn_dataflow's Scheduling.schedule_search: every partition's node
    /// schemes with hops for this input layout, the best `ntops`.
    fn schedule_layer(
        &mut self,
        id: LayerId,
        pl: &Placement,
        cstr: &TopConstraint,
        ifmap: DataLayout,
        seq: (usize, usize, usize),
    ) -> Vec<LayerResult> {
        let nl = self.net.get(id);
        let key = (nl.layer, *pl, *cstr, ifmap, seq);
        if let Some(r) = self.sched_memo.get(&key) {
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
        let parts = gen_partition(
            PartTarget::Layer(&slice),
            self.cfg.batch,
            pl.proc.dim,
            &self.cfg.partition,
            true,
        );
        let missing: Vec<&PartitionScheme> = parts
            .iter()
            .filter(|p| !self.node_cache.contains_key(&(slice, **p, *pl, *cstr)))
            .collect();
        let (hw, cfg) = (self.hw, self.cfg);
        let found: Vec<NodeSchemes> = missing
            .par_iter()
            .map(|p| search_node(&slice, cfg.batch, p, pl, hw, cfg, cstr))
            .collect();
        for ns in found {
            self.evaluated += ns.evaluated;
            self.node_cache
                .insert((slice, ns.part, *pl, *cstr), Arc::new(ns));
        }
        let nodes: Vec<Arc<NodeSchemes>> = parts
            .iter()
            .map(|p| self.node_cache[&(slice, *p, *pl, *cstr)].clone())
            .collect();
        let ctx = LayerCtx {
            id,
            name: &nl.name,
            layer: &nl.layer,
            slice: &slice,
            batch: self.cfg.batch,
            placement: pl,
            hw: self.hw,
            cfg: self.cfg,
        };
        let results = layer_results(&ctx, &nodes, &key.3, &mut self.memo, seq);
        if results.is_empty() {
            let reason = nodes
                .iter()
                .find_map(|n| n.failure.clone())
                .unwrap_or(NoSchedule::Constraints);
            self.failures.entry(id).or_insert(reason);
        }
        self.sched_memo.insert(key, results.clone());
        results
    }

    /// Schedules one layer of a segment after each previous schedule.
    #[allow(clippy::too_many_arguments)]
    fn layer_step(
        &mut self,
        id: LayerId,
        pl: &Placement,
        cstr: &mut LayerConstraint,
        sp: usize,
        tm: usize,
        fwd: Option<&NodeRegion>,
        prev_tops: &[Partial],
    ) -> Vec<Partial> {
        let mut out = Vec::new();
        for prev in prev_tops {
            let parts: Vec<(&DataLayout, Range<u64>)> = self
                .net
                .prevs(id)
                .iter()
                .zip(self.net.prev_channels(id))
                .map(|(&s, c)| (prev.source_layout(s), c.clone()))
                .collect();
            let mut ifmap = DataLayout::concat(&parts);
            if let Some(r) = fwd {
                ifmap.regions = vec![*r; ifmap.frngs.len()];
                ifmap.parts = ifmap.parts.iter().map(|p| p.projection(r, true)).collect();
            }
            let seg = (prev.last_seg_idx() + isize::from(sp == 0 && tm == 0)) as usize;
            // nn_dataflow updates the shared constraint in place: the first
            // previous schedule decides for all.
            if let Some(c) = cstr.update_from.take() {
                let conv = prev.by_layer[c.0]
                    .as_ref()
                    .expect("the conv precedes in the segment");
                cstr.topofm = conv.scheme.blocking.ts[0][LoopDim::Ofm];
            }
            let top = TopConstraint {
                topbat: cstr.topbat,
                topifm: cstr.topifm,
                topofm: cstr.topofm,
            };
            for r in self.schedule_layer(id, pl, &top, ifmap, (seg, sp, tm)) {
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
        let fwd = seg.fwd_regions();
        let max_ovhd = self.cfg.pipeline.time_overhead;
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
                    let idx = SchedIdx { sp, tm };
                    curr = self.layer_step(
                        id,
                        &seg.placements[sp][tm],
                        &mut cstr[sp][tm],
                        sp,
                        tm,
                        fwd.get(&idx),
                        &curr,
                    );
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

/// Schedules `net` on `hw`.
pub fn schedule(
    net: &Network,
    hw: &Hardware,
    cfg: &SearchConfig,
    progress: Option<&Progress>,
) -> Result<NetworkSchedule, SearchError> {
    cfg.validate()?;
    let whole = whole_chip(hw);
    let dag = Dag::new(net);
    let order: Vec<LayerId> = dag.vertices.iter().flatten().copied().collect();
    let mut pos = vec![0usize; net.len()];
    for (i, l) in order.iter().enumerate() {
        pos[l.0] = i;
    }
    let segments = gen_segments(net, &dag, cfg, &whole, hw.gbuf_words);
    if let Some(p) = progress {
        p.layers_total.store(order.len(), Ordering::Relaxed);
    }
    let mut s = Searcher {
        net,
        hw,
        cfg,
        n_layers: net.len(),
        node_cache: rustc_hash::FxHashMap::default(),
        memo: HopMemo::new(cfg.exact_noc_hops),
        sched_memo: Lru::new(1024),
        evaluated: 0,
        failures: HashMap::new(),
    };
    let initial = initial_partials(net, cfg, &whole);
    let mut tops: Vec<Vec<Partial>> = Vec::with_capacity(order.len());
    let mut complete = true;
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
        let some = !here.is_empty();
        tops.push(here);
        if let Some(p) = progress {
            p.layers_done.store(i + 1, Ordering::Relaxed);
            if some && i + 1 < order.len() && p.should_stop() {
                complete = false;
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
    let mut sched = finish(net, hw, best, s.evaluated);
    sched.complete = complete;
    check_consistency(net, cfg, &sched)?;
    Ok(sched)
}

/// Builds a network schedule from layer results in scheduling order, their
/// `sched_seq` placing them in segments, as the search assembles it.
pub fn assemble(
    net: &Network,
    hw: &Hardware,
    results: Vec<LayerResult>,
    input_layout: Arc<DataLayout>,
    ext_layouts: Vec<Arc<DataLayout>>,
) -> NetworkSchedule {
    let mut p = Partial {
        layers: Vec::new(),
        by_layer: vec![None; net.len()],
        input_layout,
        ext_layouts,
        sum_cost: 0.0,
        sum_static: 0.0,
        sum_time: 0,
        timings: Vec::new(),
        seg_pos: vec![None; net.len()],
    };
    for r in results {
        p.push(net, r);
    }
    finish(net, hw, p, 0)
}

/// Candidate segments in nn_dataflow's order: every layer alone, then the
/// vertex runs as spatial pipelines (one slot per vertex) and temporal ones
/// (everything in one slot), when enabled and valid.
fn gen_segments(
    net: &Network,
    dag: &Dag,
    cfg: &SearchConfig,
    whole: &Placement,
    gbuf_words: u64,
) -> Vec<PipelineSegment> {
    let opts = SegmentOptions {
        with_opt: cfg.pipeline.optimize,
    };
    let mut out: Vec<PipelineSegment> = Vec::new();
    let push = |seg: Option<PipelineSegment>, out: &mut Vec<PipelineSegment>| {
        if let Some(seg) = seg
            && !out.iter().any(|o| o.slots == seg.slots)
        {
            out.push(seg);
        }
    };
    for id in net.ids() {
        push(
            PipelineSegment::new(vec![vec![id]], net, cfg.batch, whole, gbuf_words, opts),
            &mut out,
        );
    }
    if !(cfg.pipeline.interlayer || cfg.pipeline.save_writeback) {
        return out;
    }
    for vseg in dag.vertex_segments() {
        if vseg.len() as f64 > cfg.pipeline.max_degree {
            continue;
        }
        if vseg.len() == 1 && dag.vertices[vseg[0]].len() == 1 {
            continue;
        }
        let mut cands: Vec<Vec<Vec<LayerId>>> = Vec::new();
        if cfg.pipeline.interlayer {
            cands.push(vseg.iter().map(|&v| dag.vertices[v].clone()).collect());
        }
        if cfg.pipeline.save_writeback {
            let c = vec![vseg.iter().flat_map(|&v| dag.vertices[v].clone()).collect()];
            if !cands.contains(&c) {
                cands.push(c);
            }
        }
        for c in cands {
            push(
                PipelineSegment::new(c, net, cfg.batch, whole, gbuf_words, opts),
                &mut out,
            );
        }
    }
    out
}

/// One empty schedule per layout of the network input (and external
/// inputs, partitioned alike) over the source region.
fn initial_partials(net: &Network, cfg: &SearchConfig, pl: &Placement) -> Vec<Partial> {
    let inp = net.input();
    let target = PartTarget::Input {
        nofm: inp.n,
        hofm: inp.h,
        wofm: inp.w,
    };
    gen_partition(target, cfg.batch, pl.src.dim, &cfg.partition, true)
        .into_iter()
        .map(|part| {
            let proj = part.projection(&pl.src, true);
            let layout = |n, h, w| {
                Arc::new(DataLayout::single(
                    FmapRange::full(cfg.batch, n, h, w),
                    pl.src,
                    proj,
                ))
            };
            Partial {
                layers: Vec::new(),
                by_layer: vec![None; net.len()],
                input_layout: layout(inp.n, inp.h, inp.w),
                ext_layouts: net
                    .exts()
                    .iter()
                    .map(|e| layout(e.shape.n, e.shape.h, e.shape.w))
                    .collect(),
                sum_cost: 0.0,
                sum_static: 0.0,
                sum_time: 0,
                timings: Vec::new(),
                seg_pos: vec![None; net.len()],
            }
        })
        .collect()
}

fn finish(net: &Network, hw: &Hardware, p: Partial, evaluated: u64) -> NetworkSchedule {
    let total_time = p.total_time(net.len());
    let total_cost = p.total_cost(net.len());
    let layers: Vec<LayerResult> = p.layers.iter().map(|r| (**r).clone()).collect();
    let mut acc = PerLevel::splat(0.0);
    let mut ops = 0.0;
    let mut hops = 0.0;
    for r in &layers {
        let a = r.total_accesses();
        for m in MemLevel::ALL {
            acc[m] += a[m];
        }
        ops += r.ops;
        hops += r.total_nhops.sum();
    }
    // The breakdown is recomputed from the totals, so static energy follows
    // the schedule's time rather than the sum of layer times.
    let e = &hw.energy;
    let c_acc = MemLevel::ALL
        .iter()
        .fold(0.0, |s, &m| s + acc[m] * e.access(m));
    let mut segments: Vec<Segment> = p
        .timings
        .iter()
        .map(|t| Segment {
            slots: Vec::new(),
            time: t.time(),
            dram_time: t.dram_time,
            critical_time: t.critical_time,
        })
        .collect();
    for r in &layers {
        let (g, sp, _) = r.sched_seq;
        let slots = &mut segments[g].slots;
        if slots.len() <= sp {
            slots.push(SegmentSlot {
                layers: Vec::new(),
                region: r.placement.proc,
            });
        }
        slots[sp].layers.push(r.name.clone());
    }
    NetworkSchedule {
        layers,
        segments,
        input_layout: p.input_layout,
        ext_layouts: p.ext_layouts,
        total_cost,
        total_time,
        total_ops: ops,
        total_accesses: acc,
        total_noc_hops: hops,
        total_op_cost: ops * e.mac,
        total_access_cost: c_acc,
        total_noc_cost: hops * e.noc_hop,
        total_static_cost: total_time as f64 * e.idle,
        schemes_evaluated: evaluated,
        complete: true,
    }
}

/// Checks that hold for every correct schedule: each layer does exactly its
/// operations, and the cost breakdown adds up to the total.
pub fn check_consistency(
    net: &Network,
    cfg: &SearchConfig,
    s: &NetworkSchedule,
) -> Result<(), SearchError> {
    let close = |a: f64, b: f64, rel: f64| (a - b).abs() <= rel * a.abs().max(b.abs());
    for r in &s.layers {
        let want = net.layer(r.layer).total_ops(cfg.batch) as f64;
        if !close(r.ops, want, 1e-4) {
            return Err(SearchError::Inconsistent(format!(
                "layer '{}' performs {} ops, its shape needs {}",
                r.name, r.ops, want
            )));
        }
        let parts = r.cost_op + r.cost_access + r.cost_noc + r.cost_static;
        if !close(parts, r.cost, 1e-9) {
            return Err(SearchError::Inconsistent(format!(
                "layer '{}': cost parts sum to {parts}, total is {}",
                r.name, r.cost
            )));
        }
    }
    let parts = s.total_op_cost + s.total_access_cost + s.total_noc_cost + s.total_static_cost;
    if !close(parts, s.total_cost, 1e-3) {
        return Err(SearchError::Inconsistent(format!(
            "cost breakdown sums to {parts}, total is {}",
            s.total_cost
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::network::zoo;

    fn hw(nodes: u64, gbuf_bytes: u64) -> Hardware {
        Hardware::parse(&format!(
            "name: t\nword_bits: 16\nnodes: [{nodes}, {nodes}]\npe_array: [14, 14]\nregf_bytes: 512\n\
             gbuf_bytes: {gbuf_bytes}\nmemory: 3d\narray_bus_bits: 0\ndram_bandwidth: inf\n\
             energy: {{mac: 1, dram: 1, gbuf: 1, itcn: 1, regf: 1, noc_hop: 1, idle: 0}}\n"
        ))
        .unwrap()
    }

    /// Segment and constraint counts of nn_dataflow's InterLayerPipeline
    /// (3D memory, 14x14 PEs).
    #[test]
    fn segments_and_constraints_match_nn_dataflow() {
        // (interlayer, save-writeback, optimizations) -> (segments, constraints)
        let flags = [
            (false, false, true),
            (true, false, true),
            (true, true, true),
            (false, true, true),
            (true, false, false),
        ];
        // (network, batch, nodes, buffer bytes, counts per flag set)
        type Case = (&'static str, u64, u64, u64, [(usize, usize); 5]);
        let cases: [Case; 4] = [
            (
                "alex_net",
                16,
                4,
                133032,
                [(19, 19), (33, 1224), (59, 1354), (51, 179), (31, 79)],
            ),
            (
                "lstm_phoneme",
                4,
                2,
                32768,
                [(10, 10), (17, 31), (18, 34), (14, 22), (13, 19)],
            ),
            (
                "mlp_l",
                64,
                4,
                133032,
                [(4, 4), (6, 123), (12, 165), (10, 46), (6, 18)],
            ),
            (
                "googlenet",
                4,
                4,
                133032,
                [(63, 63), (96, 528), (118, 594), (90, 144), (80, 114)],
            ),
        ];
        for (name, batch, nodes, gbuf, want) in cases {
            let net = zoo::get(name).unwrap();
            let hw = hw(nodes, gbuf);
            let dag = Dag::new(&net);
            for ((il, swb, opt), (nseg, ncstr)) in flags.iter().zip(want) {
                let mut cfg = SearchConfig::new(batch);
                cfg.pipeline.interlayer = *il;
                cfg.pipeline.save_writeback = *swb;
                cfg.pipeline.optimize = *opt;
                let segs = gen_segments(&net, &dag, &cfg, &whole_chip(&hw), hw.gbuf_words);
                let cstrs: usize = segs
                    .iter()
                    .map(|s| s.constraints(f64::INFINITY).len())
                    .sum();
                assert_eq!(
                    (segs.len(), cstrs),
                    (nseg, ncstr),
                    "{name} interlayer={il} savewb={swb} opt={opt}"
                );
            }
        }
    }

    /// nn_dataflow's example: AlexNet's fc1 and fc2 side by side share the
    /// batch groups, and fc1's output channel groups are fc2's input groups.
    #[test]
    fn fc_pair_constraints() {
        let net = zoo::get("alex_net").unwrap();
        let hw = hw(4, 133032);
        let (fc1, fc2) = (net.find("fc1").unwrap(), net.find("fc2").unwrap());
        let seg = PipelineSegment::new(
            vec![vec![fc1], vec![fc2]],
            &net,
            16,
            &whole_chip(&hw),
            hw.gbuf_words,
            SegmentOptions { with_opt: true },
        )
        .unwrap();
        let cs = seg.constraints(f64::INFINITY);
        assert_eq!(cs.len(), 25);
        let vals = [1, 2, 4, 8, 16];
        for (k, (c, hints)) in cs.iter().enumerate() {
            let (b, o) = (vals[k / 5], vals[k % 5]);
            assert_eq!(hints, &vec![b, o]);
            assert_eq!((c[0][0].topbat, c[0][0].topofm, c[0][0].topifm), (b, o, 0));
            assert_eq!((c[1][0].topbat, c[1][0].topifm, c[1][0].topofm), (b, o, 0));
        }
    }
}

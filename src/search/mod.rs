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
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use rayon::prelude::*;
use serde::Serialize;

use crate::blocking::{Goal, TopConstraint, cmp_key};
use crate::dims::{MemLevel, PerCat, PerLevel};
use crate::hw::{Dim2, Hardware, Memory};
use crate::network::{Layer, LayerId, Network, Source};
use crate::partition::{
    Coord, DataLayout, FmapRange, HopMemo, NodeRegion, PartTarget, PartitionOptions, RegionKind,
    gen_partition,
};
use crate::pipeline::schedule_order;
use crate::util::Lru;

pub use layer::{
    LayerCtx, LayerResult, NoSchedule, NodeSchemes, Placement, layer_results, search_node,
};

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
            exact_noc_hops: false,
        }
    }

    /// Rejects combinations nn_dataflow rejects.
    pub fn validate(&self) -> Result<(), SearchError> {
        let bad = |m: &str| Err(SearchError::Options(m.to_string()));
        if self.batch == 0 {
            return bad("the batch size must be positive");
        }
        if self.ntops == 0 {
            return bad("the number of tops must be positive");
        }
        if self.solve_loopblocking && self.gbuf_sharing {
            return bad("the loop blocking solver cannot be combined with buffer sharing");
        }
        if self.access_forwarding && self.gbuf_sharing {
            return bad("buffer sharing implies access forwarding; enable only one of them");
        }
        if self.partition.ifmaps && !self.partition.hybrid {
            return bad("input-channel partitioning requires hybrid partitioning");
        }
        Ok(())
    }
}

/// Counters a caller may watch from another thread.
#[derive(Debug, Default)]
pub struct Progress {
    pub layers_done: AtomicUsize,
    pub layers_total: AtomicUsize,
}

/// Why a network has no schedule.
#[derive(Debug, thiserror::Error)]
pub enum SearchError {
    #[error("layer '{layer}': {reason}")]
    NoSchedule { layer: String, reason: NoSchedule },
    #[error("invalid options: {0}")]
    Options(String),
    #[error("internal consistency check failed: {0}")]
    Inconsistent(String),
}

/// A group of layers scheduled together; without inter-layer pipelining,
/// one layer.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Segment {
    pub layers: Vec<String>,
    pub time: u64,
    pub dram_time: u64,
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

/// A prefix of a network schedule during the search.
#[derive(Clone)]
struct Partial {
    layers: Vec<Arc<LayerResult>>,
    /// Output layout of each scheduled layer, by layer index.
    layouts: Vec<Option<Arc<DataLayout>>>,
    input_layout: Arc<DataLayout>,
    ext_layouts: Vec<Arc<DataLayout>>,
    sum_cost: f64,
    sum_static: f64,
    sum_time: u64,
    seg_times: Vec<u64>,
}

impl Partial {
    fn total_time(&self) -> u64 {
        // Single-layer segments take their layer's time, and one segment
        // holding the whole network its critical time, which is the same.
        self.seg_times.iter().sum()
    }

    fn total_cost(&self) -> f64 {
        if self.sum_time == 0 {
            return self.sum_cost;
        }
        let t = self.total_time() as f64;
        self.sum_cost - self.sum_static * (1.0 - t / self.sum_time as f64)
    }

    fn key(&self, goal: Goal) -> (f64, f64) {
        goal.key(self.total_cost(), self.total_time())
    }

    fn source_layout(&self, s: Source) -> &DataLayout {
        match s {
            Source::Input => &self.input_layout,
            Source::Ext(i) => &self.ext_layouts[i],
            Source::Layer(id) => self.layouts[id.0]
                .as_deref()
                .expect("producers are scheduled first"),
        }
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
    let pl = whole_chip(hw);
    let order = schedule_order(net);
    let cstr = TopConstraint::default();

    // Per-node searches do not depend on data layouts: run every distinct
    // (layer, partition) once, all in parallel.
    let mut distinct: Vec<Layer> = Vec::new();
    for &id in &order {
        let s = net.layer(id).group_slice();
        if !distinct.contains(&s) {
            distinct.push(s);
        }
    }
    let tasks: Vec<(usize, crate::partition::PartitionScheme)> = distinct
        .iter()
        .enumerate()
        .flat_map(|(i, l)| {
            gen_partition(
                PartTarget::Layer(l),
                cfg.batch,
                pl.proc.dim,
                &cfg.partition,
                true,
            )
            .into_iter()
            .map(move |p| (i, p))
        })
        .collect();
    if let Some(p) = progress {
        p.layers_total.store(tasks.len(), Ordering::Relaxed);
    }
    let searched: Vec<NodeSchemes> = tasks
        .par_iter()
        .map(|(i, part)| {
            let r = search_node(&distinct[*i], cfg.batch, part, &pl, hw, cfg, &cstr);
            if let Some(p) = progress {
                p.layers_done.fetch_add(1, Ordering::Relaxed);
            }
            r
        })
        .collect();
    let evaluated = searched.iter().map(|n| n.evaluated).sum();
    let mut by_layer: HashMap<Layer, Vec<NodeSchemes>> = HashMap::new();
    for ((i, _), ns) in tasks.iter().zip(searched) {
        by_layer.entry(distinct[*i]).or_default().push(ns);
    }

    // Layer results are memoized as nn_dataflow memoizes them (see HopMemo),
    // and computed in its order.
    let mut memo = HopMemo::new(cfg.exact_noc_hops);
    let mut sched_memo: Lru<
        (Layer, Placement, TopConstraint, DataLayout, usize),
        Vec<LayerResult>,
    > = Lru::new(1024);
    let mut tops = initial_partials(net, cfg, &pl);
    for (k, &id) in order.iter().enumerate() {
        let nl = net.get(id);
        let slice = nl.layer.group_slice();
        let nodes = &by_layer[&slice];
        let ctx = LayerCtx {
            id,
            name: &nl.name,
            layer: &nl.layer,
            slice: &slice,
            batch: cfg.batch,
            placement: &pl,
            hw,
            cfg,
        };
        let per_prev: Vec<Vec<LayerResult>> = tops
            .iter()
            .map(|prev| {
                let parts: Vec<&DataLayout> =
                    nl.prevs.iter().map(|&s| prev.source_layout(s)).collect();
                let ifmap = DataLayout::concat(&parts);
                let key = (nl.layer, pl, cstr, ifmap, k);
                if let Some(r) = sched_memo.get(&key) {
                    return r
                        .into_iter()
                        .map(|r| LayerResult {
                            layer: id,
                            name: nl.name.clone(),
                            ..r
                        })
                        .collect();
                }
                let r = layer_results(&ctx, nodes, &key.3, &mut memo);
                sched_memo.insert(key, r.clone());
                r
            })
            .collect();
        let mut next = Vec::new();
        for (prev, results) in tops.iter().zip(per_prev) {
            for r in results {
                let mut p = prev.clone();
                p.sum_cost += r.cost;
                p.sum_static += r.cost_static;
                p.sum_time += r.time;
                p.seg_times.push(r.time);
                p.layouts[id.0] = Some(r.ofmap_layout.clone());
                p.layers.push(Arc::new(r));
                next.push(p);
            }
        }
        if next.is_empty() {
            let reason = nodes
                .iter()
                .find_map(|n| n.failure.clone())
                .unwrap_or(NoSchedule::Constraints);
            return Err(SearchError::NoSchedule {
                layer: nl.name.clone(),
                reason,
            });
        }
        next.sort_by(|a, b| cmp_key(&a.key(cfg.goal), &b.key(cfg.goal)));
        next.truncate(cfg.ntops);
        tops = next;
    }
    let best = tops.into_iter().next().expect("at least one schedule");
    let sched = finish(net, hw, best, evaluated);
    check_consistency(net, cfg, &sched)?;
    Ok(sched)
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
                layouts: vec![None; net.len()],
                input_layout: layout(inp.n, inp.h, inp.w),
                ext_layouts: net
                    .exts()
                    .iter()
                    .map(|e| layout(e.shape.n, e.shape.h, e.shape.w))
                    .collect(),
                sum_cost: 0.0,
                sum_static: 0.0,
                sum_time: 0,
                seg_times: Vec::new(),
            }
        })
        .collect()
}

fn finish(net: &Network, hw: &Hardware, p: Partial, evaluated: u64) -> NetworkSchedule {
    let total_time = p.total_time();
    let total_cost = p.total_cost();
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
    let segments = layers
        .iter()
        .map(|r| Segment {
            layers: vec![net.layer_name(r.layer).to_string()],
            time: r.time,
            dram_time: r.dram_time,
        })
        .collect();
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

/// The layers of `net` in scheduling order (for callers that report).
pub fn order(net: &Network) -> Vec<LayerId> {
    schedule_order(net)
}

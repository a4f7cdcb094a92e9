//! The search driver: for each layer, every array mapping and blocking
//! (exhaustive or solved) is costed and ranked; across layers, a dynamic
//! program over the scheduling order keeps the `ntops` best network
//! schedules, as nn_dataflow does.
//!
//! Invariants: results do not depend on the thread count (candidates are
//! ranked by (goal key, enumeration index)); every finished schedule passes
//! `check_consistency`, in release builds too.

mod layer;

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};

use rayon::prelude::*;
use serde::Serialize;

use crate::blocking::{Goal, cmp_key};
use crate::dims::{MemLevel, PerCat, PerLevel};
use crate::hw::Hardware;
use crate::network::{Layer, LayerId, Network};
use crate::pipeline::schedule_order;

pub use layer::{LayerResult, NoSchedule, search_layer};

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
    /// Schedules kept per layer and per network prefix.
    pub ntops: usize,
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
    #[error("{0}")]
    Unsupported(String),
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
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct NetworkSchedule {
    /// Layer results in scheduling order.
    pub layers: Vec<LayerResult>,
    pub segments: Vec<Segment>,
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

/// A prefix of a network schedule during the search.
#[derive(Clone)]
struct Partial<'a> {
    layers: Vec<&'a LayerResult>,
    sum_cost: f64,
    sum_static: f64,
    sum_time: u64,
    seg_times: Vec<u64>,
}

impl Partial<'_> {
    fn total_time(&self, whole: bool) -> u64 {
        // One segment holding every layer takes its critical time, which for
        // a single layer is its time: the sum covers both cases here.
        let _ = whole;
        self.seg_times.iter().sum()
    }

    fn total_cost(&self, whole: bool) -> f64 {
        if self.sum_time == 0 {
            return self.sum_cost;
        }
        let t = self.total_time(whole) as f64;
        self.sum_cost - self.sum_static * (1.0 - t / self.sum_time as f64)
    }
}

/// Schedules `net` on `hw`.
pub fn schedule(
    net: &Network,
    hw: &Hardware,
    cfg: &SearchConfig,
    progress: Option<&Progress>,
) -> Result<NetworkSchedule, SearchError> {
    if hw.nodes.size() != 1 {
        return Err(SearchError::Unsupported(format!(
            "hardware '{}' has {} nodes; multi-node partitioning is not implemented yet (use a 1x1 node grid)",
            hw.name, hw.nodes
        )));
    }
    let order = schedule_order(net);

    // Equal layers share one search, as in nn_dataflow's per-layer cache.
    let mut distinct: Vec<Layer> = Vec::new();
    let mut which: HashMap<Layer, usize> = HashMap::new();
    for &id in &order {
        let l = *net.layer(id);
        which.entry(l).or_insert_with(|| {
            distinct.push(l);
            distinct.len() - 1
        });
    }
    if let Some(p) = progress {
        p.layers_total.store(distinct.len(), Ordering::Relaxed);
    }
    let searched: Vec<Result<(Vec<LayerResult>, u64), NoSchedule>> = distinct
        .par_iter()
        .map(|l| {
            let r = search_layer(l, hw, cfg);
            if let Some(p) = progress {
                p.layers_done.fetch_add(1, Ordering::Relaxed);
            }
            r
        })
        .collect();
    let mut per_layer: HashMap<LayerId, Vec<LayerResult>> = HashMap::new();
    let mut evaluated = 0;
    for (i, r) in searched.iter().enumerate() {
        if let Err(reason) = r {
            let id = order
                .iter()
                .find(|&&id| *net.layer(id) == distinct[i])
                .expect("layer from the network");
            return Err(SearchError::NoSchedule {
                layer: net.layer_name(*id).to_string(),
                reason: reason.clone(),
            });
        }
    }
    for r in searched.iter().flatten() {
        evaluated += r.1;
    }
    for &id in &order {
        let (tops, _) = searched[which[net.layer(id)]]
            .as_ref()
            .expect("checked above");
        per_layer.insert(
            id,
            tops.iter()
                .map(|t| LayerResult {
                    layer: id,
                    name: net.layer_name(id).to_string(),
                    ..t.clone()
                })
                .collect(),
        );
    }

    let goal = cfg.goal;
    let mut tops = vec![Partial {
        layers: Vec::new(),
        sum_cost: 0.0,
        sum_static: 0.0,
        sum_time: 0,
        seg_times: Vec::new(),
    }];
    for (k, &id) in order.iter().enumerate() {
        let whole = k + 1 == order.len();
        let mut next = Vec::new();
        for prev in &tops {
            for r in &per_layer[&id] {
                let mut p = prev.clone();
                p.layers.push(r);
                p.sum_cost += r.cost;
                p.sum_static += r.cost_static;
                p.sum_time += r.time;
                p.seg_times.push(r.time);
                next.push(p);
            }
        }
        next.sort_by(|a, b| {
            cmp_key(
                &goal.key(a.total_cost(whole), a.total_time(whole)),
                &goal.key(b.total_cost(whole), b.total_time(whole)),
            )
        });
        next.truncate(cfg.ntops);
        tops = next;
    }
    let best = tops
        .into_iter()
        .next()
        .expect("every layer has at least one result");
    let sched = finish(net, hw, best, evaluated);
    check_consistency(net, cfg, &sched)?;
    Ok(sched)
}

fn finish(net: &Network, hw: &Hardware, p: Partial<'_>, evaluated: u64) -> NetworkSchedule {
    let total_time = p.total_time(true);
    let total_cost = p.total_cost(true);
    let layers: Vec<LayerResult> = p.layers.iter().map(|&r| r.clone()).collect();
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

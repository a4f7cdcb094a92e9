//! A network schedule: layer results in segments, with totals, and the
//! checks every one of them passes.

use std::sync::Arc;

use crate::cost::LayerResult;
use crate::dims::{MemLevel, PerLevel};
use crate::hw::Hardware;
use crate::network::{LayerId, Network, Source};
use crate::partition::{DataLayout, NodeRegion};
use crate::pipeline::{SchedIdx, SegmentTiming};

use crate::options::{SearchOptions, StopReason};

/// A group of layers scheduled together; without inter-layer pipelining,
/// one layer.
#[derive(Clone, Debug, PartialEq)]
pub struct Segment {
    /// Slots running side by side (spatial pipelining), each a sequence of
    /// layers running one after another on its nodes (temporal).
    pub slots: Vec<SegmentSlot>,
    pub time: u64,
    pub dram_time: u64,
    pub critical_time: u64,
}

/// Layers sharing one node region in a segment.
#[derive(Clone, Debug, PartialEq)]
pub struct SegmentSlot {
    pub layers: Vec<String>,
    pub region: NodeRegion,
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
    /// Set when the search was stopped early: `layers` is then the best
    /// schedule of a prefix of the scheduling order.
    pub stopped: Option<StopReason>,
}

/// A prefix of a network schedule (nn_dataflow's NNDataflowScheme): layer
/// results as they are appended, with the timing of their segments.
///
/// The search copies a prefix for every result it extends it with, so the
/// results form a shared chain (newest first) and finished segments'
/// timings are shared: a copy costs a few reference counts, not the whole
/// prefix.
#[derive(Clone)]
pub(super) struct Partial {
    last: Option<Arc<Link>>,
    len: usize,
    pub input_layout: Arc<DataLayout>,
    pub ext_layouts: Vec<Arc<DataLayout>>,
    sum_cost: f64,
    sum_static: f64,
    sum_time: u64,
    pub timings: Vec<Arc<SegmentTiming>>,
}

/// A layer result and the results before it.
struct Link {
    result: LayerResult,
    prev: Option<Arc<Link>>,
}

impl Drop for Link {
    /// Unlinks iteratively: dropping a long chain recursively could
    /// overflow the stack.
    fn drop(&mut self) {
        let mut next = self.prev.take();
        while let Some(l) = next {
            next = match Arc::try_unwrap(l) {
                Ok(mut l) => l.prev.take(),
                Err(_) => None,
            };
        }
    }
}

impl Partial {
    /// An empty schedule with the inputs where they are.
    pub fn new(input_layout: Arc<DataLayout>, ext_layouts: Vec<Arc<DataLayout>>) -> Partial {
        Partial {
            last: None,
            len: 0,
            input_layout,
            ext_layouts,
            sum_cost: 0.0,
            sum_static: 0.0,
            sum_time: 0,
            timings: Vec::new(),
        }
    }

    /// The results, newest first.
    fn results(&self) -> impl Iterator<Item = &LayerResult> {
        std::iter::successors(self.last.as_deref(), |l| l.prev.as_deref()).map(|l| &l.result)
    }

    /// The result of a scheduled layer. Layers read recent results, so the
    /// chain is searched from its newest end.
    pub fn result_of(&self, id: LayerId) -> Option<&LayerResult> {
        self.results().find(|r| r.layer == id)
    }

    /// The index of the segment a layer at `idx` of a new or the current
    /// segment belongs to: the first layer of a segment opens the next.
    pub fn segment_of(&self, idx: SchedIdx) -> usize {
        if idx == SchedIdx::FIRST {
            self.timings.len()
        } else {
            self.timings.len() - 1
        }
    }

    pub fn total_time(&self, n_layers: usize) -> u64 {
        if self.timings.len() == 1 && self.len == n_layers {
            self.timings[0].critical_time
        } else {
            self.timings
                .iter()
                .map(|t| t.time())
                .fold(0, u64::saturating_add)
        }
    }

    /// Costs summed over layers, with static energy following the
    /// segments' time rather than the sum of layer times.
    pub fn total_cost(&self, n_layers: usize) -> f64 {
        if self.sum_time == 0 {
            return self.sum_cost;
        }
        let t = self.total_time(n_layers) as f64;
        self.sum_cost - self.sum_static * (1.0 - t / self.sum_time as f64)
    }

    /// Where a source's output is stored.
    pub fn source_layout(&self, s: Source) -> &DataLayout {
        match s {
            Source::Input => &self.input_layout,
            Source::Ext(i) => &self.ext_layouts[i],
            Source::Layer(id) => {
                &self
                    .result_of(id)
                    .expect("producers are scheduled first")
                    .ofmap_layout
            }
        }
    }

    /// Appends a layer's result at its place in the schedule.
    pub fn push(&mut self, net: &Network, r: LayerResult) {
        let seq = r.seq;
        if seq.segment == self.timings.len() {
            self.timings.push(Arc::new(SegmentTiming::new()));
        }
        // Producers in the same segment, by their place in it.
        let prevs: Vec<SchedIdx> = net
            .prevs(r.layer)
            .iter()
            .filter_map(|p| match p {
                Source::Layer(id) => self.result_of(*id),
                _ => None,
            })
            .filter(|q| q.seq.segment == seq.segment)
            .map(|q| q.seq.idx)
            .collect();
        let times = r.layer_times(net.layer(r.layer).is_conv());
        Arc::make_mut(self.timings.last_mut().expect("a segment is open"))
            .add(seq.idx, times, &prevs);
        self.sum_cost += r.cost;
        self.sum_static += r.cost_static;
        self.sum_time = self.sum_time.saturating_add(r.time);
        self.last = Some(Arc::new(Link {
            result: r,
            prev: self.last.take(),
        }));
        self.len += 1;
    }

    /// The finished schedule, with totals.
    pub fn finish(self, net: &Network, hw: &Hardware, evaluated: u64) -> NetworkSchedule {
        let total_time = self.total_time(net.len());
        let total_cost = self.total_cost(net.len());
        let mut layers: Vec<LayerResult> = self.results().cloned().collect();
        layers.reverse();
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
        // The breakdown is recomputed from the totals, so static energy
        // follows the schedule's time rather than the sum of layer times.
        let e = &hw.energy;
        let c_acc = MemLevel::ALL
            .iter()
            .fold(0.0, |s, &m| s + acc[m] * e.access(m));
        let segments = segments(&self.timings, &layers);
        NetworkSchedule {
            layers,
            segments,
            input_layout: self.input_layout,
            ext_layouts: self.ext_layouts,
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
            stopped: None,
        }
    }
}

/// The segments' slots and times, from their timing and their layers.
fn segments(timings: &[Arc<SegmentTiming>], layers: &[LayerResult]) -> Vec<Segment> {
    let mut segments: Vec<Segment> = timings
        .iter()
        .map(|t| Segment {
            slots: Vec::new(),
            time: t.time(),
            dram_time: t.dram_time,
            critical_time: t.critical_time,
        })
        .collect();
    for r in layers {
        let slots = &mut segments[r.seq.segment].slots;
        if slots.len() <= r.seq.idx.sp {
            slots.push(SegmentSlot {
                layers: Vec::new(),
                region: r.mapping.placement.proc,
            });
        }
        slots[r.seq.idx.sp].layers.push(r.name.clone());
    }
    segments
}

/// Builds a network schedule from layer results in scheduling order, their
/// places in the schedule placing them in segments, as the search
/// assembles it.
pub fn assemble(
    net: &Network,
    hw: &Hardware,
    results: Vec<LayerResult>,
    input_layout: Arc<DataLayout>,
    ext_layouts: Vec<Arc<DataLayout>>,
) -> NetworkSchedule {
    let mut p = Partial::new(input_layout, ext_layouts);
    for r in results {
        p.push(net, r);
    }
    p.finish(net, hw, 0)
}

/// Checks that hold for every correct schedule: each layer does exactly its
/// operations, and the cost breakdown adds up to the total.
pub fn check_consistency(
    net: &Network,
    opts: &SearchOptions,
    s: &NetworkSchedule,
) -> Result<(), String> {
    let close = |a: f64, b: f64, rel: f64| (a - b).abs() <= rel * a.abs().max(b.abs());
    for r in &s.layers {
        let want = net.layer(r.layer).total_ops(opts.batch) as f64;
        if !close(r.ops, want, 1e-4) {
            return Err(format!(
                "layer '{}' performs {} ops, its shape needs {}",
                r.name, r.ops, want
            ));
        }
        let parts = r.cost_op + r.cost_access + r.cost_noc + r.cost_static;
        if !close(parts, r.cost, 1e-9) {
            return Err(format!(
                "layer '{}': cost parts sum to {parts}, total is {}",
                r.name, r.cost
            ));
        }
    }
    let parts = s.total_op_cost + s.total_access_cost + s.total_noc_cost + s.total_static_cost;
    if !close(parts, s.total_cost, 1e-3) {
        return Err(format!(
            "cost breakdown sums to {parts}, total is {}",
            s.total_cost
        ));
    }
    Ok(())
}

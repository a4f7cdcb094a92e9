//! Search options: what a search may do, and how it can be stopped.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crate::blocking::Goal;
use crate::dims::{DataCat, PerCat};
use crate::partition::PartitionOptions;

/// The largest batch: larger ones overflow the operation counts of large
/// layers.
pub const MAX_BATCH: u64 = 1 << 20;

/// The most schedules kept per layer and prefix: memory grows with its
/// square, and no search keeps more than a few.
pub const MAX_TOP: usize = 1000;

/// The longest time limit, seconds (a year): longer is no limit at all,
/// and would overflow the clock.
pub const MAX_TIME_LIMIT_S: f64 = 365.0 * 24.0 * 3600.0;

/// The most worker threads a search starts.
pub const MAX_THREADS: usize = 1024;

/// A time limit in seconds as a `Duration`, refused unless positive,
/// finite and at most [`MAX_TIME_LIMIT_S`]: the one check of the command
/// line, sweep specs and Python.
pub fn time_limit(secs: f64) -> Result<Duration, OptionsError> {
    if secs.is_nan() || secs <= 0.0 {
        Err(OptionsError::ZeroTimeLimit)
    } else if secs > MAX_TIME_LIMIT_S {
        Err(OptionsError::TimeLimitTooLong)
    } else {
        Ok(Duration::from_secs_f64(secs))
    }
}

/// A worker-thread count, refused unless in `1..=MAX_THREADS`.
pub fn threads(n: usize) -> Result<usize, OptionsError> {
    if (1..=MAX_THREADS).contains(&n) {
        Ok(n)
    } else {
        Err(OptionsError::Threads)
    }
}

/// Search options.
#[derive(Clone, Debug, PartialEq)]
pub struct SearchOptions {
    /// Samples scheduled together.
    pub batch: u64,
    /// What the search minimizes.
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
    /// The search across layers.
    pub interlayer_search: InterlayerSearch,
    /// Stop after this long, keeping the best schedule of the layers done.
    pub time_limit: Option<Duration>,
    /// Stop when this is cancelled, keeping the best schedule of the layers
    /// done.
    pub cancel: Option<Cancel>,
}

/// The search across layers (see ARCHITECTURE.md).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum InterlayerSearch {
    /// nn_dataflow's layer-wise greedy beam over the scheduling order.
    Beam,
    /// The beam, plus a wider search over the same segments that keeps
    /// the best schedule of each distinct frontier of live data layouts;
    /// never worse than the beam.
    Frontier,
}

impl InterlayerSearch {
    /// The names `set_named` and the command line take.
    pub const NAMES: &[&str] = &["frontier", "beam"];

    /// The search of a name in `NAMES`.
    pub fn from_name(s: &str) -> Option<Self> {
        match s {
            "beam" => Some(InterlayerSearch::Beam),
            "frontier" => Some(InterlayerSearch::Frontier),
            _ => None,
        }
    }
}

/// Inter-layer pipelining options.
#[derive(Clone, Debug, PartialEq)]
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

impl SearchOptions {
    /// Default options for a batch size: energy goal, bypass allowed,
    /// exhaustive blocking, naive partitioning, one top, exact NoC hops,
    /// the frontier search, no limit.
    pub fn new(batch: u64) -> Self {
        SearchOptions {
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
            exact_noc_hops: true,
            interlayer_search: InterlayerSearch::Frontier,
            time_limit: None,
            cancel: None,
        }
    }

    /// Sets an option by its command-line name (the long flag, with dashes
    /// or underscores: `hybrid-partition`, `solve_loopblocking`) to a
    /// value as a spec file or a Python call gives it: flags are booleans,
    /// `goal` is `e`, `d` or `ed`, `search` `frontier` or `beam`,
    /// `disable_bypass` a list of `i`, `o`, `f`, `time_limit` seconds. The error says what the key or value
    /// should be.
    pub fn set_named(&mut self, key: &str, v: &serde_json::Value) -> Result<(), String> {
        let key = key.replace('-', "_");
        let flag = |v: &serde_json::Value| {
            v.as_bool()
                .ok_or_else(|| format!("'{key}' must be true or false"))
        };
        let number = |v: &serde_json::Value| {
            v.as_f64()
                .filter(|x| *x >= 0.0)
                .ok_or_else(|| format!("'{key}' must be a non-negative number"))
        };
        match key.as_str() {
            "goal" => {
                self.goal = match v.as_str().map(str::to_ascii_lowercase).as_deref() {
                    Some("e") => Goal::Energy,
                    Some("d") => Goal::Delay,
                    Some("ed") => Goal::EnergyDelay,
                    _ => return Err("'goal' must be e, d or ed".into()),
                }
            }
            "top" => {
                self.ntops = v
                    .as_u64()
                    .filter(|&t| t > 0 && t <= MAX_TOP as u64)
                    .ok_or(format!("'top' must be an integer from 1 to {MAX_TOP}"))?
                    as usize
            }
            "disable_bypass" => {
                let cats = v
                    .as_array()
                    .ok_or("'disable_bypass' must be a list of i, o, f")?;
                for c in cats {
                    let d = match c.as_str() {
                        Some("i") => DataCat::Ifm,
                        Some("o") => DataCat::Ofm,
                        Some("f") => DataCat::Fil,
                        _ => return Err("'disable_bypass' must be a list of i, o, f".into()),
                    };
                    self.bypass[d] = false;
                }
            }
            "solve_loopblocking" => self.solve_loopblocking = flag(v)?,
            "hybrid_partition" => self.partition.hybrid = flag(v)?,
            "batch_partition" => self.partition.batch = flag(v)?,
            "ifmaps_partition" => self.partition.ifmaps = flag(v)?,
            "enable_access_forwarding" => self.access_forwarding = flag(v)?,
            "enable_gbuf_sharing" => self.gbuf_sharing = flag(v)?,
            "interlayer_partition" => self.pipeline.interlayer = flag(v)?,
            "enable_save_writeback" => self.pipeline.save_writeback = flag(v)?,
            "layer_pipeline_time_overhead" => self.pipeline.time_overhead = number(v)?,
            "layer_pipeline_max_degree" => self.pipeline.max_degree = number(v)?,
            "disable_interlayer_opt" => self.pipeline.optimize = !flag(v)?,
            "nn_dataflow" => self.set_nn_dataflow(flag(v)?),
            "search" => {
                self.interlayer_search = v
                    .as_str()
                    .and_then(InterlayerSearch::from_name)
                    .ok_or_else(|| {
                        format!(
                            "'search' must be one of {}",
                            InterlayerSearch::NAMES.join(", ")
                        )
                    })?
            }
            "time_limit" => {
                let t = v
                    .as_f64()
                    .ok_or("'time_limit' must be a number of seconds")?;
                self.time_limit = Some(time_limit(t).map_err(|e| format!("'time_limit': {e}"))?);
            }
            _ => {
                return Err(format!(
                    "unknown search option '{key}' (one of: {})",
                    Self::NAMED.join(", ")
                ));
            }
        }
        Ok(())
    }

    /// The options `set_named` knows.
    pub const NAMED: &[&str] = &[
        "goal",
        "top",
        "disable_bypass",
        "solve_loopblocking",
        "hybrid_partition",
        "batch_partition",
        "ifmaps_partition",
        "enable_access_forwarding",
        "enable_gbuf_sharing",
        "interlayer_partition",
        "enable_save_writeback",
        "layer_pipeline_time_overhead",
        "layer_pipeline_max_degree",
        "disable_interlayer_opt",
        "nn_dataflow",
        "search",
        "time_limit",
    ];

    /// nn_dataflow's search bit for bit (`true`: its NoC-hop memo and its
    /// beam), or the defaults (exact hops, the frontier search).
    pub fn set_nn_dataflow(&mut self, on: bool) {
        self.exact_noc_hops = !on;
        self.interlayer_search = if on {
            InterlayerSearch::Beam
        } else {
            InterlayerSearch::Frontier
        };
    }

    /// Whether nodes needing the same data pass it on (access forwarding,
    /// which buffer sharing implies).
    pub fn forwarding(&self) -> bool {
        self.access_forwarding || self.gbuf_sharing
    }

    /// Rejects combinations nn_dataflow rejects, and sizes out of range.
    pub fn validate(&self) -> Result<(), OptionsError> {
        use OptionsError::*;
        let checks = [
            (self.batch == 0, BatchZero),
            (self.batch > MAX_BATCH, BatchTooLarge),
            (self.ntops == 0, TopZero),
            (self.ntops > MAX_TOP, TopTooLarge),
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
            (self.time_limit.is_some_and(|t| t.is_zero()), ZeroTimeLimit),
            (
                self.time_limit
                    .is_some_and(|t| t.as_secs_f64() > MAX_TIME_LIMIT_S),
                TimeLimitTooLong,
            ),
            (
                !self.exact_noc_hops && self.interlayer_search == InterlayerSearch::Frontier,
                FrontierWithHopMemo,
            ),
        ];
        match checks.into_iter().find(|c| c.0) {
            Some((_, e)) => Err(e),
            None => Ok(()),
        }
    }
}

/// Option combinations the search rejects (as nn_dataflow does), and
/// values out of range.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum OptionsError {
    #[error("the batch size must be positive")]
    /// Zero batch.
    BatchZero,
    #[error("the batch size must be at most {MAX_BATCH}")]
    /// A batch above `MAX_BATCH`.
    BatchTooLarge,
    #[error("the number of tops must be positive")]
    /// Zero tops.
    TopZero,
    #[error("the number of tops must be at most {MAX_TOP}")]
    /// More tops than `MAX_TOP`.
    TopTooLarge,
    #[error("the loop blocking solver cannot be combined with buffer sharing")]
    /// The solver with buffer sharing.
    SolverWithSharing,
    #[error("buffer sharing implies access forwarding; enable only one of them")]
    /// Both access forwarding and buffer sharing.
    ForwardingWithSharing,
    #[error("input-channel partitioning requires hybrid partitioning")]
    /// Input-channel partitioning without hybrid partitioning.
    IfmapsWithoutHybrid,
    #[error("the loop blocking solver cannot be combined with save-writeback")]
    /// The solver with save-writeback.
    SolverWithSaveWriteback,
    #[error("the layer pipeline time overhead must be non-negative")]
    /// A negative time overhead.
    NegativeOverhead,
    #[error("the layer pipeline degree must be non-negative")]
    /// A negative pipeline degree.
    NegativeDegree,
    #[error("the time limit must be a positive number of seconds")]
    /// A time limit that is zero, negative or not a number.
    ZeroTimeLimit,
    #[error("the time limit must be at most a year ({MAX_TIME_LIMIT_S} s)")]
    /// A time limit beyond `MAX_TIME_LIMIT_S`.
    TimeLimitTooLong,
    #[error("the number of threads must be from 1 to {MAX_THREADS}")]
    /// A worker-thread count of zero or above `MAX_THREADS`.
    Threads,
    #[error("the frontier search needs exact NoC hops (nn_dataflow's hop memo runs with its beam)")]
    /// The frontier search with nn_dataflow's hop memo, whose counts
    /// depend on the order of queries the frontier search changes.
    FrontierWithHopMemo,
}

/// Stops a search from another thread (on Ctrl-C, say). Clones share the
/// flag.
#[derive(Clone, Debug, Default)]
pub struct Cancel(Arc<AtomicBool>);

impl Cancel {
    /// A handle nothing has cancelled yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Asks the search to stop after the layer at hand.
    pub fn cancel(&self) {
        self.0.store(true, Ordering::Relaxed);
    }

    /// Whether `cancel` was called on it or a clone.
    pub fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}

impl PartialEq for Cancel {
    fn eq(&self, o: &Self) -> bool {
        Arc::ptr_eq(&self.0, &o.0)
    }
}

/// Why a search stopped before scheduling every layer.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum StopReason {
    /// Its `Cancel` handle was used.
    Cancelled,
    /// Its time limit passed.
    TimeLimit(Duration),
}

impl fmt::Display for StopReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StopReason::Cancelled => f.write_str("interrupted"),
            StopReason::TimeLimit(t) => write!(f, "time limit of {} s", t.as_secs_f64()),
        }
    }
}

/// When a running search should stop: its options' limits, from its
/// start.
pub(crate) struct Stopper<'a> {
    cancel: Option<&'a Cancel>,
    deadline: Option<(Instant, Duration)>,
}

impl<'a> Stopper<'a> {
    pub(crate) fn start(opts: &'a SearchOptions) -> Self {
        let now = Instant::now();
        Stopper {
            cancel: opts.cancel.as_ref(),
            deadline: opts.time_limit.map(|t| (now + t, t)),
        }
    }

    /// Why the search should stop now, if it should.
    pub(crate) fn check(&self) -> Option<StopReason> {
        if self.cancel.is_some_and(Cancel::is_cancelled) {
            return Some(StopReason::Cancelled);
        }
        match self.deadline {
            Some((d, t)) if Instant::now() >= d => Some(StopReason::TimeLimit(t)),
            _ => None,
        }
    }
}

/// Counters another thread may watch (a progress bar), and the search's
/// statistics once it ends.
#[derive(Debug, Default)]
pub struct Progress {
    /// Layers whose search is done.
    pub layers_done: AtomicUsize,
    /// Layers to search.
    pub layers_total: AtomicUsize,
    /// Candidate blockings costed, set when the search ends.
    pub schemes_evaluated: AtomicU64,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The default is exact hops with the frontier search; `nn_dataflow`
    /// is its beam with its hop memo; the frontier search refuses the memo.
    #[test]
    fn nn_dataflow_is_its_beam_with_its_hop_memo() {
        let mut o = SearchOptions::new(1);
        assert!(o.exact_noc_hops);
        assert_eq!(o.interlayer_search, InterlayerSearch::Frontier);
        o.set_named("nn-dataflow", &true.into()).unwrap();
        assert!(!o.exact_noc_hops);
        assert_eq!(o.interlayer_search, InterlayerSearch::Beam);
        assert_eq!(o.validate(), Ok(()));
        o.set_named("search", &"frontier".into()).unwrap();
        assert_eq!(o.validate(), Err(OptionsError::FrontierWithHopMemo));
        o.set_named("nn_dataflow", &false.into()).unwrap();
        o.set_named("search", &"beam".into()).unwrap();
        assert!(o.exact_noc_hops);
        assert_eq!(o.interlayer_search, InterlayerSearch::Beam);
        let e = o.set_named("search", &"greedy".into()).unwrap_err();
        assert_eq!(e, "'search' must be one of frontier, beam");
    }
}

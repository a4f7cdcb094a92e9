//! The command line, as clap parses it. Each field's doc comment is its
//! `--help` text.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use nnsched::DEFAULT_MAX_TENSOR_ELEMENTS;

/// Finds energy-efficient dataflow schedules for neural networks on
/// Eyeriss-style accelerators.
#[derive(Parser, Debug)]
#[command(
    name = "nnsched",
    version,
    args_conflicts_with_subcommands = true,
    subcommand_negates_reqs = true
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    #[command(flatten)]
    pub schedule: ScheduleArgs,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Per-layer data sizes, MACs and minimal buffer of a network.
    Stats(StatsArgs),
    /// Recompute the costs of a schedule file from its fields alone.
    Evaluate(EvaluateArgs),
    /// The built-in hardware descriptions.
    #[command(subcommand)]
    Hw(HwCommand),
    /// Print the JSON Schema of schedule files.
    Schema,
    /// Run a design-space sweep (SPEC.yaml) into a results table; `sweep
    /// merge` joins shards, `sweep slurm` writes a Slurm job array.
    Sweep(SweepArgs),
    /// Plot a sweep's results table (.csv) or a schedule file as SVG.
    Plot(PlotArgs),
}

#[derive(Args, Debug)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct SweepArgs {
    #[command(subcommand)]
    pub command: Option<SweepCommand>,
    /// The sweep spec (YAML; see README, "Sweeps").
    #[arg(required = true)]
    pub spec: Option<PathBuf>,
    /// The results table (CSV). Rows already in it are kept and their
    /// points skipped (resume).
    #[arg(short, long, required = true)]
    pub output: Option<PathBuf>,
    /// Run only shard I of N (I from 0): the points whose index is I modulo N.
    #[arg(long, value_name = "I/N")]
    pub shard: Option<nnsched::sweep::Shard>,
    /// Worker threads (default: all cores). Results do not depend on it.
    #[arg(short = 'j', long)]
    pub threads: Option<usize>,
    /// No progress indication.
    #[arg(short, long)]
    pub quiet: bool,
}

#[derive(Subcommand, Debug)]
pub enum SweepCommand {
    /// Join shard tables: every point exactly once, Pareto fronts marked
    /// over all.
    Merge {
        /// Shard tables.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// The merged table.
        #[arg(short, long)]
        output: PathBuf,
    },
    /// Write an sbatch script running the sweep as a Slurm job array (one
    /// shard per task); with --submit, submit it and print the job id.
    Slurm {
        /// The sweep spec.
        spec: PathBuf,
        /// Array tasks (shards).
        #[arg(long)]
        tasks: usize,
        /// The merged table the shards' tables are named after
        /// (OUT.I.csv for task I).
        #[arg(short, long, default_value = "results.csv")]
        output: PathBuf,
        /// Where to write the script (default: SPEC with .sbatch).
        #[arg(long)]
        script: Option<PathBuf>,
        /// Submit the script with sbatch and print the job id.
        #[arg(long)]
        submit: bool,
    },
}

#[derive(Args, Debug)]
pub struct PlotArgs {
    /// A sweep's results table (.csv) or a schedule file (.json, .yaml).
    pub input: PathBuf,
    /// The SVG to write.
    #[arg(short, long)]
    pub output: PathBuf,
}

#[derive(Subcommand, Debug)]
pub enum HwCommand {
    /// List the built-in hardware descriptions.
    List,
    /// Print a built-in hardware description as YAML (a start for a new
    /// file).
    Show {
        /// A name from `nnsched hw list`.
        name: String,
    },
}

#[derive(Args, Debug)]
pub struct EvaluateArgs {
    /// A schedule written by nnsched (.json or .yaml), possibly edited.
    pub schedule: PathBuf,
    /// Hardware to evaluate on, a YAML file or a built-in name (default:
    /// the one recorded in the file).
    #[arg(long, value_name = "HW")]
    pub hw: Option<String>,
    /// Network (default: the one named in the file).
    #[arg(long)]
    pub model: Option<String>,
    /// Output format on stdout.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
    /// Write the recomputed schedule to this file (.json or .yaml).
    #[arg(short, long)]
    pub output: Option<PathBuf>,
}

#[derive(Args, Debug)]
pub struct StatsArgs {
    /// A built-in network name or an ONNX model file.
    pub model: String,
    #[command(flatten)]
    pub load: LoadArgs,
    /// Word size in bits.
    #[arg(long, default_value_t = 16)]
    pub word: u64,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
}

/// How a model is loaded.
#[derive(Args, Debug)]
pub struct LoadArgs {
    /// Batch size (default: the model's, or 1).
    #[arg(long)]
    pub batch: Option<u64>,
    /// Pass unsupported ONNX operators through, with a warning, instead of
    /// failing.
    #[arg(long)]
    pub skip_unsupported: bool,
    /// Refuse ONNX files that declare a tensor of more elements than this.
    #[arg(long, default_value_t = DEFAULT_MAX_TENSOR_ELEMENTS)]
    pub max_tensor_elements: u64,
    /// The size of a named symbolic dimension of an ONNX model's inputs
    /// (e.g. `--dim sequence=512`); repeat for several.
    #[arg(long = "dim", value_name = "NAME=N", value_parser = parse_dim)]
    pub dims: Vec<(String, u64)>,
}

#[derive(Clone, Copy, Debug, PartialEq, ValueEnum)]
pub enum Format {
    Table,
    Json,
    Yaml,
}

#[derive(Clone, Copy, Debug, PartialEq, ValueEnum)]
pub enum BypassCat {
    I,
    O,
    F,
}

#[derive(Args, Debug)]
pub struct ScheduleArgs {
    /// A built-in network name or an ONNX model file.
    #[arg(required = true)]
    pub model: Option<String>,
    /// Hardware: a YAML file, or a built-in name (`nnsched hw list`).
    #[arg(long, required = true, value_name = "HW")]
    pub hw: Option<String>,
    #[command(flatten)]
    pub load: LoadArgs,
    /// Optimization goal: energy, delay, or energy-delay product.
    #[arg(short, long, value_enum, default_value_t = GoalArg::E, ignore_case = true)]
    pub goal: GoalArg,
    /// Data categories that must be kept in the global buffer (no bypass):
    /// i (ifmaps), o (ofmaps), f (filters).
    #[arg(long, value_enum, num_args = 0..)]
    pub disable_bypass: Vec<BypassCat>,
    /// Use the analytical bypass solvers instead of exhaustive loop blocking.
    #[arg(long)]
    pub solve_loopblocking: bool,
    /// Partition layers over nodes along several dimensions at once
    /// (otherwise output maps for conv, output channels for FC).
    #[arg(long)]
    pub hybrid_partition: bool,
    /// Allow partitioning the batch over nodes.
    #[arg(long)]
    pub batch_partition: bool,
    /// Allow partitioning input channels over nodes (requires
    /// --hybrid-partition).
    #[arg(long)]
    pub ifmaps_partition: bool,
    /// Nodes that need the same data fetch it once and forward it.
    #[arg(long)]
    pub enable_access_forwarding: bool,
    /// Nodes share their global buffers over the NoC (implies forwarding;
    /// excludes --solve-loopblocking).
    #[arg(long)]
    pub enable_gbuf_sharing: bool,
    /// Inter-layer spatial pipelining: consecutive layers run at once on
    /// disjoint node regions.
    #[arg(long)]
    pub interlayer_partition: bool,
    /// Temporal pipelining: consecutive layers run in turn on the same
    /// nodes, keeping intermediate data on chip (excludes
    /// --solve-loopblocking).
    #[arg(long)]
    pub enable_save_writeback: bool,
    /// Largest slowdown of a pipeline segment against its layers alone, as
    /// a fraction (default: unlimited).
    #[arg(long, value_name = "X")]
    pub layer_pipeline_time_overhead: Option<f64>,
    /// Most scheduling-graph vertices in a pipeline segment (default:
    /// unlimited).
    #[arg(long, value_name = "N")]
    pub layer_pipeline_max_degree: Option<f64>,
    /// Pipeline only linear chains of layers (no TANGRAM optimizations).
    #[arg(long)]
    pub disable_interlayer_opt: bool,
    /// Reproduce nn_dataflow bit for bit: its layer-wise beam, and its
    /// NoC-hop memo, which charges a partition that differs from an
    /// earlier one only in its order the earlier one's hops. By default
    /// hops are exact and the frontier search runs.
    #[arg(long, conflicts_with = "search")]
    pub nn_dataflow: bool,
    /// The search across layers: `frontier` (the beam, then the best
    /// schedule of each frontier of live data layouts; never worse) or
    /// `beam` (nn_dataflow's layer-wise beam, with exact NoC hops).
    #[arg(long, value_enum, default_value_t = SearchArg::Frontier)]
    pub search: SearchArg,
    /// Schedules kept per layer and per network prefix.
    #[arg(short = 't', long = "top", default_value_t = 1)]
    pub top: usize,
    /// Worker threads (default: all cores). Results do not depend on it.
    #[arg(short = 'j', long)]
    pub threads: Option<usize>,
    /// Write the schedule to this file (.json or .yaml).
    #[arg(short, long)]
    pub output: Option<PathBuf>,
    /// Output format on stdout.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
    /// Print search statistics.
    #[arg(short, long)]
    pub verbose: bool,
    /// No progress indication.
    #[arg(short, long)]
    pub quiet: bool,
    /// Stop the search after this many seconds and keep the best schedule
    /// of the layers done (marked incomplete); Ctrl-C does the same.
    #[arg(long, value_name = "SECONDS")]
    pub time_limit: Option<f64>,
}

/// The optimization goal.
#[derive(Clone, Copy, Debug, PartialEq, ValueEnum)]
pub enum SearchArg {
    Frontier,
    Beam,
}

#[derive(Clone, Copy, Debug, PartialEq, ValueEnum)]
pub enum GoalArg {
    /// Energy, then time.
    E,
    /// Time, then energy.
    D,
    /// Energy-delay product.
    Ed,
}

/// `NAME=N`, N positive.
fn parse_dim(s: &str) -> Result<(String, u64), String> {
    let (name, v) = s
        .split_once('=')
        .ok_or_else(|| format!("'{s}' is not NAME=N"))?;
    match v.parse::<u64>() {
        Ok(n) if n > 0 && !name.is_empty() => Ok((name.to_string(), n)),
        _ => Err(format!(
            "'{s}': the size of '{name}' must be a positive integer"
        )),
    }
}

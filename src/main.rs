//! The `nnsched` command: argument parsing, file I/O, output and exit codes
//! over the library.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use clap::{Args, Parser, Subcommand, ValueEnum};

use nnsched::blocking::Goal;
use nnsched::dims::PerCat;
use nnsched::hw::{self, Hardware};
use nnsched::network::{Network, zoo};
use nnsched::partition::PartitionOptions;
use nnsched::report;
use nnsched::search::{self, OptionsError, PipelineOptions, Progress, SearchConfig, SearchError};
use nnsched::stats::layer_stats;

#[cfg(feature = "onnx")]
use nnsched::onnx::DEFAULT_MAX_TENSOR_ELEMENTS;
/// Without ONNX import there is nothing to limit.
#[cfg(not(feature = "onnx"))]
const DEFAULT_MAX_TENSOR_ELEMENTS: u64 = 0;

/// Finds energy-efficient dataflow schedules for neural networks on
/// Eyeriss-style accelerators.
#[derive(Parser, Debug)]
#[command(
    name = "nnsched",
    version,
    args_conflicts_with_subcommands = true,
    subcommand_negates_reqs = true
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    schedule: ScheduleArgs,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Per-layer data sizes, MACs and minimal buffer of a network.
    Stats(StatsArgs),
    /// Recompute the costs of a schedule file from its fields alone.
    Evaluate(EvaluateArgs),
    /// The built-in hardware descriptions.
    #[command(subcommand)]
    Hw(HwCommand),
}

#[derive(Subcommand, Debug)]
enum HwCommand {
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
struct EvaluateArgs {
    /// A schedule written by nnsched (.json or .yaml), possibly edited.
    schedule: PathBuf,
    /// Hardware to evaluate on, a YAML file or a built-in name (default:
    /// the one recorded in the file).
    #[arg(long, value_name = "HW")]
    hw: Option<String>,
    /// Network (default: the one named in the file).
    #[arg(long)]
    model: Option<String>,
    /// Output format on stdout.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,
    /// Write the recomputed schedule to this file (.json or .yaml).
    #[arg(short, long)]
    output: Option<PathBuf>,
}

#[derive(Args, Debug)]
struct StatsArgs {
    /// A built-in network name or an ONNX model file.
    model: String,
    #[command(flatten)]
    load: LoadArgs,
    /// Word size in bits.
    #[arg(long, default_value_t = 16)]
    word: u64,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,
}

/// How a model is loaded.
#[derive(Args, Debug)]
struct LoadArgs {
    /// Batch size (default: the model's, or 1).
    #[arg(long)]
    batch: Option<u64>,
    /// Pass unsupported ONNX operators through, with a warning, instead of
    /// failing.
    #[arg(long)]
    skip_unsupported: bool,
    /// Refuse ONNX files that declare a tensor of more elements than this.
    #[arg(long, default_value_t = DEFAULT_MAX_TENSOR_ELEMENTS)]
    max_tensor_elements: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, ValueEnum)]
enum Format {
    Table,
    Json,
    Yaml,
}

#[derive(Clone, Copy, Debug, PartialEq, ValueEnum)]
enum BypassCat {
    I,
    O,
    F,
}

#[derive(Args, Debug)]
struct ScheduleArgs {
    /// A built-in network name or an ONNX model file.
    #[arg(required = true)]
    model: Option<String>,
    /// Hardware: a YAML file, or a built-in name (`nnsched hw list`).
    #[arg(long, required = true, value_name = "HW")]
    hw: Option<String>,
    #[command(flatten)]
    load: LoadArgs,
    /// Optimization goal: energy, delay, or energy-delay product.
    #[arg(short, long, value_enum, default_value_t = Goal::Energy, ignore_case = true)]
    goal: Goal,
    /// Data categories that must be kept in the global buffer (no bypass):
    /// i (ifmaps), o (ofmaps), f (filters).
    #[arg(long, value_enum, num_args = 0..)]
    disable_bypass: Vec<BypassCat>,
    /// Use the analytical bypass solvers instead of exhaustive loop blocking.
    #[arg(long)]
    solve_loopblocking: bool,
    /// Partition layers over nodes along several dimensions at once
    /// (otherwise output maps for conv, output channels for FC).
    #[arg(long)]
    hybrid_partition: bool,
    /// Allow partitioning the batch over nodes.
    #[arg(long)]
    batch_partition: bool,
    /// Allow partitioning input channels over nodes (requires
    /// --hybrid-partition).
    #[arg(long)]
    ifmaps_partition: bool,
    /// Nodes that need the same data fetch it once and forward it.
    #[arg(long)]
    enable_access_forwarding: bool,
    /// Nodes share their global buffers over the NoC (implies forwarding;
    /// excludes --solve-loopblocking).
    #[arg(long)]
    enable_gbuf_sharing: bool,
    /// Inter-layer spatial pipelining: consecutive layers run at once on
    /// disjoint node regions.
    #[arg(long)]
    interlayer_partition: bool,
    /// Temporal pipelining: consecutive layers run in turn on the same
    /// nodes, keeping intermediate data on chip (excludes
    /// --solve-loopblocking).
    #[arg(long)]
    enable_save_writeback: bool,
    /// Largest slowdown of a pipeline segment against its layers alone, as
    /// a fraction (default: unlimited).
    #[arg(long, value_name = "X")]
    layer_pipeline_time_overhead: Option<f64>,
    /// Most scheduling-graph vertices in a pipeline segment (default:
    /// unlimited).
    #[arg(long, value_name = "N")]
    layer_pipeline_max_degree: Option<f64>,
    /// Pipeline only linear chains of layers (no TANGRAM optimizations).
    #[arg(long)]
    disable_interlayer_opt: bool,
    /// Count the NoC hops of every partition for itself. By default hops
    /// are memoized as nn_dataflow memoizes them, which charges a partition
    /// that differs from an earlier one only in its order the earlier one's
    /// hops; this flag gives the true counts (and may find cheaper
    /// schedules than nn_dataflow).
    #[arg(long)]
    exact_noc_hops: bool,
    /// Schedules kept per layer and per network prefix.
    #[arg(short = 't', long = "top", default_value_t = 1)]
    top: usize,
    /// Worker threads (default: all cores). Results do not depend on it.
    #[arg(short = 'j', long)]
    threads: Option<usize>,
    /// Write the schedule to this file (.json or .yaml).
    #[arg(short, long)]
    output: Option<PathBuf>,
    /// Output format on stdout.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,
    /// Print search statistics.
    #[arg(short, long)]
    verbose: bool,
    /// No progress indication.
    #[arg(short, long)]
    quiet: bool,
    /// Stop the search after this many seconds and keep the best schedule
    /// of the layers done (marked incomplete); Ctrl-C does the same.
    #[arg(long, value_name = "SECONDS")]
    time_limit: Option<f64>,
}

/// Bad input or no valid schedule.
const EXIT_USER: u8 = 2;
/// An internal error.
const EXIT_INTERNAL: u8 = 1;
/// The time limit stopped the search: the schedule written is incomplete.
const EXIT_TIME_LIMIT: u8 = 3;
/// Ctrl-C stopped the search (128 + SIGINT).
const EXIT_INTERRUPTED: u8 = 130;

/// A search stopped early, after writing what it had; the exit code says
/// why.
#[derive(Debug)]
struct Incomplete {
    code: u8,
    message: String,
}

impl std::fmt::Display for Incomplete {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Incomplete {}

/// Errors that are the input's fault, as opposed to internal ones.
#[derive(Debug)]
struct UserError(anyhow::Error);

impl std::fmt::Display for UserError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:#}", self.0)
    }
}
impl std::error::Error for UserError {}

fn user<T>(r: Result<T>) -> Result<T> {
    r.map_err(|e| anyhow::Error::new(UserError(e)))
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("nnsched: {e:#}");
            if let Some(i) = e.downcast_ref::<Incomplete>() {
                ExitCode::from(i.code)
            } else if e.downcast_ref::<UserError>().is_some() {
                ExitCode::from(EXIT_USER)
            } else {
                ExitCode::from(EXIT_INTERNAL)
            }
        }
    }
}

fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Some(Command::Stats(a)) => stats(a),
        Some(Command::Evaluate(a)) => evaluate(a),
        Some(Command::Hw(c)) => hw_command(c),
        None => schedule(cli.schedule),
    }
}

/// Set once standard output is found closed (`nnsched ... | head`).
static STDOUT_CLOSED: AtomicBool = AtomicBool::new(false);

/// Writes `text` and a newline to standard output. A closed pipe silences
/// the rest of the output instead of failing, as `rg ... | head` does: the
/// schedule file is already written, and the exit code stays the search's.
fn emit(text: &str) -> Result<()> {
    if STDOUT_CLOSED.load(Relaxed) {
        return Ok(());
    }
    let mut o = std::io::stdout().lock();
    let r = o
        .write_all(text.as_bytes())
        .and_then(|()| o.write_all(b"\n"))
        .and_then(|()| o.flush());
    match r {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {
            STDOUT_CLOSED.store(true, Relaxed);
            Ok(())
        }
        r => r.context("writing to standard output"),
    }
}

fn hw_command(c: HwCommand) -> Result<()> {
    match c {
        HwCommand::List => {
            for (name, text) in hw::PRESETS {
                emit(&format!("{name:<16} {}", hw::preset_summary(text)))?;
            }
            Ok(())
        }
        HwCommand::Show { name } => match hw::preset(&name) {
            Some(text) => emit(text.trim_end()),
            None => {
                let names: Vec<&str> = hw::PRESETS.iter().map(|p| p.0).collect();
                user(Err(anyhow::anyhow!(
                    "no built-in hardware '{name}' (built in: {})",
                    names.join(", ")
                )))
            }
        },
    }
}

/// A model for `evaluate`, which takes the batch from the schedule file.
fn load_model(name: &str) -> Result<Network> {
    let defaults = LoadArgs {
        batch: Some(1),
        skip_unsupported: false,
        max_tensor_elements: DEFAULT_MAX_TENSOR_ELEMENTS,
    };
    Ok(load_model_batch(name, &defaults)?.0)
}

/// A built-in network or an ONNX file, and the batch: the flag's, else the
/// model's, else 1 (said when an ONNX model's batch is symbolic). Skipped
/// ONNX operators are reported on stderr.
fn load_model_batch(name: &str, a: &LoadArgs) -> Result<(Network, u64)> {
    let (net, model_batch) = match zoo::get(name) {
        Some(net) => (net, Some(1)),
        None => load_file(name, a)?,
    };
    let batch = match (a.batch, model_batch) {
        (Some(b), _) | (None, Some(b)) => b,
        (None, None) => {
            eprintln!(
                "nnsched: {name}: the model's batch size is symbolic; using 1 (set it with --batch)"
            );
            1
        }
    };
    Ok((net, positive(batch, "--batch")?))
}

#[cfg(feature = "onnx")]
fn load_file(name: &str, a: &LoadArgs) -> Result<(Network, Option<u64>)> {
    let path = Path::new(name);
    if !path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("onnx"))
    {
        bail!(
            "unknown model '{name}'; built-in networks: {} (or an .onnx file)",
            zoo::NAMES.join(", ")
        );
    }
    let opts = nnsched::onnx::ImportOptions {
        skip_unsupported: a.skip_unsupported,
        max_tensor_elements: a.max_tensor_elements,
    };
    let imp = nnsched::onnx::import(path, &opts)?;
    if !imp.skipped.is_empty() {
        eprintln!(
            "nnsched: warning: {name}: passed through unsupported nodes: {}",
            imp.skipped.join(", ")
        );
    }
    Ok((imp.network, imp.batch))
}

#[cfg(not(feature = "onnx"))]
fn load_file(name: &str, _: &LoadArgs) -> Result<(Network, Option<u64>)> {
    bail!(
        "unknown model '{name}'; built-in networks: {} (this build has no ONNX import)",
        zoo::NAMES.join(", ")
    )
}

fn positive(v: u64, flag: &str) -> Result<u64> {
    if v == 0 {
        bail!("{flag} must be positive");
    }
    // Larger batches than this overflow operation counts of large layers.
    if v > 1 << 20 {
        bail!("{flag} must be at most {}", 1u64 << 20);
    }
    Ok(v)
}

fn stats(a: StatsArgs) -> Result<()> {
    let (net, batch) = user(load_model_batch(&a.model, &a.load))?;
    user(positive(a.word, "--word"))?;
    let s = layer_stats(&net, batch, a.word.div_ceil(8));
    match a.format {
        Format::Table => emit(&report::stats_table(&s).to_string()),
        Format::Json | Format::Yaml => {
            let doc = serde_json::json!({"network": net.name(), "batch": batch, "layers": s});
            print_doc(&doc, a.format)
        }
    }
}

fn evaluate(a: EvaluateArgs) -> Result<()> {
    let path = &a.schedule;
    let text = user(
        std::fs::read_to_string(path).with_context(|| format!("{}: cannot read", path.display())),
    )?;
    let doc: serde_json::Value = if path.extension().is_some_and(|e| e == "yaml" || e == "yml") {
        user(serde_yaml::from_str(&text).with_context(|| format!("{}: not YAML", path.display())))?
    } else {
        user(serde_json::from_str(&text).with_context(|| format!("{}: not JSON", path.display())))?
    };
    let in_file = |e: String| anyhow::anyhow!("{}: {e}", path.display());
    let model = match &a.model {
        Some(m) => m.clone(),
        None => user(
            doc.get("network")
                .and_then(|v| v.as_str())
                .map(String::from)
                .ok_or_else(|| in_file("no 'network' key".into())),
        )?,
    };
    let net = user(load_model(&model))?;
    let hw = match &a.hw {
        Some(p) => user(Hardware::from_arg(p))?,
        None => user(nnsched::evaluate::read_hardware(&doc).map_err(in_file))?,
    };
    let cfg = user(nnsched::evaluate::read_config(&doc).map_err(in_file))?;
    let sched =
        user(nnsched::evaluate::evaluate(&doc, &net, &hw).map_err(|e| in_file(e.to_string())))?;
    search::check_consistency(&net, &cfg, &sched)?;
    let out = report::schedule_document(&net, &hw, &cfg, &sched);
    if let Some(o) = &a.output {
        write_doc(o, &out)?;
    }
    match a.format {
        Format::Table => {
            emit(&format!(
                "{} on {}, batch {} (recomputed from {})",
                net.name(),
                hw.name,
                cfg.batch,
                path.display()
            ))?;
            emit(&report::layer_table(&net, &hw, &sched).to_string())?;
            let total = report::fmt_energy(sched.total_cost);
            let written = doc.pointer("/totals/cost").and_then(|v| v.as_f64());
            emit(&match written {
                Some(c) if c == sched.total_cost => {
                    format!("total: {total} energy, equal to the file's")
                }
                Some(c) => format!(
                    "total: {total} energy; the file says {}",
                    report::fmt_energy(c)
                ),
                None => format!("total: {total} energy"),
            })
        }
        f => print_doc(&out, f),
    }
}

fn print_doc(doc: &serde_json::Value, f: Format) -> Result<()> {
    match f {
        Format::Yaml => emit(serde_yaml::to_string(doc)?.trim_end()),
        _ => emit(&serde_json::to_string_pretty(doc)?),
    }
}

fn schedule(a: ScheduleArgs) -> Result<()> {
    let model = a.model.as_deref().expect("clap requires MODEL");
    let hw_arg = a.hw.as_deref().expect("clap requires --hw");
    let (net, batch) = user(load_model_batch(model, &a.load))?;
    let hw = user(Hardware::from_arg(hw_arg))?;
    let mut bypass = PerCat::splat(true);
    for c in &a.disable_bypass {
        match c {
            BypassCat::I => bypass[nnsched::dims::DataCat::Ifm] = false,
            BypassCat::O => bypass[nnsched::dims::DataCat::Ofm] = false,
            BypassCat::F => bypass[nnsched::dims::DataCat::Fil] = false,
        }
    }
    let cfg = SearchConfig {
        batch,
        goal: a.goal,
        bypass,
        solve_loopblocking: a.solve_loopblocking,
        partition: PartitionOptions {
            hybrid: a.hybrid_partition,
            batch: a.batch_partition,
            ifmaps: a.ifmaps_partition,
        },
        access_forwarding: a.enable_access_forwarding,
        gbuf_sharing: a.enable_gbuf_sharing,
        ntops: a.top,
        exact_noc_hops: a.exact_noc_hops,
        pipeline: PipelineOptions {
            interlayer: a.interlayer_partition,
            save_writeback: a.enable_save_writeback,
            time_overhead: a.layer_pipeline_time_overhead.unwrap_or(f64::INFINITY),
            max_degree: a.layer_pipeline_max_degree.unwrap_or(f64::INFINITY),
            optimize: !a.disable_interlayer_opt,
        },
    };
    if let Err(SearchError::Options(e)) = cfg.validate() {
        return user(Err(anyhow::anyhow!(flag_conflict(e))));
    }
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(a.threads.unwrap_or(0))
        .build()
        .context("starting worker threads")?;

    let limit = match a.time_limit {
        Some(t) if !(t.is_finite() && t > 0.0) => {
            return user(Err(anyhow::anyhow!(
                "--time-limit must be a positive number of seconds (got {t})"
            )));
        }
        t => t.map(Duration::from_secs_f64),
    };
    let t0 = Instant::now();
    let progress = Arc::new(Progress::with_deadline(limit.map(|l| t0 + l)));
    let interrupted = Arc::new(AtomicBool::new(false));
    {
        let (p, i) = (progress.clone(), interrupted.clone());
        // The first Ctrl-C stops the search; a second one ends at once.
        let _ = ctrlc::set_handler(move || {
            if i.swap(true, Relaxed) {
                std::process::exit(EXIT_INTERRUPTED.into());
            }
            p.stop.store(true, Relaxed);
        });
    }
    let show = !a.quiet && std::io::stderr().is_terminal();
    let done = Arc::new(AtomicBool::new(false));
    let ticker = show.then(|| {
        let (p, d) = (progress.clone(), done.clone());
        std::thread::spawn(move || progress_ticker(&p, &d))
    });
    if a.verbose {
        eprintln!(
            "nnsched: searching {} ({} layers) on {}",
            net.name(),
            net.len(),
            hw.name
        );
    }
    let result = pool.install(|| search::schedule(&net, &hw, &cfg, Some(&progress)));
    let elapsed = t0.elapsed();
    done.store(true, Relaxed);
    if let Some(t) = ticker {
        let _ = t.join();
    }
    let sched = match result {
        Ok(s) => s,
        Err(e @ SearchError::Inconsistent(_)) => return Err(e.into()),
        Err(e) => {
            return user(Err(
                anyhow::Error::new(e).context(format!("{model} on {hw_arg}"))
            ));
        }
    };
    let mut doc = report::schedule_document(&net, &hw, &cfg, &sched);
    let stopped = (!sched.complete).then(|| {
        let (code, why) = if interrupted.load(Relaxed) {
            (EXIT_INTERRUPTED, "interrupted".to_string())
        } else {
            (
                EXIT_TIME_LIMIT,
                format!("time limit of {} s", a.time_limit.unwrap_or_default()),
            )
        };
        doc["incomplete"]["reason"] = why.clone().into();
        Incomplete {
            code,
            message: format!(
                "search stopped ({why}) after {} of {} layers: the schedule is incomplete",
                sched.layers.len(),
                net.len()
            ),
        }
    });
    // The file first: a closed stdout or a failed print must not lose the
    // result of a long search.
    if let Some(out) = &a.output {
        write_doc(out, &doc)?;
    }
    if a.verbose {
        eprintln!(
            "nnsched: searched {} blocking schemes in {:.3} s",
            sched.schemes_evaluated,
            elapsed.as_secs_f64()
        );
    }
    match a.format {
        Format::Table => {
            emit(&format!(
                "{} on {} ({hw_arg}), batch {batch}",
                net.name(),
                hw.name,
            ))?;
            if !sched.complete {
                emit("INCOMPLETE: the search was stopped; unscheduled layers are missing")?;
            }
            emit(&report::layer_table(&net, &hw, &sched).to_string())?;
            emit(&format!(
                "total: {} energy, {} cycles, {} ops",
                report::fmt_energy(sched.total_cost),
                report::fmt_count(sched.total_time as f64),
                report::fmt_count(sched.total_ops)
            ))?;
        }
        f => print_doc(&doc, f)?,
    }
    match stopped {
        Some(i) => Err(i.into()),
        None => Ok(()),
    }
}

/// An option conflict in terms of the flags the user typed.
fn flag_conflict(e: OptionsError) -> String {
    use OptionsError::*;
    match e {
        BatchZero => "--batch must be positive",
        TopZero => "--top must be positive",
        SolverWithSharing => "--enable-gbuf-sharing cannot be combined with --solve-loopblocking",
        ForwardingWithSharing => {
            "--enable-gbuf-sharing implies access forwarding; drop --enable-access-forwarding"
        }
        IfmapsWithoutHybrid => "--ifmaps-partition requires --hybrid-partition",
        SolverWithSaveWriteback => {
            "--enable-save-writeback cannot be combined with --solve-loopblocking"
        }
        NegativeOverhead => "--layer-pipeline-time-overhead must be a non-negative number",
        NegativeDegree => "--layer-pipeline-max-degree must be a non-negative number",
    }
    .to_string()
}

/// Writes a document atomically: to a temporary file beside `path`, then
/// renamed over it, so that a crash never leaves half a schedule.
fn write_doc(path: &Path, doc: &serde_json::Value) -> Result<()> {
    let yaml = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("yaml") || e.eq_ignore_ascii_case("yml"));
    let text = if yaml {
        serde_yaml::to_string(doc)?
    } else {
        serde_json::to_string_pretty(doc)? + "\n"
    };
    let cannot = || format!("{}: cannot write", path.display());
    let name = path.file_name().with_context(cannot);
    let name = user(name)?;
    let mut tmp_name = std::ffi::OsString::from(".");
    tmp_name.push(name);
    tmp_name.push(format!(".{}.tmp", std::process::id()));
    let tmp = path.with_file_name(tmp_name);
    let written = std::fs::write(&tmp, text).and_then(|()| std::fs::rename(&tmp, path));
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    user(written.with_context(cannot))
}

fn progress_ticker(p: &Progress, done: &AtomicBool) {
    let start = Instant::now();
    let mut shown = false;
    while !done.load(Relaxed) {
        std::thread::sleep(Duration::from_millis(100));
        if start.elapsed() > Duration::from_secs(1) {
            eprint!(
                "\rsearching: {}/{} layers",
                p.layers_done.load(Relaxed),
                p.layers_total.load(Relaxed)
            );
            shown = true;
        }
    }
    if shown {
        eprint!("\r\x1b[K");
    }
}

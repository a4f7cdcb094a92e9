//! The commands: each parses nothing itself (clap did), calls the library,
//! and prints. Errors carry the exit code they end the program with.

mod args;
mod format;
mod table;

use std::io::{IsTerminal, Write};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};

use nnsched::dims::{DataCat, PerCat};
use nnsched::hw::{self, Hardware};
use nnsched::search::{InterlayerSearch, OptionsError, PartitionOptions, PipelineOptions};
use nnsched::stats::layer_stats;
use nnsched::{
    Cancel, Error, Goal, LoadOptions, Model, ModelIssue, Network, Progress, Schedule,
    SearchOptions, StopReason,
};

pub use args::Cli;
use args::{
    BypassCat, Command, EvaluateArgs, Format, GoalArg, HwCommand, LoadArgs, ScheduleArgs,
    SearchArg, SweepArgs, SweepCommand,
};

/// Bad input or no valid schedule.
const EXIT_USER: u8 = 2;
/// An internal error.
const EXIT_INTERNAL: u8 = 1;
/// The time limit stopped the search: the schedule written is incomplete.
const EXIT_TIME_LIMIT: u8 = 3;
/// Ctrl-C stopped the search (128 + SIGINT).
const EXIT_INTERRUPTED: u8 = 130;

/// A failed command: its message (one line) and exit code.
pub struct Failure {
    pub message: String,
    pub code: u8,
}

impl From<Error> for Failure {
    fn from(e: Error) -> Self {
        // Point at the flag that gets around a refused model.
        let hint = match &e {
            Error::Model {
                issue: ModelIssue::Unsupported,
                ..
            } => " (--skip-unsupported passes it through)",
            Error::Model {
                issue: ModelIssue::TooLarge,
                ..
            } => " (--max-tensor-elements)",
            Error::Model {
                issue: ModelIssue::OpenDimension,
                ..
            } => " (set it with --dim NAME=N)",
            _ => "",
        };
        let code = match &e {
            Error::Stopped {
                reason: StopReason::Cancelled,
                ..
            } => EXIT_INTERRUPTED,
            Error::Stopped { .. } => EXIT_TIME_LIMIT,
            e if e.is_user_error() => EXIT_USER,
            _ => EXIT_INTERNAL,
        };
        Failure {
            message: format!("{e}{hint}"),
            code,
        }
    }
}

/// A mistake in the command line itself.
fn usage(message: String) -> Failure {
    Failure {
        message,
        code: EXIT_USER,
    }
}

type Result<T> = std::result::Result<T, Failure>;

pub fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Some(Command::Stats(a)) => stats(a),
        Some(Command::Evaluate(a)) => evaluate(a),
        Some(Command::Hw(c)) => hw_command(c),
        Some(Command::Schema) => emit(nnsched::doc::json_schema().trim_end()),
        Some(Command::Sweep(a)) => sweep(a),
        Some(Command::Plot(a)) => {
            nnsched::plot::plot_file(&a.input, &a.output)?;
            Ok(())
        }
        None => schedule(cli.schedule),
    }
}

/// `nnsched sweep`: runs a spec (or a shard) into a table, merges shard
/// tables, or writes (and submits) a Slurm job array.
fn sweep(a: SweepArgs) -> Result<()> {
    use nnsched::sweep;
    match a.command {
        Some(SweepCommand::Merge { files, output }) => {
            let n = sweep::merge(&files, &output)?;
            emit(&format!("{n} points merged into {}", output.display()))
        }
        Some(SweepCommand::Slurm {
            spec,
            tasks,
            output,
            script,
            submit,
        }) => {
            if tasks == 0 {
                return Err(usage("--tasks must be positive".into()));
            }
            // Fail here, not on the cluster, on a bad spec.
            sweep::Spec::load(&spec).map_err(usage)?;
            let abs = |p: &std::path::Path| std::path::absolute(p).unwrap_or(p.to_path_buf());
            let exe = std::env::current_exe().map_err(|e| usage(e.to_string()))?;
            let text =
                sweep::slurm_script(&exe, &abs(&spec), &abs(&output), tasks).map_err(usage)?;
            let script = script.unwrap_or_else(|| spec.with_extension("sbatch"));
            for (what, other) in [("the spec", &spec), ("the results table", &output)] {
                if abs(&script) == abs(other) || nnsched::files::same_file(&script, other) {
                    return Err(usage(format!(
                        "{}: the job script would replace {what}; choose another with --script",
                        script.display()
                    )));
                }
            }
            nnsched::files::write(&script, text.as_bytes())?;
            if !submit {
                return emit(&format!(
                    "wrote {}; submit it with: sbatch {0}",
                    script.display()
                ));
            }
            let out = std::process::Command::new("sbatch")
                .arg("--parsable")
                .arg(&script)
                .output()
                .map_err(|e| usage(format!("sbatch: {e} (is Slurm installed?)")))?;
            if !out.status.success() {
                return Err(usage(format!(
                    "sbatch {}: {}",
                    script.display(),
                    String::from_utf8_lossy(&out.stderr).trim()
                )));
            }
            let id = String::from_utf8_lossy(&out.stdout);
            emit(id.trim().split(';').next().unwrap_or_default())
        }
        None => {
            let (spec, output) = (
                a.spec.expect("clap requires it"),
                a.output.expect("clap requires it"),
            );
            let spec = sweep::Spec::load(&spec).map_err(usage)?;
            let started = Instant::now();
            let show = !a.quiet && std::io::stderr().is_terminal();
            let progress = |done: usize, total: usize| {
                if show {
                    let secs = started.elapsed().as_secs_f64();
                    let rate = done as f64 / secs.max(1e-9);
                    let left = (total - done) as f64 / rate.max(1e-9);
                    eprint!(
                        "\r\x1b[Knnsched: {done}/{total} points, {rate:.1}/s, {left:.0} s left"
                    );
                }
            };
            let run = || sweep::run(&spec, &output, a.shard, &progress);
            let threads = a
                .threads
                .map(nnsched::options::threads)
                .transpose()
                .map_err(|e| usage(flag_conflict(e)))?;
            let summary = match threads {
                Some(n) => rayon::ThreadPoolBuilder::new()
                    .num_threads(n)
                    .build()
                    .map_err(|e| usage(e.to_string()))?
                    .install(run),
                None => run(),
            }?;
            if show {
                eprint!("\r\x1b[K");
            }
            emit(&format!(
                "{} points in {} ({} already there, {} redone, {} not ok)",
                summary.points,
                output.display(),
                summary.skipped,
                summary.redone,
                summary.failed
            ))
        }
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
        Err(e) => Err(Failure {
            message: format!("writing to standard output: {e}"),
            code: EXIT_INTERNAL,
        }),
        Ok(()) => Ok(()),
    }
}

fn print_doc(doc: &Schedule, f: Format) -> Result<()> {
    match f {
        Format::Yaml => emit(doc.to_yaml().trim_end()),
        _ => emit(doc.to_json().trim_end()),
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
                Err(usage(format!(
                    "no built-in hardware '{name}' (built in: {})",
                    names.join(", ")
                )))
            }
        },
    }
}

/// A model and its batch: the flag's, else the model's, else 1 (said when
/// an ONNX model's batch is symbolic). Skipped ONNX operators are reported.
fn load(name: &str, a: &LoadArgs) -> Result<(Model, u64)> {
    let opts = LoadOptions {
        skip_unsupported: a.skip_unsupported,
        max_tensor_elements: a.max_tensor_elements,
        dims: a.dims.clone(),
    };
    let model = nnsched::load_model(name, &opts)?;
    if !model.skipped.is_empty() {
        eprintln!(
            "nnsched: warning: {name}: passed through unsupported nodes: {}",
            model.skipped.join(", ")
        );
    }
    let batch = match (a.batch, model.batch) {
        (Some(b), _) | (None, Some(b)) => b,
        (None, None) => {
            eprintln!(
                "nnsched: {name}: the model's batch size is symbolic; using 1 (set it with --batch)"
            );
            1
        }
    };
    Ok((model, batch))
}

fn stats(a: args::StatsArgs) -> Result<()> {
    let (model, batch) = load(&a.model, &a.load)?;
    check_batch(batch)?;
    if !(1..=64).contains(&a.word) {
        return Err(usage("--word must be 1 to 64 bits".into()));
    }
    let net = &model.network;
    let s = layer_stats(net, batch, a.word).map_err(usage)?;
    match a.format {
        Format::Table => emit(&table::stats_table(&s)),
        f => {
            let doc = serde_json::json!({"network": net.name(), "batch": batch, "layers": s});
            let text = match f {
                Format::Yaml => serde_yaml::to_string(&doc).expect("a value serializes"),
                _ => serde_json::to_string_pretty(&doc).expect("a value serializes"),
            };
            emit(text.trim_end())
        }
    }
}

fn evaluate(a: EvaluateArgs) -> Result<()> {
    let path = &a.schedule;
    let doc = nnsched::read_schedule(path)?;
    let model = a.model.clone().unwrap_or_else(|| doc.network.clone());
    let net = nnsched::load_model(&model, &LoadOptions::default())?.network;
    let hw = match &a.hw {
        Some(h) => Some(nnsched::load_hardware(h)?),
        None => None,
    };
    let in_file = |e: Error| match e {
        Error::Document(m) => Error::Document(format!("{}: {m}", path.display())),
        e => e,
    };
    let out = nnsched::evaluate(&doc, &net, hw.as_ref()).map_err(in_file)?;
    if let Some(o) = &a.output {
        out.write(o)?;
    }
    // Every recomputed field the file says otherwise, named: an edited
    // decision changes its costs, an edited cost is not taken as true.
    let diffs = nnsched::doc::differences(&doc, &out);
    if !diffs.is_empty() {
        let shown: Vec<&str> = diffs.iter().take(3).map(String::as_str).collect();
        eprintln!(
            "nnsched: {}: {} recomputed fields differ from the file's: {}{}",
            path.display(),
            diffs.len(),
            shown.join("; "),
            if diffs.len() > shown.len() {
                "; ..."
            } else {
                ""
            }
        );
    }
    match a.format {
        Format::Table => {
            let hw = match hw {
                Some(h) => h,
                None => doc.hardware()?,
            };
            emit(&format!(
                "{} on {}, batch {} (recomputed from {})",
                net.name(),
                hw.name,
                out.batch,
                path.display()
            ))?;
            emit(&table::layer_table(&out, &hw.energy))?;
            let total = format::fmt_energy(out.totals.cost);
            emit(&if diffs.is_empty() {
                format!("total: {total} energy, every field equal to the file's")
            } else {
                format!(
                    "total: {total} energy; the file says {}, and {} fields differ",
                    format::fmt_energy(doc.totals.cost),
                    diffs.len()
                )
            })
        }
        f => print_doc(&out, f),
    }
}

/// The batch bound, as the search checks it.
fn check_batch(batch: u64) -> Result<()> {
    SearchOptions::new(batch)
        .validate()
        .map_err(|e| usage(flag_conflict(e)))
}

/// The search options of the command line.
fn options(a: &ScheduleArgs, batch: u64) -> Result<SearchOptions> {
    let mut bypass = PerCat::splat(true);
    for c in &a.disable_bypass {
        let d = match c {
            BypassCat::I => DataCat::Ifm,
            BypassCat::O => DataCat::Ofm,
            BypassCat::F => DataCat::Fil,
        };
        bypass[d] = false;
    }
    let time_limit = a
        .time_limit
        .map(nnsched::options::time_limit)
        .transpose()
        .map_err(|e| usage(flag_conflict(e)))?;
    let opts = SearchOptions {
        batch,
        goal: match a.goal {
            GoalArg::E => Goal::Energy,
            GoalArg::D => Goal::Delay,
            GoalArg::Ed => Goal::EnergyDelay,
        },
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
        exact_noc_hops: !a.nn_dataflow,
        interlayer_search: match a.search {
            _ if a.nn_dataflow => InterlayerSearch::Beam,
            SearchArg::Beam => InterlayerSearch::Beam,
            SearchArg::Frontier => InterlayerSearch::Frontier,
        },
        pipeline: PipelineOptions {
            interlayer: a.interlayer_partition,
            save_writeback: a.enable_save_writeback,
            time_overhead: a.layer_pipeline_time_overhead.unwrap_or(f64::INFINITY),
            max_degree: a.layer_pipeline_max_degree.unwrap_or(f64::INFINITY),
            optimize: !a.disable_interlayer_opt,
        },
        time_limit,
        cancel: Some(Cancel::new()),
    };
    opts.validate().map_err(|e| usage(flag_conflict(e)))?;
    if let Some(n) = a.threads {
        nnsched::options::threads(n).map_err(|e| usage(flag_conflict(e)))?;
    }
    Ok(opts)
}

/// An option conflict in terms of the flags the user typed.
fn flag_conflict(e: OptionsError) -> String {
    use OptionsError::*;
    match e {
        BatchZero => "--batch must be positive".into(),
        BatchTooLarge => format!("--batch must be at most {}", nnsched::search::MAX_BATCH),
        TopZero => "--top must be positive".into(),
        TopTooLarge => format!("--top must be at most {}", nnsched::options::MAX_TOP),
        SolverWithSharing => {
            "--enable-gbuf-sharing cannot be combined with --solve-loopblocking".into()
        }
        ForwardingWithSharing => {
            "--enable-gbuf-sharing implies access forwarding; drop --enable-access-forwarding"
                .into()
        }
        IfmapsWithoutHybrid => "--ifmaps-partition requires --hybrid-partition".into(),
        SolverWithSaveWriteback => {
            "--enable-save-writeback cannot be combined with --solve-loopblocking".into()
        }
        NegativeOverhead => "--layer-pipeline-time-overhead must be a non-negative number".into(),
        NegativeDegree => "--layer-pipeline-max-degree must be a non-negative number".into(),
        ZeroTimeLimit => "--time-limit must be a positive number of seconds".into(),
        TimeLimitTooLong => format!(
            "--time-limit must be at most a year ({} s)",
            nnsched::options::MAX_TIME_LIMIT_S
        ),
        Threads => format!(
            "--threads must be from 1 to {}",
            nnsched::options::MAX_THREADS
        ),
        FrontierWithHopMemo => "--nn-dataflow runs nn_dataflow's beam; drop --search".into(),
    }
}

/// Runs the search, with a progress line on a terminal and Ctrl-C wired to
/// the cancel handle (a second Ctrl-C ends at once).
fn search(
    net: &Network,
    hw: &Hardware,
    opts: &SearchOptions,
    a: &ScheduleArgs,
) -> std::result::Result<Schedule, Error> {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(a.threads.unwrap_or(0))
        .build()
        .map_err(|e| Error::Internal(format!("starting worker threads: {e}")))?;
    if let Some(cancel) = opts.cancel.clone() {
        let _ = ctrlc::set_handler(move || {
            if cancel.is_cancelled() {
                std::process::exit(EXIT_INTERRUPTED.into());
            }
            cancel.cancel();
        });
    }
    // Said once Ctrl-C is handled: from here on it stops the search.
    if a.verbose {
        eprintln!(
            "nnsched: searching {} ({} layers) on {}",
            net.name(),
            net.len(),
            hw.name
        );
    }
    let progress = Arc::new(Progress::default());
    let done = Arc::new(AtomicBool::new(false));
    let ticker = (!a.quiet && std::io::stderr().is_terminal()).then(|| {
        let (p, d) = (progress.clone(), done.clone());
        std::thread::spawn(move || progress_ticker(&p, &d))
    });
    let t0 = Instant::now();
    let result = pool.install(|| nnsched::schedule_with_progress(net, hw, opts, Some(&progress)));
    done.store(true, Relaxed);
    if let Some(t) = ticker {
        let _ = t.join();
    }
    if a.verbose {
        eprintln!(
            "nnsched: searched {} blocking schemes in {:.3} s",
            progress.schemes_evaluated.load(Relaxed),
            t0.elapsed().as_secs_f64()
        );
    }
    result
}

fn schedule(a: ScheduleArgs) -> Result<()> {
    let model = a.model.as_deref().expect("clap requires MODEL");
    let hw_arg = a.hw.as_deref().expect("clap requires --hw");
    let (m, batch) = load(model, &a.load)?;
    let net = &m.network;
    let hw = nnsched::load_hardware(hw_arg)?;
    let opts = options(&a, batch)?;
    let (doc, stopped) = match search(net, &hw, &opts, &a) {
        Ok(doc) => (doc, None),
        Err(Error::Stopped {
            reason,
            done,
            total,
            partial,
        }) => {
            // The partial schedule is written and printed; the failure
            // keeps the message and exit code.
            let failure = Failure::from(Error::Stopped {
                reason,
                done,
                total,
                partial: partial.clone(),
            });
            (*partial, Some(failure))
        }
        Err(e @ Error::NoSchedule { .. }) => {
            return Err(usage(format!("{model} on {hw_arg}: {e}")));
        }
        Err(e) => return Err(e.into()),
    };
    // The file first: a closed stdout or a failed print must not lose the
    // result of a long search. A stopped search's schedule goes beside
    // the file, never over a complete one.
    if let Some(out) = &a.output {
        if stopped.is_some() {
            let partial = nnsched::files::partial_path(out);
            doc.write(&partial)?;
            eprintln!(
                "nnsched: the incomplete schedule is in {}",
                partial.display()
            );
        } else {
            doc.write(out)?;
        }
    }
    match a.format {
        Format::Table => {
            emit(&format!(
                "{} on {} ({hw_arg}), batch {batch}",
                net.name(),
                hw.name
            ))?;
            if stopped.is_some() {
                emit("INCOMPLETE: the search was stopped; unscheduled layers are missing")?;
            }
            emit(&table::layer_table(&doc, &hw.energy))?;
            emit(&format!(
                "total: {} energy, {} cycles, {} ops",
                format::fmt_energy(doc.totals.cost),
                format::fmt_count(doc.totals.time as f64),
                format::fmt_count(doc.totals.ops.0)
            ))?;
        }
        f => print_doc(&doc, f)?,
    }
    match stopped {
        Some(f) => Err(f),
        None => Ok(()),
    }
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

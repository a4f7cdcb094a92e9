//! Design-space sweeps: a spec's points (hardware variants x models x
//! batches x option sets) searched in parallel into a results table that
//! survives crashes (rows appended as points finish, a re-run skips them),
//! split into shards for a cluster and merged back, Pareto fronts marked.

mod spec;
mod table;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Instant;

use rayon::prelude::*;

pub use spec::{Axis, Point, Spec};
pub use table::{RESULT_COLUMNS, Table};

use crate::error::Error;
use crate::hw::Hardware;
use crate::network::Network;

/// A deterministic share of the points: those whose index is `index`
/// modulo `count` (balanced to one point).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shard {
    /// This shard, from 0.
    pub index: usize,
    /// Shards in all.
    pub count: usize,
}

impl std::str::FromStr for Shard {
    type Err = String;

    /// `I/N`, `0 <= I < N`.
    fn from_str(s: &str) -> Result<Shard, String> {
        let (i, n) = s.split_once('/').ok_or(format!("'{s}' is not I/N"))?;
        let (index, count) = (i.trim().parse::<usize>(), n.trim().parse::<usize>());
        match (index, count) {
            (Ok(index), Ok(count)) if index < count => Ok(Shard { index, count }),
            _ => Err(format!("'{s}': I/N with 0 <= I < N")),
        }
    }
}

/// What a run did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunSummary {
    /// Points in this run's share.
    pub points: usize,
    /// Points already in the file (a resumed run).
    pub skipped: usize,
    /// Rows cut short by an earlier run, redone.
    pub redone: usize,
    /// Points that did not end `ok`.
    pub failed: usize,
}

/// Runs the points of `spec` (or of one shard) not yet in `out`, in
/// parallel, appending each row as its point finishes; then rewrites `out`
/// in point order with the Pareto fronts marked. `progress(done, total)` is
/// called after each point.
pub fn run(
    spec: &Spec,
    out: &Path,
    shard: Option<Shard>,
    progress: &(dyn Fn(usize, usize) + Sync),
) -> Result<RunSummary, Error> {
    let keys: Vec<String> = spec.axes.iter().map(|a| a.key.clone()).collect();
    let header = Table::header(&keys);
    let total = spec.len();
    let share: Vec<Point> = (0..total)
        .filter(|i| shard.is_none_or(|s| i % s.count == s.index))
        .map(|i| spec.point(i))
        .collect();
    let identity = spec.identity.to_string();
    let doc_err = |m: String| Error::Document(m);
    crate::files::check_target(out)?;
    // Resume: keep the rows of a table written for this spec.
    let exists = std::fs::metadata(out).is_ok_and(|m| m.len() > 0);
    let (mut existing, redone) = if exists {
        let (t, dropped) = Table::read(out).map_err(doc_err)?;
        if t.header != header {
            return Err(doc_err(format!(
                "{}: written for another sweep (its columns differ); remove it or choose another file",
                out.display()
            )));
        }
        let spec_col = t.col("spec").expect("a sweep table");
        if let Some(r) = t.rows.iter().find(|r| r[spec_col] != identity) {
            return Err(doc_err(format!(
                "{}: written for another spec, or the spec changed since ({} differ); remove it or choose another file",
                out.display(),
                spec::Identity::changed(&r[spec_col], &identity).join(", ")
            )));
        }
        if dropped > 0 {
            t.write(out).map_err(doc_err)?;
        }
        (t, dropped)
    } else {
        (
            Table {
                header: header.clone(),
                rows: Vec::new(),
            },
            0,
        )
    };
    let id_col = existing.col("id").expect("a sweep table");
    let done: HashSet<String> = existing.rows.iter().map(|r| r[id_col].clone()).collect();
    let todo: Vec<&Point> = share.iter().filter(|p| !done.contains(&p.id)).collect();
    let skipped = share.len() - todo.len();
    let appender = Mutex::new(table::Appender::open(out, &header, !exists).map_err(doc_err)?);
    if let Some(dir) = &spec.schedules {
        std::fs::create_dir_all(dir).map_err(|source| Error::Io {
            path: dir.display().to_string(),
            source,
        })?;
    }
    // Models load once each; a model that fails makes failed rows.
    let models: HashMap<&str, Result<Network, String>> = spec
        .models
        .iter()
        .map(|m| {
            let net = crate::load_model(m, &Default::default())
                .map(|m| m.network)
                .map_err(|e| e.to_string());
            (m.as_str(), net)
        })
        .collect();
    let finished = std::sync::atomic::AtomicUsize::new(0);
    let rows: Vec<Vec<String>> = todo
        .par_iter()
        .map(|p| {
            let row = point_row(spec, p, total, &identity, &models[p.model.as_str()]);
            let mut a = appender.lock().expect("not poisoned");
            // A row that cannot be written is still in the final table.
            let _ = a.push(&row);
            drop(a);
            let n = finished.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
            progress(n, todo.len());
            row
        })
        .collect();
    let status = existing.col("status").expect("a sweep table");
    let failed = rows.iter().filter(|r| r[status] != "ok").count()
        + existing
            .rows
            .iter()
            .filter(|r| r[status] != "ok" && share.iter().any(|p| p.id == r[id_col]))
            .count();
    existing.rows.extend(rows);
    existing.finish();
    existing.write(out).map_err(doc_err)?;
    Ok(RunSummary {
        points: share.len(),
        skipped,
        redone,
        failed,
    })
}

/// Searches one point; every failure is a row.
fn point_row(
    spec: &Spec,
    p: &Point,
    total: usize,
    identity: &str,
    net: &Result<Network, String>,
) -> Vec<String> {
    let mut row = vec![
        p.id.clone(),
        p.index.to_string(),
        total.to_string(),
        identity.to_string(),
        p.model.clone(),
        p.batch.to_string(),
        p.options.clone(),
    ];
    row.extend(p.values.iter().map(|v| match v {
        serde_json::Value::String(s) => s.clone(),
        v => v.to_string(),
    }));
    let start = Instant::now();
    let result = match (net, spec.hardware(p)) {
        (Err(e), _) => Err(("error", e.clone())),
        (_, Err(e)) => Err(("error", format!("hardware: {e}"))),
        (Ok(net), Ok(hw)) => match crate::schedule(net, &hw, &spec.options(p)) {
            Ok(s) => Ok((s, hw)),
            Err(e @ Error::NoSchedule { .. }) => Err(("no-schedule", e.to_string())),
            Err(e @ Error::Stopped { .. }) => Err(("timeout", e.to_string())),
            Err(e) => Err(("error", e.to_string())),
        },
    };
    let secs = format!("{:.3}", start.elapsed().as_secs_f64());
    // All but status, message, search_s and the two Pareto marks.
    let metrics = RESULT_COLUMNS.len() - 5;
    match result {
        Ok((s, hw)) => {
            if let Some(dir) = &spec.schedules {
                // A schedule that cannot be written leaves the row intact.
                let _ = s.write(&dir.join(format!("{}.json", p.id)));
            }
            row.push("ok".into());
            row.push(String::new());
            row.extend(metric_fields(&s, &hw));
        }
        Err((status, message)) => {
            row.push(status.into());
            row.push(message);
            row.extend(std::iter::repeat_n(String::new(), metrics));
        }
    }
    row.push(secs);
    row.extend([String::new(), String::new()]);
    row.into_iter().map(table::cell).collect()
}

/// Energy by event, time, EDP, ops, accesses per level, hops and the
/// on-chip storage of a schedule, as table fields.
fn metric_fields(s: &crate::Schedule, hw: &Hardware) -> Vec<String> {
    let t = &s.totals;
    let e = &hw.energy;
    let a = &t.accesses;
    let c = &t.cost_breakdown;
    let words = hw.nodes.size() * (hw.gbuf_words + hw.pe_array.size() * hw.regf_words);
    [
        t.cost,
        c.op,
        a.dram.0 * e.dram,
        a.gbuf.0 * e.gbuf,
        a.itcn.0 * e.itcn,
        a.regf.0 * e.regf,
        c.noc,
        c.static_,
        t.time as f64,
        t.cost * t.time as f64,
        t.ops.0,
        a.dram.0,
        a.gbuf.0,
        a.itcn.0,
        a.regf.0,
        t.noc_hops.0,
        (words * hw.word_bytes()) as f64,
    ]
    .iter()
    .map(|v| format_number(*v))
    .collect()
}

/// Integers as integers, other numbers as the shortest text that reads
/// back to the same double.
fn format_number(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 9.007_199_254_740_992e15 {
        format!("{}", v as i64)
    } else {
        format!("{v:?}")
    }
}

/// Merges shard tables into `out`: every point exactly once, in order,
/// Pareto fronts marked over all of them. Missing or repeated points are an
/// error naming them.
pub fn merge(files: &[PathBuf], out: &Path) -> Result<usize, Error> {
    let doc_err = |m: String| Error::Document(m);
    let mut merged: Option<Table> = None;
    let mut seen: BTreeMap<usize, (String, PathBuf)> = BTreeMap::new();
    let mut total = None;
    let mut identity: Option<(String, PathBuf)> = None;
    for f in files {
        let (t, dropped) = Table::read(f).map_err(doc_err)?;
        if dropped > 0 {
            return Err(doc_err(format!(
                "{}: its last row is cut short; re-run its shard to finish it",
                f.display()
            )));
        }
        let m = merged.get_or_insert_with(|| Table {
            header: t.header.clone(),
            rows: Vec::new(),
        });
        if t.header != m.header {
            return Err(doc_err(format!(
                "{}: columns differ from {}'s: not the same sweep",
                f.display(),
                files[0].display()
            )));
        }
        let (pc, nc, ic, sc) = (
            t.col("point")
                .ok_or_else(|| doc_err(format!("{}: not a sweep table", f.display())))?,
            t.col("points").expect("a sweep table"),
            t.col("id").expect("a sweep table"),
            t.col("spec")
                .ok_or_else(|| doc_err(format!("{}: not a sweep table", f.display())))?,
        );
        for r in t.rows {
            let first = identity.get_or_insert_with(|| (r[sc].clone(), f.clone()));
            if r[sc] != first.0 {
                return Err(doc_err(format!(
                    "{}: a table of another spec than {}'s ({} differ)",
                    f.display(),
                    first.1.display(),
                    spec::Identity::changed(&r[sc], &first.0).join(", ")
                )));
            }
            let point: usize = r[pc].parse().map_err(|_| {
                doc_err(format!(
                    "{}: point '{}' is not a number",
                    f.display(),
                    r[pc]
                ))
            })?;
            let n: usize = r[nc].parse().unwrap_or(0);
            if *total.get_or_insert(n) != n {
                return Err(doc_err(format!(
                    "{}: a sweep of {n} points, the others {}",
                    f.display(),
                    total.unwrap_or(0)
                )));
            }
            if let Some((id, first)) = seen.get(&point) {
                return Err(doc_err(format!(
                    "point {point} ({id}) is in {} and in {}",
                    first.display(),
                    f.display()
                )));
            }
            seen.insert(point, (r[ic].clone(), f.clone()));
            m.rows.push(r);
        }
    }
    let mut t = merged.ok_or_else(|| doc_err("no tables to merge".into()))?;
    let total = total.unwrap_or(0);
    let missing: Vec<String> = (0..total)
        .filter(|i| !seen.contains_key(i))
        .map(|i| i.to_string())
        .collect();
    if !missing.is_empty() {
        let shown: Vec<&str> = missing.iter().take(20).map(String::as_str).collect();
        return Err(doc_err(format!(
            "{} of {total} points missing: {}{}",
            missing.len(),
            shown.join(", "),
            if missing.len() > shown.len() {
                ", ..."
            } else {
                ""
            }
        )));
    }
    t.finish();
    t.write(out).map_err(doc_err)?;
    Ok(t.rows.len())
}

/// An sbatch script running `tasks` shards of the sweep at `spec` as a
/// Slurm job array: task `i` runs shard `i/tasks` into `OUT.i.csv`
/// (`OUT` = `out` less `.csv`), with `exe` as the nnsched binary. Every
/// path is quoted; one that no quoting makes safe in both the shell and
/// an `#SBATCH` line (a control character such as a newline, a quote, a
/// backslash, or `%`, sbatch's file-name pattern) is refused, named.
pub fn slurm_script(exe: &Path, spec: &Path, out: &Path, tasks: usize) -> Result<String, String> {
    for p in [exe, spec, out] {
        let text = p
            .to_str()
            .ok_or_else(|| format!("{}: not UTF-8", p.display()))?;
        if let Some(c) = text
            .chars()
            .find(|c| c.is_control() || matches!(c, '\'' | '"' | '\\' | '%'))
        {
            return Err(format!(
                "{text:?}: a path with {c:?} cannot be put in a job script; rename it"
            ));
        }
    }
    let stem = out.with_extension("");
    let q = |p: &Path| format!("'{}'", p.display());
    Ok(format!(
        "#!/bin/sh\n\
         # nnsched sweep as a Slurm job array: one shard per task.\n\
         # Merge when all are done:\n\
         #   {exe} sweep merge {stem}.*.csv -o {out}\n\
         #SBATCH --job-name=nnsched-sweep\n\
         #SBATCH --array=0-{last}\n\
         #SBATCH --ntasks=1\n\
         #SBATCH --output=\"{stem_raw}.slurm-%A_%a.out\"\n\
         exec {exe} sweep {spec} --shard \"$SLURM_ARRAY_TASK_ID/{tasks}\" \
         -o {stem}.\"$SLURM_ARRAY_TASK_ID\".csv --quiet\n",
        exe = q(exe),
        spec = q(spec),
        stem = q(&stem),
        stem_raw = stem.display(),
        out = q(out),
        last = tasks.saturating_sub(1),
    ))
}

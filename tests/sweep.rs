//! Sweeps: spec validation, points and ids, parallel runs, resume after a
//! crash (a cut-short row included), shards and merges, Pareto marks, and
//! the SVG plots of tables and schedules.

mod common;

use std::path::{Path, PathBuf};

use common::{bin, scratch, sweep_results};
use nnsched::sweep::{Spec, Table};

/// A small sweep: AlexNet, two buffer sizes zipped with two register file
/// sizes, two PE arrays, two option sets: 8 points.
const SPEC: &str = "\
hardware: tetris
models: [alex_net]
batch: [4]
axes:
  gbuf_bytes: {from: 32768, to: 65536, times: 2}
  regf_bytes: [512, 1024]
  pe_array: [[8, 8], [16, 16]]
zip: [[gbuf_bytes, regf_bytes]]
options:
  plain: {}
  hybrid: {hybrid_partition: true, solve_loopblocking: true}
";

fn write_spec(dir: &Path, text: &str) -> PathBuf {
    let p = dir.join("spec.yaml");
    std::fs::write(&p, text).unwrap();
    p
}

fn sweep(args: &[&str]) -> (bool, String, String) {
    let out = bin().arg("sweep").args(args).output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into(),
        String::from_utf8_lossy(&out.stderr).into(),
    )
}

fn run_full(dir: &Path, spec: &Path, name: &str, threads: &str) -> PathBuf {
    let out = dir.join(name);
    let (ok, _, err) = sweep(&[
        spec.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
        "-j",
        threads,
    ]);
    assert!(ok, "{err}");
    out
}

#[test]
fn points_are_the_cross_product_with_zipped_axes() {
    let spec = Spec::parse(SPEC, Path::new(".")).unwrap();
    let points: Vec<_> = spec.points().collect();
    assert_eq!(points.len(), 8);
    // Option sets outside the axes; the zipped pair varies together.
    let p = &points[5];
    assert_eq!((p.index, p.options.as_str()), (5, "hybrid"));
    assert_eq!(
        p.values,
        vec![
            serde_json::json!(32768),
            serde_json::json!(512),
            serde_json::json!([16, 16])
        ]
    );
    let hw = spec.hardware(p).unwrap();
    assert_eq!(
        (hw.gbuf_words, hw.regf_words, hw.pe_array.h),
        (16384, 256, 16)
    );
    assert!(spec.options(p).partition.hybrid);
    // Ids: stable, distinct, and changed by an option set's contents.
    let again: Vec<_> = Spec::parse(SPEC, Path::new("."))
        .unwrap()
        .points()
        .collect();
    assert_eq!(points, again);
    let ids: std::collections::HashSet<&str> = points.iter().map(|p| p.id.as_str()).collect();
    assert_eq!(ids.len(), 8);
    let changed = Spec::parse(
        &SPEC.replace("plain: {}", "plain: {top: 2}"),
        Path::new("."),
    )
    .unwrap()
    .points()
    .collect::<Vec<_>>();
    assert_ne!(changed[0].id, points[0].id);
    assert_eq!(changed[5].id, points[5].id);
}

#[test]
fn bad_specs_name_what_is_wrong() {
    let dir = Path::new(".");
    let cases = [
        (
            SPEC.replace("batch: [4]", "batch: [4]\nbatches: [2]"),
            "unknown field `batches`",
        ),
        (
            SPEC.replace("regf_bytes: [512, 1024]", "regf_bytez: [512, 1024]"),
            "axis 'regf_bytez': not a hardware key",
        ),
        (
            SPEC.replace("regf_bytes: [512, 1024]", "regf_bytes: []"),
            "axis 'regf_bytes': no values",
        ),
        (
            SPEC.replace("regf_bytes: [512, 1024]", "regf_bytes: [512]"),
            "zip 1: 'gbuf_bytes' has 2 values, 'regf_bytes' 1",
        ),
        (
            SPEC.replace("plain: {}", "plain: {hybrid: true}"),
            "options 'plain': unknown search option 'hybrid'",
        ),
        (
            SPEC.replace("plain: {}", "plain: {goal: x}"),
            "options 'plain': 'goal' must be e, d or ed",
        ),
        (
            SPEC.replace("models: [alex_net]", "models: []"),
            "key 'models': the list is empty",
        ),
        (
            SPEC.replace("hardware: tetris", "hardware: tetrix"),
            "key 'hardware': 'tetrix' is no file beside the spec and no built-in hardware (eyeriss",
        ),
    ];
    for (text, want) in cases {
        let e = Spec::parse(&text, dir).unwrap_err();
        assert!(e.contains(want), "{e} / {want}");
    }
    // A point whose hardware is invalid is a failed row, not the end.
    let d = scratch("sweep-badpoint");
    let spec = write_spec(
        &d,
        "hardware: tetris\nmodels: [alex_net]\naxes:\n  gbuf_bytes: [1, 65536]\n",
    );
    let out = run_full(&d, &spec, "r.csv", "2");
    let t = sweep_results(&out);
    let (s, m) = (t.col("status").unwrap(), t.col("message").unwrap());
    assert_eq!(t.rows[0][s], "error");
    assert!(t.rows[0][m].contains("gbuf_bytes"), "{}", t.rows[0][m]);
    assert_eq!(t.rows[1][s], "ok");
    // A model that cannot schedule: a no-schedule row with the layer.
    let spec = write_spec(
        &d,
        "hardware: tetris\nmodels: [alex_net]\naxes:\n  regf_bytes: [2]\n",
    );
    let out = run_full(&d, &spec, "n.csv", "1");
    let t = sweep_results(&out);
    assert_eq!(t.rows[0][s], "no-schedule");
    assert!(t.rows[0][m].contains("layer 'conv1_a'"), "{}", t.rows[0][m]);
}

#[test]
fn a_run_matches_direct_schedules_and_marks_pareto_fronts() {
    let d = scratch("sweep-run");
    let spec_path = write_spec(&d, SPEC);
    let one = sweep_results(&run_full(&d, &spec_path, "one.csv", "1"));
    let two = sweep_results(&run_full(&d, &spec_path, "two.csv", "2"));
    assert_eq!(one, two, "the table does not depend on the thread count");
    let spec = Spec::load(&spec_path).unwrap();
    let c = |n: &str| one.col(n).unwrap();
    for p in spec.points() {
        let row = &one.rows[p.index];
        assert_eq!(row[c("id")], p.id);
        let hw = spec.hardware(&p).unwrap();
        let net = nnsched::load_model("alex_net", &Default::default())
            .unwrap()
            .network;
        let s = nnsched::schedule(&net, &hw, &spec.options(&p)).unwrap();
        assert_eq!(row[c("energy_pj")].parse::<f64>().unwrap(), s.totals.cost);
        assert_eq!(row[c("time_cycles")], s.totals.time.to_string());
        // The energy parts add up to the total.
        let parts: f64 = [
            "energy_op_pj",
            "energy_dram_pj",
            "energy_gbuf_pj",
            "energy_array_pj",
            "energy_regf_pj",
            "energy_noc_pj",
            "energy_static_pj",
        ]
        .iter()
        .map(|n| row[c(n)].parse::<f64>().unwrap())
        .sum();
        assert!(
            (parts - s.totals.cost).abs() < 1e-6 * s.totals.cost,
            "{parts}"
        );
    }
    // Pareto: a point is on a front iff no other point dominates it.
    let num = |r: &Vec<String>, n: &str| r[c(n)].parse::<f64>().unwrap();
    for (x, mark) in [
        ("time_cycles", "pareto_time"),
        ("onchip_bytes", "pareto_storage"),
    ] {
        for r in &one.rows {
            let dominated = one.rows.iter().any(|o| {
                num(o, "energy_pj") <= num(r, "energy_pj")
                    && num(o, x) <= num(r, x)
                    && (num(o, "energy_pj") < num(r, "energy_pj") || num(o, x) < num(r, x))
            });
            assert_eq!(r[c(mark)], if dominated { "no" } else { "yes" }, "{mark}");
        }
        assert!(one.rows.iter().any(|r| r[c(mark)] == "yes"));
        assert!(one.rows.iter().any(|r| r[c(mark)] == "no"));
    }
}

/// Each point's schedule file, when asked for, is the point's schedule;
/// a point out of time is a `timeout` row; the shipped example is valid.
#[test]
fn schedule_files_timeouts_and_the_example_spec() {
    let d = scratch("sweep-files");
    let spec = write_spec(&d, &format!("{SPEC}schedules: sched\n"));
    let t = sweep_results(&run_full(&d, &spec, "r.csv", "2"));
    let (id, energy) = (t.col("id").unwrap(), t.col("energy_pj").unwrap());
    for r in &t.rows {
        let s = nnsched::read_schedule(&d.join("sched").join(format!("{}.json", r[id]))).unwrap();
        assert_eq!(s.totals.cost, r[energy].parse::<f64>().unwrap());
    }
    let spec = write_spec(
        &d,
        "hardware: tangram\nmodels: [vgg_net]\nbatch: [16]\ntime_limit: 0.000001\n\
         options:\n  all: {hybrid_partition: true, interlayer_partition: true}\n",
    );
    let t = sweep_results(&run_full(&d, &spec, "slow.csv", "1"));
    let (s, m) = (t.col("status").unwrap(), t.col("message").unwrap());
    assert_eq!(t.rows[0][s], "timeout");
    assert!(t.rows[0][m].contains("time limit"), "{}", t.rows[0][m]);
    let example =
        Spec::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/sweep-buffers.yaml"))
            .unwrap();
    assert_eq!(example.points().len(), 40);
}

#[test]
fn a_resumed_run_gives_the_uninterrupted_table() {
    let d = scratch("sweep-resume");
    let spec = write_spec(&d, SPEC);
    let full = run_full(&d, &spec, "full.csv", "2");
    let text = std::fs::read_to_string(&full).unwrap();
    // As a crash leaves it: three rows appended, the third cut short.
    let lines: Vec<&str> = text.lines().collect();
    let cut = format!(
        "{}\n{}\n{}\n{}",
        lines[0],
        lines[5],
        lines[2],
        &lines[7][..lines[7].len() / 2]
    );
    let partial = d.join("partial.csv");
    std::fs::write(&partial, cut).unwrap();
    let (ok, out, err) = sweep(&[spec.to_str().unwrap(), "-o", partial.to_str().unwrap()]);
    assert!(ok, "{err}");
    assert!(
        out.contains("8 points") && out.contains("2 already there, 1 redone"),
        "{out}"
    );
    assert_eq!(sweep_results(&partial), sweep_results(&full));

    // A process really killed while it runs resumes the same way.
    let killed = d.join("killed.csv");
    let mut child = bin()
        .args([
            "sweep",
            spec.to_str().unwrap(),
            "-o",
            killed.to_str().unwrap(),
            "-j",
            "1",
        ])
        .spawn()
        .unwrap();
    while std::fs::read_to_string(&killed).map_or(0, |t| t.lines().count()) < 2
        && child.try_wait().unwrap().is_none()
    {
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let (ok, _, err) = sweep(&[spec.to_str().unwrap(), "-o", killed.to_str().unwrap()]);
    assert!(ok, "{err}");
    assert_eq!(sweep_results(&killed), sweep_results(&full));
}

#[test]
fn shards_merge_into_the_whole_sweep() {
    let d = scratch("sweep-shards");
    let spec = write_spec(&d, SPEC);
    let full = run_full(&d, &spec, "full.csv", "2");
    let mut parts = Vec::new();
    for i in 0..3 {
        let p = d.join(format!("part.{i}.csv"));
        let (ok, _, err) = sweep(&[
            spec.to_str().unwrap(),
            "-o",
            p.to_str().unwrap(),
            "--shard",
            &format!("{i}/3"),
        ]);
        assert!(ok, "{err}");
        // Balanced: 8 points over 3 shards.
        assert!((2..=3).contains(&Table::read(&p).unwrap().0.rows.len()));
        parts.push(p);
    }
    let merged = d.join("merged.csv");
    let args = |files: &[PathBuf]| {
        let mut a = vec!["merge".to_string()];
        a.extend(files.iter().map(|f| f.display().to_string()));
        a.extend(["-o".into(), merged.display().to_string()]);
        a
    };
    let run = |a: Vec<String>| {
        let refs: Vec<&str> = a.iter().map(String::as_str).collect();
        sweep(&refs)
    };
    let (ok, out, err) = run(args(&parts));
    assert!(ok, "{err}");
    assert!(out.contains("8 points merged"), "{out}");
    assert_eq!(sweep_results(&merged), sweep_results(&full));
    // A shard missing, or one given twice: refused, naming the points.
    let (ok, _, err) = run(args(&parts[..2]));
    assert!(!ok && err.contains("2 of 8 points missing: 2, 5"), "{err}");
    let (ok, _, err) = run(args(&[parts[0].clone(), parts[0].clone()]));
    assert!(
        !ok && err.contains("point 0 (") && err.contains("is in"),
        "{err}"
    );
    // The Slurm script runs one shard per array task.
    let script = d.join("s.sbatch");
    let (ok, _, err) = sweep(&[
        "slurm",
        spec.to_str().unwrap(),
        "--tasks",
        "3",
        "-o",
        d.join("all.csv").to_str().unwrap(),
        "--script",
        script.to_str().unwrap(),
    ]);
    assert!(ok, "{err}");
    let text = std::fs::read_to_string(&script).unwrap();
    assert!(text.contains("#SBATCH --array=0-2"), "{text}");
    assert!(
        text.contains("--shard \"$SLURM_ARRAY_TASK_ID/3\""),
        "{text}"
    );
}

fn svg(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap();
    roxmltree::Document::parse(&text).expect("well-formed SVG");
    text
}

#[test]
fn plots_show_the_data() {
    let d = scratch("sweep-plot");
    let spec = write_spec(&d, SPEC);
    let table = run_full(&d, &spec, "r.csv", "2");
    let out = d.join("r.svg");
    let (ok, _, err) = {
        let o = bin()
            .args(["plot", table.to_str().unwrap(), "-o", out.to_str().unwrap()])
            .output()
            .unwrap();
        (
            o.status.success(),
            (),
            String::from_utf8_lossy(&o.stderr).to_string(),
        )
    };
    assert!(ok, "{err}");
    let text = svg(&out);
    let doc = roxmltree::Document::parse(&text).unwrap();
    let t = sweep_results(&table);
    let c = |n: &str| t.col(n).unwrap();
    let col = |n: &str| -> Vec<f64> { t.rows.iter().map(|r| r[c(n)].parse().unwrap()).collect() };
    let (times, energies) = (col("time_cycles"), col("energy_pj"));
    let root = doc.root_element();
    let attr = |n: &str| root.attribute(n).unwrap().parse::<f64>().unwrap();
    assert_eq!(attr("data-points") as usize, t.rows.len());
    assert_eq!(
        attr("data-x-min"),
        times.iter().cloned().fold(f64::INFINITY, f64::min)
    );
    assert_eq!(
        attr("data-x-max"),
        times.iter().cloned().fold(0.0, f64::max)
    );
    assert_eq!(
        attr("data-y-min"),
        energies.iter().cloned().fold(f64::INFINITY, f64::min)
    );
    let circles: Vec<_> = doc
        .descendants()
        .filter(|n| n.has_tag_name("circle"))
        .collect();
    assert_eq!(circles.len(), t.rows.len());
    let front = circles
        .iter()
        .filter(|n| n.attribute("class") == Some("point pareto"))
        .count();
    assert_eq!(
        front,
        t.rows
            .iter()
            .filter(|r| r[c("pareto_time")] == "yes")
            .count()
    );

    // A schedule: one stack of bars per layer, one block per segment slot.
    let sched = d.join("s.json");
    let o = bin()
        .args([
            "alex_net",
            "--hw",
            "tetris",
            "--interlayer-partition",
            "-q",
            "-o",
        ])
        .arg(&sched)
        .output()
        .unwrap();
    assert!(o.status.success());
    let out = d.join("s.svg");
    assert!(
        bin()
            .args(["plot"])
            .arg(&sched)
            .arg("-o")
            .arg(&out)
            .status()
            .unwrap()
            .success()
    );
    let text = svg(&out);
    let doc = roxmltree::Document::parse(&text).unwrap();
    let s = nnsched::read_schedule(&sched).unwrap();
    let bars: std::collections::HashSet<&str> = doc
        .descendants()
        .filter(|n| n.attribute("class") == Some("bar"))
        .map(|n| n.attribute("data-layer").unwrap())
        .collect();
    assert_eq!(bars.len(), s.layers.len());
    let bar_sum: f64 = doc
        .descendants()
        .filter(|n| n.attribute("class") == Some("bar"))
        .map(|n| n.attribute("data-value").unwrap().parse::<f64>().unwrap())
        .sum();
    // Each layer's parts add up to its cost (a pipelined segment charges
    // static energy once, so the total is a little less than their sum).
    let layers: f64 = s.layers.iter().map(|l| l.cost).sum();
    assert!(
        (bar_sum - layers).abs() < 1e-6 * layers,
        "{bar_sum} {layers}"
    );
    let slots: usize = s.segments.iter().map(|g| g.slots.len()).sum();
    let blocks: Vec<_> = doc
        .descendants()
        .filter(|n| n.attribute("class") == Some("segment"))
        .collect();
    assert_eq!(blocks.len(), slots);
    let time: u64 = s.segments.iter().map(|g| g.time).sum();
    assert_eq!(root_attr(&doc, "data-time"), time as f64);
}

fn root_attr(doc: &roxmltree::Document, n: &str) -> f64 {
    doc.root_element().attribute(n).unwrap().parse().unwrap()
}

/// A small, fast sweep of two points on a hardware file beside the spec.
const MIX: &str = "hardware: hw.yaml\nmodels: [mlp_s]\naxes:\n  gbuf_bytes: [65536, 131072]\n";

/// Resume and merge refuse tables of another spec, or of this one since
/// changed, and name what changed; point ids cover the base hardware.
#[test]
fn tables_of_another_or_a_changed_spec_are_refused() {
    let d = scratch("sweep-mix");
    let hw = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("hw/eyeriss.yaml"))
        .unwrap();
    std::fs::write(d.join("hw.yaml"), &hw).unwrap();
    let spec = write_spec(&d, MIX);
    let table = run_full(&d, &spec, "t.csv", "1");
    let before = std::fs::read(&table).unwrap();
    let refused = |text: &str, changed: &str| {
        write_spec(&d, text);
        let (ok, _, err) = sweep(&[spec.to_str().unwrap(), "-o", table.to_str().unwrap()]);
        assert!(!ok, "{text}");
        assert!(
            err.contains("written for another spec, or the spec changed since")
                && err.contains(&format!("({changed} differ)")),
            "{err}"
        );
        assert_eq!(std::fs::read(&table).unwrap(), before);
    };
    refused(&MIX.replace("131072]", "131072, 262144]"), "axes");
    refused(&MIX.replace("[mlp_s]", "[mlp_m]"), "models");
    refused(&format!("{MIX}batch: [2]\n"), "batch");
    refused(&format!("{MIX}time_limit: 100\n"), "time_limit");
    write_spec(&d, MIX);
    std::fs::write(d.join("hw.yaml"), hw.replace("dram: 200", "dram: 100")).unwrap();
    refused(MIX, "hardware");
    let other_ids = Spec::load(&spec).unwrap().point(0).id;
    std::fs::write(d.join("hw.yaml"), &hw).unwrap();
    assert_ne!(other_ids, Spec::load(&spec).unwrap().point(0).id);
    // The unchanged spec resumes (nothing to do).
    let (ok, out, err) = sweep(&[spec.to_str().unwrap(), "-o", table.to_str().unwrap()]);
    assert!(ok && out.contains("2 already there"), "{out}{err}");
    // Shards of two specs do not merge.
    let shard = |text: &str, name: &str, i: usize| {
        write_spec(&d, text);
        let p = d.join(name);
        let (ok, _, err) = sweep(&[
            spec.to_str().unwrap(),
            "-o",
            p.to_str().unwrap(),
            "--shard",
            &format!("{i}/2"),
        ]);
        assert!(ok, "{err}");
        p
    };
    let a = shard(MIX, "a.csv", 0);
    let b = shard(&MIX.replace("[mlp_s]", "[mlp_m]"), "b.csv", 1);
    let merged = d.join("m.csv");
    let (ok, _, err) = sweep(&[
        "merge",
        a.to_str().unwrap(),
        b.to_str().unwrap(),
        "-o",
        merged.to_str().unwrap(),
    ]);
    assert!(
        !ok && err.contains("a table of another spec than") && err.contains("(models differ)"),
        "{err}"
    );
    assert!(!merged.exists());
}

#[test]
fn specs_that_would_lose_or_repeat_points_are_refused() {
    let dir = Path::new(".");
    let cases = [
        (
            "models: [alex_net, alex_net]",
            "key 'models': 'alex_net' is given twice",
        ),
        ("batch: [4, 2, 4]", "key 'batch': 4 is given twice"),
        (
            "axes:\n  gbuf_bytes: [1024, 2048, 1024]",
            "axis 'gbuf_bytes': the value 1024 is given twice",
        ),
        (
            "axes:\n  gbuf_bytes: [1024, 1024.0]",
            "axis 'gbuf_bytes': the value 1024.0 is given twice",
        ),
        (
            "axes:\n  gbuf_bytes: {from: 1024, to: .inf, step: 1}",
            "axis 'gbuf_bytes': 'from' and 'to' must be finite",
        ),
        (
            "axes:\n  gbuf_bytes: {from: 1, to: 10000000, step: 1}",
            "axis 'gbuf_bytes': the range has more than 100000 values",
        ),
        (
            "axes:\n  gbuf_bytes: {from: 1, to: 2, step: 1e-20}",
            "axis 'gbuf_bytes': the range has more than 100000 values",
        ),
        (
            // Steps below the numbers' precision repeat values.
            "axes:\n  gbuf_bytes: {from: 1.0e16, to: 1.0000000000000008e16, step: 1.0}",
            "is given twice",
        ),
        (
            "axes:\n  gbuf_bytes: {from: 1, to: 65536, step: 1}\n  regf_bytes: {from: 1, to: 65536, step: 1}\n  \
             pe_array: {from: 1, to: 65536, step: 1}\n  word_bits: {from: 1, to: 65536, step: 1}",
            "the sweep has more than 1000000 points (1 models x 1 batches x 1 option sets x 65536 x 65536 x 65536 x 65536 axis values)",
        ),
        (
            "options:\n  a: {top: 2}\n  b: {top: 2}",
            "options 'b': the same options as 'a'",
        ),
        (
            "time_limit: 1e300",
            "key 'time_limit': the time limit must be at most a year",
        ),
        (
            "time_limit: .nan",
            "key 'time_limit': the time limit must be a positive",
        ),
    ];
    for (extra, want) in cases {
        let mut text = "hardware: tetris\n".to_string();
        if !extra.starts_with("models:") {
            text.push_str("models: [alex_net]\n");
        }
        text.push_str(extra);
        text.push('\n');
        let e = Spec::parse(&text, dir).unwrap_err();
        assert!(e.contains(want), "{extra}: {e} / {want}");
    }
    // A zip pairs values: a value may repeat in one axis, not the pair.
    let zipped = "hardware: tetris\nmodels: [alex_net]\naxes:\n  gbuf_bytes: [1024, 1024]\n  \
                  regf_bytes: [64, 128]\nzip: [[gbuf_bytes, regf_bytes]]\n";
    assert_eq!(Spec::parse(zipped, dir).unwrap().len(), 2);
    let e = Spec::parse(&zipped.replace("[64, 128]", "[64, 64]"), dir).unwrap_err();
    assert!(
        e.contains("axis 'gbuf_bytes' and 'regf_bytes': the value 1024, 64 is given twice"),
        "{e}"
    );
}

/// Relative paths are the spec folder's wherever nnsched runs; text cells
/// cannot be formulas in a spreadsheet; an error quoting a whole file is
/// cut to one line.
#[test]
fn paths_cells_and_messages() {
    let d = scratch("sweep-paths");
    let elsewhere = scratch("sweep-paths-cwd");
    let hw = Path::new(env!("CARGO_MANIFEST_DIR")).join("hw/eyeriss.yaml");
    std::fs::copy(&hw, elsewhere.join("mine.yaml")).unwrap();
    let spec = write_spec(&d, "hardware: mine.yaml\nmodels: [mlp_s]\n");
    let o = bin()
        .current_dir(&elsewhere)
        .args(["sweep", spec.to_str().unwrap(), "-o", "t.csv"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success());
    assert!(
        err.contains(&format!(
            "key 'hardware': {}",
            d.join("mine.yaml").display()
        )),
        "{err}"
    );
    std::fs::copy(&hw, d.join("mine.yaml")).unwrap();
    write_spec(
        &d,
        "hardware: mine.yaml\nmodels: [mlp_s]\noptions:\n  \"=HYPERLINK(1)\": {}\n  \"-2+3\": {top: 2}\n",
    );
    let t = sweep_results(&run_full(&d, &spec, "cells.csv", "1"));
    let opts: Vec<&str> = t
        .rows
        .iter()
        .map(|r| r[t.col("options").unwrap()].as_str())
        .collect();
    assert_eq!(opts, ["'=HYPERLINK(1)", "'-2+3"]);
    assert!(t.rows.iter().all(|r| r[t.col("status").unwrap()] == "ok"));
    // A spec that is one long string: the message is one line, cut.
    std::fs::write(&spec, "x".repeat(100_000)).unwrap();
    let o = bin()
        .args(["sweep", spec.to_str().unwrap(), "-o"])
        .arg(d.join("never.csv"))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2));
    assert_eq!(err.trim_end().lines().count(), 1);
    assert!(
        err.len() < 1200 && err.contains("more characters)"),
        "{}",
        err.len()
    );
}

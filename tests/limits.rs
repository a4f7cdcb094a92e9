//! Determinism across thread counts and runs; stopping a search early.

mod common;

use std::process::Command;

use common::{bin, scratch};
use serde_json::Value;

fn hw(name: &str) -> String {
    format!("{}/hw/{name}.yaml", env!("CARGO_MANIFEST_DIR"))
}

/// Runs nnsched, writing the schedule to `out`; returns the exit code.
fn run_to(args: &[&str], out: &std::path::Path) -> i32 {
    let o = bin()
        .args(args)
        .args(["-q", "--format", "json", "-o", out.to_str().unwrap()])
        .output()
        .unwrap();
    o.status.code().unwrap_or(-1)
}

#[test]
fn schedules_are_byte_identical_for_any_thread_count() {
    let dir = scratch("determinism");
    let googlenet = format!("{}/models/googlenet.onnx", env!("CARGO_MANIFEST_DIR"));
    let tetris = hw("tetris");
    let configs: [Vec<&str>; 2] = [
        vec![
            "alex_net",
            "--hw",
            &tetris,
            "--batch",
            "8",
            "--hybrid-partition",
            "--batch-partition",
            "--interlayer-partition",
            "--enable-access-forwarding",
        ],
        vec![
            &googlenet,
            "--hw",
            &tetris,
            "--batch",
            "4",
            "--hybrid-partition",
            "--solve-loopblocking",
        ],
    ];
    for (c, args) in configs.iter().enumerate() {
        let mut files = Vec::new();
        for (k, j) in ["1", "2", "8", "2"].iter().enumerate() {
            let out = dir.join(format!("c{c}-{k}.json"));
            let mut a = args.clone();
            a.extend(["-j", j]);
            assert_eq!(run_to(&a, &out), 0, "{a:?}");
            files.push(std::fs::read(&out).unwrap());
        }
        assert!(files[0].len() > 1000);
        for f in &files[1..] {
            assert!(f == &files[0], "config {c}: schedule files differ");
        }
    }
}

fn doc(path: &std::path::Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// An incomplete schedule: the layers done, marked, with consistent totals.
fn check_incomplete(d: &Value, reason: &str, n_layers: usize) {
    let layers = d["layers"].as_array().unwrap();
    let missing = d["incomplete"]["unscheduled"].as_array().unwrap();
    assert!(!layers.is_empty() && !missing.is_empty());
    assert_eq!(layers.len() + missing.len(), n_layers);
    assert_eq!(d["incomplete"]["reason"], reason);
    let cost: f64 = layers.iter().map(|l| l["cost"].as_f64().unwrap()).sum();
    let ops: f64 = layers.iter().map(|l| l["ops"].as_f64().unwrap()).sum();
    assert!(common::rel_close(
        d["totals"]["ops"].as_f64().unwrap(),
        ops,
        1e-12
    ));
    // Static energy follows the segments' time, so only the other parts add up.
    assert!(d["totals"]["cost"].as_f64().unwrap() <= cost * (1.0 + 1e-12));
    for l in layers {
        assert!(!missing.contains(&l["name"]));
    }
}

/// A time limit that has passed when the first layer is done stops the
/// search right there, however fast the machine: the search checks the
/// deadline between layers.
#[test]
fn time_limit_writes_the_best_schedule_so_far() {
    let dir = scratch("time-limit");
    let out = dir.join("s.json");
    let o = bin()
        .args(["alex_net", "--hw", "tetris", "--batch", "8"])
        .args(["--hybrid-partition", "--time-limit", "0.000001", "-q"])
        .args(["-o", out.to_str().unwrap()])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr);
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert_eq!(o.status.code(), Some(3), "{stderr}");
    assert!(
        stderr.contains("search stopped (time limit of 0.000001 s) after 1 of 19 layers"),
        "{stderr}"
    );
    assert!(stdout.contains("INCOMPLETE"), "{stdout}");
    let out = dir.join("s.partial.json");
    let d = doc(&out);
    check_incomplete(&d, "time limit of 0.000001 s", 19);
    assert_eq!(d["layers"].as_array().unwrap().len(), 1);
    // An incomplete schedule is not evaluated as if it were whole.
    let o = bin()
        .args(["evaluate", out.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("the schedule is incomplete"));
}

/// A time limit the search stays within changes nothing.
#[test]
fn a_time_limit_not_reached_changes_nothing() {
    let dir = scratch("time-limit-not-reached");
    let (a, b) = (dir.join("a.json"), dir.join("b.json"));
    let args = ["alex_net", "--hw", "eyeriss", "--solve-loopblocking"];
    assert_eq!(run_to(&args, &a), 0);
    let mut limited = args.to_vec();
    limited.extend(["--time-limit", "100000"]);
    assert_eq!(run_to(&limited, &b), 0);
    assert_eq!(std::fs::read(&a).unwrap(), std::fs::read(&b).unwrap());
}

/// Ctrl-C, SIGTERM (what Slurm sends at a job's time limit) and SIGHUP,
/// each once the search is known to have started (the line `-v` prints
/// after the handler is in place), on a search of ResNet-152 over
/// TANGRAM's 256 nodes that takes far longer than signal delivery on any
/// machine: it stops after the layer at hand and writes what it has
/// beside the file it was asked for.
#[test]
fn signals_write_the_best_schedule_so_far() {
    use std::io::{BufRead, BufReader};
    let dir = scratch("signals");
    for signal in ["INT", "TERM", "HUP"] {
        let out = dir.join(format!("{signal}.json"));
        let mut child = bin()
            .args(["resnet152", "--hw", "tangram", "--batch", "64"])
            .args([
                "--hybrid-partition",
                "--batch-partition",
                "--ifmaps-partition",
            ])
            .args(["--interlayer-partition", "-v", "-q"])
            .args(["-o", out.to_str().unwrap()])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut stderr = BufReader::new(child.stderr.take().unwrap());
        let mut line = String::new();
        while !line.starts_with("nnsched: searching") {
            line.clear();
            assert!(stderr.read_line(&mut line).unwrap() > 0, "no start line");
        }
        let killed = Command::new("kill")
            .args([&format!("-{signal}"), &child.id().to_string()])
            .status()
            .unwrap();
        assert!(killed.success());
        let mut rest = String::new();
        std::io::Read::read_to_string(&mut stderr, &mut rest).unwrap();
        let status = child.wait().unwrap();
        assert_eq!(status.code(), Some(130), "SIG{signal}: {rest}");
        assert!(rest.contains("search stopped (interrupted)"), "{rest}");
        assert!(
            !out.exists(),
            "SIG{signal}: a partial schedule at the target"
        );
        check_incomplete(
            &doc(&dir.join(format!("{signal}.partial.json"))),
            "interrupted",
            208,
        );
    }
}

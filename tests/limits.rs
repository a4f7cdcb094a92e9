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

/// The long TANGRAM search of AlexNet (tens of seconds) stopped early.
fn tangram_args() -> Vec<String> {
    [
        "alex_net",
        "--hw",
        &hw("tangram"),
        "--batch",
        "64",
        "--hybrid-partition",
        "--batch-partition",
        "--interlayer-partition",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

/// An incomplete schedule: the layers done, marked, with consistent totals.
fn check_incomplete(d: &Value, reason: &str) {
    let layers = d["layers"].as_array().unwrap();
    let missing = d["incomplete"]["unscheduled"].as_array().unwrap();
    assert!(!layers.is_empty() && !missing.is_empty());
    assert_eq!(layers.len() + missing.len(), 19);
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

#[test]
fn time_limit_writes_the_best_schedule_so_far() {
    let dir = scratch("time-limit");
    let out = dir.join("s.json");
    let mut args = tangram_args();
    args.extend(["--time-limit".into(), "0.3".into()]);
    let a: Vec<&str> = args.iter().map(String::as_str).collect();
    let o = bin()
        .args(&a)
        .args(["-q", "-o", out.to_str().unwrap()])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr);
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert_eq!(o.status.code(), Some(3), "{stderr}");
    assert!(
        stderr.contains("search stopped (time limit of 0.3 s) after"),
        "{stderr}"
    );
    assert!(stdout.contains("INCOMPLETE"), "{stdout}");
    check_incomplete(&doc(&out), "time limit of 0.3 s");
    // An incomplete schedule is not evaluated as if it were whole.
    let o = bin()
        .args(["evaluate", out.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("the schedule is incomplete"));
}

#[test]
fn ctrl_c_writes_the_best_schedule_so_far() {
    let dir = scratch("ctrl-c");
    let out = dir.join("s.json");
    let child = bin()
        .args(tangram_args())
        .args(["-q", "-o", out.to_str().unwrap()])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(1500));
    let killed = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let o = child.wait_with_output().unwrap();
    assert_eq!(
        o.status.code(),
        Some(130),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    check_incomplete(&doc(&out), "interrupted");
}

//! Helpers shared by the integration tests: running the binary on fixture
//! runs and reading what it wrote.

#![allow(dead_code)]

#[cfg(feature = "onnx")]
pub mod onnx_graph;

use std::path::PathBuf;
use std::process::{Command, Output};

use serde_json::Value;

pub fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_nnsched"))
}

pub fn fixture_path(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(rel)
}

/// A scratch directory unique to this test process and `tag`.
pub fn scratch(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("nnsched-test-{}-{tag}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// A reference run of nn_dataflow: its fixture.
pub fn reference(name: &str) -> Value {
    let text = std::fs::read_to_string(fixture_path(&format!("runs/{name}.json"))).unwrap();
    serde_json::from_str(&text).unwrap()
}

/// Runs nnsched as the reference run was configured, with `extra` flags;
/// returns the schedule it wrote.
pub fn run_reference(name: &str, extra: &[&str]) -> Value {
    let (out, path) = run_reference_raw(name, extra, "json");
    assert!(
        out.status.success(),
        "{name}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// Runs a reference configuration as nn_dataflow ran it (`--nn-dataflow`),
/// unless `extra` picks a search (`--search beam|frontier`).
pub fn run_reference_raw(name: &str, extra: &[&str], ext: &str) -> (Output, PathBuf) {
    let r = reference(name);
    let dir = scratch(name);
    let hw = dir.join("hw.yaml");
    // Atomically: tests running at once share the folder.
    nnsched::files::write(&hw, r["hw_yaml"].as_str().unwrap().as_bytes()).unwrap();
    let out_path = dir.join(format!(
        "out-{}.{ext}",
        extra.join("_").replace(['-', '/'], "")
    ));
    let mut cmd = bin();
    cmd.arg(r["network"].as_str().unwrap()).arg("--hw").arg(&hw);
    for f in r["flags"].as_array().unwrap() {
        cmd.arg(f.as_str().unwrap());
    }
    if !extra.contains(&"--search") {
        cmd.arg("--nn-dataflow");
    }
    cmd.args(extra)
        .arg("-q")
        .arg("--format")
        .arg("json")
        .arg("-o")
        .arg(&out_path);
    (cmd.output().unwrap(), out_path)
}

pub fn f(v: &Value) -> f64 {
    v.as_f64().unwrap_or_else(|| panic!("not a number: {v}"))
}

/// Equal to floating-point rounding: within `tol` relative (approx's
/// relative comparison, which also accepts exact zeros).
pub fn rel_close(a: f64, b: f64, tol: f64) -> bool {
    approx::relative_eq!(a, b, epsilon = 0.0, max_relative = tol)
}

/// A sweep's results table without its timing column, which no run
/// reproduces.
pub fn sweep_results(path: &std::path::Path) -> nnsched::sweep::Table {
    let (mut t, dropped) = nnsched::sweep::Table::read(path).unwrap();
    assert_eq!(dropped, 0, "{}: a row cut short", path.display());
    let c = t.col("search_s").unwrap();
    t.header.remove(c);
    for r in &mut t.rows {
        r.remove(c);
    }
    t
}

//! The command line: output contracts, goals, and errors on bad input.

mod common;

use common::{bin, f, fixture_path, run_reference, run_reference_raw, scratch};
use serde_json::Value;

fn hw(name: &str) -> std::path::PathBuf {
    fixture_path("../../hw").join(name)
}

fn run(args: &[&str]) -> (i32, String, String) {
    let out = bin().args(args).output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into(),
        String::from_utf8_lossy(&out.stderr).into(),
    )
}

#[test]
fn stats_json_lists_layers() {
    let (rc, out, _) = run(&["stats", "alex_net", "--batch", "2", "--format", "json"]);
    assert_eq!(rc, 0);
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["network"], "alex_net");
    assert_eq!(v["batch"], 2);
    let l = &v["layers"][0];
    assert_eq!(l["name"], "conv1_a");
    assert_eq!(l["type"], "conv");
    assert_eq!(l["ifmap_bytes"], 3 * 227 * 227 * 2 * 2);
    assert_eq!(l["ofmap_bytes"], 48 * 55 * 55 * 2 * 2);
    assert_eq!(l["weight_bytes"], 3 * 48 * 11 * 11 * 2);
    assert_eq!(l["macs"], 48 * 55 * 55 * 3 * 11 * 11 * 2);
    assert_eq!(v["layers"].as_array().unwrap().len(), 19);
    let (rc, out, _) = run(&["stats", "vgg_net"]);
    assert_eq!(rc, 0);
    assert!(out.contains("conv13") && out.contains("fc3"));
}

#[test]
fn schedule_file_contract() {
    let s = run_reference("P02_alexnet_eyeriss_b16_solve", &[]);
    assert_eq!(s["schema"], "nnsched-schedule/1");
    assert_eq!(s["network"], "alex_net");
    assert_eq!(s["batch"], 16);
    let t = &s["totals"];
    for k in ["cost", "time", "ops", "noc_hops"] {
        assert!(t[k].is_number(), "totals.{k}");
    }
    for k in ["dram", "gbuf", "itcn", "regf"] {
        assert!(
            t["accesses"][k].is_u64(),
            "totals.accesses.{k} is an exact integer"
        );
    }
    let parts: f64 = ["op", "access", "noc", "static"]
        .iter()
        .map(|k| f(&t["cost_breakdown"][k]))
        .sum();
    assert!((parts - f(&t["cost"])).abs() <= 1e-6 * f(&t["cost"]));
    let layers = s["layers"].as_array().unwrap();
    assert_eq!(layers.len(), 19);
    for l in layers {
        for k in [
            "name",
            "type",
            "cost",
            "time",
            "ops",
            "accesses",
            "noc_hops",
            "mapping",
            "blocking",
            "stored_in_gbuf",
            "fetches",
        ] {
            assert!(!l[k].is_null(), "layer {} lacks {k}", l["name"]);
        }
        // Blocking factors multiply up to the mapping's loop counts.
        for lp in ["ifm", "ofm", "bat"] {
            let prod: u64 = ["dram", "gbuf", "regf"]
                .iter()
                .map(|lv| l["blocking"]["factors"][lv][lp].as_u64().unwrap())
                .product();
            assert_eq!(
                prod,
                l["mapping"]["loop_counts"][lp].as_u64().unwrap(),
                "{} {lp}",
                l["name"]
            );
        }
    }
    // Layers come in scheduling order, towers one after another.
    let names: Vec<&str> = layers
        .iter()
        .take(5)
        .map(|l| l["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        ["conv1_a", "pool1_a", "conv2_a", "pool2_a", "conv1_b"]
    );
}

#[test]
fn yaml_schedule_has_the_same_content() {
    let json = run_reference("P09_lstm_phoneme_eyeriss_b4_solve", &[]);
    let (out, path) = run_reference_raw("P09_lstm_phoneme_eyeriss_b4_solve", &[], "yaml");
    assert!(out.status.success());
    let yaml: Value = serde_yaml::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    assert_eq!(json, yaml);
}

#[test]
fn more_tops_never_worse() {
    let one = run_reference("P02_alexnet_eyeriss_b16_solve", &[]);
    let three = run_reference("P02_alexnet_eyeriss_b16_solve", &["--top", "3"]);
    assert!(f(&three["totals"]["cost"]) <= f(&one["totals"]["cost"]));
}

#[test]
fn goals_trade_energy_for_time() {
    let get = |g: &str| {
        let (rc, out, err) = run(&[
            "alex_net",
            "--hw",
            hw("eyeriss.yaml").to_str().unwrap(),
            "--batch",
            "16",
            "-g",
            g,
            "--format",
            "json",
            "-q",
        ]);
        assert_eq!(rc, 0, "{err}");
        let v: Value = serde_json::from_str(&out).unwrap();
        (f(&v["totals"]["cost"]), f(&v["totals"]["time"]))
    };
    let (e, d, ed) = (get("e"), get("d"), get("ed"));
    assert!(
        e.0 <= d.0 && e.0 <= ed.0,
        "energy goal has the least energy"
    );
    assert!(d.1 <= e.1 && d.1 <= ed.1, "delay goal has the least time");
    assert!(
        ed.0 * ed.1 <= e.0 * e.1 && ed.0 * ed.1 <= d.0 * d.1,
        "ED goal has the least product"
    );
}

/// `--layer-pipeline-max-degree 1` keeps segments within one scheduling
/// vertex (a conv with the pooling after it), so no two convs share one.
#[test]
fn pipeline_degree_limits_segments() {
    let free = run_reference("P05_alexnet_t16_interlayer", &[]);
    let one = run_reference(
        "P05_alexnet_t16_interlayer",
        &["--layer-pipeline-max-degree", "1"],
    );
    let convs_per_segment = |s: &Value| -> usize {
        let types: std::collections::HashMap<&str, &str> = s["layers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| (l["name"].as_str().unwrap(), l["type"].as_str().unwrap()))
            .collect();
        s["segments"]
            .as_array()
            .unwrap()
            .iter()
            .map(|g| {
                g["slots"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .flat_map(|sl| sl["layers"].as_array().unwrap())
                    .filter(|l| types[l.as_str().unwrap()] != "pool")
                    .count()
            })
            .max()
            .unwrap()
    };
    assert!(
        convs_per_segment(&free) > 1,
        "the unrestricted search pipelines convs"
    );
    assert_eq!(convs_per_segment(&one), 1);
}

/// The table stays within 100 columns, with pipelining and partitions.
#[test]
fn table_fits_100_columns() {
    let r = common::reference("P05_alexnet_t16_interlayer");
    let dir = scratch("table");
    let hw = dir.join("hw.yaml");
    std::fs::write(&hw, r["hw_yaml"].as_str().unwrap()).unwrap();
    let mut args = vec![
        "alex_net".to_string(),
        "--hw".into(),
        hw.to_str().unwrap().into(),
    ];
    args.extend(
        r["flags"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f.as_str().unwrap().to_string()),
    );
    let out = bin().args(&args).arg("-q").output().unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    let widest = text.lines().map(|l| l.chars().count()).max().unwrap();
    assert!(widest <= 100, "{widest} columns:\n{text}");
    for want in [
        "conv1_a",
        "B4x1 F1x4",
        "0:0.1",
        "static",
        "total",
        "Pipelined segments",
    ] {
        assert!(text.contains(want), "{want}");
    }
}

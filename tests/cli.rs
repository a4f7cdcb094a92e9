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
        "--nn-dataflow".into(),
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

/// Runs nnsched with standard output a pipe whose reading end is already
/// closed, as `nnsched ... | head` leaves it once head has exited.
fn run_into_closed_pipe(args: &[&str]) -> std::process::Output {
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    bin().args(args).stdout(writer).output().unwrap()
}

#[test]
fn a_closed_stdout_ends_quietly_with_the_file_written() {
    let dir = scratch("closed-pipe");
    let want = dir.join("want.json");
    let base = ["alex_net", "--hw", "tetris", "--solve-loopblocking", "-q"];
    let (rc, _, err) = run(&[&base[..], &["-o", want.to_str().unwrap()]].concat());
    assert_eq!(rc, 0, "{err}");
    for format in ["table", "json", "yaml"] {
        let got = dir.join(format!("got-{format}.json"));
        let o = run_into_closed_pipe(
            &[
                &base[..],
                &["--format", format, "-o", got.to_str().unwrap()],
            ]
            .concat(),
        );
        let stderr = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(0), "{format}: {stderr}");
        assert!(stderr.is_empty(), "{format}: {stderr}");
        assert_eq!(std::fs::read(&got).unwrap(), std::fs::read(&want).unwrap());
    }
    // The same for the other commands that print.
    for args in [
        vec!["stats", "googlenet"],
        vec!["hw", "list"],
        vec!["evaluate", want.to_str().unwrap()],
    ] {
        let o = run_into_closed_pipe(&args);
        assert_eq!(o.status.code(), Some(0), "{args:?}");
        assert!(o.stderr.is_empty(), "{args:?}");
    }
}

#[test]
fn the_schedule_file_is_replaced_whole() {
    let dir = scratch("atomic");
    let out = dir.join("s.json");
    std::fs::write(&out, "old contents, longer than nothing").unwrap();
    let write =
        |p: &std::path::Path| run(&["mlp_s", "--hw", "eyeriss", "-q", "-o", p.to_str().unwrap()]);
    let (rc, _, err) = write(&out);
    assert_eq!(rc, 0, "{err}");
    let d: Value = serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    assert_eq!(d["network"], "mlp_s");
    // No temporary file is left beside it.
    let names: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, ["s.json"]);
    // A file that cannot be written is an error naming it.
    let bad = dir.join("no-such-dir/s.json");
    let (rc, _, err) = write(&bad);
    assert_eq!(rc, 2);
    assert!(
        err.contains("no-such-dir/s.json: No such file or directory"),
        "{err}"
    );
}

#[test]
fn built_in_hardware_by_name() {
    let dir = scratch("presets");
    let by_name = dir.join("by-name.json");
    let by_path = dir.join("by-path.json");
    let file = hw("tetris.yaml");
    for (arg, out) in [("tetris", &by_name), (file.to_str().unwrap(), &by_path)] {
        let (rc, _, err) = run(&[
            "alex_net",
            "--hw",
            arg,
            "--solve-loopblocking",
            "-q",
            "-o",
            out.to_str().unwrap(),
        ]);
        assert_eq!(rc, 0, "{err}");
    }
    assert_eq!(
        std::fs::read(&by_name).unwrap(),
        std::fs::read(&by_path).unwrap()
    );

    // `hw list` names the four; `hw show` prints the shipped file.
    let (rc, out, _) = run(&["hw", "list"]);
    assert_eq!(rc, 0);
    let names: Vec<&str> = out
        .lines()
        .map(|l| l.split_whitespace().next().unwrap())
        .collect();
    assert_eq!(names, ["eyeriss", "eyeriss-isscc16", "tangram", "tetris"]);
    assert!(out.contains("TETRIS (ASPLOS'17)"), "{out}");
    for name in names {
        let (rc, shown, _) = run(&["hw", "show", name]);
        assert_eq!(rc, 0);
        let shipped = std::fs::read_to_string(hw(&format!("{name}.yaml"))).unwrap();
        assert_eq!(shown, shipped);
    }
    let (rc, _, err) = run(&["hw", "show", "tpu"]);
    assert_eq!(rc, 2);
    assert!(
        err.contains(
            "no built-in hardware 'tpu' (built in: eyeriss, eyeriss-isscc16, tangram, tetris)"
        ),
        "{err}"
    );

    // A file of that name in the working directory wins over the preset.
    let (_, mine, _) = run(&["hw", "show", "eyeriss"]);
    std::fs::write(
        dir.join("tetris"),
        mine.replace("name: eyeriss", "name: mine"),
    )
    .unwrap();
    let o = bin()
        .current_dir(&dir)
        .args(["mlp_s", "--hw", "tetris", "-q"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&o.stdout).starts_with("mlp_s on mine (tetris)"));

    let (rc, _, err) = run(&["mlp_s", "--hw", "tetrs"]);
    assert_eq!(rc, 2);
    assert!(err.contains("tetrs: no such file, and not a built-in hardware (eyeriss, eyeriss-isscc16, tangram, tetris)"), "{err}");
}

//! The schedule file as a contract: every schedule the search writes
//! validates against schemas/schedule.schema.json, `nnsched evaluate`
//! recomputes exactly its totals, and edits into invalid schedules are
//! rejected with the layer and the reason.

mod common;

use common::{bin, fixture_path, run_reference_raw, scratch};
use serde_json::Value;

const RUNS: [&str; 12] = [
    "P01_alexnet_eyeriss_b16",
    "P02_alexnet_eyeriss_b16_solve",
    "P03_mlp_m_eyeriss_b64",
    "P04_alexnet_tetris16_hybrid",
    "P05_alexnet_t16_interlayer",
    "P06_alexnet_t16_hybrid_exhaustive",
    "P07_mlp_l_t16_interlayer_fwd",
    "P08_vgg_net_t16_solve",
    "P09_lstm_phoneme_eyeriss_b4_solve",
    "P10_lstm_phoneme_2x2_interlayer_savewb",
    "P11_mlp_s_2x2_gbufshr_ifmaps",
    "P12_alexnet_2x2_fwd_dram_bus_ed",
];

fn validator() -> jsonschema::Validator {
    let text = std::fs::read_to_string(fixture_path("../../schemas/schedule.schema.json")).unwrap();
    jsonschema::validator_for(&serde_json::from_str(&text).unwrap()).unwrap()
}

fn evaluate(path: &std::path::Path, extra: &[&str]) -> (i32, String, String) {
    let out = bin()
        .arg("evaluate")
        .arg(path)
        .args(extra)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into(),
        String::from_utf8_lossy(&out.stderr).into(),
    )
}

fn write(name: &str, extra: &[&str]) -> (std::path::PathBuf, Value) {
    let (out, path) = run_reference_raw(name, extra, "json");
    assert!(
        out.status.success(),
        "{name}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    (path, v)
}

/// Each reference configuration, as nn_dataflow searches it (its hop
/// memo) and with the default frontier search (exact hops, recomputed by
/// evaluate): the written schedule validates and evaluates to the same
/// totals and layer costs.
#[test]
fn schedules_validate_and_round_trip() {
    let schema = validator();
    for name in RUNS {
        for extra in [&[][..], &["--search", "frontier"][..]] {
            let (path, written) = write(name, extra);
            let errors: Vec<String> = schema
                .iter_errors(&written)
                .map(|e| format!("{} at {}", e, e.instance_path()))
                .collect();
            assert!(errors.is_empty(), "{name}: {errors:?}");
            // The schema is strict: an unknown key or a missing one fails.
            let mut extra = written.clone();
            extra["layers"][0]["colour"] = "red".into();
            assert!(!schema.is_valid(&extra), "{name}: an unknown key validates");
            let mut missing = written.clone();
            missing["totals"].as_object_mut().unwrap().remove("cost");
            assert!(
                !schema.is_valid(&missing),
                "{name}: a missing key validates"
            );
            let (rc, out, err) = evaluate(&path, &["--format", "json"]);
            assert_eq!(rc, 0, "{name} {extra:?}: {err}");
            let again: Value = serde_json::from_str(&out).unwrap();
            assert_eq!(again["totals"], written["totals"], "{name} {extra:?}");
            assert_eq!(again["segments"], written["segments"], "{name} {extra:?}");
            for (a, w) in again["layers"]
                .as_array()
                .unwrap()
                .iter()
                .zip(written["layers"].as_array().unwrap())
            {
                assert_eq!(a["cost"], w["cost"], "{name} {extra:?} {}", w["name"]);
                assert_eq!(
                    a["unit_nhops"], w["unit_nhops"],
                    "{name} {extra:?} {}",
                    w["name"]
                );
            }
        }
    }
}

/// A YAML schedule evaluates like its JSON twin, and the table says the
/// totals agree.
#[test]
fn yaml_schedule_evaluates() {
    let (out, path) = run_reference_raw("P10_lstm_phoneme_2x2_interlayer_savewb", &[], "yaml");
    assert!(out.status.success());
    let (rc, table, err) = evaluate(&path, &[]);
    assert_eq!(rc, 0, "{err}");
    assert!(table.contains("equal to the file's"), "{table}");
}

/// Fields `evaluate` recomputes are never taken from the file: an
/// edited cost, buffer or loop count is named, the total is not called
/// equal; an edited decision is costed and its changed costs named.
#[test]
fn edited_recomputed_fields_are_named() {
    let (path, base) = write("P04_alexnet_tetris16_hybrid", &[]);
    let (rc, table, err) = evaluate(&path, &[]);
    assert_eq!(rc, 0, "{err}");
    assert!(table.contains("every field equal to the file's"), "{table}");
    assert!(err.is_empty(), "{err}");
    let dir = scratch("edited-fields");
    type Edit = (&'static str, fn(&mut Value), &'static str);
    let cases: [Edit; 4] = [
        (
            "cost",
            |v| v["layers"][1]["cost"] = 1.0.into(),
            "'].cost: 1.0 in the file, ",
        ),
        (
            "buffer",
            |v| v["layers"][0]["buffer_words"]["gbuf"]["ifm"] = 1.into(),
            "layers['conv1_a'].buffer_words.gbuf.ifm: 1 in the file, ",
        ),
        (
            "loops",
            |v| v["layers"][0]["mapping"]["loop_counts"]["bat"] = 999.into(),
            "layers['conv1_a'].mapping.loop_counts.bat: 999 in the file, ",
        ),
        (
            "totals",
            |v| v["totals"]["time"] = 7.into(),
            "totals.time: 7 in the file, ",
        ),
    ];
    for (name, edit, want) in cases {
        let mut v = base.clone();
        edit(&mut v);
        let p = dir.join(format!("{name}.json"));
        std::fs::write(&p, serde_json::to_string(&v).unwrap()).unwrap();
        let (rc, table, err) = evaluate(&p, &[]);
        assert_eq!(rc, 0, "{name}: {err}");
        assert!(
            err.contains("recomputed fields differ from the file's") && err.contains(want),
            "{name}: {err}"
        );
        assert_eq!(err.trim_end().lines().count(), 1, "{err}");
        assert!(!table.contains("equal to the file's"), "{name}: {table}");
    }
}

/// Edits that break a schedule, each rejected with the layer and reason.
#[test]
fn invalid_edits_are_rejected() {
    let (_, base) = write("P04_alexnet_tetris16_hybrid", &[]);
    let dir = scratch("edits");
    type Edit = (&'static str, fn(&mut Value), &'static str);
    let cases: [Edit; 9] = [
        (
            "schema",
            |v| v["schema"] = "nnsched-schedule/9".into(),
            "unsupported schema 'nnsched-schedule/9'",
        ),
        (
            "unknown layer",
            |v| v["layers"][0]["name"] = "conv9".into(),
            "layer 'conv9' is not in network 'alex_net'",
        ),
        (
            "factor does not divide",
            |v| v["layers"][0]["blocking"]["factors"]["dram"]["bat"] = 3.into(),
            "layer 'conv1_a': blocking factors of loop bat multiply to",
        ),
        (
            "register file overflow",
            |v| {
                let f = &mut v["layers"][2]["blocking"]["factors"];
                for lp in ["ifm", "ofm", "bat"] {
                    let total: u64 = ["dram", "gbuf", "regf"]
                        .iter()
                        .map(|l| f[l][lp].as_u64().unwrap())
                        .product();
                    f["dram"][lp] = 1.into();
                    f["gbuf"][lp] = 1.into();
                    f["regf"][lp] = total.into();
                }
            },
            "layer 'conv2_a': the register file overflows: the blocking needs",
        ),
        (
            "global buffer overflow",
            |v| {
                let f = &mut v["layers"][2]["blocking"]["factors"];
                for lp in ["ifm", "ofm", "bat"] {
                    let total: u64 = ["dram", "gbuf"]
                        .iter()
                        .map(|l| f[l][lp].as_u64().unwrap())
                        .product();
                    f["dram"][lp] = 1.into();
                    f["gbuf"][lp] = total.into();
                }
            },
            "layer 'conv2_a': the global buffer overflows: the blocking needs",
        ),
        (
            "partition larger than the grid",
            |v| v["layers"][0]["partition"]["dims"]["outp"] = serde_json::json!([8, 8]),
            "layer 'conv1_a': partition spans",
        ),
        (
            "region off the chip",
            |v| v["layers"][0]["placement"]["proc"]["origin"] = serde_json::json!([3, 3]),
            "layer 'conv1_a': processing region 4x4 at (3, 3) is not within the 4x4 node grid",
        ),
        (
            "mapping",
            |v| v["layers"][0]["mapping"]["replicated_ifms"] = 99.into(),
            "layer 'conv1_a': no row-stationary mapping replicates 99 input",
        ),
        (
            "segment order",
            |v| v["layers"][1]["segment"] = 7.into(),
            "layer 'pool1_a': segment position 7:0.0 cannot follow 0:0.0",
        ),
    ];
    for (what, edit, want) in cases {
        let mut v = base.clone();
        edit(&mut v);
        let p = dir.join(format!("{}.json", what.replace(' ', "_")));
        std::fs::write(&p, serde_json::to_string(&v).unwrap()).unwrap();
        let (rc, _, err) = evaluate(&p, &[]);
        assert_eq!(rc, 2, "{what}: {err}");
        assert!(err.contains(want), "{what}: got '{err}', want '{want}'");
        assert_eq!(err.trim_end().lines().count(), 1, "{what}: one line: {err}");
    }
}

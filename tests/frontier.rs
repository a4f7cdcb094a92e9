//! The frontier search (the default) against nn_dataflow's beam with the
//! same exact NoC hops: never a worse schedule by the goal's key, a better
//! one where the beam's greedy choices cost, and the same schedule for any
//! thread count.

mod common;

use common::{f, run_reference};
use serde_json::Value;

/// The goal's sort key of a schedule, smaller better (`Goal::key`).
fn key(s: &Value) -> (f64, f64) {
    let (cost, time) = (f(&s["totals"]["cost"]), f(&s["totals"]["time"]));
    match s["options"]["goal"].as_str().unwrap() {
        "e" => (cost, time),
        "d" => (time, cost),
        "ed" => (cost * time, 0.0),
        g => panic!("goal {g}"),
    }
}

/// Every reference configuration with inter-layer pipelining or several
/// goals: the frontier search's schedule is at most the beam's, and
/// strictly cheaper on P05, where trying every segment constraint pays.
#[test]
fn never_worse_than_the_beam() {
    for name in [
        "P04_alexnet_tetris16_hybrid",
        "P05_alexnet_t16_interlayer",
        "P07_mlp_l_t16_interlayer_fwd",
        "P10_lstm_phoneme_2x2_interlayer_savewb",
        "P11_mlp_s_2x2_gbufshr_ifmaps",
        "P12_alexnet_2x2_fwd_dram_bus_ed",
    ] {
        let beam = run_reference(name, &["--search", "beam"]);
        let frontier = run_reference(name, &["--search", "frontier"]);
        assert_eq!(frontier["options"]["search"], "frontier");
        assert_eq!(frontier["options"]["noc_hops"], "exact");
        let (b, fr) = (key(&beam), key(&frontier));
        assert!(fr <= b, "{name}: frontier {fr:?} vs beam {b:?}");
        assert_eq!(beam["totals"]["ops"], frontier["totals"]["ops"], "{name}");
        if name.starts_with("P05") {
            assert!(fr.0 < b.0, "{name}: frontier {fr:?} vs beam {b:?}");
        }
    }
}

/// The frontier search keeps its prefixes in a deterministic order: one,
/// two or eight threads write the same schedule.
#[test]
fn frontier_same_schedule_for_any_thread_count() {
    let name = "P05_alexnet_t16_interlayer";
    let run = |j| run_reference(name, &["--search", "frontier", "-j", j]);
    let one = run("1");
    assert_eq!(one, run("2"));
    assert_eq!(one, run("8"));
}

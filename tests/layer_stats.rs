//! Every layer of every built-in network against nn_dataflow's layer
//! statistics (batch 1, 16-bit words), copied into tests/fixtures.

use nnsched::network::zoo;
use nnsched::stats::layer_stats;

/// Python's `'{:.2f}'`: round half to even on the exact binary value, which
/// is what Rust's formatter does too.
fn f2(v: f64) -> String {
    format!("{v:.2}")
}

#[test]
fn builtin_networks_match_nn_dataflow_layer_stats() {
    for name in zoo::NAMES {
        let path = format!(
            "{}/tests/fixtures/layer_stats/{name}.txt",
            env!("CARGO_MANIFEST_DIR")
        );
        let text = std::fs::read_to_string(&path).unwrap();
        let net = zoo::get(name).unwrap();
        let stats = layer_stats(&net, 1, 16).unwrap();
        let rows: Vec<Vec<&str>> = text
            .lines()
            .skip(1)
            .take_while(|l| !l.starts_with("---"))
            .map(|l| l.split(',').map(str::trim).collect())
            .collect();
        assert_eq!(rows.len(), stats.len(), "{name}: layer count");
        for (row, s) in rows.iter().zip(&stats) {
            let kb = |b: u64| f2(b as f64 / 1024.0);
            let got = [
                s.name.clone(),
                kb(s.ifmap_bytes),
                kb(s.ofmap_bytes),
                kb(s.weight_bytes),
                f2(s.macs as f64 / 1048576.0),
                f2(s.min_opt_buf_bytes / 1024.0),
            ];
            assert_eq!(row, &got, "{name}");
        }
        let last = text.lines().last().unwrap();
        let convs = net
            .layers()
            .iter()
            .filter(|l| l.layer.type_name() == "conv")
            .count();
        let fcs = net
            .layers()
            .iter()
            .filter(|l| l.layer.type_name() == "fc")
            .count();
        assert_eq!(
            last,
            format!("# CONV layers = {convs}, # FC layers = {fcs}"),
            "{name}"
        );
    }
}

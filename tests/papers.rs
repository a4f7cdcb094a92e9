//! nn_dataflow's reproductions of published results, on the shipped
//! hardware files: Eyeriss ISCA'16 Fig. 10 and Eyeriss ISSCC'16 / JSSC'17.

mod common;

use common::{bin, f, fixture_path, scratch};
use serde_json::Value;

fn schedule(hw: &str, args: &[&str]) -> Value {
    schedule_on(&fixture_path("../../hw").join(hw), args)
}

fn schedule_on(hw: &std::path::Path, args: &[&str]) -> Value {
    let out = bin()
        .arg("alex_net")
        .arg("--hw")
        .arg(hw)
        .args(args)
        .args(["-q", "--format", "json"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// Sums of a per-layer quantity over the two towers of an AlexNet layer.
fn towers(s: &Value, layer: &str, get: impl Fn(&Value) -> f64) -> f64 {
    s["layers"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|l| l["name"].as_str().unwrap().starts_with(layer))
        .map(get)
        .sum()
}

#[test]
fn eyeriss_isca16_energy_breakdown() {
    // As in nn_dataflow's test: exhaustive blocking, nothing bypasses.
    let s = schedule(
        "eyeriss.yaml",
        &["--batch", "16", "--disable-bypass", "i", "o", "f"],
    );
    let refs = [
        ("conv1", [1.69, 2.46, 6.75]),
        ("conv2", [3.58, 2.27, 14.33]),
        ("conv3", [2.39, 2.02, 9.57]),
        ("conv4", [1.79, 1.57, 7.18]),
        ("conv5", [1.20, 1.05, 4.78]),
        ("fc1", [0.60, 7.78, 2.42]),
        ("fc2", [0.27, 3.39, 1.07]),
        ("fc3", [0.07, 0.84, 0.26]),
    ];
    // The whole schedule equals nn_dataflow's for this setup (its library
    // run of the same test: total cost, time and accesses).
    assert_eq!(f(&s["totals"]["cost"]), 83740489472.0);
    assert_eq!(s["totals"]["time"], 70287104);
    let acc = &s["totals"]["accesses"];
    assert_eq!(
        [&acc["dram"], &acc["gbuf"], &acc["itcn"], &acc["regf"]].map(f),
        [117231488.0, 133877632.0, 733920768.0, 46414940672.0]
    );
    let e = &s["hardware"]["energy"];
    for (layer, [alu, dram, regf]) in refs {
        let got = [
            towers(&s, layer, |l| f(&l["cost_breakdown"]["op"])),
            towers(&s, layer, |l| f(&l["accesses"]["dram"]) * f(&e["dram"])),
            towers(&s, layer, |l| f(&l["accesses"]["regf"]) * f(&e["regf"])),
        ];
        for (g, r) in got.iter().zip([alu, dram, regf]) {
            assert!(
                (g / 1e9 - r).abs() < 0.1,
                "{layer}: {got:?} vs {:?}",
                [alu, dram, regf]
            );
        }
    }
}

#[test]
fn eyeriss_isscc16_power_latency_active_pes() {
    let s = schedule(
        "eyeriss-isscc16.yaml",
        &["--batch", "4", "--disable-bypass", "i", "o", "f"],
    );
    let dram_pj = f(&s["hardware"]["energy"]["dram"]);
    let refs = [
        ("conv1", 332.0, 16.5, 151.0),
        ("conv2", 288.0, 39.2, 135.0),
        ("conv3", 266.0, 21.8, 156.0),
        ("conv4", 235.0, 16.0, 156.0),
        ("conv5", 236.0, 10.0, 156.0),
    ];
    for (layer, power_mw, latency_ms, pes) in refs {
        let onchip_pj = towers(&s, layer, |l| {
            f(&l["cost"]) - f(&l["accesses"]["dram"]) * dram_pj
        });
        let cycles = towers(&s, layer, |l| f(&l["time"]));
        let ops = towers(&s, layer, |l| f(&l["ops"]));
        let power = onchip_pj * 1e-12 / (cycles / 200e6) * 1e3;
        let latency = cycles / 200e3;
        assert!(
            0.6 * power_mw < power && power < power_mw,
            "{layer}: {power} mW"
        );
        assert!(
            0.8 * latency_ms < latency && latency < latency_ms,
            "{layer}: {latency} ms"
        );
        assert!(
            ((ops / cycles).floor() - pes).abs() < 0.1,
            "{layer}: {} PEs",
            ops / cycles
        );
    }
}

/// TETRIS ASPLOS'17 Fig. 8: 16 small nodes with 3D memory (T-16, with
/// bypass, the solver and hybrid partitioning) against one large node (L-1,
/// 16x16 PEs, 576 kB buffer, 1 kB register files): about 13x faster and
/// over a quarter less energy.
#[test]
fn tetris_asplos17_t16_beats_l1() {
    let l1_yaml = "name: L-1
word_bits: 16
nodes: [1, 1]
pe_array: [16, 16]
regf_bytes: 1024
gbuf_bytes: 576056
memory: 2d
array_bus_bits: 0
dram_bandwidth: inf
energy: {mac: 2, dram: 240, gbuf: 28, itcn: 4, regf: 1, noc_hop: 0, idle: 320}
";
    let l1_path = scratch("asplos17").join("l1.yaml");
    std::fs::write(&l1_path, l1_yaml).unwrap();
    let l1 = schedule_on(
        &l1_path,
        &["--batch", "16", "--disable-bypass", "i", "o", "f"],
    );
    let t16 = schedule(
        "tetris.yaml",
        &[
            "--batch",
            "16",
            "--solve-loopblocking",
            "--hybrid-partition",
        ],
    );
    let (l1t, t16t) = (&l1["totals"], &t16["totals"]);
    assert_eq!(l1t["ops"], t16t["ops"]);
    assert!(
        f(&t16t["time"]) < 1.2 * f(&l1t["time"]) * 256.0 / (196.0 * 16.0),
        "time {} vs {}",
        t16t["time"],
        l1t["time"]
    );
    assert!(
        f(&t16t["cost"]) < 0.72 * f(&l1t["cost"]),
        "energy {} vs {}",
        t16t["cost"],
        l1t["cost"]
    );
}

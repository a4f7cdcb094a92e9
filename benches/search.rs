//! Search speed: AlexNet (batch 16) on hw/eyeriss.yaml and hw/tetris.yaml
//! with exhaustive and solved blocking, the exhaustive blocking search of
//! one large layer, and the ONNX ResNet-50 (import, then search),
//! reported as wall time and schemes evaluated per second. A plain harness:
//! `cargo bench`.

use std::time::{Duration, Instant};

use nnsched::hw::Hardware;
use nnsched::network::{Layer, zoo};
use nnsched::partition::PartitionOptions;
use nnsched::placement::Placement;
use nnsched::search::{SearchOptions, run as schedule, search_node};

fn load_hw(name: &str) -> Hardware {
    Hardware::load(
        &std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("hw")
            .join(name),
    )
    .unwrap()
}

fn cfg(batch: u64, solve: bool) -> SearchOptions {
    SearchOptions {
        solve_loopblocking: solve,
        ..SearchOptions::new(batch)
    }
}

/// Runs `f` until a second has passed (at least 3 times); the best time.
fn bench(name: &str, mut f: impl FnMut() -> u64) {
    let mut best = Duration::MAX;
    let mut schemes = 0;
    let start = Instant::now();
    let mut runs = 0;
    while runs < 3 || start.elapsed() < Duration::from_secs(1) {
        let t = Instant::now();
        schemes = f();
        best = best.min(t.elapsed());
        runs += 1;
    }
    let s = best.as_secs_f64();
    println!(
        "{name:<40} {:>9.2} ms  {schemes:>9} schemes  {:>12.0} schemes/s  ({runs} runs)",
        s * 1e3,
        schemes as f64 / s
    );
}

/// Exhaustive blocking search of one layer on one node.
fn one_layer(layer: &Layer, hw: &Hardware) -> u64 {
    let part = nnsched::partition::PartitionScheme::single();
    search_node(
        layer,
        &part,
        &Placement::whole_chip(hw),
        hw,
        &cfg(16, false),
        &Default::default(),
    )
    .evaluated
}

fn main() {
    let hw = load_hw("eyeriss.yaml");
    let net = zoo::get("alex_net").unwrap();
    bench("alex_net b16 eyeriss exhaustive", || {
        schedule(&net, &hw, &cfg(16, false), None)
            .unwrap()
            .schemes_evaluated
    });
    bench("alex_net b16 eyeriss solver", || {
        schedule(&net, &hw, &cfg(16, true), None)
            .unwrap()
            .schemes_evaluated
    });
    let fc2 = Layer::fc(4096, 4096, (1, 1)).unwrap();
    bench("fc2 4096x4096 b16 exhaustive (layer)", || {
        one_layer(&fc2, &hw)
    });
    let conv3 = Layer::conv(256, 192, (13, 13), (3, 3), (1, 1)).unwrap();
    bench("conv3 256->192 13x13 b16 exhaustive (layer)", || {
        one_layer(&conv3, &hw)
    });

    // TETRIS: AlexNet on 4x4 nodes with hybrid partitioning.
    let tetris = load_hw("tetris.yaml");
    let hybrid = |solve| SearchOptions {
        partition: PartitionOptions {
            hybrid: true,
            batch: false,
            ifmaps: false,
        },
        ..cfg(16, solve)
    };
    bench("alex_net b16 tetris hybrid solver", || {
        schedule(&net, &tetris, &hybrid(true), None)
            .unwrap()
            .schemes_evaluated
    });
    bench("alex_net b16 tetris hybrid exhaustive", || {
        schedule(&net, &tetris, &hybrid(false), None)
            .unwrap()
            .schemes_evaluated
    });

    #[cfg(feature = "onnx")]
    {
        use nnsched::onnx::{ImportOptions, import};
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("models/resnet50.onnx");
        // The "schemes" column counts the layers imported here.
        bench("resnet50.onnx import", || {
            import(&path, &ImportOptions::default())
                .unwrap()
                .network
                .len() as u64
        });
        let resnet = import(&path, &ImportOptions::default()).unwrap().network;
        bench("resnet50.onnx b16 tetris hybrid solver", || {
            schedule(&resnet, &tetris, &hybrid(true), None)
                .unwrap()
                .schemes_evaluated
        });
    }
}

//! Search speed: AlexNet (batch 16) on hw/eyeriss.yaml and hw/tetris.yaml
//! with exhaustive and solved blocking, the exhaustive blocking search of
//! one large layer, the ONNX ResNet-50 (import, then search), the import of
//! chains of 10,000 to 100,000 ONNX nodes, and BERT-base
//! (sequence 128) and ViT-B/16 on hw/tangram.yaml with hybrid partitioning,
//! inter-layer pipelining and the solver, reported as wall time and schemes
//! evaluated per second, and a 200-point sweep of ResNet-50 over TETRIS
//! variants, all as nn_dataflow searches (`--nn-dataflow`); and the
//! full-option TANGRAM searches of AlexNet (batch 64) and ResNet-50 (batch
//! 16) with the beam and the frontier search. A plain harness: `cargo
//! bench`, or `cargo bench -- NAME` for the benchmarks whose name contains
//! NAME. Each line gives the best wall time, the blocking schemes costed,
//! and the peak resident memory of the process during the runs (Linux).

use std::time::{Duration, Instant};

use nnsched::network::{Layer, Network, zoo};
use nnsched::search::InterlayerSearch;
use nnsched::{Hardware, Progress, SearchOptions, load_hardware, schedule_with_progress};

/// The allocator the `nnsched` command runs with.
#[cfg(feature = "cli")]
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn opts(batch: u64, solve: bool) -> SearchOptions {
    let mut o = SearchOptions {
        solve_loopblocking: solve,
        ..SearchOptions::new(batch)
    };
    o.set_nn_dataflow(true);
    o
}

/// TANGRAM's every option: hybrid, batch and input partitioning, buffer
/// sharing, spatial and temporal pipelining.
fn tangram_full(batch: u64, search: InterlayerSearch) -> SearchOptions {
    let mut o = SearchOptions::new(batch);
    o.partition = nnsched::search::PartitionOptions {
        hybrid: true,
        batch: true,
        ifmaps: true,
    };
    o.gbuf_sharing = true;
    o.pipeline.interlayer = true;
    o.pipeline.save_writeback = true;
    o.interlayer_search = search;
    o
}

/// The process's peak resident memory in MB since `reset_peak`, where
/// Linux tells it.
fn peak_mb() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024)
}

fn reset_peak() {
    // Linux: writing 5 resets VmHWM to the current resident size.
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

/// An ONNX model of `n` nodes: 3x3 convs, each followed by a ReLU.
#[cfg(feature = "onnx")]
fn chain_model(n: usize) -> Vec<u8> {
    use prost::Message;
    use tract_onnx::pb::tensor_shape_proto::{Dimension, dimension};
    use tract_onnx::pb::*;
    let dims = [1i64, 4, 8, 8];
    let input = ValueInfoProto {
        name: "x".into(),
        r#type: Some(TypeProto {
            value: Some(type_proto::Value::TensorType(type_proto::Tensor {
                elem_type: tensor_proto::DataType::Float as i32,
                shape: Some(TensorShapeProto {
                    dim: dims
                        .iter()
                        .map(|&d| Dimension {
                            value: Some(dimension::Value::DimValue(d)),
                            ..Default::default()
                        })
                        .collect(),
                }),
            })),
            ..Default::default()
        }),
        ..Default::default()
    };
    let w = TensorProto {
        name: "w".into(),
        dims: vec![4, 4, 3, 3],
        data_type: tensor_proto::DataType::Float as i32,
        float_data: vec![0.0; 144],
        ..Default::default()
    };
    let pads = AttributeProto {
        name: "pads".into(),
        r#type: attribute_proto::AttributeType::Ints as i32,
        ints: vec![1, 1, 1, 1],
        ..Default::default()
    };
    let node =
        |op: &str, name: String, inputs: Vec<String>, attrs: Vec<AttributeProto>| NodeProto {
            name: name.clone(),
            op_type: op.into(),
            input: inputs,
            output: vec![name],
            attribute: attrs,
            ..Default::default()
        };
    let mut nodes = Vec::new();
    let mut last = "x".to_string();
    for i in 0..n / 2 {
        let (c, r) = (format!("c{i}"), format!("r{i}"));
        nodes.push(node(
            "Conv",
            c.clone(),
            vec![last, "w".into()],
            vec![pads.clone()],
        ));
        nodes.push(node("Relu", r.clone(), vec![c], vec![]));
        last = r;
    }
    ModelProto {
        ir_version: 8,
        opset_import: vec![OperatorSetIdProto {
            domain: String::new(),
            version: 17,
        }],
        graph: Some(GraphProto {
            name: "chain".into(),
            node: nodes,
            initializer: vec![w],
            input: vec![input],
            output: vec![ValueInfoProto {
                name: last,
                ..Default::default()
            }],
            ..Default::default()
        }),
        ..Default::default()
    }
    .encode_to_vec()
}

/// Schedules and returns the blocking schemes costed.
fn search(net: &Network, hw: &Hardware, o: &SearchOptions) -> u64 {
    let p = Progress::default();
    schedule_with_progress(net, hw, o, Some(&p)).unwrap();
    p.schemes_evaluated.into_inner()
}

/// Runs `f` until a second has passed (at least 3 times, or twice for
/// runs of over 10 s, once for runs of over 30 s); the best time.
/// Skipped unless its name contains the command line's filter, if any.
fn bench(name: &str, mut f: impl FnMut() -> u64) {
    let filter = std::env::args().skip(1).find(|a| !a.starts_with("--"));
    if filter.is_some_and(|f| !name.contains(&f)) {
        return;
    }
    let mut best = Duration::MAX;
    let mut schemes = 0;
    let start = Instant::now();
    let mut runs = 0;
    reset_peak();
    let wanted = |best: Duration| match best.as_secs() {
        0..10 => 3,
        10..30 => 2,
        _ => 1,
    };
    while runs < wanted(best) || start.elapsed() < Duration::from_secs(1) {
        let t = Instant::now();
        schemes = f();
        best = best.min(t.elapsed());
        runs += 1;
    }
    let s = best.as_secs_f64();
    let peak = peak_mb().map_or("?".into(), |m| m.to_string());
    println!(
        "{name:<48} {:>10.2} ms  {schemes:>9} schemes  {:>11.0} schemes/s  {peak:>5} MB peak  ({runs} runs)",
        s * 1e3,
        schemes as f64 / s
    );
}

fn main() {
    let hw = load_hardware("eyeriss").unwrap();
    let net = zoo::get("alex_net").unwrap();
    bench("alex_net b16 eyeriss exhaustive", || {
        search(&net, &hw, &opts(16, false))
    });
    bench("alex_net b16 eyeriss solver", || {
        search(&net, &hw, &opts(16, true))
    });
    let fc2 = Network::single_layer("fc2", Layer::fc(4096, 4096, (1, 1)).unwrap());
    bench("fc2 4096x4096 b16 exhaustive (layer)", || {
        search(&fc2, &hw, &opts(16, false))
    });
    let conv3 = Network::single_layer(
        "conv3",
        Layer::conv(256, 192, (13, 13), (3, 3), (1, 1)).unwrap(),
    );
    bench("conv3 256->192 13x13 b16 exhaustive (layer)", || {
        search(&conv3, &hw, &opts(16, false))
    });

    // TANGRAM (16x16 nodes) with every option: the speed targets.
    let tangram = load_hardware("tangram").unwrap();
    let resnet50 = zoo::get("resnet50").unwrap();
    for (kind, name) in [
        (InterlayerSearch::Beam, "beam"),
        (InterlayerSearch::Frontier, "frontier"),
    ] {
        bench(&format!("alex_net b64 tangram full {name}"), || {
            search(&net, &tangram, &tangram_full(64, kind))
        });
        bench(&format!("resnet50 b16 tangram full {name}"), || {
            search(&resnet50, &tangram, &tangram_full(16, kind))
        });
    }

    // TETRIS: AlexNet on 4x4 nodes with hybrid partitioning.
    let tetris = load_hardware("tetris").unwrap();
    let hybrid = |solve| {
        let mut o = opts(16, solve);
        o.partition.hybrid = true;
        o
    };
    bench("alex_net b16 tetris hybrid solver", || {
        search(&net, &tetris, &hybrid(true))
    });
    bench("alex_net b16 tetris hybrid exhaustive", || {
        search(&net, &tetris, &hybrid(false))
    });

    #[cfg(feature = "onnx")]
    {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/models/resnet50.onnx");
        // The "schemes" column counts the layers imported here.
        bench("resnet50.onnx import", || {
            nnsched::load_model(path, &Default::default())
                .unwrap()
                .network
                .len() as u64
        });
        // Chains of 10,000 to 100,000 nodes (half of them convs; the
        // layers counted): import near-linear.
        for n in [10_000, 30_000, 100_000] {
            let bytes = chain_model(n);
            bench(&format!("{n}-node chain .onnx import"), || {
                nnsched::onnx::import_bytes(&bytes, "chain.onnx", &Default::default())
                    .unwrap()
                    .network
                    .len() as u64
            });
        }
        let resnet = nnsched::load_model(path, &Default::default())
            .unwrap()
            .network;
        bench("resnet50.onnx b16 tetris hybrid solver", || {
            search(&resnet, &tetris, &hybrid(true))
        });

        // A 200-point sweep of ResNet-50 (batch 16, hybrid partitioning,
        // the solver) over TETRIS variants: 5 buffers x 4 arrays x 5
        // register files x 2 DRAM energies.
        let dir = std::env::temp_dir().join(format!("nnsched-bench-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let spec = nnsched::sweep::Spec::parse(
            &format!(
                "hardware: tetris\nmodels: [{path}]\nbatch: [16]\naxes:\n  \
                 gbuf_bytes: {{from: 32768, to: 524288, times: 2}}\n  \
                 pe_array: [[8, 8], [12, 14], [14, 14], [16, 16]]\n  \
                 regf_bytes: [256, 384, 512, 768, 1024]\n  energy.dram: [100, 200]\n\
                 options:\n  solver: {{hybrid_partition: true, solve_loopblocking: true}}\n"
            ),
            &dir,
        )
        .unwrap();
        assert_eq!(spec.points().len(), 200);
        bench("sweep 200 points resnet50.onnx b16 tetris", || {
            let out = dir.join("bench.csv");
            let _ = std::fs::remove_file(&out);
            nnsched::sweep::run(&spec, &out, None, &|_, _| {})
                .unwrap()
                .points as u64
        });
        let _ = std::fs::remove_dir_all(&dir);

        // Transformers on TANGRAM (16x16 nodes) with every inter-layer
        // option the issue names.
        let mut full = opts(1, true);
        full.partition.hybrid = true;
        full.pipeline.interlayer = true;
        for name in ["bert_base", "vit_b_16"] {
            let path = format!("{}/models/{name}.onnx", env!("CARGO_MANIFEST_DIR"));
            let net = nnsched::load_model(&path, &Default::default())
                .unwrap()
                .network;
            bench(
                &format!("{name}.onnx b1 tangram hybrid interlayer solver"),
                || search(&net, &tangram, &full),
            );
        }
    }
}

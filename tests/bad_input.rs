//! Bad input of every kind: each case exits 2 with one line naming the
//! file, key, node or layer, and never panics.

mod common;

use common::{bin, scratch};
use serde_json::Value;

fn root(rel: &str) -> String {
    format!("{}/{rel}", env!("CARGO_MANIFEST_DIR"))
}

/// An ONNX case: file name, bytes, flags after the file, message.
#[cfg(feature = "onnx")]
type OnnxCase = (&'static str, Vec<u8>, Vec<&'static str>, &'static str);

#[cfg(feature = "onnx")]
fn onnx_cases() -> Vec<OnnxCase> {
    use common::onnx_graph::{Graph, attr_ints};
    let mlp = std::fs::read(root("models/mlp.onnx")).unwrap();
    let conv = |mut g: Graph, cin: i64, k: i64, attrs| {
        let y = g.conv("/conv1/Conv", "x", cin, k, (3, 3), attrs);
        g.bytes(&[&y])
    };
    let img = || Graph::image(4, 8, 8);
    let mut lrn = img();
    let lrn_y = lrn.node("LRN", "/norm/LRN", &["x"], vec![]);
    let mut huge = img();
    let shape = huge.ints(&[1 << 40, 1 << 40]);
    let big = huge.node("ConstantOfShape", "/big/ConstantOfShape", &[&shape], vec![]);
    let huge_y = huge.node("Add", "/add/Add", &["x", &big], vec![]);
    let mut five = Graph::new(&[Some(1), Some(2), Some(3), Some(4), Some(5)]);
    let five_y = five.node("Relu", "/r/Relu", &["x"], vec![]);
    // Tokens times tokens transposed the other way round: x^T x.
    let mut attn = Graph::new(&[Some(1), Some(4), Some(16)]);
    let t = attn.node(
        "Transpose",
        "/t/Transpose",
        &["x"],
        vec![attr_ints("perm", &[0, 2, 1])],
    );
    let attn_y = attn.node("MatMul", "/attn/MatMul", &[&t, "x"], vec![]);
    vec![
        (
            "truncated.onnx",
            mlp[..mlp.len() / 3].to_vec(),
            vec![],
            "truncated.onnx: not an ONNX model",
        ),
        (
            "garbage.onnx",
            vec![0xff; 64],
            vec![],
            "garbage.onnx: not an ONNX model",
        ),
        (
            "empty.onnx",
            Vec::new(),
            vec![],
            "empty.onnx: the ONNX model has no graph",
        ),
        (
            "lrn.onnx",
            lrn.bytes(&[&lrn_y]),
            vec![],
            "lrn.onnx: node '/norm/LRN' (LRN): unsupported operator (--skip-unsupported passes it through)",
        ),
        (
            "dynamic.onnx",
            conv(Graph::new(&[Some(1), Some(4), None, None]), 4, 4, vec![]),
            vec![],
            "dynamic.onnx: input 'x': dimension 'N' is symbolic; give it a size (set it with --dim NAME=N)",
        ),
        (
            "zero.onnx",
            conv(img(), 4, 0, vec![]),
            vec![],
            "zero.onnx: node '/conv1/Conv' (Conv): output channels must be positive",
        ),
        (
            "dilated.onnx",
            conv(img(), 4, 4, vec![attr_ints("dilations", &[0, 2])]),
            vec![],
            "dilated.onnx: node '/conv1/Conv' (Conv)",
        ),
        (
            "huge_init.onnx",
            conv(Graph::image(1 << 20, 8, 8), 1 << 20, 1 << 20, vec![]),
            vec![],
            "huge_init.onnx: initializer 'w0' declares a tensor of 9895604649984 elements, above the limit of 268435456 (--max-tensor-elements)",
        ),
        (
            "huge_const.onnx",
            huge.bytes(&[&huge_y]),
            vec![],
            "huge_const.onnx: node '/big/ConstantOfShape' (ConstantOfShape) declares a tensor of more than 2^64 elements",
        ),
        (
            "huge_input.onnx",
            conv(Graph::image(3, 100_000, 100_000), 3, 4, vec![]),
            vec![],
            "huge_input.onnx: input 'x' of shape [1, 3, 100000, 100000] is above the limit",
        ),
        (
            "small_limit.onnx",
            conv(img(), 4, 4, vec![]),
            vec!["--max-tensor-elements", "100"],
            "small_limit.onnx: initializer 'w0' declares a tensor of 144 elements, above the limit of 100",
        ),
        (
            "five_dims.onnx",
            five.bytes(&[&five_y]),
            vec![],
            "five_dims.onnx: input 'x' has 5 dimensions; nnsched imports NCHW images, NCL sequences or batch x features vectors",
        ),
        (
            "attention.onnx",
            attn.bytes(&[&attn_y]),
            vec![],
            "attention.onnx: node '/attn/MatMul' (MatMul): reads 1 x 16 rows of 4 values from 16 channels per position; transposed first operands are not modelled",
        ),
    ]
}

/// The hardware cases: (file name, YAML, message).
fn hw_cases(good: &str) -> Vec<(&'static str, String, &'static str)> {
    let edit = |from: &str, to: &str| {
        assert!(good.contains(from), "{from}");
        good.replace(from, to)
    };
    vec![
        (
            "type.yaml",
            edit("nodes: [1, 1]", "nodes: four"),
            "type.yaml: nodes: invalid type: string \"four\", expected an array of length 2",
        ),
        (
            "neg_size.yaml",
            edit("gbuf_bytes: 131072", "gbuf_bytes: -5"),
            "neg_size.yaml: key 'gbuf_bytes'",
        ),
        (
            "zero_rf.yaml",
            edit("regf_bytes: 512", "regf_bytes: 0"),
            "zero_rf.yaml: key 'regf_bytes'",
        ),
        (
            "nan.yaml",
            edit("mac: 1", "mac: .nan"),
            "nan.yaml: key 'energy.mac': must be a finite non-negative number",
        ),
        (
            "neg_energy.yaml",
            edit("dram: 200", "dram: -200"),
            "neg_energy.yaml: key 'energy.dram': must be a finite non-negative number (got -200)",
        ),
        (
            "unknown.yaml",
            format!("{good}color: red\n"),
            "unknown.yaml: unknown key `color`",
        ),
        (
            "zero_grid.yaml",
            edit("nodes: [1, 1]", "nodes: [0, 4]"),
            "zero_grid.yaml: key 'nodes[0]': must be positive (got 0)",
        ),
        (
            "missing.yaml",
            edit("memory: 2d\n", ""),
            "missing.yaml: missing key `memory`",
        ),
        (
            "memory.yaml",
            edit("memory: 2d", "memory: 4d"),
            "memory.yaml: memory: unknown variant `4d`, expected `2d` or `3d`",
        ),
        ("notyaml.yaml", ": : [".to_string(), "notyaml.yaml:"),
        (
            "bandwidth.yaml",
            edit("dram_bandwidth: inf", "dram_bandwidth: -1"),
            "bandwidth.yaml: key 'dram_bandwidth'",
        ),
        (
            "tiny_rf.yaml",
            edit("regf_bytes: 512", "regf_bytes: 4"),
            "layer 'conv1_a': the register file is too small: a PE needs 23 words, it has 2",
        ),
    ]
}

/// A schedule file edited into nonsense: file name, edit, message.
type ScheduleCase = (&'static str, fn(&mut Value), &'static str);

fn schedule_cases() -> Vec<ScheduleCase> {
    vec![
        (
            "schema.json",
            |d| d["schema"] = "other/9".into(),
            "schema.json: unsupported schema 'other/9'",
        ),
        (
            "factors.json",
            |d| d["layers"][0]["blocking"]["factors"]["regf"]["ifm"] = 7.into(),
            "factors.json: layer 'fc1': blocking factors of loop ifm multiply to 7, the mapping has 49 iterations",
        ),
        (
            "fewer.json",
            |d| {
                d["layers"].as_array_mut().unwrap().pop();
            },
            "fewer.json: the schedule has 2 layers, network 'mlp_s' has 3",
        ),
        (
            "partition.json",
            |d| d["layers"][0]["partition"]["dims"]["outp"] = serde_json::json!([4, 4]),
            "partition.json: layer 'fc1': partition spans 4x4 nodes, the processing region has 1x1",
        ),
        (
            "order.json",
            |d| {
                d["layers"][1]["blocking"]["orders"]["gbuf"] =
                    serde_json::json!(["bat", "bat", "ofm"])
            },
            "order.json: layer 'fc2': order 'gbuf' lists bat twice",
        ),
        (
            "types.json",
            |d| d["batch"] = "many".into(),
            "types.json: batch: invalid type: string \"many\", expected u64",
        ),
        (
            "field.json",
            |d| d["layers"][1]["blocking"]["factors"]["dram"]["ifm"] = "x".into(),
            "field.json: layer 'fc2': blocking.factors.dram.ifm: invalid type: string \"x\", expected u64",
        ),
        (
            "extra.json",
            |d| d["layers"][2]["mapping"]["colour"] = "red".into(),
            "extra.json: layer 'fc3': mapping.colour: unknown field `colour`, expected one of",
        ),
    ]
}

#[test]
fn bad_input_table() {
    let dir = scratch("bad-input-table");
    let eyeriss = root("hw/eyeriss.yaml");
    let good = std::fs::read_to_string(&eyeriss).unwrap();
    let path = |name: &str| dir.join(name).to_str().unwrap().to_string();
    // (arguments, expected message)
    let mut cases: Vec<(Vec<String>, String)> = Vec::new();
    let own = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();

    #[cfg(feature = "onnx")]
    for (name, bytes, flags, want) in onnx_cases() {
        std::fs::write(path(name), bytes).unwrap();
        let mut args = own(&["stats", &path(name)]);
        args.extend(flags.iter().map(|s| s.to_string()));
        cases.push((args, want.into()));
    }
    cases.push((
        own(&["stats", "/nonexistent/model.onnx"]),
        "/nonexistent/model.onnx: cannot read the file".into(),
    ));
    for (name, yaml, want) in hw_cases(&good) {
        std::fs::write(path(name), yaml).unwrap();
        cases.push((own(&["alex_net", "--hw", &path(name)]), want.into()));
    }
    std::fs::write(
        path("tiny_gbuf.yaml"),
        good.replace("gbuf_bytes: 131072", "gbuf_bytes: 64"),
    )
    .unwrap();
    cases.push((
        own(&[
            "alex_net",
            "--hw",
            &path("tiny_gbuf.yaml"),
            "--disable-bypass",
            "i",
            "o",
            "f",
        ]),
        "layer 'conv1_a': the global buffer is too small".into(),
    ));
    cases.push((
        own(&["alex_net", "--hw", "/nonexistent/hw.yaml"]),
        "/nonexistent/hw.yaml: cannot read".into(),
    ));
    let flags: [(&[&str], &str); 9] = [
        (&["--batch", "0"], "--batch must be positive"),
        (&["--top", "0"], "--top must be positive"),
        (
            &["--ifmaps-partition"],
            "--ifmaps-partition requires --hybrid-partition",
        ),
        (
            &["--enable-gbuf-sharing", "--solve-loopblocking"],
            "--enable-gbuf-sharing cannot be combined with --solve-loopblocking",
        ),
        (
            &["--enable-gbuf-sharing", "--enable-access-forwarding"],
            "--enable-gbuf-sharing implies access forwarding",
        ),
        (
            &["--enable-save-writeback", "--solve-loopblocking"],
            "--enable-save-writeback cannot be combined with --solve-loopblocking",
        ),
        (
            &["--time-limit=-1"],
            "--time-limit must be a positive number of seconds (got -1)",
        ),
        (
            &["--time-limit", "NaN"],
            "--time-limit must be a positive number of seconds",
        ),
        (
            &["--layer-pipeline-time-overhead=-0.5"],
            "--layer-pipeline-time-overhead must be a non-negative number",
        ),
    ];
    for (f, want) in flags {
        let mut args = own(&["alex_net", "--hw", &eyeriss]);
        args.extend(own(f));
        cases.push((args, want.into()));
    }
    cases.push((
        own(&["lenet", "--hw", &eyeriss]),
        "unknown model 'lenet'; built-in networks: alex_net,".into(),
    ));
    cases.push((own(&["stats", "nope"]), "unknown model 'nope'".into()));

    // Schedule files: a good one, edited.
    let sched = path("good.json");
    let o = bin()
        .args(["mlp_s", "--hw", &eyeriss, "-q", "-o", &sched])
        .output()
        .unwrap();
    assert!(o.status.success());
    let doc: Value = serde_json::from_str(&std::fs::read_to_string(&sched).unwrap()).unwrap();
    for (name, edit, want) in schedule_cases() {
        let mut d = doc.clone();
        edit(&mut d);
        std::fs::write(path(name), serde_json::to_string(&d).unwrap()).unwrap();
        cases.push((own(&["evaluate", &path(name)]), want.into()));
    }
    std::fs::write(path("notjson.json"), "{\"schema\": ").unwrap();
    cases.push((
        own(&["evaluate", &path("notjson.json")]),
        "notjson.json: not JSON".into(),
    ));

    assert!(cases.len() >= 30, "{} cases", cases.len());
    let mut failures = Vec::new();
    for (args, want) in &cases {
        let o = bin().args(args).output().unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        let ok = o.status.code() == Some(2)
            && err.contains(want.as_str())
            && err.trim_end().lines().count() == 1
            && !err.contains("panicked");
        if !ok {
            failures.push(format!(
                "{args:?}\n  exit {:?}, got: {err}  want: {want}",
                o.status.code()
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

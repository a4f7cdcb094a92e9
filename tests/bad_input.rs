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
    // What tract panicked on: a scalar MatMul weight, a Resize to
    // negative sizes, ConvTranspose pads beyond the kernel.
    let mut scalar = Graph::new(&[Some(1), Some(16)]);
    let s = scalar.weight(&[]);
    let scalar_y = scalar.node("MatMul", "/mm/MatMul", &["x", &s], vec![]);
    let mut resize = img();
    let sizes = resize.ints(&[1, 4, -8, 8]);
    let resize_y = resize.node("Resize", "/up/Resize", &["x", "", "", &sizes], vec![]);
    let mut convt = img();
    let w = convt.weight(&[4, 4, 3, 3]);
    let convt_y = convt.node(
        "ConvTranspose",
        "/up/ConvTranspose",
        &["x", &w],
        vec![attr_ints("pads", &[5, 5, 5, 5])],
    );
    // Ill-formed graphs: one tensor written by two nodes, two
    // initializers of one name, a Conv of another domain.
    let mut twice = img();
    let a = twice.node("Relu", "/a/Relu", &["x"], vec![]);
    let mut other = twice.nodes[0].clone();
    other.name = "/b/Relu".into();
    twice.nodes.push(other);
    let mut dup_init = img();
    let dup_y = dup_init.conv("/conv1/Conv", "x", 4, 4, (3, 3), vec![]);
    let first = dup_init.inits[0].clone();
    dup_init.inits.push(first);
    let mut domain = img();
    let domain_y = domain.conv("/conv1/Conv", "x", 4, 4, (3, 3), vec![]);
    domain.nodes[0].domain = "com.example".into();
    // Counts beyond exact at the largest batch.
    let mut big = Graph::image(256, 512, 512);
    let big_y = big.conv("/big/Conv", "x", 256, 256, (3, 3), vec![]);
    vec![
        (
            "scalar_matmul.onnx",
            scalar.bytes(&[&scalar_y]),
            vec![],
            "scalar_matmul.onnx: node '/mm/MatMul' (MatMul): a scalar operand",
        ),
        (
            "resize_negative.onnx",
            resize.bytes(&[&resize_y]),
            vec![],
            "resize_negative.onnx: node '/up/Resize' (Resize): negative output sizes",
        ),
        (
            "convt_pads.onnx",
            convt.bytes(&[&convt_y]),
            vec![],
            "convt_pads.onnx: node '/up/ConvTranspose' (ConvTranspose): pads [5, 5, 5, 5] larger than the kernel's extent",
        ),
        (
            "written_twice.onnx",
            twice.bytes(&[&a]),
            vec![],
            "written_twice.onnx: tensor '/a/Relu:0' is written twice: by node '/a/Relu' (Relu) and by node '/b/Relu' (Relu)",
        ),
        (
            "two_inits.onnx",
            dup_init.bytes(&[&dup_y]),
            vec![],
            "two_inits.onnx: tensor 'w0' is written twice: by initializer 'w0' and by initializer 'w0'",
        ),
        (
            "domain.onnx",
            domain.bytes(&[&domain_y]),
            vec![],
            "domain.onnx: node '/conv1/Conv' (Conv): operator of domain 'com.example', unsupported",
        ),
        (
            "big_batch.onnx",
            big.bytes(&[&big_y]),
            vec!["--batch", "1048576"],
            "layer 'big': its counts at batch 1048576 reach 2^53, beyond exact counting",
        ),
        (
            "dims_twice.onnx",
            conv(Graph::new(&[None, Some(4), Some(8), Some(8)]), 4, 4, vec![]),
            vec!["--dim", "N=2", "--dim", "N=4"],
            "dims_twice.onnx: dimension 'N' is given twice",
        ),
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
            "huge_energy.yaml",
            edit("dram: 200", "dram: 1e308"),
            "huge_energy.yaml: key 'energy.dram': at most 1e6 pJ supported (got 1e308)",
        ),
        (
            "slow_dram.yaml",
            edit("dram_bandwidth: inf", "dram_bandwidth: 1e-300"),
            "slow_dram.yaml: key 'dram_bandwidth': at least 0.001 bytes per cycle supported",
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
            "copied_layer.json",
            |d| d["layers"][2] = d["layers"][0].clone(),
            "copied_layer.json: layer 'fc1' is scheduled twice",
        ),
        (
            "wrapping.json",
            |d| {
                // (2^63 + 1)^2 * 49 is 49 modulo 2^64.
                let f = &mut d["layers"][0]["blocking"]["factors"];
                f["dram"]["ifm"] = 9_223_372_036_854_775_809u64.into();
                f["gbuf"]["ifm"] = 9_223_372_036_854_775_809u64.into();
                f["regf"]["ifm"] = 49.into();
            },
            "wrapping.json: layer 'fc1': blocking factors of loop ifm multiply to more than 2^64, the mapping has 49 iterations",
        ),
        (
            "no_distance.json",
            |d| d["layers"][0]["placement"]["proc"]["dist"] = serde_json::json!([0, 0]),
            "no_distance.json: layer 'fc1': placement.proc: processing nodes must be 1 apart, not [0, 0]",
        ),
        (
            "dram_proc.json",
            |d| d["layers"][0]["placement"]["proc"]["kind"] = "dram".into(),
            "dram_proc.json: layer 'fc1': placement.proc: a region of kind 'dram' cannot process",
        ),
        (
            "shape.json",
            |d| d["layers"][1]["shape"]["nifm"] = 3.into(),
            "shape.json: layer 'fc2': shape: does not match the network's layer",
        ),
        (
            "input_part.json",
            |d| d["input_layout"][0]["end"][1] = 10.into(),
            "input_part.json: input_layout: the pieces hold 10 of the tensor's 784 elements",
        ),
        (
            "ghost_input.json",
            |d| d["ext_layouts"]["ghost"] = d["input_layout"].clone(),
            "ghost_input.json: ext_layouts: network 'mlp_s' has no external input 'ghost'",
        ),
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
        "/nonexistent/model.onnx: No such file or directory (os error 2)".into(),
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
        "/nonexistent/hw.yaml: No such file or directory (os error 2)".into(),
    ));
    let flags: [(&[&str], &str); 14] = [
        (
            &["--time-limit", "1e300"],
            "--time-limit must be at most a year (31536000 s)",
        ),
        (&["-j", "20000"], "--threads must be from 1 to 1024"),
        (&["-j", "0"], "--threads must be from 1 to 1024"),
        (&["--top", "100000"], "--top must be at most 1000"),
        (
            &["--dim", "seq=16"],
            "alex_net: a built-in network has no named dimensions (dimension 'seq' given)",
        ),
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
            "--time-limit must be a positive number of seconds",
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
    for word in ["0", "65", "9223372036854775808"] {
        cases.push((
            own(&["stats", "alex_net", "--word", word]),
            "--word must be 1 to 64 bits".into(),
        ));
    }
    // Readers with limits: a link to an endless device is refused by size.
    let out = path("never.out");
    for (name, args, after) in [
        ("endless.onnx", vec!["stats"], vec![]),
        ("endless.yaml", vec!["alex_net", "--hw"], vec![]),
        ("endless.json", vec!["evaluate"], vec![]),
        ("endless-spec.yaml", vec!["sweep"], vec!["-o", &out]),
        ("endless.csv", vec!["plot"], vec!["-o", &out]),
    ] {
        let p = path(name);
        let _ = std::fs::remove_file(&p);
        std::os::unix::fs::symlink("/dev/zero", &p).unwrap();
        let mut a = own(&args);
        a.push(p.clone());
        a.extend(own(&after));
        cases.push((a, format!("{p}: larger than the")));
    }
    // A schedule file beyond its limit (sparse: nothing is written).
    let huge = path("huge.json");
    std::fs::File::create(&huge)
        .unwrap()
        .set_len(65 << 20)
        .unwrap();
    cases.push((
        own(&["evaluate", &huge]),
        format!("{huge}: larger than the 64 MiB limit for a schedule file"),
    ));

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

//! nn_dataflow's built-in networks, with its layer names and shapes.

use super::{FmapShape, Layer, Network, NetworkBuilder};

/// Names of the built-in networks.
pub const NAMES: [&str; 13] = [
    "alex_net",
    "googlenet",
    "lstm_gnmt",
    "lstm_phoneme",
    "lstm_showtell",
    "mlp_l",
    "mlp_m",
    "mlp_s",
    "resnet152",
    "resnet50",
    "vgg19_net",
    "vgg_net",
    "zfnet",
];

/// The built-in network of this name.
pub fn get(name: &str) -> Option<Network> {
    let net = match name {
        "alex_net" => alex_net(),
        "googlenet" => googlenet(),
        "lstm_gnmt" => lstm_gnmt(),
        "lstm_phoneme" => lstm_phoneme(),
        "lstm_showtell" => lstm_showtell(),
        "mlp_l" => mlp("mlp_l", &[784, 1500, 1000, 500, 10]),
        "mlp_m" => mlp("mlp_m", &[784, 1000, 500, 250, 10]),
        "mlp_s" => mlp("mlp_s", &[784, 500, 250, 10]),
        "resnet152" => resnet("resnet152", [3, 8, 36, 3]),
        "resnet50" => resnet("resnet50", [3, 4, 6, 3]),
        "vgg19_net" => vgg("vgg19_net", &[2, 2, 4, 4, 4]),
        "vgg_net" => vgg("vgg_net", &[2, 2, 3, 3, 3]),
        "zfnet" => zfnet(),
        _ => return None,
    };
    Some(net.build().expect("built-in networks are valid"))
}

fn conv(nifm: u64, nofm: u64, sofm: u64, sfil: u64, strd: u64) -> Layer {
    Layer::conv(nifm, nofm, (sofm, sofm), (sfil, sfil), (strd, strd)).expect("built-in layer")
}
fn fc(nifm: u64, nofm: u64, sfil: u64) -> Layer {
    Layer::fc(nifm, nofm, (sfil, sfil)).expect("built-in layer")
}
fn pool(nofm: u64, sofm: u64, sreg: u64, strd: u64) -> Layer {
    Layer::pool(nofm, (sofm, sofm), (sreg, sreg), (strd, strd)).expect("built-in layer")
}
fn eltwise(nofm: u64, sofm: u64, n: u64) -> Layer {
    Layer::eltwise(nofm, (sofm, sofm), n).expect("built-in layer")
}
fn image(name: &str) -> NetworkBuilder {
    NetworkBuilder::new(
        name,
        FmapShape {
            n: 3,
            h: 224,
            w: 224,
        },
    )
}
fn vector(name: &str, n: u64) -> NetworkBuilder {
    NetworkBuilder::new(name, FmapShape { n, h: 1, w: 1 })
}

fn alex_net() -> NetworkBuilder {
    let mut b = image("alex_net");
    let i = Network::INPUT;
    b.add("conv1_a", conv(3, 48, 55, 11, 4), &[i]);
    b.add("conv1_b", conv(3, 48, 55, 11, 4), &[i]);
    b.add("pool1_a", pool(48, 27, 3, 2), &["conv1_a"]);
    b.add("pool1_b", pool(48, 27, 3, 2), &["conv1_b"]);
    b.add("conv2_a", conv(48, 128, 27, 5, 1), &["pool1_a"]);
    b.add("conv2_b", conv(48, 128, 27, 5, 1), &["pool1_b"]);
    b.add("pool2_a", pool(128, 13, 3, 2), &["conv2_a"]);
    b.add("pool2_b", pool(128, 13, 3, 2), &["conv2_b"]);
    b.add("conv3_a", conv(256, 192, 13, 3, 1), &["pool2_a", "pool2_b"]);
    b.add("conv3_b", conv(256, 192, 13, 3, 1), &["pool2_a", "pool2_b"]);
    b.add("conv4_a", conv(192, 192, 13, 3, 1), &["conv3_a"]);
    b.add("conv4_b", conv(192, 192, 13, 3, 1), &["conv3_b"]);
    b.add("conv5_a", conv(192, 128, 13, 3, 1), &["conv4_a"]);
    b.add("conv5_b", conv(192, 128, 13, 3, 1), &["conv4_b"]);
    b.add("pool3_a", pool(128, 6, 3, 2), &["conv5_a"]);
    b.add("pool3_b", pool(128, 6, 3, 2), &["conv5_b"]);
    b.add("fc1", fc(256, 4096, 6), &["pool3_a", "pool3_b"]);
    b.add("fc2", fc(4096, 4096, 1), &[]);
    b.add("fc3", fc(4096, 1000, 1), &[]);
    b
}

fn zfnet() -> NetworkBuilder {
    let mut b = image("zfnet");
    b.add("conv1", conv(3, 96, 110, 7, 2), &[]);
    b.add("pool1", pool(96, 55, 3, 2), &[]);
    b.add("conv2", conv(96, 256, 26, 5, 2), &[]);
    b.add("pool2", pool(256, 13, 3, 2), &[]);
    b.add("conv3", conv(256, 512, 13, 3, 1), &[]);
    b.add("conv4", conv(512, 1024, 13, 3, 1), &[]);
    b.add("conv5", conv(1024, 512, 13, 3, 1), &[]);
    b.add("pool3", pool(512, 6, 3, 2), &[]);
    b.add("fc1", fc(512, 4096, 6), &[]);
    b.add("fc2", fc(4096, 4096, 1), &[]);
    b.add("fc3", fc(4096, 1000, 1), &[]);
    b
}

/// VGG: `convs[s]` 3x3 convolutions in stage `s`, each stage closed by a
/// 2x2 pooling; layers are numbered across stages.
fn vgg(name: &str, convs: &[u64]) -> NetworkBuilder {
    let mut b = image(name);
    let widths = [64, 128, 256, 512, 512];
    let (mut nifm, mut size, mut idx) = (3, 224, 1);
    for (stage, (&n, &w)) in convs.iter().zip(&widths).enumerate() {
        for _ in 0..n {
            b.add(&format!("conv{idx}"), conv(nifm, w, size, 3, 1), &[]);
            nifm = w;
            idx += 1;
        }
        size /= 2;
        b.add(&format!("pool{}", stage + 1), pool(w, size, 2, 2), &[]);
    }
    b.add("fc1", fc(512, 4096, 7), &[]);
    b.add("fc2", fc(4096, 4096, 1), &[]);
    b.add("fc3", fc(4096, 1000, 1), &[]);
    b
}

fn googlenet() -> NetworkBuilder {
    let mut b = image("googlenet");
    b.add("conv1", conv(3, 64, 112, 7, 2), &[]);
    b.add("pool1", pool(64, 56, 3, 2), &[]);
    b.add("conv2_3x3_reduce", conv(64, 64, 56, 1, 1), &[]);
    b.add("conv2_3x3", conv(64, 192, 56, 3, 1), &[]);
    b.add("pool2", pool(192, 28, 3, 2), &[]);
    // (id, size, in, 1x1, 3x3 reduce, 3x3, 5x5 reduce, 5x5, pool proj)
    type Incp = (&'static str, u64, u64, u64, u64, u64, u64, u64, u64);
    let stages: [&[Incp]; 3] = [
        &[
            ("3a", 28, 192, 64, 96, 128, 16, 32, 32),
            ("3b", 28, 256, 128, 128, 192, 32, 96, 64),
        ],
        &[
            ("4a", 14, 480, 192, 96, 208, 16, 48, 64),
            ("4b", 14, 512, 160, 112, 224, 24, 64, 64),
            ("4c", 14, 512, 128, 128, 256, 24, 64, 64),
            ("4d", 14, 512, 112, 144, 288, 32, 64, 64),
            ("4e", 14, 528, 256, 160, 320, 32, 128, 128),
        ],
        &[
            ("5a", 7, 832, 256, 160, 320, 32, 128, 128),
            ("5b", 7, 832, 384, 192, 384, 48, 128, 128),
        ],
    ];
    let pools = [
        ("pool3", 480, 14, 3, 2),
        ("pool4", 832, 7, 3, 2),
        ("pool5", 1024, 1, 7, 7),
    ];
    let mut prevs: Vec<String> = vec!["pool2".into()];
    for (stage, (incps, &(pname, pn, ps, pr, pt))) in stages.iter().zip(&pools).enumerate() {
        for &(id, s, nin, n1, n3r, n3, n5r, n5, npool) in incps.iter() {
            let p: Vec<&str> = prevs.iter().map(String::as_str).collect();
            let pfx = format!("inception_{id}_");
            b.add(&format!("{pfx}1x1"), conv(nin, n1, s, 1, 1), &p);
            b.add(&format!("{pfx}3x3_reduce"), conv(nin, n3r, s, 1, 1), &p);
            b.add(&format!("{pfx}3x3"), conv(n3r, n3, s, 3, 1), &[]);
            b.add(&format!("{pfx}5x5_reduce"), conv(nin, n5r, s, 1, 1), &p);
            b.add(&format!("{pfx}5x5"), conv(n5r, n5, s, 5, 1), &[]);
            b.add(&format!("{pfx}pool_proj"), conv(nin, npool, s, 1, 1), &p);
            prevs = ["1x1", "3x3", "5x5", "pool_proj"]
                .iter()
                .map(|s| format!("{pfx}{s}"))
                .collect();
        }
        let p: Vec<&str> = prevs.iter().map(String::as_str).collect();
        b.add(pname, pool(pn, ps, pr, pt), &p);
        prevs = vec![pname.to_string()];
        let _ = stage;
    }
    b.add("fc", fc(1024, 1000, 1), &[]);
    b
}

/// ResNet with bottleneck blocks; `blocks[s]` blocks in stage `s`.
fn resnet(name: &str, blocks: [u64; 4]) -> NetworkBuilder {
    let mut b = image(name);
    b.add("conv1", conv(3, 64, 112, 7, 2), &[]);
    b.add("pool1", pool(64, 56, 3, 2), &[]);
    let mut res_prev = "pool1".to_string();
    // (stage number, mid channels, out channels, size, first stride)
    let stages = [
        (2, 64, 256, 56, 1),
        (3, 128, 512, 28, 2),
        (4, 256, 1024, 14, 2),
        (5, 512, 2048, 7, 2),
    ];
    let mut nin = 64;
    for (&(s, mid, out, size, strd), &n) in stages.iter().zip(&blocks) {
        for i in 0..n {
            let (bin, bstrd) = if i == 0 { (nin, strd) } else { (out, 1) };
            b.add(
                &format!("conv{s}_{i}_a"),
                conv(bin, mid, size, 1, bstrd),
                &[],
            );
            b.add(&format!("conv{s}_{i}_b"), conv(mid, mid, size, 3, 1), &[]);
            b.add(&format!("conv{s}_{i}_c"), conv(mid, out, size, 1, 1), &[]);
            if i == 0 {
                let br = format!("conv{s}_br");
                b.add(&br, conv(nin, out, size, 1, strd), &[&res_prev]);
                res_prev = br;
            }
            let res = format!("conv{s}_{i}_res");
            b.add(
                &res,
                eltwise(out, size, 2),
                &[&res_prev, &format!("conv{s}_{i}_c")],
            );
            res_prev = res;
        }
        nin = out;
    }
    b.add("pool5", pool(2048, 1, 7, 7), &[]);
    b.add("fc", fc(2048, 1000, 1), &[]);
    b
}

fn mlp(name: &str, sizes: &[u64]) -> NetworkBuilder {
    let mut b = vector(name, sizes[0]);
    for (i, w) in sizes.windows(2).enumerate() {
        b.add(&format!("fc{}", i + 1), fc(w[0], w[1], 1), &[]);
    }
    b
}

/// Adds one LSTM cell named `name` of width `size` on input `x`, creating
/// external initial states where `c` or `h` is not given. Returns the names
/// of the cell state and hidden outputs.
fn add_lstm_cell(
    b: &mut NetworkBuilder,
    name: &str,
    size: u64,
    x: &str,
    c: Option<&str>,
    h: Option<&str>,
) -> (String, String) {
    let vec1 = FmapShape {
        n: size,
        h: 1,
        w: 1,
    };
    let c = match c {
        Some(c) => c.to_string(),
        None => {
            let c = format!("{name}_cinit");
            b.ext(&c, vec1);
            c
        }
    };
    let h = match h {
        Some(h) => h.to_string(),
        None => {
            let h = format!("{name}_hinit");
            b.ext(&h, vec1);
            h
        }
    };
    let gate = |g: &str| format!("{name}_{g}gate");
    let cand = format!("{name}_cand");
    b.add(&cand, fc(2 * size, size, 1), &[&h, x]);
    for g in ["i", "f", "o"] {
        b.add(&gate(g), fc(2 * size, size, 1), &[&h, x]);
    }
    let cout = format!("{name}_cout");
    let cout_f = format!("{cout}_f");
    let cout_i = format!("{cout}_i");
    b.add(&cout_f, eltwise(size, 1, 2), &[&c, &gate("f")]);
    b.add(&cout_i, eltwise(size, 1, 2), &[&cand, &gate("i")]);
    b.add(&cout, eltwise(size, 1, 2), &[&cout_i, &cout_f]);
    let hout = format!("{name}_hout");
    b.add(&hout, eltwise(size, 1, 2), &[&cout, &gate("o")]);
    (cout, hout)
}

fn lstm_phoneme() -> NetworkBuilder {
    let mut b = vector("lstm_phoneme", 26);
    b.add("We", fc(26, 140, 1), &[Network::INPUT]);
    let (_, h) = add_lstm_cell(&mut b, "cell", 140, "We", None, None);
    b.add("Wd", fc(140, 61, 1), &[&h]);
    b
}

fn lstm_showtell() -> NetworkBuilder {
    let mut b = vector("lstm_showtell", 512);
    let (_, h) = add_lstm_cell(&mut b, "cell", 512, Network::INPUT, None, None);
    b.add("Wd", eltwise(512, 1, 1), &[&h]);
    b
}

fn lstm_gnmt() -> NetworkBuilder {
    let mut b = vector("lstm_gnmt", 1000);
    let mut x = Network::INPUT.to_string();
    for l in 0..4 {
        let (_, h) = add_lstm_cell(&mut b, &format!("cell_l{l}"), 1000, &x, None, None);
        x = h;
    }
    b.add("Wd", eltwise(1000, 1, 1), &[&x]);
    b
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_builtin_builds_with_expected_layer_count() {
        let counts = [19, 63, 33, 10, 9, 4, 4, 3, 208, 72, 24, 21, 11];
        for (name, n) in NAMES.iter().zip(counts) {
            let net = get(name).unwrap();
            assert_eq!(net.len(), n, "{name}");
        }
        assert!(get("lenet").is_none());
    }

    #[test]
    fn lstm_cells_have_external_states() {
        let net = get("lstm_gnmt").unwrap();
        assert_eq!(net.exts().len(), 8);
        assert_eq!(net.exts()[0].name, "cell_l0_cinit");
    }
}

//! Networks: a flat, validated DAG of named layers fed by one input and
//! optional external inputs (such as an LSTM's initial states).
//!
//! Several predecessors of a layer are concatenated along channels in the
//! order given; an eltwise layer combines the `n_inputs` consecutive runs of
//! its output channel count in that concatenation.
//! A predecessor may also give only a range of its channels (a channel
//! split, as in ShuffleNet's units).
//! A `Network` is immutable once built and always valid: every predecessor
//! exists, there is no cycle, and channel counts and map sizes agree.

mod layer;
pub mod zoo;

use std::collections::HashMap;
use std::ops::Range;

pub use layer::{ConvForm, FmapShape, Layer, LayerError, LayerKind, VectorOp};

/// Index of a layer in its network's definition order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LayerId(pub usize);

/// Where a layer's input comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Source {
    /// The network input.
    Input,
    /// The external input with this index.
    Ext(usize),
    /// Another layer's output.
    Layer(LayerId),
}

/// A layer with its name and predecessors.
#[derive(Clone, Debug)]
pub struct NetLayer {
    /// Unique within the network.
    pub name: String,
    /// Its geometry.
    pub layer: Layer,
    /// Where its inputs come from, concatenated along channels in order.
    pub prevs: Vec<Source>,
    /// The channels taken from each predecessor (all of them unless split).
    pub channels: Vec<Range<u64>>,
    /// Producers of the second operand of an activation product, read
    /// whole from memory (empty for every other layer).
    pub operands: Vec<Source>,
    /// Reads its predecessors' maps rearranged (token sequences cut into
    /// windows, a map flattened into tokens, a class token prepended): the
    /// same positions, or fewer with constants filling the rest, in
    /// another height and width.
    pub reshapes: bool,
}

/// A named external input.
#[derive(Clone, Debug)]
pub struct ExtInput {
    /// How layers refer to it.
    pub name: String,
    /// Its maps, per sample.
    pub shape: FmapShape,
}

/// A validated network.
#[derive(Clone, Debug)]
pub struct Network {
    name: String,
    input: FmapShape,
    exts: Vec<ExtInput>,
    layers: Vec<NetLayer>,
    nexts: Vec<Vec<LayerId>>,
}

/// Why a network is invalid; each names the offending layer (`layer`) and,
/// where one is at fault, its predecessor (`prev`).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[allow(missing_docs)]
pub enum NetworkError {
    /// Two layers of one name.
    #[error("layer '{0}' is defined twice")]
    Duplicate(String),
    /// A predecessor that is not declared.
    #[error("layer '{layer}': unknown predecessor '{prev}'")]
    UnknownPrev { layer: String, prev: String },
    /// Layers that depend on each other.
    #[error("layer '{0}' is on a cycle")]
    Cycle(String),
    /// Predecessors that give more or fewer channels than the layer takes.
    #[error("layer '{layer}': predecessors give {got} channels, the layer takes {want}")]
    Channels { layer: String, got: u64, want: u64 },
    /// A predecessor whose maps do not fit the layer's input, even padded.
    #[error(
        "layer '{layer}': predecessor '{prev}' gives {got_h}x{got_w} maps, the layer needs {want_h}x{want_w} (or less by padding)"
    )]
    Size {
        layer: String,
        prev: String,
        got_h: u64,
        got_w: u64,
        want_h: u64,
        want_w: u64,
    },
    /// A channel range beyond its predecessor's channels.
    #[error("layer '{layer}': takes channels {beg}..{end} of '{prev}', which has {have}")]
    Slice {
        layer: String,
        prev: String,
        beg: u64,
        end: u64,
        have: u64,
    },
    /// An activation product without a second operand, or another layer
    /// with one.
    #[error(
        "layer '{0}': only activation products (matmul) take a second operand, and they need one"
    )]
    Operand(String),
    /// An eltwise operand split across a predecessor's channels.
    #[error("layer '{layer}': predecessor '{prev}' gives channels of two of its operands")]
    Straddle { layer: String, prev: String },
    /// No layers at all.
    #[error("network '{0}' has no layers")]
    Empty(String),
}

impl Network {
    /// The name by which layers refer to the network input.
    pub const INPUT: &'static str = "__INPUT__";

    /// A network of one layer named `name`, fed by an input of exactly the
    /// maps it reads (for studying one layer alone).
    pub fn single_layer(name: &str, layer: Layer) -> Network {
        let input = FmapShape {
            n: layer.nifm(),
            h: layer.hifm(),
            w: layer.wifm(),
        };
        let mut b = NetworkBuilder::new(name, input);
        b.add(name, layer, &[]);
        b.build().expect("a layer fits its own input")
    }

    /// Checks that every layer's counts at `batch` (operations, input,
    /// output and weight elements) stay below 2^53, where the schedule's
    /// counts are exact; the error names the first layer that does not.
    pub fn check_batch(&self, batch: u64) -> Result<(), String> {
        const EXACT: u64 = 1 << 53;
        for nl in &self.layers {
            let l = &nl.layer;
            let counts = [
                l.total_ofmap_size().checked_mul(l.ops_per_neuron()),
                Some(l.total_ofmap_size()),
                Some(l.total_ifmap_size()),
            ];
            let over = counts.iter().any(|c| {
                c.and_then(|c| c.checked_mul(batch))
                    .is_none_or(|c| c >= EXACT)
            }) || l.total_filter_size() >= EXACT;
            if over {
                return Err(format!(
                    "layer '{}': its counts at batch {batch} reach 2^53, beyond exact counting; use a smaller batch",
                    nl.name
                ));
            }
        }
        Ok(())
    }

    /// The network's name: a built-in name or the model file.
    pub fn name(&self) -> &str {
        &self.name
    }
    /// The network input's maps, per sample.
    pub fn input(&self) -> FmapShape {
        self.input
    }
    /// External inputs (an LSTM's initial states).
    pub fn exts(&self) -> &[ExtInput] {
        &self.exts
    }
    /// The number of layers.
    pub fn len(&self) -> usize {
        self.layers.len()
    }
    /// Whether there are no layers (never, once built).
    pub fn is_empty(&self) -> bool {
        self.layers.is_empty()
    }
    /// Layers in definition order.
    pub fn layers(&self) -> &[NetLayer] {
        &self.layers
    }
    /// Every layer's id, in definition order.
    pub fn ids(&self) -> impl Iterator<Item = LayerId> + '_ {
        (0..self.layers.len()).map(LayerId)
    }
    /// A layer with its name and predecessors.
    pub fn get(&self, id: LayerId) -> &NetLayer {
        &self.layers[id.0]
    }
    /// A layer's geometry.
    pub fn layer(&self, id: LayerId) -> &Layer {
        &self.layers[id.0].layer
    }
    /// A layer's name.
    pub fn layer_name(&self, id: LayerId) -> &str {
        &self.layers[id.0].name
    }
    /// The layer of this name.
    pub fn find(&self, name: &str) -> Option<LayerId> {
        self.layers.iter().position(|l| l.name == name).map(LayerId)
    }
    /// Where a layer's inputs come from.
    pub fn prevs(&self, id: LayerId) -> &[Source] {
        &self.layers[id.0].prevs
    }
    /// The channel range taken from each predecessor, in `prevs` order.
    pub fn prev_channels(&self, id: LayerId) -> &[Range<u64>] {
        &self.layers[id.0].channels
    }
    /// Producers of a layer's second operand (activation products only).
    pub fn operands(&self, id: LayerId) -> &[Source] {
        &self.layers[id.0].operands
    }
    /// Consumers of a layer's output (as input or second operand), in
    /// definition order.
    pub fn nexts(&self, id: LayerId) -> &[LayerId] {
        &self.nexts[id.0]
    }
    /// Layers fed only by the input and external inputs.
    pub fn firsts(&self) -> Vec<LayerId> {
        self.ids()
            .filter(|&id| {
                self.prevs(id)
                    .iter()
                    .all(|p| !matches!(p, Source::Layer(_)))
            })
            .collect()
    }
    /// Channels, height and width of a source's output.
    pub fn source_shape(&self, s: Source) -> FmapShape {
        match s {
            Source::Input => self.input,
            Source::Ext(i) => self.exts[i].shape,
            Source::Layer(id) => {
                let l = self.layer(id);
                FmapShape {
                    n: l.nofm(),
                    h: l.hofm(),
                    w: l.wofm(),
                }
            }
        }
    }
    /// Display name of a source.
    pub fn source_name(&self, s: Source) -> &str {
        match s {
            Source::Input => Self::INPUT,
            Source::Ext(i) => &self.exts[i].name,
            Source::Layer(id) => self.layer_name(id),
        }
    }
}

/// Collects layer declarations and validates them into a `Network`.
#[derive(Clone, Debug)]
pub struct NetworkBuilder {
    name: String,
    input: FmapShape,
    exts: Vec<ExtInput>,
    decls: Vec<Decl>,
}

#[derive(Clone, Debug)]
struct Decl {
    name: String,
    layer: Layer,
    /// Predecessor names, each with the channels taken (`None`: all).
    prevs: Vec<(String, Option<Range<u64>>)>,
    /// Producers of the second operand, by name.
    operands: Vec<String>,
    reshapes: bool,
}

impl NetworkBuilder {
    /// A network of this name whose input has maps of `input` shape.
    pub fn new(name: &str, input: FmapShape) -> Self {
        NetworkBuilder {
            name: name.to_string(),
            input,
            exts: Vec::new(),
            decls: Vec::new(),
        }
    }

    /// Declares an external input.
    pub fn ext(&mut self, name: &str, shape: FmapShape) -> &mut Self {
        self.exts.push(ExtInput {
            name: name.to_string(),
            shape,
        });
        self
    }

    /// Declares a layer. With no `prevs` it follows the last declared layer
    /// (or the input when it is the first).
    pub fn add(&mut self, name: &str, layer: Layer, prevs: &[&str]) -> &mut Self {
        let prevs = if prevs.is_empty() {
            vec![(
                self.decls
                    .last()
                    .map_or(Network::INPUT.to_string(), |d| d.name.clone()),
                None,
            )]
        } else {
            prevs.iter().map(|s| (s.to_string(), None)).collect()
        };
        self.decls.push(Decl {
            name: name.to_string(),
            layer,
            prevs,
            operands: Vec::new(),
            reshapes: false,
        });
        self
    }

    /// Declares a layer fed by channel ranges of its predecessors (`None`:
    /// all channels), concatenated in order.
    pub fn add_sliced(
        &mut self,
        name: &str,
        layer: Layer,
        prevs: &[(&str, Option<Range<u64>>)],
    ) -> &mut Self {
        self.decls.push(Decl {
            name: name.to_string(),
            layer,
            prevs: prevs
                .iter()
                .map(|(p, r)| (p.to_string(), r.clone()))
                .collect(),
            operands: Vec::new(),
            reshapes: false,
        });
        self
    }

    /// Makes the last declared layer read its predecessors' maps
    /// rearranged (see `NetLayer::reshapes`).
    pub fn reshaping(&mut self) -> &mut Self {
        if let Some(d) = self.decls.last_mut() {
            d.reshapes = true;
        }
        self
    }

    /// Declares an activation product (`Layer::matmul`) fed by channel
    /// ranges of `prevs` and multiplied by the outputs of `operands`.
    pub fn add_product(
        &mut self,
        name: &str,
        layer: Layer,
        prevs: &[(&str, Option<Range<u64>>)],
        operands: &[&str],
    ) -> &mut Self {
        self.add_sliced(name, layer, prevs);
        let d = self.decls.last_mut().expect("just declared");
        d.operands = operands.iter().map(|s| s.to_string()).collect();
        self
    }

    /// Name of the last declared layer.
    pub fn last(&self) -> Option<&str> {
        self.decls.last().map(|d| d.name.as_str())
    }

    /// Validates and builds. Layers keep their declaration order when it is
    /// topological; otherwise they are moved after their predecessors.
    pub fn build(self) -> Result<Network, NetworkError> {
        if self.decls.is_empty() {
            return Err(NetworkError::Empty(self.name));
        }
        let (prevs, operands) = self.resolve_prevs()?;
        let deps: Vec<Vec<Source>> = prevs
            .iter()
            .zip(&operands)
            .map(|(p, o)| p.iter().chain(o).copied().collect())
            .collect();
        let order =
            topological(&deps).map_err(|i| NetworkError::Cycle(self.decls[i].name.clone()))?;
        let layers = self.ordered_layers(&prevs, &operands, &order)?;
        let mut nexts = vec![Vec::new(); layers.len()];
        for (i, l) in layers.iter().enumerate() {
            for p in l.prevs.iter().chain(&l.operands) {
                if let Source::Layer(id) = p
                    && !nexts[id.0].contains(&LayerId(i))
                {
                    nexts[id.0].push(LayerId(i));
                }
            }
        }
        let net = Network {
            name: self.name,
            input: self.input,
            exts: self.exts,
            layers,
            nexts,
        };
        for id in net.ids() {
            check_prevs(&net, id)?;
        }
        Ok(net)
    }

    /// Each declaration's predecessors and second-operand producers, by
    /// declaration index.
    #[allow(clippy::type_complexity)]
    fn resolve_prevs(&self) -> Result<(Vec<Vec<Source>>, Vec<Vec<Source>>), NetworkError> {
        let mut index: HashMap<&str, Source> = HashMap::new();
        index.insert(Network::INPUT, Source::Input);
        for (i, e) in self.exts.iter().enumerate() {
            if index.insert(&e.name, Source::Ext(i)).is_some() {
                return Err(NetworkError::Duplicate(e.name.clone()));
            }
        }
        for (i, d) in self.decls.iter().enumerate() {
            if index.insert(&d.name, Source::Layer(LayerId(i))).is_some() {
                return Err(NetworkError::Duplicate(d.name.clone()));
            }
        }
        let resolve = |d: &Decl, p: &str| {
            index
                .get(p)
                .copied()
                .ok_or_else(|| NetworkError::UnknownPrev {
                    layer: d.name.clone(),
                    prev: p.to_string(),
                })
        };
        let prevs = self
            .decls
            .iter()
            .map(|d| d.prevs.iter().map(|(p, _)| resolve(d, p)).collect())
            .collect::<Result<_, _>>()?;
        let operands = self
            .decls
            .iter()
            .map(|d| d.operands.iter().map(|p| resolve(d, p)).collect())
            .collect::<Result<_, _>>()?;
        Ok((prevs, operands))
    }

    /// The layers in `order`, predecessors renumbered, each with the
    /// channel range it takes from each predecessor.
    fn ordered_layers(
        &self,
        prevs: &[Vec<Source>],
        operands: &[Vec<Source>],
        order: &[usize],
    ) -> Result<Vec<NetLayer>, NetworkError> {
        let mut new_id = vec![0; order.len()];
        for (new, &old) in order.iter().enumerate() {
            new_id[old] = new;
        }
        let source_channels = |s: Source| match s {
            Source::Input => self.input.n,
            Source::Ext(i) => self.exts[i].shape.n,
            Source::Layer(LayerId(o)) => self.decls[o].layer.nofm(),
        };
        let mut layers = Vec::with_capacity(order.len());
        for &old in order {
            let d = &self.decls[old];
            let mut channels = Vec::with_capacity(d.prevs.len());
            for ((p, r), &s) in d.prevs.iter().zip(&prevs[old]) {
                let have = source_channels(s);
                let r = r.clone().unwrap_or(0..have);
                if r.start >= r.end || r.end > have {
                    return Err(NetworkError::Slice {
                        layer: d.name.clone(),
                        prev: p.clone(),
                        beg: r.start,
                        end: r.end,
                        have,
                    });
                }
                channels.push(r);
            }
            let renumber = |ss: &[Source]| {
                ss.iter()
                    .map(|&s| match s {
                        Source::Layer(LayerId(o)) => Source::Layer(LayerId(new_id[o])),
                        s => s,
                    })
                    .collect()
            };
            if d.layer.is_matmul() == operands[old].is_empty() {
                return Err(NetworkError::Operand(d.name.clone()));
            }
            layers.push(NetLayer {
                name: d.name.clone(),
                layer: d.layer,
                prevs: renumber(&prevs[old]),
                channels,
                operands: renumber(&operands[old]),
                reshapes: d.reshapes,
            });
        }
        Ok(layers)
    }
}

/// Kahn's algorithm, always taking the earliest declared ready layer, so a
/// topological declaration order is kept as is. Err names a layer on a cycle.
fn topological(prevs: &[Vec<Source>]) -> Result<Vec<usize>, usize> {
    let n = prevs.len();
    let mut indeg = vec![0usize; n];
    let mut succ = vec![Vec::new(); n];
    for (i, ps) in prevs.iter().enumerate() {
        for p in ps {
            if let Source::Layer(LayerId(j)) = *p {
                indeg[i] += 1;
                succ[j].push(i);
            }
        }
    }
    let mut ready: std::collections::BTreeSet<usize> = (0..n).filter(|&i| indeg[i] == 0).collect();
    let mut order = Vec::with_capacity(n);
    while let Some(i) = ready.pop_first() {
        order.push(i);
        for &s in &succ[i] {
            indeg[s] -= 1;
            if indeg[s] == 0 {
                ready.insert(s);
            }
        }
    }
    if order.len() < n {
        return Err((0..n)
            .find(|&i| indeg[i] > 0)
            .expect("a layer left on the cycle"));
    }
    Ok(order)
}

fn check_prevs(net: &Network, id: LayerId) -> Result<(), NetworkError> {
    let nl = net.get(id);
    let layer = &nl.layer;
    let (mut channels, mut elements) = (0, 0);
    for (&p, taken) in nl.prevs.iter().zip(&nl.channels) {
        let s = net.source_shape(p);
        let n = taken.end - taken.start;
        elements += n * s.h * s.w;
        // A reshaping layer reads its positions from any arrangement: all
        // of them, some (a class token picked), or more (constants added).
        if !nl.reshapes && !layer.accepts_input_size(s.h, s.w) {
            return Err(NetworkError::Size {
                layer: nl.name.clone(),
                prev: net.source_name(p).to_string(),
                got_h: s.h,
                got_w: s.w,
                want_h: layer.hifm(),
                want_w: layer.wifm(),
            });
        }
        // Eltwise operands are consecutive runs of `nofm` channels; a
        // predecessor may give part of one, never parts of two.
        if let LayerKind::Eltwise { .. } = layer.kind()
            && channels / layer.nofm() != (channels + n - 1) / layer.nofm()
        {
            return Err(NetworkError::Straddle {
                layer: nl.name.clone(),
                prev: net.source_name(p).to_string(),
            });
        }
        channels += n;
    }
    // A reshaping layer may also regroup positions into channels (the
    // windows of windowed attention as groups of a product, and back).
    let regrouped = nl.reshapes && elements == layer.nifm() * layer.hifm() * layer.wifm();
    if channels != layer.nifm() && !regrouped {
        return Err(NetworkError::Channels {
            layer: nl.name.clone(),
            got: channels,
            want: layer.nifm(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn img(n: u64, s: u64) -> FmapShape {
        FmapShape { n, h: s, w: s }
    }

    #[test]
    fn defaults_to_previous_layer_and_concatenates() {
        let mut b = NetworkBuilder::new("t", img(3, 8));
        b.add("a", Layer::conv(3, 4, (8, 8), (1, 1), (1, 1)).unwrap(), &[]);
        b.add(
            "b",
            Layer::conv(3, 6, (8, 8), (1, 1), (1, 1)).unwrap(),
            &[Network::INPUT],
        );
        b.add(
            "c",
            Layer::conv(10, 2, (8, 8), (1, 1), (1, 1)).unwrap(),
            &["a", "b"],
        );
        let net = b.build().unwrap();
        let c = net.find("c").unwrap();
        assert_eq!(
            net.prevs(c),
            &[Source::Layer(LayerId(0)), Source::Layer(LayerId(1))]
        );
        assert_eq!(net.nexts(LayerId(0)), &[c]);
        assert_eq!(net.firsts(), vec![LayerId(0), LayerId(1)]);
        assert_eq!(net.prevs(LayerId(0)), &[Source::Input]);
    }

    #[test]
    fn a_single_layer_reads_the_whole_input() {
        let l = Layer::conv(3, 8, (5, 5), (3, 3), (2, 2)).unwrap();
        let net = Network::single_layer("c", l);
        assert_eq!(net.len(), 1);
        assert_eq!(net.input(), FmapShape { n: 3, h: 11, w: 11 });
        assert_eq!(net.prevs(LayerId(0)), &[Source::Input]);
    }

    #[test]
    fn reorders_forward_references() {
        let mut b = NetworkBuilder::new("t", img(3, 8));
        b.add("b", Layer::pool(3, (4, 4), (2, 2), (2, 2)).unwrap(), &["a"]);
        b.add(
            "a",
            Layer::conv(3, 3, (8, 8), (1, 1), (1, 1)).unwrap(),
            &[Network::INPUT],
        );
        let net = b.build().unwrap();
        assert_eq!(net.layer_name(LayerId(0)), "a");
        assert_eq!(net.prevs(LayerId(1)), &[Source::Layer(LayerId(0))]);
    }

    #[test]
    fn errors_name_the_layer() {
        let conv = |i, o| Layer::conv(i, o, (8, 8), (1, 1), (1, 1)).unwrap();
        type Decl<'a> = (&'a str, Layer, Vec<&'a str>);
        let cases: Vec<(Vec<Decl>, &str)> = vec![
            (
                vec![("a", conv(3, 4), vec![]), ("a", conv(4, 4), vec![])],
                "layer 'a' is defined twice",
            ),
            (
                vec![("a", conv(3, 4), vec!["zz"])],
                "layer 'a': unknown predecessor 'zz'",
            ),
            (
                vec![("a", conv(4, 4), vec!["b"]), ("b", conv(4, 4), vec!["a"])],
                "layer 'a' is on a cycle",
            ),
            (
                vec![("a", conv(5, 4), vec![])],
                "layer 'a': predecessors give 3 channels, the layer takes 5",
            ),
            (
                vec![(
                    "a",
                    Layer::conv(3, 4, (20, 20), (3, 3), (1, 1)).unwrap(),
                    vec![],
                )],
                "layer 'a': predecessor '__INPUT__' gives 8x8 maps, the layer needs 22x22 (or less by padding)",
            ),
            (
                vec![
                    ("a", conv(3, 4), vec![]),
                    ("b", conv(3, 2), vec![Network::INPUT]),
                    ("e", Layer::eltwise(3, (8, 8), 2).unwrap(), vec!["a", "b"]),
                ],
                "layer 'e': predecessor 'a' gives channels of two of its operands",
            ),
        ];
        for (decls, msg) in cases {
            let mut b = NetworkBuilder::new("t", img(3, 8));
            for (n, l, p) in decls {
                b.add(n, l, &p);
            }
            assert_eq!(b.build().unwrap_err().to_string(), msg);
        }
    }

    #[test]
    fn channel_slices_are_checked() {
        let conv = |c, k| Layer::conv(c, k, (8, 8), (1, 1), (1, 1)).unwrap();
        let mut b = NetworkBuilder::new("t", img(3, 8));
        b.add("a", conv(3, 8), &[]);
        b.add_sliced("b", conv(5, 4), &[("a", Some(3..8))]);
        b.add_sliced("c", conv(7, 4), &[("a", Some(0..3)), ("b", None)]);
        let net = b.clone().build().unwrap();
        assert_eq!(net.prev_channels(LayerId(1)).len(), 1);
        assert_eq!(net.prev_channels(LayerId(1))[0], 3..8);
        assert_eq!(net.prev_channels(LayerId(2)), [0..3, 0..4]);

        let mut bad = b.clone();
        bad.add_sliced("d", conv(4, 4), &[("a", Some(6..10))]);
        assert_eq!(
            bad.build().unwrap_err(),
            NetworkError::Slice {
                layer: "d".into(),
                prev: "a".into(),
                beg: 6,
                end: 10,
                have: 8
            }
        );
        let mut short = b.clone();
        short.add_sliced("d", conv(4, 4), &[("a", Some(0..3))]);
        assert!(matches!(
            short.build().unwrap_err(),
            NetworkError::Channels {
                got: 3,
                want: 4,
                ..
            }
        ));

        // Eltwise operands are runs of 4 channels of the concatenation: a
        // predecessor may give part of one, not parts of two.
        let add = Layer::eltwise(4, (8, 8), 2).unwrap();
        let mut ok = b.clone();
        ok.add_sliced(
            "e",
            add,
            &[("a", Some(0..3)), ("a", Some(7..8)), ("b", None)],
        );
        assert!(ok.build().is_ok());
        let mut straddle = b;
        straddle.add_sliced(
            "e",
            add,
            &[("a", Some(0..2)), ("b", None), ("a", Some(6..8))],
        );
        assert!(matches!(
            straddle.build().unwrap_err(),
            NetworkError::Straddle { .. }
        ));
    }
}

//! One layer's geometry and the sizes and operation counts derived from it.

use std::fmt;

use crate::dims::DataLoops;

/// The shape of a feature map set: channels, height, width.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct FmapShape {
    /// Channels.
    pub n: u64,
    /// Height.
    pub h: u64,
    /// Width.
    pub w: u64,
}

/// What a layer computes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum LayerKind {
    /// A 2D convolution; `fc` marks a fully-connected layer, which is a
    /// convolution with a 1x1 output. `groups` splits channels into
    /// independent groups (depthwise when it equals the channel count).
    Conv {
        /// Input channels.
        nifm: u64,
        /// Filter height.
        hfil: u64,
        /// Filter width.
        wfil: u64,
        /// Independent channel groups.
        groups: u64,
        /// Vertical and horizontal filter dilation (1: none): filter taps
        /// are this many input rows and columns apart.
        dilation: (u64, u64),
        /// What the weights are and how the input is read.
        form: ConvForm,
    },
    /// Max or average pooling over an `hreg` x `wreg` window.
    Pool {
        /// Window height.
        hreg: u64,
        /// Window width.
        wreg: u64,
    },
    /// Element-wise combination of `n_inputs` equally shaped inputs.
    Eltwise {
        /// Operands combined.
        n_inputs: u64,
    },
    /// A normalization or softmax over each position's channels: no
    /// weights to speak of, a few operations per element.
    Vector(VectorOp),
    /// A resize (Resize, Upsample): each output interpolates an `hreg` x
    /// `wreg` window of its channel (1 x 1 nearest, 2 x 2 bilinear), one
    /// multiply-add per tap; upsampling layers read a smaller map (see
    /// `Layer::up`).
    Resize {
        /// Interpolation taps in height.
        hreg: u64,
        /// Interpolation taps in width.
        wreg: u64,
    },
}

/// The flavours of a conv-like layer: one cost model, three readings.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ConvForm {
    /// A convolution with weights.
    Conv,
    /// A fully-connected layer: a conv with a 1x1 output.
    Fc,
    /// A product of two activations (attention's `Q x K^T`, `P x V`): a
    /// grouped 1x1 conv over one row of tokens whose "weights" are the
    /// second operand, another layer's output, which differs per sample:
    /// no reuse across the batch, read from where its producer wrote it.
    MatMul,
}

/// What a vector layer computes, along the channels of each position.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum VectorOp {
    /// LayerNormalization: mean, variance, normalize, scale and shift.
    LayerNorm,
    /// Softmax: max, subtract, exponential, sum, divide.
    Softmax,
    /// RMSNorm (Llama): square, sum, normalize, scale.
    RmsNorm,
    /// An embedding lookup: one row of a table in memory per token, copied.
    Embedding,
}

impl VectorOp {
    /// Operations per element: each of the steps named above counts one.
    pub fn ops_per_element(self) -> u64 {
        match self {
            VectorOp::LayerNorm => 8,
            VectorOp::Softmax => 5,
            VectorOp::RmsNorm => 4,
            VectorOp::Embedding => 1,
        }
    }

    /// The layer type name in tables and schedules.
    pub fn name(self) -> &'static str {
        match self {
            VectorOp::LayerNorm => "layernorm",
            VectorOp::Softmax => "softmax",
            VectorOp::RmsNorm => "rmsnorm",
            VectorOp::Embedding => "embedding",
        }
    }
}

/// A layer: output shape, stride and kind. Input sizes follow from these as
/// nn_dataflow derives them (no padding: `hifm = hfil + (hofm - 1) * stride`),
/// so a producer may be smaller than `hifm` by the padding. Upsampling
/// layers step through their input `1 / up` of a row per output row.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Layer {
    nofm: u64,
    hofm: u64,
    wofm: u64,
    htrd: u64,
    wtrd: u64,
    /// Output rows and columns per input row and column (1: no upsampling).
    up: (u64, u64),
    kind: LayerKind,
}

/// Why a layer cannot be built.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum LayerError {
    /// A size that must be positive is zero.
    #[error("{0} must be positive")]
    Zero(&'static str),
    /// Dilation given to a layer that is not a convolution.
    #[error("only convolutions are dilated")]
    NotConv,
    /// Upsampling given to a layer that neither convolves nor resizes.
    #[error("only convolutions and resizes upsample")]
    NotUpsampling,
    /// A transposed convolution whose kernel does not split evenly into one
    /// set of taps per output phase.
    #[error(
        "a transposed convolution's kernel ({kernel}) must be a multiple of its stride ({stride})"
    )]
    UnevenPhases {
        /// Kernel extent.
        kernel: u64,
        /// Stride (upsampling factor).
        stride: u64,
    },
    /// Groups that do not divide the channels.
    #[error("groups ({groups}) must divide both input ({nifm}) and output ({nofm}) channels")]
    Groups {
        /// Channel groups.
        groups: u64,
        /// Input channels.
        nifm: u64,
        /// Output channels.
        nofm: u64,
    },
}

fn positive(v: u64, what: &'static str) -> Result<u64, LayerError> {
    if v == 0 {
        Err(LayerError::Zero(what))
    } else {
        Ok(v)
    }
}

impl Layer {
    /// A convolution of `nifm` to `nofm` channels with `sofm` = (h, w)
    /// output, `sfil` filter and `strd` stride.
    pub fn conv(
        nifm: u64,
        nofm: u64,
        sofm: (u64, u64),
        sfil: (u64, u64),
        strd: (u64, u64),
    ) -> Result<Layer, LayerError> {
        Self::grouped_conv(nifm, nofm, sofm, sfil, strd, 1)
    }

    /// A grouped convolution: each of `groups` groups maps `nifm / groups`
    /// input channels to `nofm / groups` output channels.
    pub fn grouped_conv(
        nifm: u64,
        nofm: u64,
        sofm: (u64, u64),
        sfil: (u64, u64),
        strd: (u64, u64),
        groups: u64,
    ) -> Result<Layer, LayerError> {
        positive(nifm, "input channels")?;
        positive(groups, "groups")?;
        if !nifm.is_multiple_of(groups) || !nofm.is_multiple_of(groups) {
            return Err(LayerError::Groups { groups, nifm, nofm });
        }
        let kind = LayerKind::Conv {
            nifm,
            hfil: positive(sfil.0, "filter height")?,
            wfil: positive(sfil.1, "filter width")?,
            groups,
            dilation: (1, 1),
            form: ConvForm::Conv,
        };
        Self::new(nofm, sofm, strd, kind)
    }

    /// The same convolution with its filter taps `dilation` = (h, w) input
    /// rows and columns apart: the input window grows to
    /// `(hfil - 1) * h + 1` rows, the MACs do not.
    pub fn dilated(mut self, dilation: (u64, u64)) -> Result<Layer, LayerError> {
        positive(dilation.0, "dilation height")?;
        positive(dilation.1, "dilation width")?;
        match &mut self.kind {
            LayerKind::Conv { dilation: d, .. } => *d = dilation,
            _ => return Err(LayerError::NotConv),
        }
        Ok(self)
    }

    /// A transposed convolution (ConvTranspose) of stride `up` and kernel
    /// `kernel`: each output reads `kernel / up` input rows and columns,
    /// with the taps of its phase (output position modulo `up`), so the
    /// MACs per output are the kernel's divided by `up`'s area and the
    /// weights are the whole kernel.
    pub fn transposed_conv(
        nifm: u64,
        nofm: u64,
        sofm: (u64, u64),
        kernel: (u64, u64),
        up: (u64, u64),
        groups: u64,
    ) -> Result<Layer, LayerError> {
        let taps = |kernel: u64, stride: u64| {
            positive(stride, "transposed conv stride")?;
            if kernel.is_multiple_of(stride) {
                Ok(kernel / stride)
            } else {
                Err(LayerError::UnevenPhases { kernel, stride })
            }
        };
        let sfil = (taps(kernel.0, up.0)?, taps(kernel.1, up.1)?);
        Self::grouped_conv(nifm, nofm, sofm, sfil, (1, 1), groups)?.upsampled(up)
    }

    /// A resize of `nofm` channels to an `sofm` map, interpolating `taps`
    /// input rows and columns per output, `up` outputs per input row and
    /// column (upsampling) or `strd` inputs per output (downsampling).
    pub fn resize(
        nofm: u64,
        sofm: (u64, u64),
        taps: (u64, u64),
        strd: (u64, u64),
        up: (u64, u64),
    ) -> Result<Layer, LayerError> {
        let kind = LayerKind::Resize {
            hreg: positive(taps.0, "interpolation taps")?,
            wreg: positive(taps.1, "interpolation taps")?,
        };
        Self::new(nofm, sofm, strd, kind)?.upsampled(up)
    }

    fn upsampled(mut self, up: (u64, u64)) -> Result<Layer, LayerError> {
        positive(up.0, "upsampling height")?;
        positive(up.1, "upsampling width")?;
        if up != (1, 1) && !matches!(self.kind, LayerKind::Conv { .. } | LayerKind::Resize { .. }) {
            return Err(LayerError::NotUpsampling);
        }
        self.up = up;
        Ok(self)
    }

    /// A fully-connected layer over an `sfil`-sized input of `nifm` channels.
    pub fn fc(nifm: u64, nofm: u64, sfil: (u64, u64)) -> Result<Layer, LayerError> {
        Ok(Self::conv(nifm, nofm, (1, 1), sfil, (1, 1))?.with_form(ConvForm::Fc))
    }

    /// A product of two activations per sample: for each of `groups`
    /// (heads, windows), an `m` x `k` matrix (this layer's input, `m`
    /// tokens of `k` channels) times a `k` x `n` matrix (the second
    /// operand). Laid out as a grouped 1x1 conv over a 1 x `m` map.
    pub fn matmul(groups: u64, m: u64, k: u64, n: u64) -> Result<Layer, LayerError> {
        positive(k, "inner dimension")?;
        let (nifm, nofm) = (groups.saturating_mul(k), groups.saturating_mul(n));
        Ok(
            Self::grouped_conv(nifm, nofm, (1, m), (1, 1), (1, 1), groups)?
                .with_form(ConvForm::MatMul),
        )
    }

    fn with_form(mut self, f: ConvForm) -> Layer {
        if let LayerKind::Conv { form, .. } = &mut self.kind {
            *form = f;
        }
        self
    }

    /// A product of two activations (see `ConvForm::MatMul`).
    pub fn is_matmul(&self) -> bool {
        matches!(
            self.kind,
            LayerKind::Conv {
                form: ConvForm::MatMul,
                ..
            }
        )
    }

    /// Pooling with an `sreg` window and `strd` stride.
    pub fn pool(
        nofm: u64,
        sofm: (u64, u64),
        sreg: (u64, u64),
        strd: (u64, u64),
    ) -> Result<Layer, LayerError> {
        let kind = LayerKind::Pool {
            hreg: positive(sreg.0, "pooling window height")?,
            wreg: positive(sreg.1, "pooling window width")?,
        };
        Self::new(nofm, sofm, strd, kind)
    }

    /// A vector layer over `nofm` channels of an `sofm` map.
    pub fn vector(nofm: u64, sofm: (u64, u64), op: VectorOp) -> Result<Layer, LayerError> {
        Self::new(nofm, sofm, (1, 1), LayerKind::Vector(op))
    }

    /// Element-wise combination of `n_inputs` inputs of `nofm` channels.
    pub fn eltwise(nofm: u64, sofm: (u64, u64), n_inputs: u64) -> Result<Layer, LayerError> {
        let kind = LayerKind::Eltwise {
            n_inputs: positive(n_inputs, "eltwise inputs")?,
        };
        Self::new(nofm, sofm, (1, 1), kind)
    }

    fn new(
        nofm: u64,
        sofm: (u64, u64),
        strd: (u64, u64),
        kind: LayerKind,
    ) -> Result<Layer, LayerError> {
        Ok(Layer {
            nofm: positive(nofm, "output channels")?,
            hofm: positive(sofm.0, "output height")?,
            wofm: positive(sofm.1, "output width")?,
            htrd: positive(strd.0, "stride height")?,
            wtrd: positive(strd.1, "stride width")?,
            up: (1, 1),
            kind,
        })
    }

    /// The same layer with other output channels, input channels and output
    /// size: the share of one node after partitioning. `nifm` is ignored by
    /// local-region layers, whose input channels follow their output.
    pub(crate) fn resized(&self, nifm: u64, nofm: u64, hofm: u64, wofm: u64) -> Layer {
        let mut l = *self;
        l.nofm = nofm;
        l.hofm = hofm;
        l.wofm = wofm;
        if let LayerKind::Conv { nifm: n, .. } = &mut l.kind {
            *n = nifm;
        }
        l
    }

    /// The group of a grouped convolution as a plain convolution (itself
    /// for every other layer).
    pub fn group_slice(&self) -> Layer {
        match self.kind {
            LayerKind::Conv {
                nifm,
                hfil,
                wfil,
                groups,
                dilation,
                form,
            } if groups > 1 => Layer {
                nofm: self.nofm / groups,
                kind: LayerKind::Conv {
                    nifm: nifm / groups,
                    hfil,
                    wfil,
                    groups: 1,
                    dilation,
                    form,
                },
                ..*self
            },
            _ => *self,
        }
    }

    /// What the layer computes.
    pub fn kind(&self) -> LayerKind {
        self.kind
    }
    /// Output channels.
    pub fn nofm(&self) -> u64 {
        self.nofm
    }
    /// Output height.
    pub fn hofm(&self) -> u64 {
        self.hofm
    }
    /// Output width.
    pub fn wofm(&self) -> u64 {
        self.wofm
    }
    /// Vertical stride.
    pub fn htrd(&self) -> u64 {
        self.htrd
    }
    /// Horizontal stride.
    pub fn wtrd(&self) -> u64 {
        self.wtrd
    }
    /// Output rows and columns per input row and column: above 1 for
    /// upsampling layers (resizes, transposed convs), 1 for all others.
    pub fn up(&self) -> (u64, u64) {
        self.up
    }

    /// Weight words per input-output channel pair: the filter, or for a
    /// transposed conv one filter per output phase (the whole kernel).
    pub fn filter_taps(&self) -> u64 {
        match self.kind {
            LayerKind::Conv { hfil, wfil, .. } => hfil * wfil * self.up.0 * self.up.1,
            _ => 0,
        }
    }

    /// Independent channel groups (1 but for grouped convolutions).
    pub fn groups(&self) -> u64 {
        match self.kind {
            LayerKind::Conv { groups, .. } => groups,
            _ => 1,
        }
    }

    /// Whether the layer has weights and all-to-all channel reuse (conv, FC).
    pub fn is_conv(&self) -> bool {
        matches!(self.kind, LayerKind::Conv { .. })
    }

    /// Short type name used in tables and schedules.
    pub fn type_name(&self) -> &'static str {
        match self.kind {
            LayerKind::Conv {
                form: ConvForm::Fc, ..
            } => "fc",
            LayerKind::Conv {
                form: ConvForm::MatMul,
                ..
            } => "matmul",
            LayerKind::Conv { groups, nifm, .. } if groups > 1 && groups == nifm => "dwconv",
            LayerKind::Conv { groups, .. } if groups > 1 => "gconv",
            LayerKind::Conv { .. } => "conv",
            LayerKind::Pool { .. } => "pool",
            LayerKind::Eltwise { .. } => "eltwise",
            LayerKind::Vector(op) => op.name(),
            LayerKind::Resize { .. } => "resize",
        }
    }

    /// Region geometry `(nreg, hreg, wreg)` of a local-region layer; the
    /// filter size of a convolution.
    pub fn region(&self) -> (u64, u64, u64) {
        match self.kind {
            LayerKind::Conv { hfil, wfil, .. } => (1, hfil, wfil),
            LayerKind::Pool { hreg, wreg } => (1, hreg, wreg),
            LayerKind::Eltwise { n_inputs } => (n_inputs, 1, 1),
            LayerKind::Vector(_) => (1, 1, 1),
            LayerKind::Resize { hreg, wreg } => (1, hreg, wreg),
        }
    }

    /// Filter (or local-region window) height and width.
    pub fn hfil(&self) -> u64 {
        self.region().1
    }
    /// Filter (or window) width.
    pub fn wfil(&self) -> u64 {
        self.region().2
    }

    /// Input channels.
    pub fn nifm(&self) -> u64 {
        match self.kind {
            LayerKind::Conv { nifm, .. } => nifm,
            LayerKind::Pool { .. } => self.nofm,
            LayerKind::Eltwise { n_inputs } => self.nofm * n_inputs,
            LayerKind::Vector(_) | LayerKind::Resize { .. } => self.nofm,
        }
    }

    /// Filter dilation (1, 1 but for dilated convolutions).
    pub fn dilation(&self) -> (u64, u64) {
        match self.kind {
            LayerKind::Conv { dilation, .. } => dilation,
            _ => (1, 1),
        }
    }

    /// Input rows and columns one output reads: the filter (or window)
    /// extent, spread by dilation.
    pub fn span(&self) -> (u64, u64) {
        let (_, h, w) = self.region();
        let (dh, dw) = self.dilation();
        ((h - 1) * dh + 1, (w - 1) * dw + 1)
    }

    /// Input height, without padding.
    pub fn hifm(&self) -> u64 {
        self.input_rows(0, self.hofm).1
    }

    /// Input width, without padding.
    pub fn wifm(&self) -> u64 {
        self.input_cols(0, self.wofm).1
    }

    /// The input rows `[beg, end)` that output rows `[beg, end)` read,
    /// without padding; empty for no rows.
    pub fn input_rows(&self, beg: u64, end: u64) -> (u64, u64) {
        input_extent(beg, end, self.htrd, self.up.0, self.span().0)
    }

    /// The input columns that output columns `[beg, end)` read.
    pub fn input_cols(&self, beg: u64, end: u64) -> (u64, u64) {
        input_extent(beg, end, self.wtrd, self.up.1, self.span().1)
    }

    /// Input rows that `rows` (a fraction, on average) output rows read:
    /// the cost model's footprint of a fold.
    pub fn input_rows_f(&self, rows: f64) -> f64 {
        let (s, u) = (self.htrd as f64, self.up.0 as f64);
        self.span().0 as f64 + (rows - 1.0) * s / u
    }

    /// The loops that index each data category.
    pub fn data_loops(&self) -> DataLoops {
        if self.is_matmul() {
            DataLoops::MATMUL
        } else if self.is_conv() {
            DataLoops::CONV
        } else {
            DataLoops::LOCAL_REGION
        }
    }

    /// Operations per output element: MACs for conv and FC, compared or
    /// added elements for pooling and eltwise.
    pub fn ops_per_neuron(&self) -> u64 {
        match self.kind {
            LayerKind::Conv {
                nifm,
                hfil,
                wfil,
                groups,
                ..
            } => hfil * wfil * (nifm / groups),
            _ => {
                let (n, h, w) = self.region();
                n * h * w * self.ops_per_element()
            }
        }
    }

    /// Operations per element of a window: 1 but for vector layers, which
    /// take several steps on each element.
    pub fn ops_per_element(&self) -> u64 {
        match self.kind {
            LayerKind::Vector(op) => op.ops_per_element(),
            _ => 1,
        }
    }

    /// Output elements of one sample.
    pub fn total_ofmap_size(&self) -> u64 {
        self.nofm * self.hofm * self.wofm
    }

    /// Input elements of one sample.
    pub fn total_ifmap_size(&self) -> u64 {
        self.nifm() * self.hifm() * self.wifm()
    }

    /// Weight elements (0 for pooling and eltwise); for a product of
    /// activations, its second operand's elements per sample.
    pub fn total_filter_size(&self) -> u64 {
        match self.kind {
            LayerKind::Conv { nifm, groups, .. } => {
                (nifm / groups) * self.nofm * self.filter_taps()
            }
            _ => 0,
        }
    }

    /// Operations for `batch` samples.
    pub fn total_ops(&self, batch: u64) -> u64 {
        self.total_ofmap_size() * self.ops_per_neuron() * batch
    }

    /// Whether a producer of `h` x `w` maps can feed this layer: anything
    /// between the strided output extent and the full input extent, the
    /// difference being padding, plus up to `stride - 1` trailing rows and
    /// columns that no window reaches (a 7x7/2 conv reading 224 rows for
    /// 109 outputs).
    pub fn accepts_input_size(&self, h: u64, w: u64) -> bool {
        // The strided output extent, in input rows: `out * stride / up`.
        let within = |v: u64, out: u64, s: u64, up: u64, full: u64| {
            let a = (out * s).div_ceil(up);
            a.min(full) <= v && v < a.max(full) + s.div_ceil(up)
        };
        within(h, self.hofm, self.htrd, self.up.0, self.hifm())
            && within(w, self.wofm, self.wtrd, self.up.1, self.wifm())
    }
}

/// The input range `[beg * s / up, (end - 1) * s / up + span)` that
/// outputs `[beg, end)` read; an empty output range reads nothing.
fn input_extent(beg: u64, end: u64, s: u64, up: u64, span: u64) -> (u64, u64) {
    let b = beg * s / up;
    if end == 0 {
        return (b, b);
    }
    (b, b.max((end - 1) * s / up + span))
}

impl fmt::Display for Layer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (_, hr, wr) = self.region();
        write!(
            f,
            "{} {}->{} ch, {}x{} out, {}x{} window, stride {}x{}",
            self.type_name(),
            self.nifm(),
            self.nofm,
            self.hofm,
            self.wofm,
            hr,
            wr,
            self.htrd,
            self.wtrd
        )?;
        if self.groups() > 1 {
            write!(f, ", {} groups", self.groups())?;
        }
        let (dh, dw) = self.dilation();
        if (dh, dw) != (1, 1) {
            write!(f, ", dilation {dh}x{dw}")?;
        }
        let (uh, uw) = self.up;
        if (uh, uw) != (1, 1) {
            write!(f, ", upsampling {uh}x{uw}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conv_sizes_follow_nn_dataflow() {
        // AlexNet conv1: 3->48, 55x55 out, 11x11 filter, stride 4.
        let l = Layer::conv(3, 48, (55, 55), (11, 11), (4, 4)).unwrap();
        assert_eq!(l.hifm(), 227);
        assert_eq!(l.total_ifmap_size(), 3 * 227 * 227);
        assert_eq!(l.total_filter_size(), 3 * 48 * 121);
        assert_eq!(l.total_ops(16), 48 * 55 * 55 * 121 * 3 * 16);
        assert!(l.accepts_input_size(224, 224));
        assert!(l.accepts_input_size(227, 227));
        // Up to stride - 1 trailing rows no window reaches.
        assert!(l.accepts_input_size(230, 230));
        assert!(!l.accepts_input_size(231, 227));
        assert!(!l.accepts_input_size(219, 227));
    }

    #[test]
    fn grouped_conv_divides_macs_and_weights() {
        let g = Layer::grouped_conv(64, 128, (28, 28), (3, 3), (1, 1), 4).unwrap();
        let plain = Layer::conv(64, 128, (28, 28), (3, 3), (1, 1)).unwrap();
        assert_eq!(g.total_ops(1) * 4, plain.total_ops(1));
        assert_eq!(g.total_filter_size() * 4, plain.total_filter_size());
        assert_eq!(
            g.group_slice(),
            Layer::conv(16, 32, (28, 28), (3, 3), (1, 1)).unwrap()
        );
        assert_eq!(g.type_name(), "gconv");
        let dw = Layer::grouped_conv(32, 32, (14, 14), (3, 3), (1, 1), 32).unwrap();
        assert_eq!(dw.type_name(), "dwconv");
        assert_eq!(dw.total_ops(1), 32 * 14 * 14 * 9);
    }

    #[test]
    fn local_region_layers() {
        let p = Layer::pool(48, (27, 27), (3, 3), (2, 2)).unwrap();
        assert_eq!((p.nifm(), p.hifm()), (48, 55));
        assert_eq!(p.total_filter_size(), 0);
        assert_eq!(p.total_ops(1), 48 * 27 * 27 * 9);
        let e = Layer::eltwise(256, (56, 56), 2).unwrap();
        assert_eq!((e.nifm(), e.hifm(), e.wifm()), (512, 56, 56));
        assert_eq!(e.ops_per_neuron(), 2);
    }

    #[test]
    fn invalid_layers_are_rejected() {
        assert_eq!(
            Layer::conv(3, 0, (5, 5), (3, 3), (1, 1)),
            Err(LayerError::Zero("output channels"))
        );
        assert_eq!(
            Layer::pool(3, (5, 5), (0, 3), (1, 1)),
            Err(LayerError::Zero("pooling window height"))
        );
        assert!(matches!(
            Layer::grouped_conv(6, 9, (5, 5), (3, 3), (1, 1), 2),
            Err(LayerError::Groups { .. })
        ));
        assert_eq!(
            Layer::pool(8, (14, 14), (1, 1), (1, 1)).and_then(|p| p.upsampled((2, 2))),
            Err(LayerError::NotUpsampling)
        );
        assert_eq!(
            Layer::transposed_conv(4, 4, (8, 8), (3, 3), (2, 2), 1),
            Err(LayerError::UnevenPhases {
                kernel: 3,
                stride: 2
            })
        );
    }
}

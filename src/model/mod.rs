//! Loading a model: a built-in network by name, or an ONNX file, with the
//! batch size it fixes.

#[cfg(feature = "onnx")]
pub mod onnx;

use std::path::Path;

use crate::error::{Error, ModelIssue};
use crate::network::{Network, zoo};

/// Tensors above this many elements are refused unless raised: 2^28 f32
/// values are 1 GiB.
pub const DEFAULT_MAX_TENSOR_ELEMENTS: u64 = 1 << 28;

/// How to load a model.
#[derive(Clone, Debug)]
pub struct LoadOptions {
    /// Pass unsupported ONNX operators through instead of failing.
    pub skip_unsupported: bool,
    /// The largest tensor (in elements) an ONNX file may declare.
    pub max_tensor_elements: u64,
    /// Sizes of an ONNX model's named symbolic input dimensions (a
    /// sequence length, say); the batch may be left open.
    pub dims: Vec<(String, u64)>,
}

impl Default for LoadOptions {
    fn default() -> Self {
        LoadOptions {
            skip_unsupported: false,
            max_tensor_elements: DEFAULT_MAX_TENSOR_ELEMENTS,
            dims: Vec::new(),
        }
    }
}

/// A loaded model.
#[derive(Clone, Debug)]
pub struct Model {
    /// The layers.
    pub network: Network,
    /// The batch size the model fixes; `None` when it is symbolic. Built-in
    /// networks fix 1.
    pub batch: Option<u64>,
    /// Unsupported ONNX nodes passed through, as `name (OpType)`.
    pub skipped: Vec<String>,
}

impl LoadOptions {
    /// Refuses dimension sizes that cannot be meant: one named twice, a
    /// zero size, or sizes for a built-in network (which has none).
    fn check(&self, name: &str, builtin: bool) -> Result<(), Error> {
        let bad = |message: String| Error::Model {
            message,
            issue: ModelIssue::Other,
        };
        if builtin && let Some((d, _)) = self.dims.first() {
            return Err(bad(format!(
                "{name}: a built-in network has no named dimensions (dimension '{d}' given)"
            )));
        }
        for (i, (d, n)) in self.dims.iter().enumerate() {
            if self.dims[..i].iter().any(|(e, _)| e == d) {
                return Err(bad(format!("{name}: dimension '{d}' is given twice")));
            }
            if *n == 0 {
                return Err(bad(format!("{name}: dimension '{d}' must be positive")));
            }
        }
        if self.max_tensor_elements == 0 {
            return Err(bad(format!(
                "{name}: the tensor size limit must be positive"
            )));
        }
        Ok(())
    }
}

/// Loads a built-in network (`alex_net`, ...) or an ONNX file.
pub fn load_model(name: &str, opts: &LoadOptions) -> Result<Model, Error> {
    let builtin = zoo::get(name);
    opts.check(name, builtin.is_some())?;
    if let Some(network) = builtin {
        return Ok(Model {
            network,
            batch: Some(1),
            skipped: Vec::new(),
        });
    }
    let onnx = Path::new(name)
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("onnx"));
    if !onnx {
        return Err(Error::Model {
            message: format!(
                "unknown model '{name}'; built-in networks: {} (or an .onnx file)",
                zoo::NAMES.join(", ")
            ),
            issue: ModelIssue::Other,
        });
    }
    load_onnx(Path::new(name), opts)
}

#[cfg(feature = "onnx")]
fn load_onnx(path: &Path, opts: &LoadOptions) -> Result<Model, Error> {
    let imp = onnx::import(path, opts).map_err(|e| Error::Model {
        issue: e
            .downcast_ref::<onnx::Refusal>()
            .map_or(ModelIssue::Other, |r| r.issue),
        message: format!("{e:#}"),
    })?;
    Ok(Model {
        network: imp.network,
        batch: imp.batch,
        skipped: imp.skipped,
    })
}

#[cfg(not(feature = "onnx"))]
fn load_onnx(path: &Path, _: &LoadOptions) -> Result<Model, Error> {
    Err(Error::Model {
        message: format!(
            "{}: this build of nnsched has no ONNX import",
            path.display()
        ),
        issue: ModelIssue::Other,
    })
}

//! Entry points for the `cargo fuzz` targets in `fuzz/`, shared with the
//! test that replays their corpus (`tests/fuzz_corpus.rs`). Each takes
//! untrusted bytes and returns the error message a user would see; the
//! contract is that none of them panics, whatever the bytes.

use crate::hw::Hardware;
use crate::network::zoo;

/// A hardware YAML file.
pub fn hw_yaml(data: &[u8]) -> Result<(), String> {
    let text = std::str::from_utf8(data).map_err(|e| format!("not UTF-8: {e}"))?;
    Hardware::parse(text)
        .map(drop)
        .map_err(|e| format!("{e:#}"))
}

/// An ONNX model, with a tensor limit small enough for a fuzzer's memory.
#[cfg(feature = "onnx")]
pub fn onnx_model(data: &[u8]) -> Result<(), String> {
    let opts = crate::LoadOptions {
        skip_unsupported: false,
        max_tensor_elements: 1 << 20,
        ..Default::default()
    };
    crate::onnx::import_bytes(data, "fuzz.onnx", &opts)
        .map(drop)
        .map_err(|e| format!("{e:#}"))
}

/// A schedule document (JSON) of a built-in network, evaluated on the
/// hardware it records.
pub fn schedule_file(data: &[u8]) -> Result<(), String> {
    let text = std::str::from_utf8(data).map_err(|e| format!("not UTF-8: {e}"))?;
    let doc = crate::doc::parse(text, false).map_err(|e| e.to_string())?;
    let net = zoo::get(&doc.network).ok_or("not a built-in network")?;
    crate::evaluate(&doc, &net, None)
        .map(drop)
        .map_err(|e| e.to_string())
}

//! Reading a schedule document, with errors that name the layer and the
//! field a hand edit broke.

use serde_json::Value;

use super::{SCHEMA, Schedule};

/// Why a text is not a schedule document.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DocError {
    /// Not JSON (or YAML): the format, and the parser's message.
    #[error("not {0}: {1}")]
    Syntax(&'static str, String),
    /// No `schema` key.
    #[error("not a schedule file: no 'schema' key")]
    NoSchema,
    /// Another format or version.
    #[error("unsupported schema '{0}', this nnsched reads {SCHEMA}")]
    Version(String),
    /// A field of the document as a whole.
    #[error("{path}: {reason}")]
    Field {
        /// Where, as `key.key[index]`.
        path: String,
        /// What is wrong.
        reason: String,
    },
    /// A field of one layer.
    #[error("layer '{layer}': {path}: {reason}")]
    LayerField {
        /// The layer's name.
        layer: String,
        /// Where in the layer's entry.
        path: String,
        /// What is wrong.
        reason: String,
    },
}

/// The fields of `recomputed` whose values differ from `file`'s, each as
/// `path: VALUE in the file, VALUE recomputed` (a layer by its name).
pub fn differences(file: &Schedule, recomputed: &Schedule) -> Vec<String> {
    let (a, b) = (
        serde_json::to_value(file).expect("a document serializes"),
        serde_json::to_value(recomputed).expect("a document serializes"),
    );
    let mut out = Vec::new();
    diff(&a, &b, &mut String::new(), &mut out);
    out
}

fn diff(a: &Value, b: &Value, path: &mut String, out: &mut Vec<String>) {
    let len = path.len();
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            for (k, va) in x {
                let vb = y.get(k).unwrap_or(&Value::Null);
                if !path.is_empty() {
                    path.push('.');
                }
                path.push_str(k);
                diff(va, vb, path, out);
                path.truncate(len);
            }
            for (k, vb) in y.iter().filter(|(k, _)| !x.contains_key(*k)) {
                diff(&Value::Null, vb, &mut format!("{path}.{k}"), out);
            }
        }
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => {
            for (i, (va, vb)) in x.iter().zip(y).enumerate() {
                match va.get("name").and_then(Value::as_str) {
                    Some(n) if path == "layers" => path.push_str(&format!("['{n}']")),
                    _ => path.push_str(&format!("[{i}]")),
                }
                diff(va, vb, path, out);
                path.truncate(len);
            }
        }
        _ if a == b => {}
        _ => {
            let show = |v: &Value| {
                let t = v.to_string();
                if t.len() > 40 {
                    format!("{}...", &t[..t.floor_char_boundary(37)])
                } else {
                    t
                }
            };
            out.push(format!(
                "{path}: {} in the file, {} recomputed",
                show(a),
                show(b)
            ));
        }
    }
}

/// Parses a schedule document, JSON or (with `yaml`) YAML.
pub fn parse(text: &str, yaml: bool) -> Result<Schedule, DocError> {
    let v: Value = if yaml {
        serde_yaml::from_str(text).map_err(|e| DocError::Syntax("YAML", e.to_string()))?
    } else {
        serde_json::from_str(text).map_err(|e| DocError::Syntax("JSON", e.to_string()))?
    };
    from_value(v)
}

/// A schedule document from a JSON value.
pub fn from_value(v: Value) -> Result<Schedule, DocError> {
    match v.get("schema").and_then(Value::as_str) {
        Some(SCHEMA) => {}
        Some(s) => return Err(DocError::Version(s.to_string())),
        None => return Err(DocError::NoSchema),
    }
    // The path of the failing field, to name the layer it lies in.
    serde_path_to_error::deserialize(&v).map_err(|e| {
        let path = e.path().to_string();
        let reason = e.inner().to_string();
        let layer = path
            .strip_prefix("layers[")
            .and_then(|p| p.split_once(']'))
            .and_then(|(i, rest)| Some((i.parse::<usize>().ok()?, rest)));
        match layer {
            Some((i, rest)) => DocError::LayerField {
                layer: v["layers"][i]["name"]
                    .as_str()
                    .map_or_else(|| format!("#{i}"), str::to_string),
                path: rest.trim_start_matches('.').to_string(),
                reason,
            },
            None => DocError::Field { path, reason },
        }
    })
}

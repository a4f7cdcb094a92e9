//! The library's one error type: what a caller can match on.

use crate::doc::Schedule;
use crate::options::{OptionsError, StopReason};
use crate::search::NoSchedule;

/// Everything the library can fail with. Messages name the user's data
/// (file, key, node, layer), never a command-line flag.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A model that cannot be loaded: an unknown name, a malformed or
    /// unsupported ONNX file.
    #[error("{message}")]
    Model {
        /// Names the file and node.
        message: String,
        /// What it is about.
        issue: ModelIssue,
    },
    /// A hardware description that is missing or invalid (the message
    /// names the file and key).
    #[error("{0}")]
    Hardware(String),
    /// Search options that do not go together, or are out of range.
    #[error("invalid options: {0}")]
    Options(#[from] OptionsError),
    /// No mapping of a layer fits the hardware or the constraints.
    #[error("layer '{layer}': {reason}")]
    NoSchedule {
        /// The first layer in scheduling order without a schedule.
        layer: String,
        /// Which constraint no mapping meets.
        reason: NoSchedule,
    },
    /// The search was stopped; `partial` is the best schedule of the layers
    /// done, marked incomplete.
    #[error("search stopped ({reason}) after {done} of {total} layers: the schedule is incomplete")]
    Stopped {
        /// The time limit, or the cancel handle.
        reason: StopReason,
        /// Layers scheduled.
        done: usize,
        /// Layers in the network.
        total: usize,
        /// The best schedule of the layers done.
        partial: Box<Schedule>,
    },
    /// A schedule document that cannot be read or does not hold together
    /// (the message names the layer and the field).
    #[error("{0}")]
    Document(String),
    /// Reading or writing a file.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// What the system said.
        source: std::io::Error,
    },
    /// A bug: a schedule failed its consistency checks.
    #[error("internal consistency check failed: {0}")]
    Internal(String),
}

impl From<crate::search::SearchError> for Error {
    fn from(e: crate::search::SearchError) -> Self {
        use crate::search::SearchError as S;
        match e {
            S::NoSchedule { layer, reason } => Error::NoSchedule { layer, reason },
            S::Options(o) => Error::Options(o),
            S::Inconsistent(m) => Error::Internal(m),
        }
    }
}

/// A message as one line of at most 1,000 characters: a parser's error
/// may quote a whole file, or hold the newlines of one.
pub fn one_line(message: &str) -> String {
    const MAX: usize = 1000;
    let flat: String = message
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    match flat.char_indices().nth(MAX) {
        Some((cut, _)) => format!(
            "{}... ({} more characters)",
            &flat[..cut],
            flat[cut..].chars().count()
        ),
        None => flat,
    }
}

impl Error {
    /// Whether the error is the input's fault (as opposed to a bug).
    pub fn is_user_error(&self) -> bool {
        !matches!(self, Error::Internal(_))
    }
}

/// What a refused model is about, so that a front end can point at its
/// own way around it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ModelIssue {
    /// An operator nnsched does not model (it may be passed through).
    Unsupported,
    /// A tensor above the size limit (it may be raised).
    TooLarge,
    /// A named input dimension left without a size (one may be given).
    OpenDimension,
    /// Anything else: a malformed file, an unknown name, ...
    Other,
}

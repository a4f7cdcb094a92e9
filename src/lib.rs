//! nnsched: energy-efficient dataflow schedules for neural networks on
//! Eyeriss-style accelerators. See ARCHITECTURE.md for the module map.
//!
//! The library in four calls: [`load_model`] (a built-in network or an
//! ONNX file), [`load_hardware`] (a YAML file or a built-in name; or build
//! a [`hw::HwSpec`] in code), [`schedule`] with [`SearchOptions`], and
//! [`evaluate`] of a [`Schedule`] document. Every failure is an [`Error`].
//!
//! ```no_run
//! let model = nnsched::load_model("models/resnet50.onnx", &Default::default())?;
//! let hw = nnsched::load_hardware("tetris")?;
//! let mut opts = nnsched::SearchOptions::new(model.batch.unwrap_or(1));
//! opts.solve_loopblocking = true;
//! let s = nnsched::schedule(&model.network, &hw, &opts)?;
//! println!("{} pJ in {} cycles", s.totals.cost, s.totals.time);
//! # Ok::<(), nnsched::Error>(())
//! ```

#![warn(missing_docs)]

// The model and the search: internal, reached through the functions below.
pub(crate) mod array;
pub(crate) mod blocking;
pub(crate) mod cost;
pub(crate) mod evaluate;
pub(crate) mod partition;
pub(crate) mod pipeline;
pub(crate) mod placement;
pub(crate) mod util;

// The public surface.
pub mod dims;
pub mod doc;
mod error;
pub mod files;
#[doc(hidden)]
pub mod fuzz;
pub mod hw;
mod model;
pub mod network;
#[cfg(feature = "onnx")]
pub use model::onnx;
pub mod options;
pub mod plot;
pub mod search;
pub mod stats;
pub mod sweep;

use std::path::Path;

pub use blocking::Goal;
pub use doc::Schedule;
pub use error::ModelIssue;
pub use error::{Error, one_line};
pub use hw::Hardware;
pub use model::{DEFAULT_MAX_TENSOR_ELEMENTS, LoadOptions, Model, load_model};
pub use network::Network;
pub use options::{Cancel, Progress, SearchOptions, StopReason};

/// Hardware named as on the command line: a YAML file, or a built-in name
/// (`tetris`, ...) when no such file exists.
pub fn load_hardware(arg: &str) -> Result<Hardware, Error> {
    Hardware::from_arg(arg).map_err(|e| Error::Hardware(format!("{e:#}")))
}

/// The best schedule of `net` on `hw` under `opts`. A search stopped by
/// its time limit or its cancel handle is an [`Error::Stopped`] carrying
/// the best schedule of the layers done.
pub fn schedule(net: &Network, hw: &Hardware, opts: &SearchOptions) -> Result<Schedule, Error> {
    schedule_with_progress(net, hw, opts, None)
}

/// [`schedule`], keeping `progress` up to date for another thread to show.
pub fn schedule_with_progress(
    net: &Network,
    hw: &Hardware,
    opts: &SearchOptions,
    progress: Option<&Progress>,
) -> Result<Schedule, Error> {
    check_batch(net, opts.batch)?;
    let s = search::run(net, hw, opts, progress)?;
    let reason = s.stopped.map(|r| r.to_string());
    let doc = Schedule::new(net, hw, opts, &s, reason.as_deref());
    match s.stopped {
        Some(reason) => Err(Error::Stopped {
            reason,
            done: s.layers.len(),
            total: net.len(),
            partial: Box::new(doc),
        }),
        None => Ok(doc),
    }
}

/// Recomputes a schedule document from its decisions alone on `net` and
/// `hw` (the document's own hardware if `None`): every layer's mapping is
/// rebuilt, checked and costed again. The result is the recomputed
/// document; its totals equal the original's when the file is unedited.
pub fn evaluate(doc: &Schedule, net: &Network, hw: Option<&Hardware>) -> Result<Schedule, Error> {
    let own;
    let hw = match hw {
        Some(h) => h,
        None => {
            own = doc.hardware()?;
            &own
        }
    };
    let opts = doc.search_options()?;
    check_batch(net, opts.batch)?;
    let s = evaluate::evaluate(doc, net, hw).map_err(|e| Error::Document(e.to_string()))?;
    search::check_consistency(net, &opts, &s).map_err(Error::Internal)?;
    Ok(Schedule::new(net, hw, &opts, &s, None))
}

/// Refuses a batch at which some layer's counts are not exact.
fn check_batch(net: &Network, batch: u64) -> Result<(), Error> {
    net.check_batch(batch).map_err(|message| Error::Model {
        message,
        issue: ModelIssue::Other,
    })
}

/// Reads a schedule document (`.yaml`/`.yml`, else JSON).
pub fn read_schedule(path: &Path) -> Result<Schedule, Error> {
    let text = files::read_text(path, files::Limit::Schedule)?;
    doc::parse(&text, is_yaml(path))
        .map_err(|e| Error::Document(format!("{}: {e}", path.display())))
}

/// Whether a path names a YAML file.
pub fn is_yaml(path: &Path) -> bool {
    path.extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("yaml") || e.eq_ignore_ascii_case("yml"))
}

impl Schedule {
    /// The hardware the schedule was made for.
    pub fn hardware(&self) -> Result<Hardware, Error> {
        evaluate::hardware(self).map_err(|e| Error::Document(e.to_string()))
    }

    /// The search options the schedule was found with.
    pub fn search_options(&self) -> Result<SearchOptions, Error> {
        evaluate::options(self).map_err(|e| Error::Document(e.to_string()))
    }

    /// Writes the document (YAML for `.yaml`/`.yml`, else JSON) through
    /// [`files::write`]: atomically, so that a crash never leaves half a
    /// schedule.
    pub fn write(&self, path: &Path) -> Result<(), Error> {
        let text = if is_yaml(path) {
            self.to_yaml()
        } else {
            self.to_json()
        };
        files::write(path, text.as_bytes())
    }
}

//! nnsched: energy-efficient dataflow schedules for neural networks on
//! Eyeriss-style accelerators. See ARCHITECTURE.md for the module map.

pub mod blocking;
pub mod dims;
pub mod evaluate;
#[doc(hidden)]
pub mod fuzz;
pub mod hw;
pub mod mapping;
pub mod network;
#[cfg(feature = "onnx")]
pub mod onnx;
pub mod partition;
pub mod pipeline;
pub mod report;
pub mod search;
pub mod stats;
pub mod util;

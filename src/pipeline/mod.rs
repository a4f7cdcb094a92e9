//! Inter-layer pipelining (TANGRAM): the scheduling DAG and its layer
//! order, segment generation, per-segment node allocation and constraints,
//! and segment timing.

mod dag;
mod expr;
mod segment;
mod timing;

pub use dag::Dag;
pub use segment::{LayerConstraint, PipelineSegment, SchedIdx, SchedSeq, SegmentOptions};
pub use timing::{LayerTimes, SegmentTiming};

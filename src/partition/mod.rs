//! Partitioning a layer over a grid of nodes, and the NoC traffic that
//! follows: node regions, partition schemes, data layouts, hop counts and
//! buffer-sharing groups.

mod bufshr;
mod hops;
mod layout;
mod range;
mod region;
mod scheme;

pub use bufshr::BufShr;
pub use hops::{HopMemo, HopQuery, HopSite, PartHops};
pub use layout::{DataLayout, Pieces};
pub use range::FmapRange;
pub use region::{Coord, NodeRegion, RegionKind};
pub use scheme::{PartDim, PartTarget, PartitionOptions, PartitionScheme, gen_partition};

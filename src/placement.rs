//! Where a layer runs and where its data lives: the processing nodes, the
//! DRAM nodes, and the regions its inputs come from and its outputs go to.

use serde::Serialize;

use crate::blocking::DataSite;
use crate::hw::{Dim2, Hardware, Memory};
use crate::network::{LayerId, Network, Source};
use crate::partition::{Coord, DataLayout, NodeRegion, RegionKind};

/// The layout of layer `id`'s inputs as its producers stored them
/// (`stored`), before any forwarding: their channels side by side, seen
/// as the layer's maps when it reshapes them.
pub fn stored_inputs<'a, E>(
    net: &Network,
    id: LayerId,
    mut stored: impl FnMut(Source) -> Result<&'a DataLayout, E>,
) -> Result<DataLayout, E> {
    let mut parts = Vec::new();
    for (&s, chans) in net.prevs(id).iter().zip(net.prev_channels(id)) {
        parts.push((stored(s)?, chans.clone()));
    }
    let layout = DataLayout::concat(&parts);
    Ok(if net.get(id).reshapes {
        let l = net.layer(id);
        layout.reshaped(l.nifm(), l.hifm(), l.wifm())
    } else {
        layout
    })
}

/// Where a layer runs and where its data lives.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
pub struct Placement {
    /// The processing nodes.
    pub proc: NodeRegion,
    /// DRAM; filters are read from every node of it.
    pub dram: NodeRegion,
    /// Where the input maps are read from.
    pub src: NodeRegion,
    /// Where the output maps go.
    pub dst: NodeRegion,
    /// Each node runs this layer only, so filters may stay in buffers.
    pub no_time_mux: bool,
}

impl Placement {
    /// The placement of every layer when layers run one after another on
    /// the whole chip: DRAM at the corners (2D) or on every node (3D).
    pub fn whole_chip(hw: &Hardware) -> Placement {
        let one = Coord::new(1, 1);
        let proc = NodeRegion::new(hw.nodes, Coord::new(0, 0), one, RegionKind::Proc);
        let dram = match hw.memory {
            Memory::TwoD => NodeRegion::new(
                Dim2::new(2, 2),
                Coord::new(0, 0),
                Coord::new(hw.nodes.h as i64 - 1, hw.nodes.w as i64 - 1),
                RegionKind::Dram,
            ),
            Memory::ThreeD => NodeRegion::new(hw.nodes, Coord::new(0, 0), one, RegionKind::Dram),
        };
        Placement {
            proc,
            dram,
            src: dram,
            dst: dram,
            no_time_mux: false,
        }
    }

    /// Where data in region `r` lives relative to the processing nodes.
    pub fn site(&self, r: &NodeRegion) -> DataSite {
        if r.kind == RegionKind::Dram {
            DataSite::Dram
        } else if r == &self.proc {
            DataSite::SameNodes
        } else {
            DataSite::OtherNodes
        }
    }

    /// The layout the layer reads its inputs in, given where its producers
    /// stored them. Inputs stored in DRAM but read from processing nodes
    /// (`src` on chip) are forwarded: the nodes that fetched or produced
    /// them pass them on, so they are read from `src`, spread over it as
    /// they were over DRAM.
    pub fn input_layout(&self, mut stored: DataLayout) -> DataLayout {
        if self.src.kind == RegionKind::Proc
            && stored.regions.iter().any(|r| r.kind == RegionKind::Dram)
        {
            stored.regions = vec![self.src; stored.frngs.len()];
            stored.parts = stored
                .parts
                .iter()
                .map(|p| p.projection(&self.src, true))
                .collect();
        }
        stored
    }
}

//! The schedule document, `nnsched-schedule/1`: the typed form of the file
//! `-o` writes and `evaluate` reads (serde both ways, unknown keys denied),
//! from which the JSON Schema in `schemas/` is generated. See
//! docs/schedule-format.md for the meaning and units of every field.
//!
//! This is a serialization boundary: the search never sees these types.
//! `write` builds a document from a search result; `evaluate` rebuilds the
//! layer mappings from one and costs them again.

mod read;
mod write;

use std::collections::BTreeMap;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::dims::{DataCat, LoopDim, MemLevel, PerCat, PerLevel, PerLoop};
use crate::hw::HwSpec;

pub use read::{DocError, differences, parse};
pub(crate) use write::shape;

/// The format identifier written in every schedule file.
pub const SCHEMA: &str = "nnsched-schedule/1";

/// A schedule of a network on some hardware, with its costs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "nnsched schedule, format nnsched-schedule/1")]
pub struct Schedule {
    /// Always `nnsched-schedule/1`.
    #[schemars(extend("const" = SCHEMA))]
    pub schema: String,
    /// A built-in network name, or the ONNX file's path as given.
    pub network: String,
    /// Samples scheduled together.
    pub batch: u64,
    /// The hardware, in the hardware file's own schema.
    pub hardware: HwSpec,
    /// The search options.
    pub options: Options,
    /// Present only when the search was stopped early.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub incomplete: Option<Incomplete>,
    /// Where the network input is stored.
    pub input_layout: Layout,
    /// Where each external input is stored, by name.
    pub ext_layouts: BTreeMap<String, Layout>,
    /// Totals over all layers.
    pub totals: Totals,
    /// The segments, in order.
    pub segments: Vec<SegmentDoc>,
    /// The layers in scheduling order.
    pub layers: Vec<LayerDoc>,
}

/// The search options a schedule was found with.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Options {
    /// What the search minimized.
    pub goal: GoalName,
    /// Per category, whether it may bypass the global buffer.
    pub bypass: Cats<bool>,
    /// The analytical bypass solvers instead of exhaustive blocking.
    pub solve_loopblocking: bool,
    /// Which partitions over the nodes were considered.
    pub partition: PartitionOpts,
    /// Nodes needing the same data fetch it once and pass it on.
    pub access_forwarding: bool,
    /// Nodes share their global buffers over the NoC.
    pub gbuf_sharing: bool,
    /// Inter-layer pipelining.
    pub pipeline: PipelineOpts,
    /// Schedules kept per layer and per network prefix.
    pub top: u64,
    /// How NoC hops were counted.
    pub noc_hops: NocHops,
    /// The search across layers (absent in documents of nnsched before
    /// the frontier search: `beam`).
    #[serde(default = "SearchName::beam")]
    pub search: SearchName,
}

/// The search across layers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum SearchName {
    /// nn_dataflow's layer-wise beam.
    Beam,
    /// The beam, then the best schedule of each frontier of live data
    /// layouts.
    Frontier,
}

impl SearchName {
    fn beam() -> Self {
        SearchName::Beam
    }
}

/// The optimization goal: energy, delay, or their product.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum GoalName {
    /// Energy, then time.
    #[serde(rename = "e")]
    E,
    /// Time, then energy.
    #[serde(rename = "d")]
    D,
    /// Energy-delay product.
    #[serde(rename = "ed")]
    Ed,
}

/// How NoC hops were counted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum NocHops {
    /// Memoized as nn_dataflow memoizes them (taken as written by
    /// `evaluate`).
    NnDataflow,
    /// Every partition counted for itself.
    Exact,
}

/// Which partitions over the nodes the search considered.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PartitionOpts {
    /// Several partition dimensions at once.
    pub hybrid: bool,
    /// Batch partitioning allowed.
    pub batch: bool,
    /// Input-channel partitioning allowed.
    pub ifmaps: bool,
}

/// Inter-layer pipelining options.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PipelineOpts {
    /// Spatial pipelining: layers side by side on disjoint nodes.
    pub interlayer: bool,
    /// Temporal pipelining: layers in turn, data kept on chip.
    pub save_writeback: bool,
    /// `null`: unlimited.
    pub time_overhead: Option<f64>,
    /// `null`: unlimited.
    pub max_degree: Option<f64>,
    /// TANGRAM's optimizations (otherwise linear chains only).
    pub optimize: bool,
}

/// Why a schedule covers only some layers.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Incomplete {
    /// Why the search stopped: `interrupted`, or `time limit of S s`.
    pub reason: String,
    /// The layers without a schedule.
    pub unscheduled: Vec<String>,
}

/// Totals of a schedule.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Totals {
    /// Energy.
    pub cost: f64,
    /// Cycles.
    pub time: u64,
    /// Operations (MACs of conv and FC layers).
    pub ops: Count,
    /// Per level, summed over categories; accesses to other nodes' buffers
    /// count at `gbuf`.
    pub accesses: Levels<Count>,
    /// NoC traffic, word-hops.
    pub noc_hops: Count,
    /// Energy by what it pays for.
    pub cost_breakdown: CostBreakdown,
}

/// A cost split by what it pays for.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CostBreakdown {
    /// Operations.
    pub op: f64,
    /// Memory accesses at every level.
    pub access: f64,
    /// NoC traffic.
    pub noc: f64,
    /// Static energy over the time.
    #[serde(rename = "static")]
    pub static_: f64,
}

/// Layers run together: slots side by side, layers of a slot in turn.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SegmentDoc {
    /// Slots side by side, each on its own nodes.
    pub slots: Vec<SlotDoc>,
    /// Cycles: its nodes or its DRAM traffic, whichever is longer.
    pub time: u64,
    /// Cycles its DRAM traffic needs.
    pub dram_time: u64,
    /// The longest chain of layers through it.
    pub critical_time: u64,
}

/// Layers sharing one node region in a segment.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SlotDoc {
    /// Layers run in turn, in order.
    pub layers: Vec<String>,
    /// Its nodes.
    pub region: Region,
}

/// One layer's schedule: where it runs, its mapping, and its costs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LayerDoc {
    /// The layer name.
    pub name: String,
    /// `conv`, `fc`, `gconv`, `dwconv`, `pool`, `eltwise`.
    #[serde(rename = "type")]
    pub type_name: String,
    /// Its segment.
    pub segment: u64,
    /// Its slot in the segment.
    pub slot: u64,
    /// Its position in the slot.
    pub slot_position: u64,
    /// Where it runs and where its data lives.
    pub placement: PlacementDoc,
    /// Its geometry.
    pub shape: ShapeDoc,
    /// Energy.
    pub cost: f64,
    /// Cycles.
    pub time: u64,
    /// Operations.
    pub ops: Count,
    /// Accesses per level; other nodes' buffers count at `gbuf`.
    pub accesses: Levels<Count>,
    /// NoC traffic, word-hops.
    pub noc_hops: Count,
    /// Energy by what it pays for.
    pub cost_breakdown: CostBreakdown,
    /// Cycles of computation.
    pub proc_time: u64,
    /// Cycles of the array bus.
    pub bus_time: u64,
    /// Cycles of DRAM traffic.
    pub dram_time: u64,
    /// Processing nodes.
    pub num_nodes: u64,
    /// Groups of a grouped conv, run in turn; the mapping and blocking are one group's.
    pub groups: u64,
    /// The array mapping of one node (and one group).
    pub mapping: ArrayDoc,
    /// Loop blocking of one node's share.
    pub blocking: BlockingDoc,
    /// Buffer sharing, when enabled and some data is shared.
    pub sharing: Option<SharingDoc>,
    /// Per category, whether the buffer holds it (else it bypasses).
    pub stored_in_gbuf: Cats<bool>,
    /// Fetch counts into the buffer and into the register files.
    pub fetches: Fetches,
    /// Words held per buffer and per register file.
    pub buffer_words: BufferWords,
    /// Accesses per level and category.
    pub access_by_category: AccessByCategory,
    /// NoC word-hops per category.
    pub noc_hops_by_category: Cats<Count>,
    /// Weights stay in the buffer for the whole layer.
    pub filter_pinned: bool,
    /// How the layer is split over its nodes.
    pub partition: PartitionDoc,
    /// Hops to move each category once between memory and the nodes.
    pub unit_nhops: Cats<u64>,
    /// Where its outputs are stored.
    pub ofmap_layout: Layout,
}

/// Where a layer runs and where its data lives.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PlacementDoc {
    /// The processing nodes.
    pub proc: Region,
    /// Where inputs are read from.
    pub src: Region,
    /// Where outputs are written.
    pub dst: Region,
    /// Each node runs this layer only, so weights may stay in its buffer.
    pub filters_pinned_possible: bool,
}

/// A layer's geometry.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ShapeDoc {
    /// Input channels.
    pub nifm: u64,
    /// Output channels.
    pub nofm: u64,
    /// Output height.
    pub hofm: u64,
    /// Output width.
    pub wofm: u64,
    /// Input height without padding.
    pub hifm: u64,
    /// Input width without padding.
    pub wifm: u64,
    /// Filter or window height.
    pub hfil: u64,
    /// Filter or window width.
    pub wfil: u64,
    /// Vertical stride.
    pub htrd: u64,
    /// Horizontal stride.
    pub wtrd: u64,
    /// Channel groups.
    pub groups: u64,
    /// Filter dilation `[rows, cols]`; written only for dilated convs.
    #[serde(default = "ones", skip_serializing_if = "is_ones")]
    pub dilation: [u64; 2],
    /// Output rows and columns per input row and column `[rows, cols]`;
    /// written only for upsampling layers (resizes, transposed convs, whose
    /// filter is one phase's taps: `weights = hfil * wfil * rows * cols` per
    /// channel pair).
    #[serde(default = "ones", skip_serializing_if = "is_ones")]
    pub upsampling: [u64; 2],
}

fn ones() -> [u64; 2] {
    [1, 1]
}

fn is_ones(d: &[u64; 2]) -> bool {
    *d == [1, 1]
}

/// Row-stationary mapping onto the PE array.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ArrayDoc {
    /// Filter rows by output rows.
    pub logical_pe_set: [u64; 2],
    /// Folds of the logical set.
    pub fold: [u64; 2],
    /// Replicas of the folded set.
    pub replication: [u64; 2],
    /// The folded logical set.
    pub folded_pe_set: [u64; 2],
    /// The PEs one pass occupies.
    pub physical_pe_set: [u64; 2],
    /// Average fraction of the array doing useful work.
    pub utilization: f64,
    /// Input channels the replicas take side by side.
    pub replicated_ifms: u64,
    /// Output channels the replicas take side by side.
    pub replicated_ofms: u64,
    /// Iterations left for blocking.
    pub loop_counts: Loops<u64>,
    /// Operations of one loop body.
    pub unit_ops: Count,
    /// Cycles of one loop body.
    pub unit_time: u64,
}

/// Loop blocking: factors per level and orders.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BlockingDoc {
    /// Factors per level: `dram` loops around the buffer, `gbuf` between
    /// buffer and register files, `regf` inside a register file.
    pub factors: BlockFactors,
    /// Orders as run, outermost first.
    pub orders: BlockOrders,
    /// The buffer-level order the search chose, before buffer sharing
    /// rearranged it.
    pub searched_gbuf_order: [LoopName; 3],
}

/// Blocking factors per level.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BlockFactors {
    /// Loops around the buffer.
    pub dram: Loops<u64>,
    /// Loops between the buffer and the register files.
    pub gbuf: Loops<u64>,
    /// Loops inside a register file.
    pub regf: Loops<u64>,
}

/// Loop orders, outermost first.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BlockOrders {
    /// The DRAM level.
    pub dram: [LoopName; 3],
    /// The buffer level.
    pub gbuf: [LoopName; 3],
}

/// How buffers are shared among nodes.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SharingDoc {
    /// Nodes sharing each category.
    pub subgroup_size: Cats<u64>,
    /// Factors of the sharing level.
    pub level_factors: Loops<u64>,
    /// Loop order of the sharing level, outermost first.
    pub level_order: [LoopName; 3],
    /// Rotation rounds per category.
    pub rotation_rounds: Cats<u64>,
    /// Units each rotation moves.
    pub rotation_units: Cats<u64>,
    /// Rotation traffic, word-hops.
    pub rotation_hops: Cats<Count>,
    /// Wide-fetch traffic, word-hops.
    pub wide_fetch_hops: Cats<Count>,
    /// Nodes a wide fetch reaches.
    pub wide_fetch_width: Cats<Count>,
}

/// How often each category is fetched into a level.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Fetches {
    /// Into the buffer.
    pub dram: Cats<u64>,
    /// Into the register files.
    pub gbuf: Cats<u64>,
}

/// Words each category takes in a buffer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BufferWords {
    /// In one global buffer.
    pub gbuf: Cats<u64>,
    /// In one register file.
    pub regf: Cats<u64>,
}

/// Accesses per level and category.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AccessByCategory {
    /// DRAM.
    pub dram: Cats<Count>,
    /// The global buffers.
    pub gbuf: Cats<Count>,
    /// The array interconnects.
    pub itcn: Cats<Count>,
    /// The register files.
    pub regf: Cats<Count>,
    /// Other nodes' buffers (on-chip inputs and outputs).
    pub remote_gbuf: Cats<Count>,
}

/// A partition over the node grid: its nesting order, outermost first, and
/// each dimension's `[rows, cols]` extent.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PartitionDoc {
    /// Nesting order, outermost first.
    pub order: [PartName; 4],
    /// Each dimension's extent.
    pub dims: PartDims,
}

/// Extents of the partition dimensions, `[rows, cols]`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PartDims {
    /// Output channels.
    pub outp: [u64; 2],
    /// Output map tiles.
    pub ofmp: [u64; 2],
    /// Batch.
    pub batp: [u64; 2],
    /// Input channels.
    pub inpp: [u64; 2],
}

/// A partition dimension: output channels, output map tiles, batch, input
/// channels.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum PartName {
    /// Output channels.
    Outp,
    /// Output map tiles.
    Ofmp,
    /// Batch.
    Batp,
    /// Input channels.
    Inpp,
}

/// A block of nodes; see docs/schedule-format.md for folded regions.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Region {
    /// Processing or DRAM nodes.
    pub kind: RegionKindName,
    /// Nodes, `[rows, cols]`.
    pub dim: [u64; 2],
    /// The first node, `[row, col]`.
    pub origin: [i64; 2],
    /// Distance between neighbours.
    pub dist: [i64; 2],
    /// The width a folded region wraps at.
    pub wtot: i64,
    /// Nodes before the wrap on its first row; negative: moving left.
    pub wbeg: i64,
}

/// What a region's nodes are.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum RegionKindName {
    /// Processing nodes.
    Proc,
    /// DRAM channels.
    Dram,
}

/// Where feature maps are stored: channel ranges, each spread over a region
/// by a partition.
pub type Layout = Vec<LayoutPiece>;

/// A range of feature maps spread over a region.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LayoutPiece {
    /// `[batch, channel, row, col]`, half-open with `end`.
    pub begin: [u64; 4],
    /// End of the range.
    pub end: [u64; 4],
    /// The nodes storing it.
    pub region: Region,
    /// How it is spread over them.
    pub partition: PartitionDoc,
}

/// A loop: input channels, output channels, batch.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum LoopName {
    /// Input channels.
    Ifm,
    /// Output channels.
    Ofm,
    /// Batch samples.
    Bat,
}

/// A value per data category.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Cats<T> {
    /// Weights.
    pub fil: T,
    /// Input maps.
    pub ifm: T,
    /// Output maps.
    pub ofm: T,
}

/// A value per loop.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Loops<T> {
    /// Input channels.
    pub ifm: T,
    /// Output channels.
    pub ofm: T,
    /// Batch.
    pub bat: T,
}

/// A value per memory level.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Levels<T> {
    /// DRAM.
    pub dram: T,
    /// Global buffer.
    pub gbuf: T,
    /// Array interconnect.
    pub itcn: T,
    /// Register file.
    pub regf: T,
}

/// A count (accesses, operations, hops): written as an exact integer when
/// it is one, else as the shortest decimal that reads back to the double.
#[derive(Clone, Copy, Debug, PartialEq, PartialOrd)]
pub struct Count(pub f64);

/// The largest integer every smaller one of which a double holds exactly.
const EXACT_INT: f64 = 9.007_199_254_740_992e15;

impl Serialize for Count {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if self.0.fract() == 0.0 && self.0.abs() < EXACT_INT {
            s.serialize_i64(self.0 as i64)
        } else {
            s.serialize_f64(self.0)
        }
    }
}

impl<'de> Deserialize<'de> for Count {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        f64::deserialize(d).map(Count)
    }
}

impl JsonSchema for Count {
    fn inline_schema() -> bool {
        true
    }
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Count".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "A count; an exact integer when integral.",
            "type": "number",
            "minimum": 0
        })
    }
}

/// Conversions both ways between a document's named fields and the
/// enum-indexed array of the same values.
macro_rules! named_fields {
    ($doc:ident, $arr:ident, $enum:ident, [$($field:ident: $variant:ident),+]) => {
        impl<T: Copy> From<$arr<T>> for $doc<T> {
            fn from(v: $arr<T>) -> Self {
                $doc { $($field: v[$enum::$variant]),+ }
            }
        }

        impl<T> From<$doc<T>> for $arr<T> {
            fn from(v: $doc<T>) -> Self {
                $arr([$(v.$field),+])
            }
        }
    };
}

named_fields!(Cats, PerCat, DataCat, [fil: Fil, ifm: Ifm, ofm: Ofm]);
named_fields!(Loops, PerLoop, LoopDim, [ifm: Ifm, ofm: Ofm, bat: Bat]);
named_fields!(Levels, PerLevel, MemLevel, [dram: Dram, gbuf: Gbuf, itcn: Itcn, regf: Regf]);

/// Counts per category from floats.
fn counts(v: PerCat<f64>) -> Cats<Count> {
    Cats::from(v.map(|_, x| Count(x)))
}

impl From<LoopName> for LoopDim {
    fn from(l: LoopName) -> Self {
        match l {
            LoopName::Ifm => LoopDim::Ifm,
            LoopName::Ofm => LoopDim::Ofm,
            LoopName::Bat => LoopDim::Bat,
        }
    }
}

impl From<LoopDim> for LoopName {
    fn from(l: LoopDim) -> Self {
        match l {
            LoopDim::Ifm => LoopName::Ifm,
            LoopDim::Ofm => LoopName::Ofm,
            LoopDim::Bat => LoopName::Bat,
        }
    }
}

/// The JSON Schema of the document, as checked in at
/// `schemas/schedule.schema.json`.
pub fn json_schema() -> String {
    let generator = schemars::generate::SchemaSettings::draft2020_12().into_generator();
    let mut schema = generator.into_root_schema_for::<Schedule>();
    schema.insert(
        "$id".into(),
        "https://nnsched.invalid/schemas/schedule.schema.json".into(),
    );
    schema.insert(
        "description".into(),
        "See docs/schedule-format.md for the meaning and units of every field.".into(),
    );
    let mut text = serde_json::to_string_pretty(&schema).expect("a schema serializes");
    text.push('\n');
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_checked_in_schema_is_the_generated_one() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/schemas/schedule.schema.json");
        let file = std::fs::read_to_string(path).unwrap();
        assert!(
            file == json_schema(),
            "schemas/schedule.schema.json is out of date: nnsched schema > schemas/schedule.schema.json"
        );
    }

    /// Costs read back are the doubles written: serde_json's default float
    /// parser is off by one unit in the last place on some 17-digit
    /// decimals, which made `evaluate` report a recomputed cost as
    /// different from the file's.
    #[test]
    fn floats_read_back_exactly() {
        for x in [266610278.39999998_f64, 11975871180.800007, 0.1 + 0.2] {
            let text = serde_json::to_string(&x).unwrap();
            let v: serde_json::Value = serde_json::from_str(&text).unwrap();
            let back: f64 = serde_json::from_value(v).unwrap();
            assert_eq!(back.to_bits(), x.to_bits(), "{text}");
        }
    }

    #[test]
    fn counts_are_integers_when_integral() {
        let v = serde_json::to_value([Count(3.0), Count(2.5), Count(1e300)]).unwrap();
        assert_eq!(v.to_string(), "[3,2.5,1e+300]");
        let back: Vec<Count> = serde_json::from_value(v).unwrap();
        assert_eq!(back, [Count(3.0), Count(2.5), Count(1e300)]);
    }
}

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

pub use read::{DocError, parse};

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
    pub batch: u64,
    /// The hardware, in the hardware file's own schema.
    pub hardware: HwSpec,
    pub options: Options,
    /// Present only when the search was stopped early.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub incomplete: Option<Incomplete>,
    /// Where the network input is stored.
    pub input_layout: Layout,
    /// Where each external input is stored, by name.
    pub ext_layouts: BTreeMap<String, Layout>,
    pub totals: Totals,
    pub segments: Vec<SegmentDoc>,
    /// The layers in scheduling order.
    pub layers: Vec<LayerDoc>,
}

/// The search options a schedule was found with.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Options {
    pub goal: GoalName,
    /// Per category, whether it may bypass the global buffer.
    pub bypass: Cats<bool>,
    pub solve_loopblocking: bool,
    pub partition: PartitionOpts,
    pub access_forwarding: bool,
    pub gbuf_sharing: bool,
    pub pipeline: PipelineOpts,
    pub top: u64,
    pub noc_hops: NocHops,
}

/// The optimization goal: energy, delay, or their product.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum GoalName {
    #[serde(rename = "e")]
    E,
    #[serde(rename = "d")]
    D,
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

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PartitionOpts {
    pub hybrid: bool,
    pub batch: bool,
    pub ifmaps: bool,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PipelineOpts {
    pub interlayer: bool,
    pub save_writeback: bool,
    /// `null`: unlimited.
    pub time_overhead: Option<f64>,
    /// `null`: unlimited.
    pub max_degree: Option<f64>,
    pub optimize: bool,
}

/// Why a schedule covers only some layers.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Incomplete {
    pub reason: String,
    /// The layers without a schedule.
    pub unscheduled: Vec<String>,
}

/// Totals of a schedule.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Totals {
    pub cost: f64,
    pub time: u64,
    pub ops: Count,
    /// Per level, summed over categories; accesses to other nodes' buffers
    /// count at `gbuf`.
    pub accesses: Levels<Count>,
    pub noc_hops: Count,
    pub cost_breakdown: CostBreakdown,
}

/// A cost split by what it pays for.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CostBreakdown {
    pub op: f64,
    pub access: f64,
    pub noc: f64,
    #[serde(rename = "static")]
    pub static_: f64,
}

/// Layers run together: slots side by side, layers of a slot in turn.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SegmentDoc {
    pub slots: Vec<SlotDoc>,
    pub time: u64,
    pub dram_time: u64,
    pub critical_time: u64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SlotDoc {
    pub layers: Vec<String>,
    pub region: Region,
}

/// One layer's schedule: where it runs, its mapping, and its costs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LayerDoc {
    pub name: String,
    /// `conv`, `fc`, `gconv`, `dwconv`, `pool`, `eltwise`.
    #[serde(rename = "type")]
    pub type_name: String,
    pub segment: u64,
    pub slot: u64,
    pub slot_position: u64,
    pub placement: PlacementDoc,
    pub shape: ShapeDoc,
    pub cost: f64,
    pub time: u64,
    pub ops: Count,
    pub accesses: Levels<Count>,
    pub noc_hops: Count,
    pub cost_breakdown: CostBreakdown,
    pub proc_time: u64,
    pub bus_time: u64,
    pub dram_time: u64,
    pub num_nodes: u64,
    pub groups: u64,
    /// The array mapping of one node (and one group).
    pub mapping: ArrayDoc,
    pub blocking: BlockingDoc,
    /// Buffer sharing, when enabled and some data is shared.
    pub sharing: Option<SharingDoc>,
    pub stored_in_gbuf: Cats<bool>,
    pub fetches: Fetches,
    pub buffer_words: BufferWords,
    pub access_by_category: AccessByCategory,
    pub noc_hops_by_category: Cats<Count>,
    pub filter_pinned: bool,
    pub partition: PartitionDoc,
    pub unit_nhops: Cats<u64>,
    pub ofmap_layout: Layout,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PlacementDoc {
    pub proc: Region,
    pub src: Region,
    pub dst: Region,
    pub filters_pinned_possible: bool,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ShapeDoc {
    pub nifm: u64,
    pub nofm: u64,
    pub hofm: u64,
    pub wofm: u64,
    pub hifm: u64,
    pub wifm: u64,
    pub hfil: u64,
    pub wfil: u64,
    pub htrd: u64,
    pub wtrd: u64,
    pub groups: u64,
}

/// Row-stationary mapping onto the PE array.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ArrayDoc {
    pub logical_pe_set: [u64; 2],
    pub fold: [u64; 2],
    pub replication: [u64; 2],
    pub folded_pe_set: [u64; 2],
    pub physical_pe_set: [u64; 2],
    pub utilization: f64,
    pub replicated_ifms: u64,
    pub replicated_ofms: u64,
    pub loop_counts: Loops<u64>,
    pub unit_ops: Count,
    pub unit_time: u64,
}

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

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BlockFactors {
    pub dram: Loops<u64>,
    pub gbuf: Loops<u64>,
    pub regf: Loops<u64>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BlockOrders {
    pub dram: [LoopName; 3],
    pub gbuf: [LoopName; 3],
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SharingDoc {
    pub subgroup_size: Cats<u64>,
    pub level_factors: Loops<u64>,
    pub level_order: [LoopName; 3],
    pub rotation_rounds: Cats<u64>,
    pub rotation_units: Cats<u64>,
    pub rotation_hops: Cats<Count>,
    pub wide_fetch_hops: Cats<Count>,
    pub wide_fetch_width: Cats<Count>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Fetches {
    pub dram: Cats<u64>,
    pub gbuf: Cats<u64>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BufferWords {
    pub gbuf: Cats<u64>,
    pub regf: Cats<u64>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AccessByCategory {
    pub dram: Cats<Count>,
    pub gbuf: Cats<Count>,
    pub itcn: Cats<Count>,
    pub regf: Cats<Count>,
    pub remote_gbuf: Cats<Count>,
}

/// A partition over the node grid: its nesting order, outermost first, and
/// each dimension's `[rows, cols]` extent.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PartitionDoc {
    pub order: [PartName; 4],
    pub dims: PartDims,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PartDims {
    pub outp: [u64; 2],
    pub ofmp: [u64; 2],
    pub batp: [u64; 2],
    pub inpp: [u64; 2],
}

/// A partition dimension: output channels, output map tiles, batch, input
/// channels.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum PartName {
    Outp,
    Ofmp,
    Batp,
    Inpp,
}

/// A block of nodes; see docs/schedule-format.md for folded regions.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Region {
    pub kind: RegionKindName,
    pub dim: [u64; 2],
    pub origin: [i64; 2],
    pub dist: [i64; 2],
    pub wtot: i64,
    pub wbeg: i64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum RegionKindName {
    Proc,
    Dram,
}

/// Where feature maps are stored: channel ranges, each spread over a region
/// by a partition.
pub type Layout = Vec<LayoutPiece>;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LayoutPiece {
    /// `[batch, channel, row, col]`, half-open with `end`.
    pub begin: [u64; 4],
    pub end: [u64; 4],
    pub region: Region,
    pub partition: PartitionDoc,
}

/// A loop: input channels, output channels, batch.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum LoopName {
    Ifm,
    Ofm,
    Bat,
}

/// A value per data category.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Cats<T> {
    pub fil: T,
    pub ifm: T,
    pub ofm: T,
}

/// A value per loop.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Loops<T> {
    pub ifm: T,
    pub ofm: T,
    pub bat: T,
}

/// A value per memory level.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Levels<T> {
    pub dram: T,
    pub gbuf: T,
    pub itcn: T,
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

impl<T: Copy> From<PerCat<T>> for Cats<T> {
    fn from(v: PerCat<T>) -> Self {
        Cats {
            fil: v[DataCat::Fil],
            ifm: v[DataCat::Ifm],
            ofm: v[DataCat::Ofm],
        }
    }
}

impl<T> From<Cats<T>> for PerCat<T> {
    fn from(v: Cats<T>) -> Self {
        PerCat([v.fil, v.ifm, v.ofm])
    }
}

impl<T: Copy> From<PerLoop<T>> for Loops<T> {
    fn from(v: PerLoop<T>) -> Self {
        Loops {
            ifm: v[LoopDim::Ifm],
            ofm: v[LoopDim::Ofm],
            bat: v[LoopDim::Bat],
        }
    }
}

impl<T> From<Loops<T>> for PerLoop<T> {
    fn from(v: Loops<T>) -> Self {
        PerLoop([v.ifm, v.ofm, v.bat])
    }
}

impl<T: Copy> From<PerLevel<T>> for Levels<T> {
    fn from(v: PerLevel<T>) -> Self {
        Levels {
            dram: v[MemLevel::Dram],
            gbuf: v[MemLevel::Gbuf],
            itcn: v[MemLevel::Itcn],
            regf: v[MemLevel::Regf],
        }
    }
}

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

//! Hardware descriptions: the YAML schema (`HwSpec`, a serialization
//! boundary) and the validated `Hardware` the cost model reads, in words and
//! per-word energies as nn_dataflow converts them.

use std::fmt;
use std::path::Path;

use anyhow::{Context, Result, bail};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Rows and columns of a 2D grid (node grid, PE array).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct Dim2 {
    /// Rows.
    pub h: u64,
    /// Columns.
    pub w: u64,
}

impl Dim2 {
    /// Rows by columns.
    pub const fn new(h: u64, w: u64) -> Self {
        Dim2 { h, w }
    }
    /// The number of cells.
    pub fn size(&self) -> u64 {
        self.h * self.w
    }
}

impl fmt::Display for Dim2 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}x{}", self.h, self.w)
    }
}

/// Where DRAM sits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub enum Memory {
    /// At the four corner nodes of the grid.
    #[serde(rename = "2d")]
    TwoD,
    /// Stacked on every node.
    #[serde(rename = "3d")]
    ThreeD,
}

/// Energy of each event, in any consistent unit (pJ in the shipped files).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Energy {
    /// Per MAC or other operation.
    pub mac: f64,
    /// Per word read or written in DRAM.
    pub dram: f64,
    /// Per word accessed in a global buffer.
    pub gbuf: f64,
    /// Per word moved over a PE array's interconnect.
    pub itcn: f64,
    /// Per word accessed in a register file.
    pub regf: f64,
    /// Per word per hop on the network-on-chip.
    pub noc_hop: f64,
    /// Static energy of the whole chip per cycle.
    pub idle: f64,
}

impl Energy {
    fn fields(&self) -> [(&'static str, f64); 7] {
        [
            ("mac", self.mac),
            ("dram", self.dram),
            ("gbuf", self.gbuf),
            ("itcn", self.itcn),
            ("regf", self.regf),
            ("noc_hop", self.noc_hop),
            ("idle", self.idle),
        ]
    }

    /// Per-word access energy of a memory level.
    pub fn access(&self, level: crate::dims::MemLevel) -> f64 {
        use crate::dims::MemLevel::*;
        match level {
            Dram => self.dram,
            Gbuf => self.gbuf,
            Itcn => self.itcn,
            Regf => self.regf,
        }
    }
}

/// A number or `inf`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum MaybeInf {
    /// Bytes per cycle.
    Num(f64),
    /// `inf` (or `.inf`, `infinity`): unlimited.
    Text(String),
}

/// The hardware YAML file, field for field (see README for units); turned
/// into validated `Hardware` by `Hardware::from_spec`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HwSpec {
    /// Free text.
    pub name: String,
    /// Bits per data word.
    pub word_bits: i64,
    /// Node grid, rows x cols.
    pub nodes: [i64; 2],
    /// PEs per node, rows x cols.
    pub pe_array: [i64; 2],
    /// Register file per PE, bytes.
    pub regf_bytes: i64,
    /// Global buffer per node, bytes.
    pub gbuf_bytes: i64,
    /// Where DRAM sits.
    pub memory: Memory,
    /// Array multicast bus width per data type, bits; 0: no bus limit.
    pub array_bus_bits: i64,
    /// Bytes per cycle for all nodes together, or `inf`.
    pub dram_bandwidth: MaybeInf,
    /// Energy per event.
    pub energy: Energy,
}

/// Validated hardware, in words.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Hardware {
    /// The hardware's name.
    pub name: String,
    /// Bits per word.
    pub word_bits: u64,
    /// Node grid.
    pub nodes: Dim2,
    /// PEs per node.
    pub pe_array: Dim2,
    /// Register file words per PE.
    pub regf_words: u64,
    /// Global buffer words per node.
    pub gbuf_words: u64,
    /// Where DRAM sits.
    pub memory: Memory,
    /// Words the array bus multicasts per cycle; `None` for no limit.
    pub array_bus_words: Option<u64>,
    /// DRAM words per cycle for all nodes together (may be infinite).
    pub dram_words_per_cycle: f64,
    /// Energy per event.
    pub energy: Energy,
}

/// The hardware files shipped in `hw/`, built into the binary so that they
/// work without a checkout (`--hw tetris`): name and YAML text.
pub const PRESETS: &[(&str, &str)] = &[
    ("eyeriss", include_str!("../hw/eyeriss.yaml")),
    (
        "eyeriss-isscc16",
        include_str!("../hw/eyeriss-isscc16.yaml"),
    ),
    ("tangram", include_str!("../hw/tangram.yaml")),
    ("tetris", include_str!("../hw/tetris.yaml")),
];

/// The YAML text of a built-in hardware description.
pub fn preset(name: &str) -> Option<&'static str> {
    PRESETS.iter().find(|(n, _)| *n == name).map(|&(_, t)| t)
}

/// A preset's description: the first sentence of its file's leading
/// comment.
pub fn preset_summary(text: &str) -> String {
    let comment: Vec<&str> = text.lines().map_while(|l| l.strip_prefix("# ")).collect();
    let comment = comment.join(" ");
    match comment.find(". ") {
        Some(i) => comment[..=i].to_string(),
        None => comment,
    }
}

impl Hardware {
    /// Hardware named on a command line: a YAML file, or a preset's name
    /// when no such file exists (a path always wins; what looks like a path
    /// is read as one, so a typo in it says that the file is missing).
    pub fn from_arg(arg: &str) -> Result<Hardware> {
        let path = Path::new(arg);
        let yaml = path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("yaml") || e.eq_ignore_ascii_case("yml"));
        if path.exists() || yaml || arg.contains(std::path::MAIN_SEPARATOR) {
            return Self::load(path);
        }
        match preset(arg) {
            Some(text) => Self::parse(text).with_context(|| format!("preset '{arg}'")),
            None => {
                let names: Vec<&str> = PRESETS.iter().map(|p| p.0).collect();
                bail!(
                    "{arg}: no such file, and not a built-in hardware ({})",
                    names.join(", ")
                )
            }
        }
    }

    /// Reads and validates a hardware YAML file; errors name the file.
    pub fn load(path: &Path) -> Result<Hardware> {
        let text = crate::files::read_text(path, crate::files::Limit::Hardware)
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        Self::parse(&text).with_context(|| path.display().to_string())
    }

    /// Parses and validates hardware YAML text.
    pub fn parse(text: &str) -> Result<Hardware> {
        let spec: HwSpec =
            serde_yaml::from_str(text).map_err(|e| anyhow::anyhow!("{}", yaml_error(&e)))?;
        Self::from_spec(spec)
    }

    /// Validates a spec and converts it to words as nn_dataflow does: bytes
    /// to words by `ceil(word_bits / 8)`, bus bits to words by `word_bits`.
    pub fn from_spec(spec: HwSpec) -> Result<Hardware> {
        let word_bits = bounded("word_bits", spec.word_bits, 64)?;
        let word_bytes = word_bits.div_ceil(8);
        let dim = |key: &str, v: [i64; 2], max: u64| -> Result<Dim2> {
            Ok(Dim2::new(
                bounded(&format!("{key}[0]"), v[0], max)?,
                bounded(&format!("{key}[1]"), v[1], max)?,
            ))
        };
        let nodes = dim("nodes", spec.nodes, 64)?;
        let pe_array = dim("pe_array", spec.pe_array, 1024)?;
        let regf_bytes = bounded("regf_bytes", spec.regf_bytes, 1 << 30)?;
        let gbuf_bytes = bounded("gbuf_bytes", spec.gbuf_bytes, 1 << 40)?;
        for (key, bytes) in [("regf_bytes", regf_bytes), ("gbuf_bytes", gbuf_bytes)] {
            if bytes < word_bytes {
                bail!("key '{key}': {bytes} B holds no {word_bits}-bit word");
            }
        }
        if spec.array_bus_bits < 0 {
            bail!(
                "key 'array_bus_bits': must not be negative (got {})",
                spec.array_bus_bits
            );
        }
        let bus_words = spec.array_bus_bits as u64 / word_bits;
        let dram_bytes = spec.dram_bandwidth.bytes_per_cycle()?;
        for (key, v) in spec.energy.fields() {
            if !v.is_finite() || v < 0.0 {
                bail!("key 'energy.{key}': must be a finite non-negative number (got {v})");
            }
            // Far above any memory's (DRAM is ~10^2 pJ), and low enough
            // that no count a schedule can have makes an infinite cost.
            if v > MAX_ENERGY_PJ {
                bail!("key 'energy.{key}': at most {MAX_ENERGY_PJ:e} pJ supported (got {v:e})");
            }
        }
        Ok(Hardware {
            name: spec.name,
            word_bits,
            nodes,
            pe_array,
            regf_words: regf_bytes / word_bytes,
            gbuf_words: gbuf_bytes / word_bytes,
            memory: spec.memory,
            array_bus_words: (bus_words > 0).then_some(bus_words),
            dram_words_per_cycle: dram_bytes / word_bytes as f64,
            energy: spec.energy,
        })
    }

    /// Bytes per word.
    pub fn word_bytes(&self) -> u64 {
        self.word_bits.div_ceil(8)
    }

    /// A file-format description that converts back to this hardware.
    pub fn to_spec(&self) -> HwSpec {
        let wb = self.word_bytes();
        let dram = self.dram_words_per_cycle * wb as f64;
        HwSpec {
            name: self.name.clone(),
            word_bits: self.word_bits as i64,
            nodes: [self.nodes.h as i64, self.nodes.w as i64],
            pe_array: [self.pe_array.h as i64, self.pe_array.w as i64],
            regf_bytes: (self.regf_words * wb) as i64,
            gbuf_bytes: (self.gbuf_words * wb) as i64,
            memory: self.memory,
            array_bus_bits: self
                .array_bus_words
                .map_or(0, |w| (w * self.word_bits) as i64),
            dram_bandwidth: if dram.is_finite() {
                MaybeInf::Num(dram)
            } else {
                MaybeInf::Text("inf".into())
            },
            energy: self.energy,
        }
    }
}

/// The largest energy per event a hardware file may give, pJ.
pub const MAX_ENERGY_PJ: f64 = 1e6;

/// The slowest DRAM a hardware file may give, bytes per cycle.
pub const MIN_DRAM_BYTES_PER_CYCLE: f64 = 1e-3;

/// A positive size of at most `max`: bounds keep searches finite and
/// arithmetic far from overflow.
fn bounded(key: &str, v: i64, max: u64) -> Result<u64> {
    if v <= 0 {
        bail!("key '{key}': must be positive (got {v})");
    }
    if v as u64 > max {
        bail!("key '{key}': at most {max} supported (got {v})");
    }
    Ok(v as u64)
}

impl MaybeInf {
    /// The DRAM bandwidth in bytes per cycle, validated.
    fn bytes_per_cycle(&self) -> Result<f64> {
        let v = match self {
            MaybeInf::Num(v) => *v,
            MaybeInf::Text(t)
                if matches!(t.to_ascii_lowercase().as_str(), "inf" | ".inf" | "infinity") =>
            {
                f64::INFINITY
            }
            MaybeInf::Text(t) => {
                bail!("key 'dram_bandwidth': expected bytes per cycle or inf (got '{t}')")
            }
        };
        if v.is_nan() || v <= 0.0 {
            bail!("key 'dram_bandwidth': must be positive (got {v})");
        }
        // Slower DRAM would make cycle counts overflow.
        if v < MIN_DRAM_BYTES_PER_CYCLE {
            bail!(
                "key 'dram_bandwidth': at least {MIN_DRAM_BYTES_PER_CYCLE} bytes per cycle supported (got {v})"
            );
        }
        Ok(v)
    }
}

/// serde_yaml's message with its location, and the key path where it has one.
fn yaml_error(e: &serde_yaml::Error) -> String {
    let msg = e.to_string();
    // serde_yaml reports unknown and missing fields without naming the
    // section; its text already carries the line and column.
    msg.replace("unknown field", "unknown key")
        .replace("missing field", "missing key")
}

#[cfg(test)]
mod tests {
    use super::*;

    const TETRIS: &str = "name: tetris
word_bits: 16
nodes: [4, 4]
pe_array: [14, 14]
regf_bytes: 512
gbuf_bytes: 133032
memory: 3d
array_bus_bits: 0
dram_bandwidth: inf
energy:
  mac: 2
  dram: 80
  gbuf: 14
  itcn: 4
  regf: 0.6
  noc_hop: 40
  idle: 200
";

    #[test]
    fn presets_are_the_shipped_files() {
        for (name, text) in PRESETS {
            let hw = Hardware::parse(text).unwrap();
            assert_eq!(hw.name, *name);
            let file = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("hw")
                .join(format!("{name}.yaml"));
            assert_eq!(Hardware::load(&file).unwrap(), hw);
            assert_eq!(Hardware::from_arg(name).unwrap(), hw);
            assert!(!preset_summary(text).is_empty());
        }
        let err = format!("{:#}", Hardware::from_arg("tetrs").unwrap_err());
        assert_eq!(
            err,
            "tetrs: no such file, and not a built-in hardware (eyeriss, eyeriss-isscc16, tangram, tetris)"
        );
    }

    #[test]
    fn converts_to_words() {
        let hw = Hardware::parse(TETRIS).unwrap();
        assert_eq!(hw.gbuf_words, 66516);
        assert_eq!(hw.regf_words, 256);
        assert_eq!(hw.nodes, Dim2::new(4, 4));
        assert_eq!(hw.memory, Memory::ThreeD);
        assert_eq!(hw.array_bus_words, None);
        assert!(hw.dram_words_per_cycle.is_infinite());
        let hw = Hardware::parse(
            &TETRIS
                .replace("array_bus_bits: 0", "array_bus_bits: 64")
                .replace("bandwidth: inf", "bandwidth: 16"),
        )
        .unwrap();
        assert_eq!(hw.array_bus_words, Some(4));
        assert_eq!(hw.dram_words_per_cycle, 8.0);
    }

    #[test]
    fn invalid_files_name_the_key() {
        let cases = [
            (
                "word_bits: 16",
                "word_bits: 0",
                "key 'word_bits': must be positive (got 0)",
            ),
            (
                "nodes: [4, 4]",
                "nodes: [0, 4]",
                "key 'nodes[0]': must be positive (got 0)",
            ),
            (
                "pe_array: [14, 14]",
                "pe_array: [14, -2]",
                "key 'pe_array[1]': must be positive (got -2)",
            ),
            (
                "gbuf_bytes: 133032",
                "gbuf_bytes: 1",
                "key 'gbuf_bytes': 1 B holds no 16-bit word",
            ),
            (
                "regf: 0.6",
                "regf: -1",
                "key 'energy.regf': must be a finite non-negative number (got -1)",
            ),
            (
                "dram: 80",
                "dram: .nan",
                "key 'energy.dram': must be a finite non-negative number (got NaN)",
            ),
            (
                "dram_bandwidth: inf",
                "dram_bandwidth: fast",
                "key 'dram_bandwidth': expected bytes per cycle or inf (got 'fast')",
            ),
            (
                "dram_bandwidth: inf",
                "dram_bandwidth: 0",
                "key 'dram_bandwidth': must be positive (got 0)",
            ),
            (
                "array_bus_bits: 0",
                "array_bus_bits: -8",
                "key 'array_bus_bits': must not be negative (got -8)",
            ),
            (
                "memory: 3d",
                "memory: 4d",
                "memory: unknown variant `4d`, expected `2d` or `3d`",
            ),
            (
                "name: tetris",
                "name: tetris\ncolor: red",
                "unknown key `color`",
            ),
            ("word_bits: 16\n", "", "missing key `word_bits`"),
            (
                "nodes: [4, 4]",
                "nodes: four",
                "nodes: invalid type: string \"four\"",
            ),
            (
                "  idle: 200",
                "  idle: 200\n  leak: 1",
                "energy: unknown key `leak`",
            ),
        ];
        for (from, to, want) in cases {
            let text = TETRIS.replace(from, to);
            assert_ne!(text, TETRIS, "{from}");
            let err = format!("{:#}", Hardware::parse(&text).unwrap_err());
            assert!(err.contains(want), "{to}: got '{err}', want '{want}'");
        }
    }
}

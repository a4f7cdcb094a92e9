//! A sweep's spec file and the points it expands to.

use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_json::Value;

use crate::hw::Hardware;
use crate::options::SearchOptions;

/// A parsed and validated sweep spec (see the README's "Sweeps").
#[derive(Clone, Debug)]
pub struct Spec {
    /// The base hardware, as named in the file (a path or a built-in).
    pub hardware: String,
    /// Models: built-in names, or ONNX paths resolved against the spec's
    /// folder.
    pub models: Vec<String>,
    /// Batch sizes.
    pub batches: Vec<u64>,
    /// Hardware axes in file order: key (`gbuf_bytes`, `energy.dram`) and
    /// values; zipped axes share a group.
    pub axes: Vec<Axis>,
    /// Named sets of search options, in file order.
    pub options: Vec<(String, serde_json::Map<String, Value>)>,
    /// Per-point time limit, seconds.
    pub time_limit: Option<f64>,
    /// Where each point's schedule file goes, if anywhere.
    pub schedules: Option<PathBuf>,
    base: Value,
}

/// One hardware axis.
#[derive(Clone, Debug)]
pub struct Axis {
    /// The hardware key.
    pub key: String,
    /// Its values.
    pub values: Vec<Value>,
    /// Axes of one group vary together (`zip`).
    group: usize,
}

/// One point of a sweep: a model, a batch, an option set and one value per
/// axis.
#[derive(Clone, Debug, PartialEq)]
pub struct Point {
    /// Position in the full sweep (shards and merges keep it).
    pub index: usize,
    /// Stable identifier derived from the parameters.
    pub id: String,
    /// The model.
    pub model: String,
    /// The batch.
    pub batch: u64,
    /// The option set's name.
    pub options: String,
    /// One value per axis, in the spec's axis order.
    pub values: Vec<Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SpecFile {
    hardware: String,
    models: Vec<String>,
    #[serde(default = "one_batch")]
    batch: Vec<u64>,
    #[serde(default)]
    axes: serde_yaml::Mapping,
    #[serde(default)]
    zip: Vec<Vec<String>>,
    #[serde(default)]
    options: serde_yaml::Mapping,
    time_limit: Option<f64>,
    schedules: Option<PathBuf>,
}

fn one_batch() -> Vec<u64> {
    vec![1]
}

impl Spec {
    /// Reads and validates a spec file; errors name the file and the key.
    pub fn load(path: &Path) -> Result<Spec, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("{}: cannot read ({e})", path.display()))?;
        let dir = path.parent().unwrap_or(Path::new("."));
        Self::parse(&text, dir).map_err(|e| format!("{}: {e}", path.display()))
    }

    /// Parses spec text whose relative paths are relative to `dir`.
    pub fn parse(text: &str, dir: &Path) -> Result<Spec, String> {
        let f: SpecFile = serde_yaml::from_str(text).map_err(|e| e.to_string())?;
        let rel = |p: &str| -> String {
            let in_dir = dir.join(p);
            if Path::new(p).is_relative() && in_dir.exists() {
                in_dir.display().to_string()
            } else {
                p.to_string()
            }
        };
        if f.models.is_empty() {
            return Err("key 'models': the list is empty".into());
        }
        if f.batch.is_empty() || f.batch.contains(&0) {
            return Err("key 'batch': give positive batch sizes".into());
        }
        let hardware = rel(&f.hardware);
        let base_hw =
            Hardware::from_arg(&hardware).map_err(|e| format!("key 'hardware': {e:#}"))?;
        let base = serde_json::to_value(base_hw.to_spec()).expect("a spec serializes");
        let mut axes = Vec::new();
        for (k, v) in &f.axes {
            let key = k
                .as_str()
                .ok_or("key 'axes': keys must be hardware keys")?
                .to_string();
            if lookup(&base, &key).is_none() || key == "name" {
                return Err(format!(
                    "axis '{key}': not a hardware key (one of {})",
                    hardware_keys(&base).join(", ")
                ));
            }
            let values = axis_values(&key, v)?;
            if values.is_empty() {
                return Err(format!("axis '{key}': no values"));
            }
            let group = axes.len();
            axes.push(Axis { key, values, group });
        }
        for (z, names) in f.zip.iter().enumerate() {
            let idx: Vec<usize> = names
                .iter()
                .map(|n| {
                    axes.iter()
                        .position(|a| &a.key == n)
                        .ok_or_else(|| format!("zip {}: '{n}' is not an axis", z + 1))
                })
                .collect::<Result<_, _>>()?;
            let Some(&first) = idx.first() else {
                return Err(format!("zip {}: the list is empty", z + 1));
            };
            for &i in &idx {
                if axes[i].values.len() != axes[first].values.len() {
                    return Err(format!(
                        "zip {}: '{}' has {} values, '{}' {}",
                        z + 1,
                        axes[first].key,
                        axes[first].values.len(),
                        axes[i].key,
                        axes[i].values.len()
                    ));
                }
                axes[i].group = axes[first].group;
            }
        }
        let mut options = Vec::new();
        for (name, set) in &f.options {
            let name = name.as_str().ok_or("key 'options': names must be text")?;
            let set: serde_json::Map<String, Value> = match serde_json::to_value(set) {
                Ok(Value::Object(m)) => m,
                Ok(Value::Null) => serde_json::Map::new(),
                _ => return Err(format!("options '{name}': a map of search options")),
            };
            let mut check = SearchOptions::new(1);
            for (k, v) in &set {
                check
                    .set_named(k, v)
                    .map_err(|e| format!("options '{name}': {e}"))?;
            }
            check
                .validate()
                .map_err(|e| format!("options '{name}': {e}"))?;
            options.push((name.to_string(), set));
        }
        if options.is_empty() {
            options.push(("default".into(), serde_json::Map::new()));
        }
        if f.time_limit.is_some_and(|t| !(t.is_finite() && t > 0.0)) {
            return Err("key 'time_limit': must be a positive number of seconds".into());
        }
        Ok(Spec {
            hardware,
            models: f.models.iter().map(|m| rel(m)).collect(),
            batches: f.batch,
            axes,
            options,
            time_limit: f.time_limit,
            schedules: f.schedules.map(|p| dir.join(p)),
            base,
        })
    }

    /// Every point, in order: models, then batches, then option sets, then
    /// the axis groups (the last varying fastest).
    pub fn points(&self) -> Vec<Point> {
        let mut groups: Vec<usize> = self.axes.iter().map(|a| a.group).collect();
        groups.sort_unstable();
        groups.dedup();
        let sizes: Vec<usize> = groups
            .iter()
            .map(|&g| {
                self.axes
                    .iter()
                    .find(|a| a.group == g)
                    .expect("a group")
                    .values
                    .len()
            })
            .collect();
        let combos: usize = sizes.iter().product();
        let mut out = Vec::new();
        for model in &self.models {
            for &batch in &self.batches {
                for (opt, set) in &self.options {
                    for c in 0..combos {
                        // Mixed-radix digits of `c`, the last group fastest.
                        let mut digit = vec![0; sizes.len()];
                        let mut rest = c;
                        for (d, &n) in digit.iter_mut().zip(&sizes).rev() {
                            *d = rest % n;
                            rest /= n;
                        }
                        let values: Vec<Value> = self
                            .axes
                            .iter()
                            .map(|a| {
                                let g = groups.iter().position(|&g| g == a.group).expect("a group");
                                a.values[digit[g]].clone()
                            })
                            .collect();
                        let id = self.point_id(model, batch, set, &values);
                        out.push(Point {
                            index: out.len(),
                            id,
                            model: model.clone(),
                            batch,
                            options: opt.clone(),
                            values,
                        });
                    }
                }
            }
        }
        out
    }

    /// FNV-1a of the point's parameters: stable across runs, machines and
    /// versions, and changed by any parameter (an option set's contents
    /// included).
    fn point_id(
        &self,
        model: &str,
        batch: u64,
        set: &serde_json::Map<String, Value>,
        values: &[Value],
    ) -> String {
        let mut text = format!("{model}\0{batch}\0{}", Value::Object(set.clone()));
        for (a, v) in self.axes.iter().zip(values) {
            text.push_str(&format!("\0{}={v}", a.key));
        }
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for b in text.bytes() {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        format!("{h:016x}")
    }

    /// The point's hardware: the base with the point's axis values.
    pub fn hardware(&self, p: &Point) -> Result<Hardware, String> {
        let mut spec = self.base.clone();
        for (a, v) in self.axes.iter().zip(&p.values) {
            *lookup_mut(&mut spec, &a.key).expect("checked at parse") = v.clone();
        }
        let hw: crate::hw::HwSpec = serde_json::from_value(spec).map_err(|e| e.to_string())?;
        Hardware::from_spec(hw).map_err(|e| format!("{e:#}"))
    }

    /// The point's search options.
    pub fn options(&self, p: &Point) -> SearchOptions {
        let mut o = SearchOptions::new(p.batch);
        let (_, set) = self
            .options
            .iter()
            .find(|(n, _)| *n == p.options)
            .expect("a set of the spec");
        for (k, v) in set {
            o.set_named(k, v).expect("checked at parse");
        }
        if let Some(t) = self.time_limit {
            o.time_limit = Some(std::time::Duration::from_secs_f64(t));
        }
        o
    }
}

/// An axis's values: a list, or a range `{from, to, step}` (arithmetic)
/// or `{from, to, times}` (geometric), both inclusive.
fn axis_values(key: &str, v: &serde_yaml::Value) -> Result<Vec<Value>, String> {
    let bad = || format!("axis '{key}': a list of values or {{from, to, step | times}}");
    match v {
        serde_yaml::Value::Sequence(s) => s
            .iter()
            .map(|x| serde_json::to_value(x).map_err(|_| bad()))
            .collect(),
        serde_yaml::Value::Mapping(m) => {
            let get = |k: &str| m.get(k).and_then(serde_yaml::Value::as_f64);
            let (Some(from), Some(to)) = (get("from"), get("to")) else {
                return Err(bad());
            };
            let integral = [from, to].iter().all(|x| x.fract() == 0.0)
                && [get("step"), get("times")]
                    .iter()
                    .flatten()
                    .all(|x| x.fract() == 0.0);
            let num = |x: f64| {
                if integral {
                    Value::from(x as i64)
                } else {
                    Value::from(x)
                }
            };
            let mut out = Vec::new();
            let mut x = from;
            match (get("step"), get("times")) {
                (Some(step), None) if step > 0.0 => {
                    while x <= to + 1e-9 * to.abs() && out.len() <= 100_000 {
                        out.push(num(x));
                        x += step;
                    }
                }
                (None, Some(times)) if times > 1.0 && from > 0.0 => {
                    while x <= to * (1.0 + 1e-9) && out.len() <= 100_000 {
                        out.push(num(x));
                        x *= times;
                    }
                }
                _ => return Err(bad()),
            }
            Ok(out)
        }
        _ => Err(bad()),
    }
}

fn lookup<'a>(v: &'a Value, key: &str) -> Option<&'a Value> {
    key.split('.').try_fold(v, |v, k| v.get(k))
}

fn lookup_mut<'a>(v: &'a mut Value, key: &str) -> Option<&'a mut Value> {
    key.split('.').try_fold(v, |v, k| v.get_mut(k))
}

/// The keys an axis may vary: top-level fields and `energy.<field>`.
fn hardware_keys(base: &Value) -> Vec<String> {
    let mut keys = Vec::new();
    if let Value::Object(m) = base {
        for (k, v) in m {
            match v {
                Value::Object(sub) => keys.extend(sub.keys().map(|s| format!("{k}.{s}"))),
                _ if k != "name" => keys.push(k.clone()),
                _ => {}
            }
        }
    }
    keys
}

//! A sweep's spec file and the points it expands to.

use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_json::Value;

use crate::hw::Hardware;
use crate::options::SearchOptions;

/// The most points a sweep may have: counted before anything is built.
pub const MAX_POINTS: u64 = 1_000_000;

/// The most values one axis may have.
pub const MAX_AXIS_VALUES: u64 = 100_000;

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
    /// What defines the spec's points, part by part: a results table
    /// records it, and a table of another spec is not resumed or merged.
    pub identity: Identity,
    base: Value,
    /// Per model, a hash of its file's contents (of its name if built in).
    model_hashes: Vec<u64>,
    /// Points per axis group, in group order.
    group_sizes: Vec<usize>,
}

/// Hashes of what defines a sweep's points, one per part of the spec, so
/// that a change can be named.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Identity {
    parts: [u64; 6],
}

impl Identity {
    const PARTS: [&str; 6] = [
        "hardware",
        "models",
        "batch",
        "axes",
        "options",
        "time_limit",
    ];

    /// The parts of the spec that differ between two identities written as
    /// text (every part where either is not an identity).
    pub fn changed(a: &str, b: &str) -> Vec<&'static str> {
        let (a, b): (Vec<&str>, Vec<&str>) = (a.split(' ').collect(), b.split(' ').collect());
        Self::PARTS
            .iter()
            .enumerate()
            .filter(|(i, name)| {
                let part = |v: &[&str]| {
                    v.get(*i)
                        .and_then(|p| p.strip_prefix(**name))
                        .map(str::to_string)
                };
                part(&a).is_none() || part(&a) != part(&b)
            })
            .map(|(_, name)| *name)
            .collect()
    }
}

impl std::fmt::Display for Identity {
    /// `hardware:1a2b3c4d models:... time_limit:...`, 8 hex digits each.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, (name, h)) in Self::PARTS.iter().zip(self.parts).enumerate() {
            let sep = if i == 0 { "" } else { " " };
            write!(f, "{sep}{name}:{:08x}", h >> 32)?;
        }
        Ok(())
    }
}

fn hash_json<T: serde::Serialize>(v: &T) -> u64 {
    fnv(serde_json::to_string(v)
        .expect("a value serializes")
        .as_bytes())
}

/// The first item given twice (in one pass: a spec may list many).
fn first_repeat<T: std::hash::Hash + Eq>(items: &[T]) -> Option<&T> {
    let mut seen = std::collections::HashSet::new();
    items.iter().find(|x| !seen.insert(*x))
}

/// A value as it compares: numbers by value (`1` and `1.0` are one).
fn value_key(v: &Value) -> String {
    match v.as_f64() {
        Some(x) => format!("{x:?}"),
        None => v.to_string(),
    }
}

/// FNV-1a: stable across runs, machines and versions.
fn fnv(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// One hardware axis.
#[derive(Clone, Debug)]
pub struct Axis {
    /// The hardware key.
    pub key: String,
    /// Its values.
    pub values: Vec<Value>,
    /// Axes of one group vary together (`zip`); groups are numbered from
    /// 0 in the order of their first axis.
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
    /// Relative paths in it are relative to its folder, wherever nnsched
    /// runs.
    pub fn load(path: &Path) -> Result<Spec, String> {
        let text =
            crate::files::read_text(path, crate::files::Limit::Spec).map_err(|e| e.to_string())?;
        let dir = path.parent().unwrap_or(Path::new("."));
        Self::parse(&text, dir).map_err(|e| format!("{}: {e}", path.display()))
    }

    /// Parses spec text whose relative paths are relative to `dir`.
    pub fn parse(text: &str, dir: &Path) -> Result<Spec, String> {
        let f: SpecFile = serde_yaml::from_str(text).map_err(|e| e.to_string())?;
        // A relative path is the spec folder's; a name that is no file
        // there may be a built-in one.
        let rel = |p: &str, builtin: bool| -> String {
            let in_dir = dir.join(p);
            if Path::new(p).is_absolute() || (builtin && !in_dir.exists()) {
                p.to_string()
            } else {
                in_dir.display().to_string()
            }
        };
        if f.models.is_empty() {
            return Err("key 'models': the list is empty".into());
        }
        if let Some(m) = first_repeat(&f.models) {
            return Err(format!("key 'models': '{m}' is given twice"));
        }
        if f.batch.is_empty() || f.batch.contains(&0) {
            return Err("key 'batch': give positive batch sizes".into());
        }
        if let Some(b) = first_repeat(&f.batch) {
            return Err(format!("key 'batch': {b} is given twice"));
        }
        let hardware = rel(&f.hardware, crate::hw::preset(&f.hardware).is_some());
        let bare = !f.hardware.contains(std::path::MAIN_SEPARATOR) && !f.hardware.contains('.');
        if bare && crate::hw::preset(&f.hardware).is_none() && !Path::new(&hardware).exists() {
            let names: Vec<&str> = crate::hw::PRESETS.iter().map(|p| p.0).collect();
            return Err(format!(
                "key 'hardware': '{}' is no file beside the spec and no built-in hardware ({})",
                f.hardware,
                names.join(", ")
            ));
        }
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
        // Groups numbered densely in axis order, the index of their digit.
        let mut groups: Vec<usize> = axes.iter().map(|a| a.group).collect();
        groups.sort_unstable();
        groups.dedup();
        for a in &mut axes {
            a.group = groups.iter().position(|&g| g == a.group).expect("a group");
        }
        let groups: Vec<usize> = (0..groups.len()).collect();
        // Each group's value tuples must differ, or two points are one.
        for &g in &groups {
            let members: Vec<&Axis> = axes.iter().filter(|a| a.group == g).collect();
            let tuples: Vec<Vec<String>> = (0..members[0].values.len())
                .map(|i| members.iter().map(|a| value_key(&a.values[i])).collect())
                .collect();
            if let Some(t) = first_repeat(&tuples) {
                let i = tuples.iter().rposition(|x| x == t).expect("repeated");
                let names: Vec<&str> = members.iter().map(|a| a.key.as_str()).collect();
                let values: Vec<String> = members.iter().map(|a| a.values[i].to_string()).collect();
                return Err(format!(
                    "axis '{}': the value {} is given twice",
                    names.join("' and '"),
                    values.join(", ")
                ));
            }
        }
        let group_sizes: Vec<usize> = groups
            .iter()
            .map(|&g| {
                axes.iter()
                    .find(|a| a.group == g)
                    .expect("a group")
                    .values
                    .len()
            })
            .collect();
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
            if let Some((other, _)) = options.iter().find(|(_, s)| *s == set) {
                return Err(format!("options '{name}': the same options as '{other}'"));
            }
            options.push((name.to_string(), set));
        }
        if options.is_empty() {
            options.push(("default".into(), serde_json::Map::new()));
        }
        if let Some(t) = f.time_limit {
            crate::options::time_limit(t).map_err(|e| format!("key 'time_limit': {e}"))?;
        }
        let count = [f.models.len(), f.batch.len(), options.len()]
            .iter()
            .chain(&group_sizes)
            .try_fold(1u64, |n, &k| n.checked_mul(k as u64))
            .filter(|&n| n <= MAX_POINTS);
        if count.is_none() {
            return Err(format!(
                "the sweep has more than {MAX_POINTS} points ({} models x {} batches x {} option sets x {} axis values); split it",
                f.models.len(),
                f.batch.len(),
                options.len(),
                group_sizes
                    .iter()
                    .map(usize::to_string)
                    .collect::<Vec<_>>()
                    .join(" x ")
            ));
        }
        let models: Vec<String> = f
            .models
            .iter()
            .map(|m| rel(m, crate::network::zoo::NAMES.contains(&m.as_str())))
            .collect();
        let model_hashes = models
            .iter()
            .map(
                |m| match crate::files::read(Path::new(m), crate::files::Limit::Model) {
                    Ok(bytes) => fnv(&bytes),
                    Err(_) => fnv(m.as_bytes()),
                },
            )
            .collect::<Vec<u64>>();
        let axes_text: Vec<(String, Vec<Value>, usize)> = axes
            .iter()
            .map(|a| (a.key.clone(), a.values.clone(), a.group))
            .collect();
        let identity = Identity {
            parts: [
                hash_json(&base),
                hash_json(&(&models, &model_hashes)),
                hash_json(&f.batch),
                hash_json(&axes_text),
                hash_json(&options),
                hash_json(&f.time_limit),
            ],
        };
        Ok(Spec {
            hardware,
            models,
            batches: f.batch,
            axes,
            options,
            time_limit: f.time_limit,
            schedules: f.schedules.map(|p| dir.join(p)),
            identity,
            base,
            model_hashes,
            group_sizes,
        })
    }

    /// How many points the sweep has (at most [`MAX_POINTS`]).
    pub fn len(&self) -> usize {
        self.models.len() * self.batches.len() * self.options.len() * self.combos()
    }

    /// Whether the sweep has no points (never: every list is non-empty).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn combos(&self) -> usize {
        self.group_sizes.iter().product()
    }

    /// Every point, in order, made as it is reached: models, then batches,
    /// then option sets, then the axis groups (the last varying fastest).
    pub fn points(&self) -> impl ExactSizeIterator<Item = Point> + '_ {
        (0..self.len()).map(|i| self.point(i))
    }

    /// The point at `index` (below [`Spec::len`]).
    pub fn point(&self, index: usize) -> Point {
        let combos = self.combos();
        let (c, rest) = (index % combos, index / combos);
        let (o, rest) = (rest % self.options.len(), rest / self.options.len());
        let (b, m) = (rest % self.batches.len(), rest / self.batches.len());
        // Mixed-radix digits of `c`, the last group fastest.
        let mut digit = vec![0; self.group_sizes.len()];
        let mut left = c;
        for (d, &n) in digit.iter_mut().zip(&self.group_sizes).rev() {
            *d = left % n;
            left /= n;
        }
        let values: Vec<Value> = self
            .axes
            .iter()
            .map(|a| a.values[digit[a.group]].clone())
            .collect();
        let (opt, set) = &self.options[o];
        Point {
            index,
            id: self.point_id(m, self.batches[b], set, &values),
            model: self.models[m].clone(),
            batch: self.batches[b],
            options: opt.clone(),
            values,
        }
    }

    /// A hash of everything that defines the point: the base hardware, the
    /// model's file, the batch, the option set's contents, the time limit
    /// and the axis values.
    fn point_id(
        &self,
        model: usize,
        batch: u64,
        set: &serde_json::Map<String, Value>,
        values: &[Value],
    ) -> String {
        let mut text = format!(
            "{}\0{:016x}\0{:016x}\0{batch}\0{}\0{:?}",
            self.models[model],
            self.model_hashes[model],
            self.identity.parts[0],
            Value::Object(set.clone()),
            self.time_limit
        );
        for (a, v) in self.axes.iter().zip(values) {
            text.push_str(&format!("\0{}={v}", a.key));
        }
        format!("{:016x}", fnv(text.as_bytes()))
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
            o.time_limit = crate::options::time_limit(t).ok();
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
            if !(from.is_finite() && to.is_finite()) {
                return Err(format!("axis '{key}': 'from' and 'to' must be finite"));
            }
            // The count first, from the range's own numbers: nothing is
            // built for a range too long to run.
            let (count, next): (f64, Box<dyn Fn(f64) -> f64>) = match (get("step"), get("times")) {
                (Some(step), None) if step > 0.0 && step.is_finite() => (
                    ((to - from) / step + 1e-9).floor() + 1.0,
                    Box::new(move |x| x + step),
                ),
                (None, Some(times)) if times > 1.0 && times.is_finite() && from > 0.0 => (
                    ((to / from).ln() / times.ln() + 1e-9).floor() + 1.0,
                    Box::new(move |x| x * times),
                ),
                _ => return Err(bad()),
            };
            if count.is_nan() || count > MAX_AXIS_VALUES as f64 {
                return Err(format!(
                    "axis '{key}': the range has more than {MAX_AXIS_VALUES} values"
                ));
            }
            let mut out = Vec::new();
            let mut x = from;
            for _ in 0..count.max(0.0) as u64 {
                out.push(num(x));
                x = next(x);
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

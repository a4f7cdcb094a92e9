//! The results table: one CSV row per point, appended as points finish,
//! rewritten in point order with the Pareto fronts marked at the end.

use std::collections::HashMap;
use std::path::Path;

/// Columns after the point's parameters, in order.
pub const RESULT_COLUMNS: &[&str] = &[
    "status",
    "message",
    "energy_pj",
    "energy_op_pj",
    "energy_dram_pj",
    "energy_gbuf_pj",
    "energy_array_pj",
    "energy_regf_pj",
    "energy_noc_pj",
    "energy_static_pj",
    "time_cycles",
    "edp_pj_cycles",
    "ops",
    "dram_accesses",
    "gbuf_accesses",
    "array_accesses",
    "regf_accesses",
    "noc_hops",
    "onchip_bytes",
    "search_s",
    "pareto_time",
    "pareto_storage",
];

/// A table: its header and rows, each as written.
#[derive(Clone, Debug, PartialEq)]
pub struct Table {
    /// Column names.
    pub header: Vec<String>,
    /// Rows, each as many fields as the header.
    pub rows: Vec<Vec<String>>,
}

impl Table {
    /// The header of a sweep with these axis keys.
    pub fn header(axes: &[String]) -> Vec<String> {
        ["id", "point", "points", "spec", "model", "batch", "options"]
            .iter()
            .map(|s| s.to_string())
            .chain(axes.iter().cloned())
            .chain(RESULT_COLUMNS.iter().map(|s| s.to_string()))
            .collect()
    }

    /// A column's index.
    pub fn col(&self, name: &str) -> Option<usize> {
        self.header.iter().position(|h| h == name)
    }

    /// Reads a table. A last line cut short (no newline, or too few fields:
    /// a run killed while writing it) is dropped and counted in the second
    /// value; any other malformed row is an error.
    pub fn read(path: &Path) -> Result<(Table, usize), String> {
        let what = |e: &dyn std::fmt::Display| format!("{}: {e}", path.display());
        let mut text =
            crate::files::read_text(path, crate::files::Limit::Table).map_err(|e| e.to_string())?;
        let mut dropped = 0;
        if !text.is_empty() && !text.ends_with('\n') {
            text.truncate(text.rfind('\n').map_or(0, |i| i + 1));
            dropped = 1;
        }
        let mut r = csv::ReaderBuilder::new()
            .has_headers(true)
            .flexible(true)
            .from_reader(text.as_bytes());
        let header: Vec<String> = r
            .headers()
            .map_err(|e| what(&e))?
            .iter()
            .map(str::to_string)
            .collect();
        let mut rows = Vec::new();
        let records: Vec<csv::StringRecord> = r
            .records()
            .collect::<Result<_, _>>()
            .map_err(|e| what(&e))?;
        let n = records.len();
        for (i, rec) in records.into_iter().enumerate() {
            if rec.len() != header.len() {
                if i + 1 == n {
                    dropped += 1;
                    continue;
                }
                return Err(what(&format!(
                    "row {} has {} fields, the header {}",
                    i + 2,
                    rec.len(),
                    header.len()
                )));
            }
            rows.push(rec.iter().map(str::to_string).collect());
        }
        Ok((Table { header, rows }, dropped))
    }

    /// Writes the whole table through [`crate::files::write`] (atomically).
    pub fn write(&self, path: &Path) -> Result<(), String> {
        let mut w = writer().from_writer(Vec::new());
        for r in std::iter::once(&self.header).chain(&self.rows) {
            w.write_record(r).expect("writing to memory");
        }
        let bytes = w.into_inner().expect("writing to memory");
        crate::files::write(path, &bytes).map_err(|e| e.to_string())
    }

    /// Sorts rows by point and marks each (model, batch) group's Pareto
    /// fronts: energy against time, and energy against on-chip storage.
    pub fn finish(&mut self) {
        let point = self.col("point").expect("a sweep table");
        self.rows
            .sort_by_key(|r| r[point].parse::<usize>().unwrap_or(usize::MAX));
        let c = |n: &str| self.col(n).expect("a sweep table");
        let (status, energy, time, storage) = (
            c("status"),
            c("energy_pj"),
            c("time_cycles"),
            c("onchip_bytes"),
        );
        let (pt, ps) = (c("pareto_time"), c("pareto_storage"));
        let (model, batch) = (c("model"), c("batch"));
        let num = |r: &Vec<String>, i: usize| r[i].parse::<f64>().unwrap_or(f64::NAN);
        let mut groups: HashMap<(String, String), Vec<usize>> = HashMap::new();
        for (i, r) in self.rows.iter().enumerate() {
            if r[status] == "ok" {
                groups
                    .entry((r[model].clone(), r[batch].clone()))
                    .or_default()
                    .push(i);
            }
        }
        let mut marks = vec![(String::new(), String::new()); self.rows.len()];
        for members in groups.values() {
            for (col, mark) in [(time, 0), (storage, 1)] {
                for &i in members {
                    let (e, x) = (num(&self.rows[i], energy), num(&self.rows[i], col));
                    let dominated = members.iter().any(|&j| {
                        let (f, y) = (num(&self.rows[j], energy), num(&self.rows[j], col));
                        f <= e && y <= x && (f < e || y < x)
                    });
                    let v = if dominated { "no" } else { "yes" }.to_string();
                    if mark == 0 {
                        marks[i].0 = v;
                    } else {
                        marks[i].1 = v;
                    }
                }
            }
        }
        for (r, (a, b)) in self.rows.iter_mut().zip(marks) {
            r[pt] = a;
            r[ps] = b;
        }
    }
}

/// Lines end in `\n` alone, so that a line cut short is one without it.
/// A cell as a spreadsheet shows it, not runs it: text starting with `=`,
/// `+`, `-`, `@`, a tab or a carriage return (a formula to Excel, LibreOffice
/// and Sheets) is prefixed with `'`; numbers are left as they are.
pub fn cell(s: String) -> String {
    let formula = s.starts_with(['=', '+', '-', '@', '\t', '\r']);
    if formula && s.parse::<f64>().is_err() {
        format!("'{s}")
    } else {
        s
    }
}

fn writer() -> csv::WriterBuilder {
    let mut b = csv::WriterBuilder::new();
    b.terminator(csv::Terminator::Any(b'\n'));
    b
}

/// Appends rows to a table file as they come, one flushed line each.
pub struct Appender {
    w: csv::Writer<std::fs::File>,
}

impl Appender {
    /// Opens `path` for appending, writing `header` first if it is new.
    pub fn open(path: &Path, header: &[String], new: bool) -> Result<Appender, String> {
        let what = |e: &dyn std::fmt::Display| format!("{}: {e}", path.display());
        let f = crate::files::append(path).map_err(|e| e.to_string())?;
        let mut w = writer().from_writer(f);
        if new {
            w.write_record(header).map_err(|e| what(&e))?;
            w.flush().map_err(|e| what(&e))?;
        }
        Ok(Appender { w })
    }

    /// Appends one row and flushes it to the file.
    pub fn push(&mut self, row: &[String]) -> std::io::Result<()> {
        self.w.write_record(row)?;
        self.w.flush()
    }
}

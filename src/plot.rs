//! SVG plots, written by hand (no plotting dependency): a sweep table's
//! energy-time scatter with its Pareto fronts, and a schedule's per-layer
//! energy breakdown and segment timeline. Every mark carries its data as
//! `data-*` attributes, so the figures can be checked (and scraped).

use std::fmt::Write;
use std::path::Path;

use crate::doc::Schedule;
use crate::error::Error;
use crate::sweep::Table;

const W: f64 = 720.0;
const H: f64 = 420.0;
const LEFT: f64 = 80.0;
const RIGHT: f64 = 20.0;
const TOP: f64 = 40.0;
const BOTTOM: f64 = 60.0;
const COLORS: [&str; 7] = [
    "#4e79a7", "#e15759", "#f28e2b", "#76b7b2", "#59a14f", "#edc948", "#b07aa1",
];

/// Plots `input` (a sweep's `.csv`, else a schedule file) as SVG to `out`.
pub fn plot_file(input: &Path, out: &Path) -> Result<(), Error> {
    let svg = if input
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("csv"))
    {
        let (t, _) = Table::read(input).map_err(Error::Document)?;
        results_svg(&t).map_err(|e| Error::Document(format!("{}: {e}", input.display())))?
    } else {
        schedule_svg(&crate::read_schedule(input)?)
    };
    crate::files::write(out, svg.as_bytes())
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Engineering notation: 1.2k, 3.4M, 5.6G.
fn si(v: f64) -> String {
    let (d, s) = [(1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")]
        .into_iter()
        .find(|(d, _)| v.abs() >= *d)
        .unwrap_or((1.0, ""));
    let t = format!("{:.3}", v / d);
    format!("{}{s}", t.trim_end_matches('0').trim_end_matches('.'))
}

/// A linear axis over `[lo, hi]` mapped to pixels `[a, b]`.
struct Scale {
    lo: f64,
    hi: f64,
    a: f64,
    b: f64,
}

impl Scale {
    fn new(lo: f64, hi: f64, a: f64, b: f64) -> Scale {
        let (lo, hi) = if hi > lo {
            (lo, hi)
        } else {
            (lo - 0.5 * lo.abs().max(1.0), hi + 0.5 * hi.abs().max(1.0))
        };
        Scale { lo, hi, a, b }
    }

    fn at(&self, v: f64) -> f64 {
        self.a + (v - self.lo) / (self.hi - self.lo) * (self.b - self.a)
    }

    fn ticks(&self) -> Vec<f64> {
        (0..=4)
            .map(|i| self.lo + (self.hi - self.lo) * i as f64 / 4.0)
            .collect()
    }
}

fn header(svg: &mut String, title: &str, data: &str) {
    let _ = write!(
        svg,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{W}\" height=\"{H}\" \
         viewBox=\"0 0 {W} {H}\" font-family=\"sans-serif\" font-size=\"11\" {data}>\n\
         <rect width=\"{W}\" height=\"{H}\" fill=\"white\"/>\n\
         <text x=\"{}\" y=\"22\" text-anchor=\"middle\" font-size=\"14\">{}</text>\n",
        W / 2.0,
        esc(title)
    );
}

/// The axis lines from (LEFT, bottom), the y ticks and label.
fn frame(svg: &mut String, y: &Scale, ylabel: &str, bottom: f64) {
    let _ = writeln!(
        svg,
        "<line x1=\"{LEFT}\" y1=\"{bottom}\" x2=\"{}\" y2=\"{bottom}\" stroke=\"black\"/>\
         <line x1=\"{LEFT}\" y1=\"{bottom}\" x2=\"{LEFT}\" y2=\"{TOP}\" stroke=\"black\"/>",
        W - RIGHT
    );
    for v in y.ticks() {
        let py = y.at(v);
        let _ = writeln!(
            svg,
            "<line x1=\"{}\" y1=\"{py:.1}\" x2=\"{LEFT}\" y2=\"{py:.1}\" stroke=\"black\"/>\
             <text x=\"{}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>",
            LEFT - 4.0,
            LEFT - 6.0,
            py + 4.0,
            si(v)
        );
    }
    let _ = writeln!(
        svg,
        "<text transform=\"translate(16 {:.1}) rotate(-90)\" text-anchor=\"middle\">{}</text>",
        (TOP + bottom) / 2.0,
        esc(ylabel)
    );
}

/// `frame` over the whole plot, with x ticks and label.
fn axes(svg: &mut String, x: &Scale, y: &Scale, xlabel: &str, ylabel: &str) {
    let y0 = H - BOTTOM;
    frame(svg, y, ylabel, y0);
    for v in x.ticks() {
        let px = x.at(v);
        let _ = writeln!(
            svg,
            "<line x1=\"{px:.1}\" y1=\"{y0}\" x2=\"{px:.1}\" y2=\"{}\" stroke=\"black\"/>\
             <text x=\"{px:.1}\" y=\"{}\" text-anchor=\"middle\">{}</text>",
            y0 + 4.0,
            y0 + 16.0,
            si(v)
        );
    }
    let _ = writeln!(
        svg,
        "<text x=\"{:.1}\" y=\"{}\" text-anchor=\"middle\">{}</text>",
        (LEFT + W - RIGHT) / 2.0,
        H - 18.0,
        esc(xlabel)
    );
}

/// Energy against time of a sweep's `ok` points; each (model, batch)
/// group's energy-time Pareto front is drawn filled and joined.
pub fn results_svg(t: &Table) -> Result<String, String> {
    let col = |n: &str| {
        t.col(n)
            .ok_or(format!("no column '{n}': not a sweep table"))
    };
    let (status, energy, time, pareto, model, batch, id) = (
        col("status")?,
        col("energy_pj")?,
        col("time_cycles")?,
        col("pareto_time")?,
        col("model")?,
        col("batch")?,
        col("id")?,
    );
    let pts: Vec<(&Vec<String>, f64, f64)> = t
        .rows
        .iter()
        .filter(|r| r[status] == "ok")
        .filter_map(|r| Some((r, r[time].parse().ok()?, r[energy].parse().ok()?)))
        .collect();
    if pts.is_empty() {
        return Err("no point ended ok: nothing to plot".into());
    }
    let fold = |f: fn(f64, f64) -> f64, i: usize, init: f64| {
        pts.iter()
            .map(|p| if i == 0 { p.1 } else { p.2 })
            .fold(init, f)
    };
    let (xmin, xmax) = (fold(f64::min, 0, f64::INFINITY), fold(f64::max, 0, 0.0));
    let (ymin, ymax) = (fold(f64::min, 1, f64::INFINITY), fold(f64::max, 1, 0.0));
    let x = Scale::new(xmin, xmax, LEFT + 10.0, W - RIGHT - 10.0);
    let y = Scale::new(ymin, ymax, H - BOTTOM - 10.0, TOP + 10.0);
    let mut svg = String::new();
    header(
        &mut svg,
        "Energy and time of the sweep's points (Pareto fronts filled)",
        &format!(
            "data-points=\"{}\" data-x-min=\"{xmin}\" data-x-max=\"{xmax}\" \
             data-y-min=\"{ymin}\" data-y-max=\"{ymax}\"",
            pts.len()
        ),
    );
    axes(&mut svg, &x, &y, "time (cycles)", "energy (pJ)");
    let mut groups: Vec<(String, String)> = Vec::new();
    for (r, _, _) in &pts {
        let g = (r[model].clone(), r[batch].clone());
        if !groups.contains(&g) {
            groups.push(g);
        }
    }
    for (gi, g) in groups.iter().enumerate() {
        let color = COLORS[gi % COLORS.len()];
        let mut front: Vec<(f64, f64)> = pts
            .iter()
            .filter(|(r, _, _)| (&r[model], &r[batch]) == (&g.0, &g.1) && r[pareto] == "yes")
            .map(|&(_, tx, ey)| (x.at(tx), y.at(ey)))
            .collect();
        front.sort_by(|a, b| a.0.total_cmp(&b.0));
        let line: Vec<String> = front
            .iter()
            .map(|(a, b)| format!("{a:.1},{b:.1}"))
            .collect();
        let _ = writeln!(
            svg,
            "<polyline class=\"front\" points=\"{}\" fill=\"none\" stroke=\"{color}\"/>",
            line.join(" ")
        );
        for (r, tx, ey) in pts
            .iter()
            .filter(|(r, _, _)| (&r[model], &r[batch]) == (&g.0, &g.1))
        {
            let on = r[pareto] == "yes";
            let _ = writeln!(
                svg,
                "<circle class=\"point{}\" cx=\"{:.1}\" cy=\"{:.1}\" r=\"4\" stroke=\"{color}\" \
                 fill=\"{}\" data-id=\"{}\" data-x=\"{tx}\" data-y=\"{ey}\"/>",
                if on { " pareto" } else { "" },
                x.at(*tx),
                y.at(*ey),
                if on { color } else { "white" },
                esc(&r[id])
            );
        }
        let _ = writeln!(
            svg,
            "<text x=\"{}\" y=\"{}\" fill=\"{color}\">{} (batch {})</text>",
            W - RIGHT - 200.0,
            TOP + 14.0 * (gi as f64 + 1.0),
            esc(&g.0),
            esc(&g.1)
        );
    }
    svg.push_str("</svg>\n");
    Ok(svg)
}

/// A schedule's energy per layer stacked by what it pays for (operations,
/// DRAM, buffers, array, register files, NoC, static), above a timeline of
/// its segments (slots stacked, layers named).
pub fn schedule_svg(s: &Schedule) -> String {
    let e = s.hardware().map(|h| h.energy).ok();
    let parts: Vec<[f64; 7]> = s
        .layers
        .iter()
        .map(|l| {
            let a = &l.accesses;
            let c = &l.cost_breakdown;
            let (d, g, i, r) = e.map_or((0.0, 0.0, 0.0, 0.0), |e| {
                (
                    a.dram.0 * e.dram,
                    a.gbuf.0 * e.gbuf,
                    a.itcn.0 * e.itcn,
                    a.regf.0 * e.regf,
                )
            });
            [c.op, d, g, i, r, c.noc, c.static_]
        })
        .collect();
    let names = ["op", "dram", "gbuf", "array", "regf", "noc", "static"];
    let ymax = parts
        .iter()
        .map(|p| p.iter().sum::<f64>())
        .fold(0.0, f64::max);
    let total_time: u64 = s.segments.iter().map(|g| g.time).sum();
    let mut svg = String::new();
    header(
        &mut svg,
        &format!("{} on {}, batch {}", s.network, s.hardware.name, s.batch),
        &format!(
            "data-layers=\"{}\" data-segments=\"{}\" data-energy-max=\"{ymax}\" data-time=\"{total_time}\"",
            s.layers.len(),
            s.segments.len()
        ),
    );
    // Upper part: stacked bars.
    let split = TOP + (H - TOP - BOTTOM) * 0.62;
    let y = Scale::new(0.0, ymax.max(1.0), split, TOP + 10.0);
    let n = parts.len().max(1) as f64;
    let bw = (W - LEFT - RIGHT) / n;
    let x = Scale::new(0.0, n, LEFT, W - RIGHT);
    frame(&mut svg, &y, "energy (pJ)", split);
    for (li, (l, p)) in s.layers.iter().zip(&parts).enumerate() {
        let mut acc = 0.0;
        for (k, v) in p.iter().enumerate() {
            if *v <= 0.0 {
                continue;
            }
            let (y1, y0) = (y.at(acc + v), y.at(acc));
            let _ = writeln!(
                svg,
                "<rect class=\"bar\" x=\"{:.1}\" y=\"{y1:.1}\" width=\"{:.1}\" height=\"{:.2}\" \
                 fill=\"{}\" data-layer=\"{}\" data-category=\"{}\" data-value=\"{v}\"/>",
                x.at(li as f64) + bw * 0.1,
                bw * 0.8,
                y0 - y1,
                COLORS[k],
                esc(&l.name),
                names[k]
            );
            acc += v;
        }
    }
    for (k, name) in names.iter().enumerate() {
        let _ = writeln!(
            svg,
            "<rect x=\"{}\" y=\"{}\" width=\"10\" height=\"10\" fill=\"{}\"/>\
             <text x=\"{}\" y=\"{}\">{name}</text>",
            LEFT + 10.0 + 70.0 * k as f64,
            H - 30.0,
            COLORS[k],
            LEFT + 24.0 + 70.0 * k as f64,
            H - 21.0
        );
    }
    // Lower part: the segments in time.
    let t = Scale::new(0.0, total_time.max(1) as f64, LEFT, W - RIGHT);
    let (ty0, ty1) = (split + 24.0, H - BOTTOM);
    let _ = writeln!(
        svg,
        "<text x=\"{}\" y=\"{}\">segments over time ({} cycles)</text>",
        LEFT,
        split + 18.0,
        si(total_time as f64)
    );
    let mut start = 0u64;
    for (gi, g) in s.segments.iter().enumerate() {
        let slots = g.slots.len().max(1) as f64;
        for (si_, slot) in g.slots.iter().enumerate() {
            let h = (ty1 - ty0) / slots;
            let _ = writeln!(
                svg,
                "<rect class=\"segment\" x=\"{:.2}\" y=\"{:.1}\" width=\"{:.2}\" height=\"{:.1}\" \
                 fill=\"{}\" stroke=\"white\" data-segment=\"{gi}\" data-slot=\"{si_}\" \
                 data-start=\"{start}\" data-time=\"{}\"><title>{}</title></rect>",
                t.at(start as f64),
                ty0 + h * si_ as f64,
                t.at((start + g.time) as f64) - t.at(start as f64),
                h,
                COLORS[gi % COLORS.len()],
                g.time,
                esc(&slot.layers.join(" > "))
            );
        }
        start += g.time;
    }
    svg.push_str("</svg>\n");
    svg
}

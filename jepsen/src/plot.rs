//! PNG plots of a run: latency of every completed operation and throughput per second, over
//! time, with the nemesis windows shaded. Text is drawn with a TTF read at run time (DejaVu Sans,
//! Debian package fonts-dejavu-core), so no fontconfig is involved.
//!
//! ```text
//!  history + nemesis windows ─▶ latency.png, throughput.png (plotters, bitmap backend)
//! ```

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{anyhow, Context, Result};
use plotters::prelude::*;
use plotters::style::FontStyle;

use crate::history::{Event, EventType};

/// Where the font is looked for.
pub const FONTS: &[&str] =
    &["/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf", "/usr/share/fonts/dejavu/DejaVuSans.ttf"];

/// A shaded interval, seconds since the start, with its label.
#[derive(Clone, Debug)]
pub struct Window {
    /// Start.
    pub from: f64,
    /// End.
    pub to: f64,
    /// Label (the fault).
    pub label: String,
}

fn register_font() -> Result<()> {
    static DONE: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    let ok = *DONE.get_or_init(|| {
        FONTS.iter().find_map(|p| std::fs::read(p).ok()).is_some_and(|bytes| {
            let leaked: &'static [u8] = Box::leak(bytes.into_boxed_slice());
            plotters::style::register_font("sans-serif", FontStyle::Normal, leaked).is_ok()
        })
    });
    if ok {
        Ok(())
    } else {
        Err(anyhow!("no TTF font at {FONTS:?} (install the Debian package fonts-dejavu-core)"))
    }
}

/// (completion time s, latency ms, kind) of every completed operation.
pub fn latencies(history: &[Event]) -> Vec<(f64, f64, EventType)> {
    let mut open: BTreeMap<u64, u64> = BTreeMap::new();
    let mut out = Vec::new();
    for e in history {
        if e.kind == EventType::Invoke {
            open.insert(e.process, e.time_ns);
        } else if let Some(start) = open.remove(&e.process) {
            out.push((e.time_ns as f64 / 1e9, (e.time_ns.saturating_sub(start)) as f64 / 1e6, e.kind));
        }
    }
    out
}

fn color(kind: EventType) -> RGBColor {
    match kind {
        EventType::Ok => RGBColor(31, 119, 180),
        EventType::Fail => RGBColor(255, 127, 14),
        _ => RGBColor(214, 39, 40),
    }
}

const KINDS: [(EventType, &str); 3] =
    [(EventType::Ok, "ok"), (EventType::Fail, "fail"), (EventType::Info, "info")];

fn shade<DB: DrawingBackend, Y: Ranged<ValueType = f64>>(
    chart: &mut ChartContext<'_, DB, Cartesian2d<plotters::coord::types::RangedCoordf64, Y>>,
    windows: &[Window],
    (y_min, y_max): (f64, f64),
) -> Result<()>
where
    DB::ErrorType: 'static,
{
    for w in windows {
        let fill = if w.label.starts_with("partition") {
            RGBColor(255, 220, 120)
        } else if w.label.starts_with("kill") {
            RGBColor(255, 170, 170)
        } else if w.label.starts_with("remove") {
            RGBColor(160, 220, 160)
        } else if w.label.starts_with("link") {
            RGBColor(200, 200, 200)
        } else {
            RGBColor(190, 190, 255)
        };
        chart
            .draw_series(std::iter::once(Rectangle::new(
                [(w.from, y_min), (w.to, y_max)],
                fill.mix(0.45).filled(),
            )))
            .map_err(|e| anyhow!("{e}"))?;
        chart
            .draw_series(std::iter::once(Text::new(
                // The fault and its nodes; link-fault parameters are in report.md.
                w.label.split(" drop=").next().unwrap_or_default().to_owned(),
                (w.from, y_max * 0.9),
                ("sans-serif", 12).into_font(),
            )))
            .map_err(|e| anyhow!("{e}"))?;
    }
    Ok(())
}

/// Write latency.png: one point per completed operation.
pub fn latency_png(path: &Path, history: &[Event], windows: &[Window], seconds: f64) -> Result<()> {
    register_font()?;
    let points = latencies(history);
    let y_max = points.iter().map(|p| p.1).fold(10.0, f64::max) * 2.0;
    let y_min = 0.1;
    let root = BitMapBackend::new(path, (1200, 600)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| anyhow!("{e}"))?;
    let mut chart = ChartBuilder::on(&root)
        .caption("operation latency (ms, log scale) over time (s); shaded: nemesis", ("sans-serif", 20))
        .margin(10)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d(0.0..seconds, (y_min..y_max).log_scale())
        .map_err(|e| anyhow!("{e}"))?;
    chart.configure_mesh().x_desc("time (s)").y_desc("latency (ms)").draw().map_err(|e| anyhow!("{e}"))?;
    shade(&mut chart, windows, (y_min, y_max))?;
    for (kind, name) in KINDS {
        let c = color(kind);
        chart
            .draw_series(
                points.iter().filter(|p| p.2 == kind).map(|p| Circle::new((p.0, p.1), 2, c.filled())),
            )
            .map_err(|e| anyhow!("{e}"))?
            .label(name)
            .legend(move |(x, y)| Circle::new((x, y), 4, c.filled()));
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()
        .map_err(|e| anyhow!("{e}"))?;
    root.present().with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

/// Write throughput.png: completions per second, by outcome.
pub fn throughput_png(path: &Path, history: &[Event], windows: &[Window], seconds: f64) -> Result<()> {
    register_font()?;
    let buckets = seconds.ceil() as usize + 1;
    let mut counts: BTreeMap<EventType, Vec<f64>> = BTreeMap::new();
    for (kind, _) in KINDS {
        counts.insert(kind, vec![0.0; buckets]);
    }
    for e in history.iter().filter(|e| e.kind != EventType::Invoke) {
        let b = ((e.time_ns / 1_000_000_000) as usize).min(buckets - 1);
        if let Some(v) = counts.get_mut(&e.kind) {
            v[b] += 1.0;
        }
    }
    let y_max = counts.values().flatten().copied().fold(5.0, f64::max) * 1.15;
    let root = BitMapBackend::new(path, (1200, 600)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| anyhow!("{e}"))?;
    let mut chart = ChartBuilder::on(&root)
        .caption("throughput (completed operations / s); shaded: nemesis", ("sans-serif", 20))
        .margin(10)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d(0.0..seconds, 0.0..y_max)
        .map_err(|e| anyhow!("{e}"))?;
    chart.configure_mesh().x_desc("time (s)").y_desc("ops / s").draw().map_err(|e| anyhow!("{e}"))?;
    shade(&mut chart, windows, (0.0, y_max))?;
    for (kind, name) in KINDS {
        let c = color(kind);
        let series = counts[&kind].iter().enumerate().map(|(i, v)| (i as f64 + 0.5, *v));
        chart
            .draw_series(LineSeries::new(series, c.stroke_width(2)))
            .map_err(|e| anyhow!("{e}"))?
            .label(name)
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], c.stroke_width(2)));
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()
        .map_err(|e| anyhow!("{e}"))?;
    root.present().with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::Op;

    #[test]
    fn plots_render_as_png_with_windows() {
        let mut history = Vec::new();
        for i in 0..200u64 {
            let op = Op::Read { key: "k".into(), value: None };
            history.push(Event {
                process: i % 4,
                kind: EventType::Invoke,
                op: op.clone(),
                time_ns: i * 50_000_000,
            });
            let kind = [EventType::Ok, EventType::Fail, EventType::Info][(i % 3) as usize];
            history.push(Event { process: i % 4, kind, op, time_ns: i * 50_000_000 + 20_000_000 });
        }
        let lat = latencies(&history);
        assert_eq!(lat.len(), 200);
        assert!((lat[0].1 - 20.0).abs() < 1e-9, "{:?}", lat[0]);
        let dir = std::env::temp_dir().join(format!("jepsen-plot-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let windows = [Window { from: 2.0, to: 4.0, label: "partition ring".into() }];
        latency_png(&dir.join("l.png"), &history, &windows, 10.0).unwrap();
        throughput_png(&dir.join("t.png"), &history, &windows, 10.0).unwrap();
        for f in ["l.png", "t.png"] {
            let bytes = std::fs::read(dir.join(f)).unwrap();
            assert!(
                bytes.starts_with(b"\x89PNG\r\n\x1a\n") && bytes.len() > 10_000,
                "{f}: {} bytes",
                bytes.len()
            );
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

//! The SVG plot of `switchyard bench`: round trip (log scale) against the depth the greenlet
//! switches from, one line per backend, the peers' depth-independent round trips as dashed
//! lines, and stack-copy's floor (mmap round trip + a hot memcpy of the bytes stack-copy
//! copied) as a dotted line. Drawn with `plotters`' SVG backend only (no font or bitmap
//! features, so nothing needs the system's fontconfig).

use super::Report;
use plotters::prelude::*;

const COLORS: [RGBColor; 8] = [
    RGBColor(31, 119, 180),
    RGBColor(214, 39, 40),
    RGBColor(44, 160, 44),
    RGBColor(148, 103, 189),
    RGBColor(255, 127, 14),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(23, 190, 207),
];

/// The plot of `report` as an SVG document.
pub fn svg(report: &Report) -> Result<String, String> {
    let depths = &report.plan.depths;
    let mut all: Vec<f64> = Vec::new();
    let mut lines: Vec<(String, Vec<(f64, f64)>)> = Vec::new();
    for m in &report.backends {
        if let Ok(rows) = &m.round_trip {
            let pts: Vec<(f64, f64)> = rows
                .iter()
                .filter_map(|r| {
                    let i = depths.iter().position(|d| *d == r.depth)?;
                    Some((i as f64, r.time.median_ns))
                })
                .collect();
            all.extend(pts.iter().map(|p| p.1));
            lines.push((m.backend.clone(), pts));
        }
    }
    let mut flat: Vec<(String, f64)> = Vec::new();
    let mut floor: Vec<(f64, f64)> = Vec::new();
    if let Some(p) = &report.peers {
        if let Some(t) = p.corosensei_round_trip {
            flat.push(("corosensei resume+suspend".into(), t.median_ns));
        }
        if let Some(Ok(t)) = &p.swapcontext_round_trip {
            flat.push(("raw swapcontext".into(), t.median_ns));
        }
        if let Some(t) = p.thread_round_trip {
            flat.push(("raw Mutex+Condvar threads".into(), t.median_ns));
        }
        if let (Some(sc), Some(mm)) = (report.backend("stack-copy"), report.backend("mmap")) {
            if let (Ok(sc), Ok(mm)) = (&sc.round_trip, &mm.round_trip) {
                for (i, d) in depths.iter().enumerate() {
                    let (Some(s), Some(m)) = (
                        sc.iter().find(|r| r.depth == *d),
                        mm.iter().find(|r| r.depth == *d),
                    ) else {
                        continue;
                    };
                    let bytes = s.copied().round() as usize;
                    let copy = p
                        .memcpy
                        .iter()
                        .find(|(n, _)| *n == bytes)
                        .map_or(0.0, |(_, t)| t.median_ns);
                    floor.push((i as f64, m.time.median_ns + copy));
                }
            }
        }
        all.extend(flat.iter().map(|f| f.1));
        all.extend(floor.iter().map(|f| f.1));
    }
    let lo = all.iter().copied().fold(f64::MAX, f64::min).max(0.1);
    let hi = all.iter().copied().fold(f64::MIN, f64::max).max(lo * 10.0);
    let (lo, hi) = (lo / 1.5, hi * 1.5);
    let xmax = (depths.len().max(2) - 1) as f64;
    let mut out = String::new();
    {
        let root = SVGBackend::with_string(&mut out, (900, 560)).into_drawing_area();
        let e = |e: &dyn std::fmt::Display| e.to_string();
        root.fill(&WHITE).map_err(|x| e(&x))?;
        let mut chart = ChartBuilder::on(&root)
            .caption(
                "Round trip against the depth the greenlet switches from",
                ("sans-serif", 20),
            )
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(70)
            .build_cartesian_2d(-0.2f64..xmax + 0.2, (lo..hi).log_scale())
            .map_err(|x| e(&x))?;
        let labels = |x: &f64| {
            let i = x.round();
            if (x - i).abs() > 1e-6 || i < 0.0 {
                return String::new();
            }
            depths
                .get(i as usize)
                .map_or(String::new(), |d| format!("{} KiB", d >> 10))
        };
        chart
            .configure_mesh()
            .x_labels(depths.len())
            .x_label_formatter(&labels)
            .y_label_formatter(&|y| super::show_ns(*y))
            .x_desc("extra stack below the greenlet's start")
            .y_desc("round trip (median)")
            .draw()
            .map_err(|x| e(&x))?;
        for (k, (name, pts)) in lines.iter().enumerate() {
            let color = COLORS[k % COLORS.len()];
            chart
                .draw_series(LineSeries::new(pts.iter().copied(), color.stroke_width(2)))
                .map_err(|x| e(&x))?
                .label(name.as_str())
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color));
            chart
                .draw_series(pts.iter().map(|&p| Circle::new(p, 3, color.filled())))
                .map_err(|x| e(&x))?;
        }
        for (k, (name, y)) in flat.iter().enumerate() {
            let color = COLORS[(lines.len() + k) % COLORS.len()];
            let style = color.stroke_width(1);
            chart
                .draw_series(DashedLineSeries::new(
                    vec![(0.0, *y), (xmax, *y)],
                    6,
                    4,
                    style,
                ))
                .map_err(|x| e(&x))?
                .label(name.as_str())
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], style));
        }
        if !floor.is_empty() {
            let style = BLACK.stroke_width(1);
            chart
                .draw_series(DashedLineSeries::new(floor, 2, 3, style))
                .map_err(|x| e(&x))?
                .label("stack-copy floor: mmap + memcpy of its bytes")
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], style));
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperLeft)
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .draw()
            .map_err(|x| e(&x))?;
        root.present().map_err(|x| e(&x))?;
    }
    Ok(out)
}

//! The fan-out chart: p50 and p99 latency against the number of consumers, for every server and
//! the floor, drawn as SVG (plotters' SVG backend: no font or bitmap library needed).

use crate::subjects::Subject;
use crate::workloads::fanout::Point;
use plotters::prelude::*;
use std::collections::BTreeMap;
use std::path::Path;

/// Width and height of the picture, in pixels.
const SIZE: (u32, u32) = (960, 600);

/// Each server's colour: ours stands out, the floor is black.
fn colour(subject: Subject) -> RGBColor {
    match subject {
        Subject::Ours => RGBColor(214, 39, 40),
        Subject::Node => RGBColor(44, 160, 44),
        Subject::Go => RGBColor(31, 119, 180),
        Subject::Python => RGBColor(255, 127, 14),
        Subject::Websocketd => RGBColor(148, 103, 189),
        Subject::Websocat => RGBColor(140, 86, 75),
        Subject::Floor => RGBColor(0, 0, 0),
    }
}

/// Draws `curves` into the SVG file `path`; `interval_ms` is the broadcast's interval, for the
/// title.
pub fn draw(
    path: &Path,
    curves: &BTreeMap<Subject, Vec<Point>>,
    interval_ms: u128,
) -> Result<(), String> {
    if curves.values().all(Vec::is_empty) {
        return Err("no fan-out latency was measured".into());
    }
    if let Some(folder) = path.parent() {
        std::fs::create_dir_all(folder).map_err(|e| format!("{}: {e}", folder.display()))?;
    }
    let points = || curves.values().flatten();
    let most = points().map(|p| p.consumers).max().unwrap_or(1) as f64;
    let highest = points().map(|p| p.p99).fold(1.0, f64::max);
    let root = SVGBackend::new(path, SIZE).into_drawing_area();
    let failed = |e: &dyn std::fmt::Display| format!("drawing {}: {e}", path.display());
    root.fill(&WHITE).map_err(|e| failed(&e))?;
    let mut chart = ChartBuilder::on(&root)
        .caption(
            format!(
                "Broadcast fan-out at {} msg/s: latency against consumers (solid p50, dashed p99)",
                1000 / interval_ms.max(1)
            ),
            ("sans-serif", 20),
        )
        .margin(20)
        .x_label_area_size(50)
        .y_label_area_size(70)
        .build_cartesian_2d(0.0..most * 1.05, 0.0..highest * 1.1)
        .map_err(|e| failed(&e))?;
    chart
        .configure_mesh()
        .x_desc("consumers")
        .y_desc("latency, ms (receipt - envelope time)")
        .x_label_formatter(&|x| format!("{x:.0}"))
        .light_line_style(RGBColor(238, 238, 238))
        .draw()
        .map_err(|e| failed(&e))?;
    for (subject, curve) in curves {
        let style = colour(*subject);
        let p50: Vec<(f64, f64)> = curve.iter().map(|p| (p.consumers as f64, p.p50)).collect();
        let p99: Vec<(f64, f64)> = curve.iter().map(|p| (p.consumers as f64, p.p99)).collect();
        chart
            .draw_series(LineSeries::new(p50.clone(), style.stroke_width(2)))
            .map_err(|e| failed(&e))?
            .label(format!("{} p50", subject.name()))
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 20, y)], style.stroke_width(2))
            });
        chart
            .draw_series(p50.iter().map(|&at| Circle::new(at, 3, style.filled())))
            .map_err(|e| failed(&e))?;
        chart
            .draw_series(DashedLineSeries::new(
                p99.clone(),
                6,
                4,
                style.stroke_width(2),
            ))
            .map_err(|e| failed(&e))?
            .label(format!("{} p99", subject.name()))
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 8, y)], style.stroke_width(2))
            });
        chart
            .draw_series(
                p99.iter()
                    .map(|&at| Cross::new(at, 4, style.stroke_width(2))),
            )
            .map_err(|e| failed(&e))?;
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.9))
        .border_style(BLACK)
        .draw()
        .map_err(|e| failed(&e))?;
    root.present().map_err(|e| failed(&e))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_chart_names_every_server_it_was_given() {
        let path = std::env::temp_dir().join(format!("bench-chart-{}.svg", std::process::id()));
        let mut curves = BTreeMap::new();
        for (subject, scale) in [(Subject::Ours, 1.0), (Subject::Floor, 0.5)] {
            curves.insert(
                subject,
                vec![
                    Point {
                        consumers: 1000,
                        p50: 5.0 * scale,
                        p99: 9.0 * scale,
                    },
                    Point {
                        consumers: 5000,
                        p50: 20.0 * scale,
                        p99: 40.0 * scale,
                    },
                ],
            );
        }
        draw(&path, &curves, 100).unwrap();
        let svg = std::fs::read_to_string(&path).unwrap();
        let _ = std::fs::remove_file(&path);
        assert!(svg.starts_with("<svg"), "{}", &svg[..svg.len().min(80)]);
        for label in ["ours p50", "ours p99", "limit (floor) p99", "consumers"] {
            assert!(svg.contains(label), "no {label:?} in the chart");
        }
        assert!(draw(&path, &BTreeMap::new(), 100).is_err());
    }
}

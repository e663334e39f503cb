//! The recall–QPS plot of a benchmark report (SVG and PNG, plotters): one
//! Pareto-filtered curve per method and peer, log-scale QPS, labelled axes,
//! a legend, and the dataset, machine and date in the title.

use std::path::Path;

use anyhow::{Result, anyhow};
use plotters::coord::Shift;
use plotters::prelude::*;

/// The points no other point beats on both recall and QPS, by recall
/// ascending (so QPS descending): the curve a user can choose from.
pub fn pareto(points: &[(f64, f64)]) -> Vec<(f64, f64)> {
    let mut p: Vec<(f64, f64)> = points
        .iter()
        .copied()
        .filter(|(r, q)| r.is_finite() && q.is_finite() && *q > 0.0)
        .collect();
    // Highest recall first; at equal recall the fastest first.
    p.sort_by(|a, b| b.0.total_cmp(&a.0).then(b.1.total_cmp(&a.1)));
    let mut out: Vec<(f64, f64)> = Vec::new();
    for (r, q) in p {
        if out.last().is_none_or(|&(_, best)| q > best) {
            out.push((r, q));
        }
    }
    out.reverse();
    out
}

/// Each method's Pareto curve of (recall@10, single-thread QPS), methods
/// in the order they first appear.
pub fn curves(rows: &[serde_json::Value]) -> Vec<(String, Vec<(f64, f64)>)> {
    let names = crate::report::methods(rows);
    names
        .into_iter()
        .map(|m| {
            let pts: Vec<(f64, f64)> = rows
                .iter()
                .filter(|r| r["method"] == m)
                .filter_map(|r| Some((r["recall_at_10"].as_f64()?, r["qps"].as_f64()?)))
                .collect();
            (m.to_string(), pareto(&pts))
        })
        .filter(|(_, c)| !c.is_empty())
        .collect()
}

/// The title: dataset and shape, machine, date and revision.
pub fn title(report: &serde_json::Value) -> String {
    let d = &report["dataset"];
    let cpu = report["cpu"].as_str().unwrap_or("?");
    let model = cpu.split(';').next().unwrap_or(cpu).trim();
    format!(
        "{} ({} × {}, {}): recall@10 vs QPS, one thread — {model}, {}",
        d["name"].as_str().unwrap_or("?"),
        d["n"],
        d["dim"],
        d["metric"].as_str().unwrap_or("?"),
        report["date"].as_str().unwrap_or("undated"),
    )
}

fn register_fonts() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // The font travels in the binary (the dejavu crate), so the PNG's
        // text needs no system fonts; a failure leaves SVG text intact.
        let _ = plotters::style::register_font(
            "sans-serif",
            FontStyle::Normal,
            dejavu::sans::regular(),
        );
        let _ = plotters::style::register_font("sans-serif", FontStyle::Bold, dejavu::sans::bold());
    });
}

const COLORS: [RGBColor; 10] = [
    RGBColor(0x1f, 0x77, 0xb4),
    RGBColor(0xd6, 0x27, 0x28),
    RGBColor(0x2c, 0xa0, 0x2c),
    RGBColor(0xff, 0x7f, 0x0e),
    RGBColor(0x94, 0x67, 0xbd),
    RGBColor(0x8c, 0x56, 0x4b),
    RGBColor(0xe3, 0x77, 0xc2),
    RGBColor(0x7f, 0x7f, 0x7f),
    RGBColor(0xbc, 0xbd, 0x22),
    RGBColor(0x17, 0xbe, 0xcf),
];

fn draw_on<DB: DrawingBackend>(
    root: DrawingArea<DB, Shift>,
    report: &serde_json::Value,
    curves: &[(String, Vec<(f64, f64)>)],
) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    root.fill(&WHITE)?;
    let all = curves.iter().flat_map(|(_, c)| c.iter());
    let (mut r_lo, mut q_lo, mut q_hi) = (1.0f64, f64::INFINITY, 0.0f64);
    for &(r, q) in all {
        r_lo = r_lo.min(r);
        q_lo = q_lo.min(q);
        q_hi = q_hi.max(q);
    }
    // Recall from a round value under the lowest point to 1; QPS with a
    // margin of 1.5× on either side of the points (a point on the frame,
    // like flat search at the bottom, would be hard to see).
    let r_lo = ((r_lo - 0.005) * 20.0).floor() / 20.0;
    let r_lo = r_lo.clamp(0.0, 0.95);
    let q_lo = q_lo.max(1e-3) / 1.5;
    let q_hi = q_hi.max(q_lo * 10.0) * 1.5;
    let mut chart = ChartBuilder::on(&root)
        .caption(title(report), ("sans-serif", 18))
        .margin(16)
        .x_label_area_size(48)
        .y_label_area_size(72)
        .build_cartesian_2d(r_lo..1.0f64, (q_lo..q_hi).log_scale())?;
    chart
        .configure_mesh()
        .x_desc("recall@10")
        .y_desc("queries per second (one thread, log scale)")
        .x_label_formatter(&|x| format!("{x:.2}"))
        .y_label_formatter(&|y| {
            if *y >= 1000.0 {
                format!("{:.0}k", y / 1000.0)
            } else {
                format!("{y:.0}")
            }
        })
        .label_style(("sans-serif", 14))
        .axis_desc_style(("sans-serif", 15))
        .light_line_style(RGBColor(235, 235, 235))
        .draw()?;
    for (i, (name, pts)) in curves.iter().enumerate() {
        let color = COLORS[i % COLORS.len()];
        let style = ShapeStyle::from(&color).stroke_width(2);
        chart
            .draw_series(LineSeries::new(pts.iter().copied(), style))?
            .label(name.as_str())
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
            });
        chart.draw_series(
            pts.iter()
                .map(|&p| Circle::new(p, 3, ShapeStyle::from(&color).filled())),
        )?;
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::LowerLeft)
        .label_font(("sans-serif", 14))
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()?;
    root.present()?;
    Ok(())
}

/// Draws the report's recall–QPS plot as an SVG and a PNG (1100 × 720).
///
/// # Errors
/// When the report has no row with a recall and a QPS, or a file cannot be
/// written.
pub fn draw(report: &serde_json::Value, svg: &Path, png: &Path) -> Result<()> {
    let rows = report["results"].as_array().map_or(&[][..], |v| v);
    let curves = curves(rows);
    if curves.is_empty() {
        return Err(anyhow!("the report has no results to plot"));
    }
    register_fonts();
    let size = (1100, 720);
    draw_on(
        SVGBackend::new(svg, size).into_drawing_area(),
        report,
        &curves,
    )
    .map_err(|e| anyhow!("drawing {}: {e:?}", svg.display()))?;
    draw_on(
        BitMapBackend::new(png, size).into_drawing_area(),
        report,
        &curves,
    )
    .map_err(|e| anyhow!("drawing {}: {e:?}", png.display()))?;
    Ok(())
}

/// The churn report's plot: QPS at recall 0.95 (one thread) against the
/// share of the first half turned over, one line per method, the fresh
/// builds and the compacted index as points (SVG and PNG, 1100 × 720).
///
/// # Errors
/// When the report has no QPS to plot, or a file cannot be written.
pub fn draw_churn(report: &serde_json::Value, svg: &Path, png: &Path) -> Result<()> {
    let rows = report["results"].as_array().map_or(&[][..], |v| v);
    let mut series: Vec<(String, Vec<(f64, f64)>)> = Vec::new();
    for r in rows {
        let (Some(t), Some(q)) = (r["turnover"].as_f64(), r["qps_at_095"].as_f64()) else {
            continue;
        };
        let name = r["method"].as_str().unwrap_or("?").to_string();
        match series.iter_mut().find(|(n, _)| *n == name) {
            Some((_, pts)) => pts.push((100.0 * t, q)),
            None => series.push((name, vec![(100.0 * t, q)])),
        }
    }
    if series.is_empty() {
        return Err(anyhow!(
            "the churn report has no QPS at recall 0.95 to plot"
        ));
    }
    register_fonts();
    let size = (1100, 720);
    draw_churn_on(
        SVGBackend::new(svg, size).into_drawing_area(),
        report,
        &series,
    )
    .map_err(|e| anyhow!("drawing {}: {e:?}", svg.display()))?;
    draw_churn_on(
        BitMapBackend::new(png, size).into_drawing_area(),
        report,
        &series,
    )
    .map_err(|e| anyhow!("drawing {}: {e:?}", png.display()))?;
    Ok(())
}

fn draw_churn_on<DB: DrawingBackend>(
    root: DrawingArea<DB, Shift>,
    report: &serde_json::Value,
    series: &[(String, Vec<(f64, f64)>)],
) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    root.fill(&WHITE)?;
    let q_hi = series
        .iter()
        .flat_map(|(_, p)| p.iter().map(|x| x.1))
        .fold(0.0f64, f64::max)
        * 1.15;
    let d = &report["dataset"];
    let cpu = report["cpu"].as_str().unwrap_or("?");
    let model = cpu.split(';').next().unwrap_or(cpu).trim();
    let caption = format!(
        "{} ({} × {}): churn, QPS at recall@10 0.95, one thread — {model}, {}",
        d["name"].as_str().unwrap_or("?"),
        d["n"],
        d["dim"],
        report["date"].as_str().unwrap_or("undated"),
    );
    let mut chart = ChartBuilder::on(&root)
        .caption(caption, ("sans-serif", 18))
        .margin(16)
        .x_label_area_size(48)
        .y_label_area_size(72)
        .build_cartesian_2d(-2.0f64..102.0, 0.0..q_hi.max(1.0))?;
    chart
        .configure_mesh()
        .x_desc("the first half turned over (%): rounds of +10 % / −10 % of the live set")
        .y_desc("queries per second at recall 0.95 (one thread)")
        .x_label_formatter(&|x| format!("{x:.0}"))
        .y_label_formatter(&|y| format!("{:.0}k", y / 1000.0))
        .label_style(("sans-serif", 14))
        .axis_desc_style(("sans-serif", 15))
        .light_line_style(RGBColor(235, 235, 235))
        .draw()?;
    for (i, (name, pts)) in series.iter().enumerate() {
        let color = COLORS[i % COLORS.len()];
        let style = ShapeStyle::from(&color).stroke_width(2);
        let lone = pts.len() < 3;
        if !lone {
            chart.draw_series(LineSeries::new(pts.iter().copied(), style))?;
        }
        chart
            .draw_series(pts.iter().map(|&p| {
                Circle::new(
                    p,
                    if lone { 6 } else { 3 },
                    ShapeStyle::from(&color).filled(),
                )
            }))?
            .label(name.as_str())
            .legend(move |(x, y)| Circle::new((x + 10, y), 5, color.filled()));
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::LowerLeft)
        .label_font(("sans-serif", 14))
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()?;
    root.present()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The frontier keeps exactly the undominated points: a point beaten
    /// on both axes, a tie in recall at lower QPS and a slower point at
    /// lower recall all go (a filter keeping the slowest, or comparing
    /// with `>=`, fails).
    #[test]
    fn pareto_keeps_the_undominated_points() {
        let pts = [
            (0.90, 1000.0),
            (0.95, 600.0),
            (0.95, 500.0), // same recall, slower
            (0.93, 400.0), // beaten by (0.95, 600)
            (0.99, 200.0),
            (0.80, 900.0), // beaten by (0.90, 1000)
            (0.97, f64::NAN),
        ];
        assert_eq!(
            pareto(&pts),
            vec![(0.90, 1000.0), (0.95, 600.0), (0.99, 200.0)]
        );
        assert!(pareto(&[]).is_empty());
    }

    /// A report draws to an SVG whose text holds the title, both axis
    /// labels and every method's name, and to a PNG of the stated size.
    #[test]
    fn draw_writes_labelled_svg_and_png() {
        let report = serde_json::json!({
            "dataset": {"name": "toy", "n": 100, "dim": 8, "metric": "l2", "n_queries": 10},
            "cpu": "Test CPU; 2 logical CPUs; SIMD: avx2",
            "date": "2026-12-02",
            "results": [
                {"method": "zgq-qg", "recall_at_10": 0.91, "qps": 20000.0},
                {"method": "zgq-qg", "recall_at_10": 0.99, "qps": 9000.0},
                {"method": "hnswlib", "recall_at_10": 0.92, "qps": 5000.0},
                {"method": "hnswlib", "recall_at_10": 0.995, "qps": 1500.0},
            ]
        });
        let dir = std::env::temp_dir().join(format!("zgq-plot-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let (svg, png) = (dir.join("p.svg"), dir.join("p.png"));
        draw(&report, &svg, &png).unwrap();
        let text = std::fs::read_to_string(&svg).unwrap();
        for needle in [
            "toy (100 × 8, l2)",
            "Test CPU",
            "2026-12-02",
            "recall@10",
            "queries per second",
            "zgq-qg",
            "hnswlib",
        ] {
            assert!(text.contains(needle), "SVG lacks {needle}");
        }
        let bytes = std::fs::read(&png).unwrap();
        assert_eq!(&bytes[1..4], b"PNG");
        // IHDR: width and height, big-endian, at bytes 16..24.
        assert_eq!(u32::from_be_bytes(bytes[16..20].try_into().unwrap()), 1100);
        assert_eq!(u32::from_be_bytes(bytes[20..24].try_into().unwrap()), 720);
        std::fs::remove_dir_all(&dir).ok();
    }
}

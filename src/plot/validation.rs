//! Validation figures: descriptor vs measured conductivity (with the least-squares line
//! and Spearman's ρ), ROC curves, and conductivity by cluster as box plots.

use std::path::Path;

use plotters::prelude::*;

use super::{PALETTE, axis, plot_err};
use crate::error::Result;
use crate::io::write_atomic;
use crate::validate::{ClusterConductivity, DescriptorStats, Points};

type Panel<'a> = (String, Points, Option<&'a DescriptorStats>);

fn range(v: &[f64]) -> (f64, f64) {
    let lo = v.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    if !(lo.is_finite() && hi.is_finite()) {
        return (0.0, 1.0);
    }
    let pad = ((hi - lo) * 0.06).max(1e-9);
    (lo - pad, hi + pad)
}

/// Descriptor vs log10 σ, one panel per descriptor (at most four).
pub(crate) fn scatter_svg_text(panels: &[Panel], threshold: f64) -> Result<String> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (1000, 820)).into_drawing_area();
        root.fill(&WHITE).map_err(plot_err)?;
        let areas = root.split_evenly((2, 2));
        for (area, (name, p, st)) in areas.iter().zip(panels) {
            let (x0, x1) = range(&p.x);
            let (y0, y1) = range(&p.log_sigma);
            let title = format!(
                "{name}: ρ = {}{} (n = {})",
                st.and_then(|s| s.spearman)
                    .map_or("–".into(), |v| format!("{v:.2}")),
                st.and_then(|s| s.spearman_ci)
                    .map_or(String::new(), |(a, b)| format!(" [{a:.2}, {b:.2}]")),
                p.x.len()
            );
            let mut chart = ChartBuilder::on(area)
                .caption(title, ("sans-serif", 15))
                .margin(10)
                .x_label_area_size(36)
                .y_label_area_size(48)
                .build_cartesian_2d(axis(x0..x1)?, axis(y0..y1)?)
                .map_err(plot_err)?;
            chart
                .configure_mesh()
                .x_desc(name.as_str())
                .y_desc("log10 σ (S/cm)")
                .light_line_style(WHITE)
                .draw()
                .map_err(plot_err)?;
            let t = threshold.log10();
            if t > y0 && t < y1 {
                chart
                    .draw_series(std::iter::once(PathElement::new(
                        vec![(x0, t), (x1, t)],
                        BLACK.mix(0.35).stroke_width(1),
                    )))
                    .map_err(plot_err)?;
            }
            for (censored, col, label) in [
                (false, PALETTE[5], "measured σ"),
                (true, PALETTE[4], "upper limit (<σ)"),
            ] {
                let pts: Vec<(f64, f64)> =
                    p.x.iter()
                        .zip(&p.log_sigma)
                        .zip(&p.censored)
                        .filter(|(_, c)| **c == censored)
                        .map(|((x, y), _)| (*x, *y))
                        .collect();
                chart
                    .draw_series(
                        pts.iter()
                            .map(|&(x, y)| Circle::new((x, y), 3, col.mix(0.75).filled())),
                    )
                    .map_err(plot_err)?
                    .label(label)
                    .legend(move |(x, y)| Circle::new((x + 8, y), 4, col.filled()));
            }
            // Least-squares line.
            let n = p.x.len() as f64;
            if n >= 3.0 {
                let (mx, my) = (
                    p.x.iter().sum::<f64>() / n,
                    p.log_sigma.iter().sum::<f64>() / n,
                );
                let sxx: f64 = p.x.iter().map(|x| (x - mx).powi(2)).sum();
                let sxy: f64 =
                    p.x.iter()
                        .zip(&p.log_sigma)
                        .map(|(x, y)| (x - mx) * (y - my))
                        .sum();
                if sxx > 0.0 {
                    let b = sxy / sxx;
                    chart
                        .draw_series(std::iter::once(PathElement::new(
                            vec![(x0, my + b * (x0 - mx)), (x1, my + b * (x1 - mx))],
                            PALETTE[1].stroke_width(2),
                        )))
                        .map_err(plot_err)?
                        .label("least-squares line")
                        .legend(|(x, y)| {
                            PathElement::new(vec![(x, y), (x + 16, y)], PALETTE[1].stroke_width(2))
                        });
                }
            }
            chart
                .draw_series(std::iter::once(PathElement::new(
                    vec![(x0, y0), (x0, y0)],
                    BLACK.mix(0.35),
                )))
                .map_err(plot_err)?
                .label(format!("conductor threshold ({threshold:e} S/cm)"))
                .legend(|(x, y)| {
                    PathElement::new(vec![(x, y), (x + 16, y)], BLACK.mix(0.35).stroke_width(1))
                });
            let corner = super::emptiest_corner(
                p.x.iter().copied().zip(p.log_sigma.iter().copied()),
                &(x0..x1),
                &(y0..y1),
                0.5,
                0.35,
            );
            chart
                .configure_series_labels()
                .position(corner)
                .label_font(("sans-serif", 11))
                .background_style(WHITE.mix(0.85))
                .border_style(BLACK.mix(0.3))
                .draw()
                .map_err(plot_err)?;
        }
        root.present().map_err(plot_err)?;
    }
    Ok(svg)
}

/// [`scatter_svg_text`], written to `path` (atomically).
pub(crate) fn scatter_svg(panels: &[Panel], threshold: f64, path: &Path) -> Result<()> {
    write_atomic(path, scatter_svg_text(panels, threshold)?.as_bytes())
}

/// ROC curves of each descriptor as a score for conductors (σ ≥ threshold).
pub(crate) fn roc_svg_text(panels: &[Panel]) -> Result<String> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (700, 640)).into_drawing_area();
        root.fill(&WHITE).map_err(plot_err)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(
                "ROC: each descriptor as a score for conductors, in its direction",
                ("sans-serif", 18),
            )
            .margin(14)
            .x_label_area_size(44)
            .y_label_area_size(56)
            .build_cartesian_2d(0.0..1.0, 0.0..1.0)
            .map_err(plot_err)?;
        chart
            .configure_mesh()
            .x_desc("False-positive rate")
            .y_desc("True-positive rate")
            .light_line_style(WHITE)
            .draw()
            .map_err(plot_err)?;
        chart
            .draw_series(std::iter::once(PathElement::new(
                vec![(0.0, 0.0), (1.0, 1.0)],
                BLACK.mix(0.3).stroke_width(1),
            )))
            .map_err(plot_err)?;
        for (i, (name, p, st)) in panels.iter().enumerate() {
            let pos = p.conductor.iter().filter(|&&c| c).count() as f64;
            let neg = p.conductor.len() as f64 - pos;
            if pos == 0.0 || neg == 0.0 {
                continue;
            }
            // Each descriptor in the direction in which it predicts: one whose AUC is
            // below 0.5 (lower values mark conductors) ranks from its lowest value, so
            // every curve lies above the diagonal and its AUC is max(AUC, 1 - AUC).
            let auc = st.and_then(|s| s.roc_auc);
            let lower_first = auc.is_some_and(|a| a < 0.5);
            let sign = if lower_first { -1.0 } else { 1.0 };
            let x: Vec<f64> = p.x.iter().map(|v| sign * v).collect();
            // Descending score; the curve follows ties as one step.
            let mut idx: Vec<usize> = (0..x.len()).collect();
            idx.sort_by(|&a, &b| x[b].total_cmp(&x[a]));
            let mut pts = vec![(0.0, 0.0)];
            let (mut tp, mut fp) = (0.0, 0.0);
            let mut k = 0;
            while k < idx.len() {
                let v = x[idx[k]];
                while k < idx.len() && x[idx[k]] == v {
                    if p.conductor[idx[k]] {
                        tp += 1.0;
                    } else {
                        fp += 1.0;
                    }
                    k += 1;
                }
                pts.push((fp / neg, tp / pos));
            }
            let col = PALETTE[i % PALETTE.len()];
            chart
                .draw_series(std::iter::once(PathElement::new(pts, col.stroke_width(2))))
                .map_err(plot_err)?
                .label(format!(
                    "{name} ({} first): AUC {}",
                    if lower_first { "lower" } else { "higher" },
                    auc.map_or("–".into(), |v| format!("{:.2}", v.max(1.0 - v)))
                ))
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 18, y)], col.stroke_width(3))
                });
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::LowerRight)
            .background_style(WHITE.mix(0.9))
            .border_style(BLACK.mix(0.4))
            .draw()
            .map_err(plot_err)?;
        root.present().map_err(plot_err)?;
    }
    Ok(svg)
}

/// [`roc_svg_text`], written to `path` (atomically).
pub(crate) fn roc_svg(panels: &[Panel], path: &Path) -> Result<()> {
    write_atomic(path, roc_svg_text(panels)?.as_bytes())
}

/// Measured log10 σ by cluster: box (quartiles), median, whiskers to the extremes, and
/// every point.
pub(crate) fn clusters_svg_text(
    clusters: &[ClusterConductivity],
    threshold: f64,
) -> Result<String> {
    let all: Vec<f64> = clusters
        .iter()
        .flat_map(|c| c.log_sigma.iter().copied())
        .collect();
    let (y0, y1) = range(&all);
    let n = clusters.len().max(1);
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (800, 520)).into_drawing_area();
        root.fill(&WHITE).map_err(plot_err)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(
                format!("Measured conductivity by cluster (dark line: conductor threshold {threshold:e} S/cm)"),
                ("sans-serif", 16),
            )
            .margin(14)
            .x_label_area_size(56)
            .y_label_area_size(56)
            .build_cartesian_2d(axis(-0.5..n as f64 - 0.5)?, axis(y0..y1)?)
            .map_err(plot_err)?;
        let names: Vec<String> = clusters
            .iter()
            .map(|c| format!("{}: {} of {}", c.cluster, c.n_conductors, c.n))
            .collect();
        chart
            .configure_mesh()
            .disable_x_mesh()
            .light_line_style(WHITE)
            .x_labels(n)
            .x_label_formatter(&|v| {
                let i = v.round();
                if (v - i).abs() < 1e-6 && i >= 0.0 {
                    names.get(i as usize).cloned().unwrap_or_default()
                } else {
                    String::new()
                }
            })
            .y_desc("log10 σ (S/cm)")
            .x_desc("cluster: conductors of matched entries")
            .draw()
            .map_err(plot_err)?;
        let t = threshold.log10();
        if t > y0 && t < y1 {
            chart
                .draw_series(std::iter::once(PathElement::new(
                    vec![(-0.5, t), (n as f64 - 0.5, t)],
                    BLACK.mix(0.8).stroke_width(2),
                )))
                .map_err(plot_err)?;
        }
        for (i, c) in clusters.iter().enumerate() {
            let x = i as f64;
            let col = PALETTE[(i + 1) % PALETTE.len()];
            let (lo, hi) = (
                c.log_sigma.first().copied().unwrap_or(0.0),
                c.log_sigma.last().copied().unwrap_or(0.0),
            );
            chart
                .draw_series([
                    PathElement::new(vec![(x, lo), (x, hi)], BLACK.stroke_width(1)),
                    PathElement::new(
                        vec![
                            (x - 0.25, c.median_log_sigma),
                            (x + 0.25, c.median_log_sigma),
                        ],
                        BLACK.stroke_width(2),
                    ),
                ])
                .map_err(plot_err)?;
            chart
                .draw_series(std::iter::once(Rectangle::new(
                    [(x - 0.25, c.q1_log_sigma), (x + 0.25, c.q3_log_sigma)],
                    col.mix(0.45).filled(),
                )))
                .map_err(plot_err)?;
            chart
                .draw_series(c.log_sigma.iter().enumerate().map(|(k, y)| {
                    let jitter = ((k * 37 % 11) as f64 / 11.0 - 0.5) * 0.3;
                    Circle::new((x + jitter, *y), 2, BLACK.mix(0.6).filled())
                }))
                .map_err(plot_err)?;
        }
        root.present().map_err(plot_err)?;
    }
    Ok(svg)
}

/// [`clusters_svg_text`], written to `path` (atomically).
pub(crate) fn clusters_svg(
    clusters: &[ClusterConductivity],
    threshold: f64,
    path: &Path,
) -> Result<()> {
    write_atomic(path, clusters_svg_text(clusters, threshold)?.as_bytes())
}

//! Hop figures: the raster of events (ion × time), each hopping ion's path projected
//! on two planes with its site centres, the pair test of correlated hops against
//! independent ions, and (over many trajectories) the histogram of correlated bodies
//! with its exponential fit.

use std::path::Path;

use plotters::prelude::*;

use super::{PALETTE, axis, legend, plot_err};
use crate::error::Result;
use crate::io::write_atomic;
use crate::traj::correlations::{Collective, ExpFit};
use crate::traj::hops::Hops;

/// Empty rows above a raster of `n_rows` rows on a canvas `height` pixels tall that
/// hold a two-line legend (about 60 pixels).
fn legend_rows(n_rows: usize, height: u32) -> usize {
    let per_row = (height.saturating_sub(110)).max(1) as f64 / n_rows as f64;
    ((60.0 / per_row).ceil() as usize).max(3)
}

/// Hop raster: one row per hopping ion, each event a bar from its start to its end
/// (forward hops blue, back-hops orange).
pub fn raster_svg_text(h: &Hops) -> Result<String> {
    let mut rows: Vec<usize> = h.events.iter().map(|e| e.ion).collect();
    rows.sort_unstable();
    rows.dedup();
    let t_end = (h.n_frames.saturating_sub(1)) as f64 * h.dt_ps;
    let height = (160 + 18 * rows.len().max(1)).min(1600) as u32;
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (900, height)).into_drawing_area();
        root.fill(&WHITE).map_err(plot_err)?;
        let n_rows = rows.len().max(1);
        let ions_total = h.ions.len();
        let mut chart = ChartBuilder::on(&root)
            .caption(
                format!(
                    "Hop events: {} on {} of {} ions ({} mode)",
                    h.events.len(),
                    rows.len(),
                    ions_total,
                    h.mode.name()
                ),
                ("sans-serif", 20),
            )
            .margin(14)
            .x_label_area_size(44)
            .y_label_area_size(70)
            // Empty rows above the last ion for the legend, so that it covers no event.
            .build_cartesian_2d(
                axis(0.0..t_end.max(h.dt_ps))?,
                axis(0.0..(n_rows + legend_rows(n_rows, height)) as f64)?,
            )
            .map_err(plot_err)?;
        let labels: Vec<String> = rows.iter().map(|i| format!("ion {i}")).collect();
        chart
            .configure_mesh()
            .x_desc("Time (ps)")
            .y_desc("Ion (0-based index in the file)")
            .y_labels(n_rows.min(60) + 1)
            .y_label_formatter(&|v| {
                let i = v.floor() as usize;
                if (v - v.floor() - 0.0).abs() < 1e-9 {
                    labels.get(i).cloned().unwrap_or_default()
                } else {
                    String::new()
                }
            })
            .y_label_offset(-8)
            .disable_y_mesh()
            .axis_desc_style(("sans-serif", 15))
            .draw()
            .map_err(plot_err)?;
        for e in &h.events {
            let r = rows.binary_search(&e.ion).unwrap_or(0) as f64;
            let (a, b) = (
                h.start_ps(e),
                h.end_ps(e).max(h.start_ps(e) + 0.2 * h.dt_ps),
            );
            let col = if e.back_hop { PALETTE[4] } else { PALETTE[5] };
            chart
                .draw_series(std::iter::once(Rectangle::new(
                    [(a, r + 0.15), (b, r + 0.85)],
                    col.filled(),
                )))
                .map_err(plot_err)?;
        }
        if h.events.iter().any(|e| e.back_hop) {
            chart
                .draw_series(std::iter::once(Rectangle::new(
                    [(0.0, 0.0), (0.0, 0.0)],
                    PALETTE[5].filled(),
                )))
                .map_err(plot_err)?
                .label("hop")
                .legend(|(x, y)| {
                    Rectangle::new([(x, y - 5), (x + 14, y + 5)], PALETTE[5].filled())
                });
            chart
                .draw_series(std::iter::once(Rectangle::new(
                    [(0.0, 0.0), (0.0, 0.0)],
                    PALETTE[4].filled(),
                )))
                .map_err(plot_err)?
                .label("back-hop (returns to the site just left)")
                .legend(|(x, y)| {
                    Rectangle::new([(x, y - 5), (x + 14, y + 5)], PALETTE[4].filled())
                });
            chart
                .configure_series_labels()
                .position(SeriesLabelPosition::UpperRight)
                .background_style(WHITE.mix(0.85))
                .border_style(BLACK.mix(0.4))
                .draw()
                .map_err(plot_err)?;
        }
        root.present().map_err(plot_err)?;
    }
    Ok(svg)
}

/// [`raster_svg_text`], written to `path` (atomically).
pub(crate) fn raster_svg(h: &Hops, path: &Path) -> Result<()> {
    write_atomic(path, raster_svg_text(h)?.as_bytes())
}

/// One ion's unwrapped path on the x–y and x–z planes, frames coloured by the site
/// (k-means cluster) they belong to, site centres as black crosses with their ids,
/// hop frames drawn in black.
pub(crate) fn path_svg_text(h: &Hops, ion: usize) -> Result<String> {
    let j = h
        .ions
        .iter()
        .position(|s| s.ion == ion)
        .ok_or_else(|| crate::invalid!("ion {ion} was not analysed"))?;
    let s = &h.ions[j];
    let t = h.n_frames;
    // The frames held: every one in memory, every `frame_stride`-th when streamed.
    let stride = h.frame_stride.max(1);
    let kept = h.positions.shape()[0];
    let p: Vec<[f64; 3]> = (0..kept)
        .map(|k| std::array::from_fn(|x| h.positions[[k, j, x]] as f64))
        .collect();
    let in_hop = |f: usize| {
        h.events
            .iter()
            .any(|e| e.ion == ion && f >= e.start_frame && f <= e.end(t))
    };
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (1100, 520)).into_drawing_area();
        root.fill(&WHITE).map_err(plot_err)?;
        let (title, body) = root.split_vertically(40);
        title
            .titled(
                &format!(
                    "{} ion {ion}: {} site(s), {} hop(s); {} coloured by site, black during hops",
                    s.species,
                    s.k,
                    h.events.iter().filter(|e| e.ion == ion).count(),
                    if stride > 1 {
                        crate::traj::hops::types::every_nth_frame(stride)
                    } else {
                        "frames".to_string()
                    }
                ),
                ("sans-serif", 20),
            )
            .map_err(plot_err)?;
        let panels = body.split_evenly((1, 2));
        for (panel, (ax, name)) in panels.iter().zip([(1usize, "y"), (2usize, "z")]) {
            let xs = p.iter().map(|q| q[0]).chain(s.centres.iter().map(|c| c[0]));
            let ys = p
                .iter()
                .map(|q| q[ax])
                .chain(s.centres.iter().map(|c| c[ax]));
            let (x0, x1) = xs.fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| {
                (a.min(v), b.max(v))
            });
            let (y0, y1) = ys.fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| {
                (a.min(v), b.max(v))
            });
            let span = (x1 - x0).max(y1 - y0).max(0.5) * 0.55;
            let (cx, cy) = (0.5 * (x0 + x1), 0.5 * (y0 + y1));
            let mut chart = ChartBuilder::on(panel)
                .margin(12)
                .x_label_area_size(40)
                .y_label_area_size(56)
                .build_cartesian_2d(axis(cx - span..cx + span)?, axis(cy - span..cy + span)?)
                .map_err(plot_err)?;
            chart
                .configure_mesh()
                .x_desc("x (Å, unwrapped)")
                .y_desc(format!("{name} (Å, unwrapped)"))
                .axis_desc_style(("sans-serif", 14))
                .draw()
                .map_err(plot_err)?;
            chart
                .draw_series(LineSeries::new(
                    p.iter().map(|q| (q[0], q[ax])),
                    RGBColor(180, 180, 180).stroke_width(1),
                ))
                .map_err(plot_err)?;
            chart
                .draw_series((0..kept).map(|k| {
                    let col = if in_hop(k * stride) {
                        BLACK
                    } else {
                        PALETTE[1 + s.labels[k] as usize % (PALETTE.len() - 1)]
                    };
                    Circle::new((p[k][0], p[k][ax]), 3, col.filled())
                }))
                .map_err(plot_err)?;
            chart
                .draw_series(s.centres.iter().zip(&s.sites).map(|(c, site)| {
                    EmptyElement::at((c[0], c[ax]))
                        + Cross::new((0, 0), 7, BLACK.stroke_width(3))
                        + Text::new(
                            format!("site {site}"),
                            (9, -16),
                            ("sans-serif", 14).into_font(),
                        )
                }))
                .map_err(plot_err)?;
        }
        root.present().map_err(plot_err)?;
    }
    Ok(svg)
}

/// [`path_svg_text`], written to `path` (atomically).
pub(crate) fn path_svg(h: &Hops, ion: usize, path: &Path) -> Result<()> {
    write_atomic(path, path_svg_text(h, ion)?.as_bytes())
}

/// Histogram of the number of bodies per correlated event (temporal co-occurrence
/// and, when given, spatio-temporal collective hops) with the exponential fit.
pub(crate) fn correlation_svg_text(
    temporal: &[(usize, f64)],
    fit: Option<ExpFit>,
    collective: &[(usize, f64)],
    title: &str,
) -> Result<String> {
    // Up to the largest n that occurs (zero bins beyond it are not shown), at most
    // MAX_BODIES_SHOWN (the title says when more occur).
    const MAX_BODIES_SHOWN: usize = 40;
    // Every bin of the histogram given (zeros included), so that the axis shows the
    // range the fractions are normalised over.
    let occurring = temporal
        .iter()
        .chain(collective)
        .map(|p| p.0)
        .max()
        .unwrap_or(2)
        .max(2);
    let nmax = occurring.min(MAX_BODIES_SHOWN);
    let title = if occurring > nmax {
        format!("{title}; n ≤ {nmax} of up to {occurring} shown")
    } else {
        title.to_string()
    };
    let temporal: Vec<(usize, f64)> = temporal.iter().copied().filter(|p| p.0 <= nmax).collect();
    let collective: Vec<(usize, f64)> =
        collective.iter().copied().filter(|p| p.0 <= nmax).collect();
    let (temporal, collective) = (&temporal[..], &collective[..]);
    // The axis holds the bars and the fit line alike.
    let fit_top = fit.map_or(0.0, |f| {
        (0..=200)
            .map(|i| {
                let x = 2.0 + (nmax as f64 - 2.0) * i as f64 / 200.0;
                f.a + f.b * (-f.c * x).exp()
            })
            .filter(|v| v.is_finite())
            .fold(0.0f64, f64::max)
            .min(1.0)
    });
    let ymax = temporal
        .iter()
        .chain(collective)
        .map(|p| p.1)
        .fold(fit_top, f64::max)
        .max(1e-3)
        * 1.15;
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (820, 520)).into_drawing_area();
        root.fill(&WHITE).map_err(plot_err)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(&title, ("sans-serif", 20))
            .margin(16)
            .x_label_area_size(44)
            .y_label_area_size(64)
            // From n = 2: one body alone is not a correlation.
            .build_cartesian_2d(axis(1.5..nmax.max(2) as f64 + 0.5)?, axis(0.0..ymax)?)
            .map_err(plot_err)?;
        chart
            .configure_mesh()
            .x_desc("Correlated bodies n (ions hopping together; n ≥ 2)")
            .x_labels((2 * nmax + 2).min(42))
            .light_line_style(WHITE.mix(0.0))
            .x_label_formatter(&|v| {
                if (v - v.round()).abs() < 1e-6 {
                    format!("{}", v.round() as i64)
                } else {
                    String::new()
                }
            })
            .y_desc("Fraction of correlated events")
            .axis_desc_style(("sans-serif", 15))
            .draw()
            .map_err(plot_err)?;
        let w = if collective.is_empty() { 0.35 } else { 0.2 };
        chart
            .draw_series(temporal.iter().map(|&(n, y)| {
                let x = n as f64 - if collective.is_empty() { 0.0 } else { w };
                Rectangle::new([(x - w, 0.0), (x + w, y)], PALETTE[5].filled())
            }))
            .map_err(plot_err)?
            .label("temporal co-occurrence (IonDiff's definition)")
            .legend(|(x, y)| Rectangle::new([(x, y - 5), (x + 14, y + 5)], PALETTE[5].filled()));
        if !collective.is_empty() {
            chart
                .draw_series(collective.iter().map(|&(n, y)| {
                    let x = n as f64 + w;
                    Rectangle::new([(x - w, 0.0), (x + w, y)], PALETTE[1].filled())
                }))
                .map_err(plot_err)?
                .label("collective hops (within Δt and Δr)")
                .legend(|(x, y)| {
                    Rectangle::new([(x, y - 5), (x + 14, y + 5)], PALETTE[1].filled())
                });
        }
        if let Some(f) = fit {
            let pts: Vec<(f64, f64)> = (0..=200)
                .map(|i| {
                    let x = 2.0 + (nmax as f64 - 2.0) * i as f64 / 200.0;
                    (x, f.a + f.b * (-f.c * x).exp())
                })
                .collect();
            chart
                .draw_series(LineSeries::new(pts, BLACK.stroke_width(2)))
                .map_err(plot_err)?
                .label(
                    format!("fit {:.3} + {:.3}·exp(−{:.3} n)", f.a, f.b, f.c).replace("+ -", "− "),
                )
                .legend(|(x, y)| PathElement::new([(x, y), (x + 14, y)], BLACK.stroke_width(2)));
        }
        legend(&mut chart, SeriesLabelPosition::UpperRight, 14)?;
        root.present().map_err(plot_err)?;
    }
    Ok(svg)
}

/// [`correlation_svg_text`], written to `path` (atomically).
pub(crate) fn correlation_svg(
    temporal: &[(usize, f64)],
    fit: Option<ExpFit>,
    collective: &[(usize, f64)],
    title: &str,
    path: &Path,
) -> Result<()> {
    write_atomic(
        path,
        correlation_svg_text(temporal, fit, collective, title)?.as_bytes(),
    )
}

/// The pair test of correlated hops: the close pairs of jumps by different ions in
/// each draw of independent ions (histogram) and in the run (a vertical line), with the
/// verdict and, when the grouping percolates, the largest group's share in the title.
pub(crate) fn null_model_svg_text(c: &Collective, events: usize) -> Result<String> {
    let mut svg = String::new();
    let test = match &c.null {
        Ok(t) => t,
        Err(why) => {
            // No test: a figure that says why, not empty axes.
            let root = SVGBackend::with_string(&mut svg, (820, 300)).into_drawing_area();
            root.fill(&WHITE).map_err(plot_err)?;
            root.draw(&Text::new(
                format!("Correlated hops ({events} jumps): {why}"),
                (20, 140),
                ("sans-serif", 14),
            ))
            .map_err(plot_err)?;
            root.present().map_err(plot_err)?;
            drop(root);
            return Ok(svg);
        }
    };
    let lo = test
        .null_counts
        .iter()
        .copied()
        .min()
        .unwrap_or(0)
        .min(test.pairs) as f64;
    let hi = test
        .null_counts
        .iter()
        .copied()
        .max()
        .unwrap_or(0)
        .max(test.pairs) as f64;
    let bins = 30usize;
    let width = ((hi - lo) / bins as f64).max(1.0);
    let mut hist = vec![0usize; bins + 1];
    for &v in &test.null_counts {
        hist[(((v as f64 - lo) / width) as usize).min(bins)] += 1;
    }
    let ymax = *hist.iter().max().unwrap_or(&1) as f64 * 1.2;
    let pad = 0.05 * (hi - lo).max(10.0);
    {
        let root = SVGBackend::with_string(&mut svg, (820, 520)).into_drawing_area();
        root.fill(&WHITE).map_err(plot_err)?;
        let title = format!(
            "Jumps of different ions within Δt {} ps and Δr {} Å ({events} jumps){}",
            c.dt_ps,
            c.dr_a,
            if c.percolating {
                format!(
                    "; one group holds {:.0} % of the jumps",
                    100.0 * c.largest_share
                )
            } else {
                String::new()
            }
        );
        let mut chart = ChartBuilder::on(&root)
            .caption(&title, ("sans-serif", 17))
            .margin(16)
            .x_label_area_size(44)
            .y_label_area_size(64)
            .build_cartesian_2d(axis(lo - pad..hi + pad)?, axis(0.0..ymax.max(1.0))?)
            .map_err(plot_err)?;
        chart
            .configure_mesh()
            .x_desc("Close pairs of jumps by different ions")
            .x_label_formatter(&|v| format!("{v:.0}"))
            .y_label_formatter(&|v| format!("{v:.0}"))
            .y_desc(format!("Draws of independent ions (of {})", test.draws))
            .axis_desc_style(("sans-serif", 15))
            .light_line_style(WHITE.mix(0.0))
            .draw()
            .map_err(plot_err)?;
        chart
            .draw_series(
                hist.iter()
                    .enumerate()
                    .filter(|(_, c)| **c > 0)
                    .map(|(i, &c)| {
                        let x0 = lo + i as f64 * width;
                        Rectangle::new(
                            [(x0, 0.0), (x0 + width, c as f64)],
                            PALETTE[5].mix(0.7).filled(),
                        )
                    }),
            )
            .map_err(plot_err)?
            .label(format!(
                "independent ions: {:.1} ± {:.1} (each ion's jumps shifted in time)",
                test.null_mean, test.null_sd
            ))
            .legend(|(x, y)| Rectangle::new([(x, y - 5), (x + 14, y + 5)], PALETTE[5].filled()));
        let obs = test.pairs as f64;
        chart
            .draw_series(LineSeries::new(
                [(obs, 0.0), (obs, ymax)],
                PALETTE[3].stroke_width(3),
            ))
            .map_err(plot_err)?
            .label(format!(
                "this run: {} ({:.2}×, p = {})",
                test.pairs,
                test.excess,
                crate::traj::correlations::fmt_p(test.p_value)
            ))
            .legend(|(x, y)| PathElement::new([(x, y), (x + 14, y)], PALETTE[3].stroke_width(3)));
        legend(&mut chart, SeriesLabelPosition::UpperLeft, 14)?;
        root.present().map_err(plot_err)?;
    }
    Ok(svg)
}

/// [`null_model_svg_text`], written to `path` (atomically).
pub(crate) fn null_model_svg(c: &Collective, events: usize, path: &Path) -> Result<()> {
    write_atomic(path, null_model_svg_text(c, events)?.as_bytes())
}

/// Site map: the sites projected on the a-b plane of the cell (Cartesian x-y),
/// circles sized by occupancy, and every site pair with jumps as a line coloured by
/// its jump type and as wide as its share of the jumps.
pub fn sitemap_svg_text(h: &Hops) -> Result<String> {
    let Some(j) = &h.jumps else {
        return Err(crate::invalid!("a site map needs the site-based mode"));
    };
    let xs: Vec<f64> = h.sites.iter().map(|s| s.centre_a[0]).collect();
    let ys: Vec<f64> = h.sites.iter().map(|s| s.centre_a[1]).collect();
    let (x0, x1) = (
        xs.iter().copied().fold(f64::INFINITY, f64::min).min(0.0),
        xs.iter().copied().fold(f64::NEG_INFINITY, f64::max),
    );
    let (y0, y1) = (
        ys.iter().copied().fold(f64::INFINITY, f64::min).min(0.0),
        ys.iter().copied().fold(f64::NEG_INFINITY, f64::max),
    );
    let pad = 1.0;
    // Jumps per unordered site pair, with the type of the first.
    let mut pairs: std::collections::BTreeMap<(usize, usize), (usize, usize)> = Default::default();
    for e in &h.events {
        let k = (e.from_site.min(e.to_site), e.from_site.max(e.to_site));
        let t = crate::traj::hops::sites::type_of(e, &h.sites, &j.types);
        let ti = j.types.iter().position(|x| x.name == t).unwrap_or(0);
        pairs.entry(k).or_insert((0, ti)).0 += 1;
    }
    let max_pair = pairs.values().map(|v| v.0).max().unwrap_or(1).max(1);
    // Room above the sites for the legend (a line per jump type and one for the
    // sites), the canvas taller by as much so that Å keep their aspect.
    let legend_px = 30 + 22 * (j.types.len() + 1) as u32;
    let y_extra = (y1 - y0 + 2.0 * pad) * legend_px as f64 / 780.0;
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (900, 900 + legend_px)).into_drawing_area();
        root.fill(&WHITE).map_err(plot_err)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(
                format!(
                    "{} sites, {} jumps (projected on x-y; lines join sites with jumps)",
                    h.sites.len(),
                    h.events.len()
                ),
                ("sans-serif", 18),
            )
            .margin(14)
            .x_label_area_size(44)
            .y_label_area_size(56)
            .build_cartesian_2d(
                axis(x0 - pad..x1 + pad)?,
                axis(y0 - pad..y1 + pad + y_extra)?,
            )
            .map_err(plot_err)?;
        chart
            .configure_mesh()
            .x_desc("x (Å)")
            .y_desc("y (Å)")
            .disable_mesh()
            .axis_desc_style(("sans-serif", 15))
            .draw()
            .map_err(plot_err)?;
        // Lines only between sites that are minimum images of each other in the plane
        // (pairs across the cell boundary are drawn from each end, half-length).
        for (ti, t) in j.types.iter().enumerate() {
            let col = PALETTE[ti % PALETTE.len()];
            let segs: Vec<((f64, f64), (f64, f64), usize)> = pairs
                .iter()
                .filter(|(_, v)| v.1 == ti)
                .flat_map(|(&(a, b), v)| {
                    let (pa, pb) = (h.sites[a].centre_a, h.sites[b].centre_a);
                    let d = crate::geom::minimum_image(
                        [pb[0] - pa[0], pb[1] - pa[1], pb[2] - pa[2]],
                        &h.cell,
                    );
                    let direct =
                        (pb[0] - pa[0] - d[0]).abs() < 1e-6 && (pb[1] - pa[1] - d[1]).abs() < 1e-6;
                    if direct {
                        vec![((pa[0], pa[1]), (pb[0], pb[1]), v.0)]
                    } else {
                        vec![
                            (
                                (pa[0], pa[1]),
                                (pa[0] + 0.5 * d[0], pa[1] + 0.5 * d[1]),
                                v.0,
                            ),
                            (
                                (pb[0], pb[1]),
                                (pb[0] - 0.5 * d[0], pb[1] - 0.5 * d[1]),
                                v.0,
                            ),
                        ]
                    }
                })
                .collect();
            for (i, (a, b, n)) in segs.iter().enumerate() {
                let w = 1 + (5 * n / max_pair) as u32;
                let s = chart
                    .draw_series(std::iter::once(PathElement::new(
                        vec![*a, *b],
                        col.mix(0.75).stroke_width(w),
                    )))
                    .map_err(plot_err)?;
                if i == 0 {
                    s.label(format!(
                        "{} ({} jump{})",
                        t.name,
                        t.count,
                        if t.count == 1 { "" } else { "s" }
                    ))
                    .legend(move |(x, y)| {
                        PathElement::new(vec![(x, y), (x + 18, y)], col.stroke_width(3))
                    });
                }
            }
        }
        let occ_max = h
            .sites
            .iter()
            .map(|s| s.occupied_frames)
            .max()
            .unwrap_or(1)
            .max(1) as f64;
        chart
            .draw_series(h.sites.iter().map(|s| {
                let r = 2.0 + 6.0 * (s.occupied_frames as f64 / occ_max).sqrt();
                Circle::new(
                    (s.centre_a[0], s.centre_a[1]),
                    r as i32,
                    BLACK.mix(0.55).filled(),
                )
            }))
            .map_err(plot_err)?
            .label("site (area ∝ occupancy)")
            .legend(|(x, y)| Circle::new((x + 9, y), 4, BLACK.mix(0.55).filled()));
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperRight)
            .background_style(WHITE.mix(0.9))
            .border_style(BLACK.mix(0.4))
            .draw()
            .map_err(plot_err)?;
        root.present().map_err(plot_err)?;
    }
    Ok(svg)
}

/// [`sitemap_svg_text`], written to `path` (atomically).
pub(crate) fn sitemap_svg(h: &Hops, path: &Path) -> Result<()> {
    write_atomic(path, sitemap_svg_text(h)?.as_bytes())
}

/// Jump rates by type (jumps per ion per ps) with their Poisson standard errors, and
/// each type's share of the jump diffusivity; D_jump and the tracer D in the title.
pub(crate) fn jump_types_svg_text(h: &Hops) -> Result<String> {
    let Some(j) = &h.jumps else {
        return Err(crate::invalid!("jump types need the site-based mode"));
    };
    let n = j.types.len().max(1);
    let top = j
        .types
        .iter()
        .map(|t| t.rate_per_ion_ps + 2.0 * t.rate_err_per_ion_ps)
        .fold(0.0, f64::max)
        .max(1e-6)
        * 1.15;
    let title = format!(
        "Jump rates; D_jump {:.3e}, tracer D {}{}",
        j.d_jump_cm2_s,
        j.d_tracer_cm2_s
            .map_or("not determined".to_string(), |d| format!(
                "{:.3e} cm²/s (ratio {:.2})",
                d,
                j.tracer_over_jump.unwrap_or(f64::NAN)
            )),
        j.explained_share.map_or(String::new(), |s| format!(
            "; jumps explain {:.0} % of net displacement",
            100.0 * s.max(0.0)
        ))
    );
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (900, 520)).into_drawing_area();
        root.fill(&WHITE).map_err(plot_err)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 15))
            .margin(14)
            .x_label_area_size(60)
            .y_label_area_size(70)
            .build_cartesian_2d(axis(-0.5..n as f64 - 0.5)?, axis(0.0..top)?)
            .map_err(plot_err)?;
        let names: Vec<String> = j
            .types
            .iter()
            .map(|t| format!("{} (n={})", t.name, t.count))
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
            .y_desc("Jumps per ion per ps (± Poisson σ)")
            .axis_desc_style(("sans-serif", 15))
            .draw()
            .map_err(plot_err)?;
        for (i, t) in j.types.iter().enumerate() {
            let x = i as f64 - 0.5;
            let col = PALETTE[i % PALETTE.len()];
            chart
                .draw_series(std::iter::once(Rectangle::new(
                    [(x + 0.2, 0.0), (x + 0.8, t.rate_per_ion_ps)],
                    col.mix(0.8).filled(),
                )))
                .map_err(plot_err)?;
            let (lo, hi) = (
                (t.rate_per_ion_ps - t.rate_err_per_ion_ps).max(0.0),
                t.rate_per_ion_ps + t.rate_err_per_ion_ps,
            );
            for seg in [
                vec![(x + 0.5, lo), (x + 0.5, hi)],
                vec![(x + 0.42, lo), (x + 0.58, lo)],
                vec![(x + 0.42, hi), (x + 0.58, hi)],
            ] {
                chart
                    .draw_series(std::iter::once(PathElement::new(
                        seg,
                        BLACK.stroke_width(1),
                    )))
                    .map_err(plot_err)?;
            }
            let share = if j.d_jump_cm2_s > 0.0 {
                100.0 * t.d_jump_cm2_s / j.d_jump_cm2_s
            } else {
                0.0
            };
            chart
                .draw_series(std::iter::once(Text::new(
                    format!("{share:.0} % of D_jump"),
                    (
                        x + 0.22,
                        t.rate_per_ion_ps + t.rate_err_per_ion_ps + 0.03 * top,
                    ),
                    ("sans-serif", 13),
                )))
                .map_err(plot_err)?;
        }
        root.present().map_err(plot_err)?;
    }
    Ok(svg)
}

/// [`jump_types_svg_text`], written to `path` (atomically).
pub(crate) fn jump_types_svg(h: &Hops, path: &Path) -> Result<()> {
    write_atomic(path, jump_types_svg_text(h)?.as_bytes())
}

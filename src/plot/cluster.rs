//! Clustering figures: the silhouette plot and dendrogram of the original poster's
//! figure 1, the elbow and silhouette-versus-k curves, and a 2-D scatter coloured by
//! cluster with chosen points (known conductors) marked.

use std::path::Path;

use plotters::prelude::*;

use super::{PALETTE, axis, legend, plot_err};
use crate::cluster::hierarchical::Tree;
use crate::cluster::select::KResult;
use crate::error::Result;
use crate::io::write_atomic;

fn colour(c: usize) -> RGBColor {
    // Skip black (reserved for lines) in the palette.
    PALETTE[1 + c % (PALETTE.len() - 1)]
}

/// Silhouette plot: per cluster, the samples' silhouettes as sorted horizontal bars,
/// with the mean as a dashed red line (the poster's figure 1, right). Up to 40
/// samples, each bar carries its sample's name when `names` are given.
pub(crate) fn silhouette_svg_text(
    samples: &[f64],
    labels: &[u32],
    names: Option<&[String]>,
    k: usize,
) -> Result<String> {
    let names = names.filter(|n| n.len() == samples.len() && n.len() <= 40);
    let mean = samples.iter().sum::<f64>() / samples.len().max(1) as f64;
    let gap = (samples.len() / 40).max(2);
    let height = samples.len() + gap * (k + 1);
    let xmin = (samples.iter().copied().fold(0.0f64, f64::min) - 0.02).min(-0.1);
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (760, 620)).into_drawing_area();
        root.fill(&WHITE).map_err(plot_err)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(
                format!("Silhouette plot, k = {k} (mean {mean:.3})"),
                ("sans-serif", 22),
            )
            .margin(16)
            .x_label_area_size(48)
            .y_label_area_size(70)
            .build_cartesian_2d(xmin..1.0, 0..height)
            .map_err(plot_err)?;
        chart
            .configure_mesh()
            .x_desc("Silhouette coefficient")
            .y_desc("Samples by cluster")
            .disable_y_mesh()
            .y_label_formatter(&|_| String::new())
            .axis_desc_style(("sans-serif", 16))
            .draw()
            .map_err(plot_err)?;
        let mut y = gap;
        for c in 0..k {
            let mut vals: Vec<(f64, usize)> = samples
                .iter()
                .zip(labels)
                .enumerate()
                .filter(|(_, (_, l))| **l as usize == c)
                .map(|(i, (s, _))| (*s, i))
                .collect();
            vals.sort_by(|a, b| a.0.total_cmp(&b.0));
            let start = y;
            chart
                .draw_series(vals.iter().enumerate().map(|(i, &(v, _))| {
                    Rectangle::new([(0.0, y + i), (v, y + i + 1)], colour(c).filled())
                }))
                .map_err(plot_err)?;
            if let Some(names) = names {
                chart
                    .draw_series(vals.iter().enumerate().map(|(i, &(_, j))| {
                        // At the start of the bar, where the mean line does not run.
                        Text::new(names[j].clone(), (0.01, y + i + 1), ("sans-serif", 12))
                    }))
                    .map_err(plot_err)?;
            }
            y += vals.len();
            chart
                .draw_series(std::iter::once(Text::new(
                    format!("{c}"),
                    (xmin + 0.02, (start + y) / 2),
                    ("sans-serif", 15),
                )))
                .map_err(plot_err)?;
            y += gap;
        }
        chart
            .draw_series(DashedLineSeries::new(
                [(mean, 0), (mean, height)],
                6,
                4,
                RED.stroke_width(2),
            ))
            .map_err(plot_err)?;
        root.present().map_err(plot_err)?;
    }
    Ok(svg)
}

/// [`silhouette_svg_text`], written to `path` (atomically).
pub(crate) fn silhouette_svg(
    samples: &[f64],
    labels: &[u32],
    names: Option<&[String]>,
    k: usize,
    path: &Path,
) -> Result<()> {
    write_atomic(
        path,
        silhouette_svg_text(samples, labels, names, k)?.as_bytes(),
    )
}

/// Dendrogram. With more than `max_leaves` points the tree is cut to its last
/// `max_leaves` clusters (scipy's truncate_mode="lastp"), each leaf labelled with its
/// size; otherwise leaves carry `names` when given.
pub(crate) fn dendrogram_svg_text(
    tree: &Tree,
    names: Option<&[String]>,
    max_leaves: usize,
    title: &str,
) -> Result<String> {
    let n = tree.n;
    let shown = n.min(max_leaves.max(2));
    let first_shown_merge = n - shown; // merges before this are hidden inside leaves
    // Node ids: leaves 0..n, merge i -> n + i. A node is drawn as a leaf when it is an
    // original leaf or a merge before `first_shown_merge`.
    let is_leaf = |node: usize| node < n || node - n < first_shown_merge;
    let size = |node: usize| if node < n { 1 } else { tree.merges[node - n].3 };
    let height = |node: usize| {
        if is_leaf(node) {
            0.0
        } else {
            tree.merges[node - n].2
        }
    };
    let root_node = n + tree.merges.len() - 1;
    // Leaf order by depth-first traversal from the root.
    let mut order = Vec::new();
    let mut stack = vec![root_node];
    while let Some(node) = stack.pop() {
        if is_leaf(node) {
            order.push(node);
        } else {
            let (a, b, _, _) = tree.merges[node - n];
            stack.push(b);
            stack.push(a);
        }
    }
    let mut xpos = std::collections::HashMap::new();
    for (i, &leaf) in order.iter().enumerate() {
        xpos.insert(leaf, i as f64 + 0.5);
    }
    let top = tree.merges.last().map_or(1.0, |m| m.2) * 1.05;
    let leaf_label = |node: usize| -> String {
        match (node < n, names) {
            (true, Some(names)) => names[node].clone(),
            (true, None) => node.to_string(),
            (false, _) => format!("({})", size(node)),
        }
    };
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (1000, 560)).into_drawing_area();
        root.fill(&WHITE).map_err(plot_err)?;
        let (upper, lower) = root.split_vertically(470);
        let mut chart = ChartBuilder::on(&upper)
            .caption(title, ("sans-serif", 22))
            .margin(16)
            .y_label_area_size(70)
            .build_cartesian_2d(axis(0.0..order.len() as f64)?, axis(0.0..top)?)
            .map_err(plot_err)?;
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_label_formatter(&|_| String::new())
            .y_desc("Linkage distance")
            .axis_desc_style(("sans-serif", 16))
            .draw()
            .map_err(plot_err)?;
        for (i, &(a, b, h, _)) in tree.merges.iter().enumerate().skip(first_shown_merge) {
            let (xa, xb) = (xpos[&a], xpos[&b]);
            let (ha, hb) = (height(a), height(b));
            xpos.insert(n + i, 0.5 * (xa + xb));
            chart
                .draw_series(std::iter::once(PathElement::new(
                    vec![(xa, ha), (xa, h), (xb, h), (xb, hb)],
                    BLACK.stroke_width(1),
                )))
                .map_err(plot_err)?;
        }
        // Leaf labels, rotated, under the axis.
        let font = ("sans-serif", if order.len() > 40 { 10 } else { 13 })
            .into_font()
            .transform(FontTransform::Rotate90);
        let w = 1000.0 - 16.0 * 2.0 - 70.0;
        for (i, &leaf) in order.iter().enumerate() {
            let x = 16 + 70 + ((i as f64 + 0.5) / order.len() as f64 * w) as i32;
            lower
                .draw(&Text::new(leaf_label(leaf), (x - 5, 4), font.clone()))
                .map_err(plot_err)?;
        }
        root.present().map_err(plot_err)?;
    }
    Ok(svg)
}

/// [`dendrogram_svg_text`], written to `path` (atomically).
pub(crate) fn dendrogram_svg(
    tree: &Tree,
    names: Option<&[String]>,
    max_leaves: usize,
    title: &str,
    path: &Path,
) -> Result<()> {
    write_atomic(
        path,
        dendrogram_svg_text(tree, names, max_leaves, title)?.as_bytes(),
    )
}

/// Elbow (inertia), mean silhouette and (when computed) the gap statistic against k,
/// side by side, the chosen k marked.
pub(crate) fn scores_svg_text(results: &[KResult], chosen_k: usize) -> Result<String> {
    let ks: Vec<f64> = results.iter().map(|r| r.k as f64).collect();
    let (kmin, kmax) = (ks[0] - 0.5, ks[ks.len() - 1] + 0.5);
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (1400, 420)).into_drawing_area();
        root.fill(&WHITE).map_err(plot_err)?;
        let mut series: Vec<(&str, Vec<f64>, Vec<f64>)> = vec![
            (
                "Inertia (within-cluster sum of squares)",
                results.iter().map(|r| r.inertia).collect(),
                vec![0.0; results.len()],
            ),
            (
                "Mean silhouette",
                results.iter().map(|r| r.silhouette).collect(),
                vec![0.0; results.len()],
            ),
        ];
        if results.iter().all(|r| r.gap.is_some()) {
            series.push((
                "Gap statistic (± s_k)",
                results.iter().map(|r| r.gap.unwrap_or(f64::NAN)).collect(),
                results.iter().map(|r| r.gap_s.unwrap_or(0.0)).collect(),
            ));
        }
        let panels = root.split_evenly((1, series.len()));
        for (panel, (name, ys, err)) in panels.iter().zip(series) {
            let (lo, hi) = ys
                .iter()
                .zip(&err)
                .filter(|(v, _)| v.is_finite())
                .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), (v, e)| {
                    (a.min(*v - e), b.max(*v + e))
                });
            let (lo, hi) = if lo.is_finite() { (lo, hi) } else { (0.0, 1.0) };
            let pad = ((hi - lo) * 0.1).max(1e-9);
            let mut chart = ChartBuilder::on(panel)
                .caption(name, ("sans-serif", 18))
                .margin(14)
                .x_label_area_size(40)
                .y_label_area_size(70)
                .build_cartesian_2d(
                    axis(kmin..kmax)?,
                    axis(
                        (lo - pad).min(if name.starts_with("Inertia") {
                            0.0
                        } else {
                            lo - pad
                        })..hi + pad,
                    )?,
                )
                .map_err(plot_err)?;
            // The panel's quantity on its y axis, and no "-0.0" among its labels.
            let quantity = name.split(" (").next().unwrap_or(name);
            chart
                .configure_mesh()
                .x_desc("Number of clusters k")
                .y_desc(quantity)
                .y_label_formatter(&|v| {
                    let t = format!("{v:.2}");
                    if t.trim_start_matches('-')
                        .chars()
                        .all(|c| c == '0' || c == '.')
                    {
                        "0".to_string()
                    } else {
                        t
                    }
                })
                .x_labels(2 * ks.len() + 3)
                .x_label_formatter(&|v| {
                    if (v - v.round()).abs() < 1e-6 {
                        format!("{}", v.round() as i64)
                    } else {
                        String::new()
                    }
                })
                .axis_desc_style(("sans-serif", 14))
                .draw()
                .map_err(plot_err)?;
            chart
                .draw_series(LineSeries::new(
                    ks.iter().copied().zip(ys.iter().copied()),
                    PALETTE[5].stroke_width(2),
                ))
                .map_err(plot_err)?;
            chart
                .draw_series(
                    ks.iter()
                        .zip(&ys)
                        .map(|(&k, &y)| Circle::new((k, y), 4, PALETTE[5].filled())),
                )
                .map_err(plot_err)?;
            if err.iter().any(|&e| e > 0.0) {
                chart
                    .draw_series(ks.iter().zip(ys.iter().zip(&err)).map(|(&k, (&y, &e))| {
                        PathElement::new([(k, y - e), (k, y + e)], PALETTE[5].stroke_width(2))
                    }))
                    .map_err(plot_err)?;
            }
            if let Some(i) = results.iter().position(|r| r.k == chosen_k) {
                chart
                    .draw_series(std::iter::once(Circle::new(
                        (ks[i], ys[i]),
                        8,
                        RGBColor(213, 94, 0).stroke_width(2),
                    )))
                    .map_err(plot_err)?;
            }
        }
        root.present().map_err(plot_err)?;
    }
    Ok(svg)
}

/// [`scores_svg_text`], written to `path` (atomically).
pub(crate) fn scores_svg(results: &[KResult], chosen_k: usize, path: &Path) -> Result<()> {
    write_atomic(path, scores_svg_text(results, chosen_k)?.as_bytes())
}

/// Scatter of two coordinates coloured by cluster; `marked` points (e.g. known fast
/// conductors) drawn as labelled black-edged stars.
pub(crate) fn scatter_svg_text(
    xy: &[(f64, f64)],
    labels: &[u32],
    axes: (&str, &str),
    marked: &[(usize, String)],
    named: &[(usize, String)],
    title: &str,
) -> Result<String> {
    let (mut x0, mut x1, mut y0, mut y1) = (
        f64::INFINITY,
        f64::NEG_INFINITY,
        f64::INFINITY,
        f64::NEG_INFINITY,
    );
    for &(x, y) in xy {
        x0 = x0.min(x);
        x1 = x1.max(x);
        y0 = y0.min(y);
        y1 = y1.max(y);
    }
    let (px, py) = (((x1 - x0) * 0.06).max(1e-9), ((y1 - y0) * 0.06).max(1e-9));
    let noise = crate::cluster::select::NOISE;
    let k = labels
        .iter()
        .copied()
        .filter(|&l| l != noise)
        .max()
        .map_or(0, |m| m as usize + 1);
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (860, 640)).into_drawing_area();
        root.fill(&WHITE).map_err(plot_err)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 22))
            .margin(16)
            .x_label_area_size(48)
            .y_label_area_size(70)
            .build_cartesian_2d(axis(x0 - px..x1 + px)?, axis(y0 - py..y1 + py)?)
            .map_err(plot_err)?;
        chart
            .configure_mesh()
            .x_desc(axes.0)
            .y_desc(axes.1)
            .axis_desc_style(("sans-serif", 16))
            .draw()
            .map_err(plot_err)?;
        for c in 0..k {
            let col = colour(c);
            chart
                .draw_series(
                    xy.iter()
                        .zip(labels)
                        .filter(|(_, l)| **l as usize == c)
                        .map(|(&(x, y), _)| Circle::new((x, y), 4, col.mix(0.75).filled())),
                )
                .map_err(plot_err)?
                .label(format!("cluster {c}"))
                .legend(move |(x, y)| Circle::new((x + 8, y), 5, col.filled()));
        }
        if labels.contains(&noise) {
            let grey = RGBColor(150, 150, 150);
            chart
                .draw_series(
                    xy.iter()
                        .zip(labels)
                        .filter(|(_, l)| **l == noise)
                        .map(|(&(x, y), _)| Cross::new((x, y), 4, grey.stroke_width(2))),
                )
                .map_err(plot_err)?
                .label("noise (no cluster)")
                .legend(move |(x, y)| Cross::new((x + 8, y), 5, grey.stroke_width(2)));
        }
        if !marked.is_empty() {
            // A black ring around the (still visible) cluster colour, the name beside it.
            chart
                .draw_series(
                    marked
                        .iter()
                        .map(|(i, _)| Circle::new(xy[*i], 8, BLACK.stroke_width(2))),
                )
                .map_err(plot_err)?
                .label("known fast conductors")
                .legend(|(x, y)| Circle::new((x + 8, y), 6, BLACK.stroke_width(2)));
        }
        // Names where they fit: each formula once, and none over another (with a
        // hundred known conductors the names would otherwise be an unreadable pile).
        let area = chart.plotting_area().get_pixel_range();
        let mut placed: Vec<(i32, i32, i32, i32)> = Vec::new();
        let mut seen = std::collections::BTreeSet::new();
        let mut shown = Vec::new();
        for (i, name) in named {
            if !seen.insert(name.as_str()) {
                continue;
            }
            let (px, py) = chart.backend_coord(&xy[*i]);
            let w = (name.chars().count() as f64 * 7.8).ceil() as i32;
            let rect = (px + 9, py - 18, px + 13 + w, py);
            let clear = rect.2 <= area.0.end
                && rect.1 >= area.1.start
                && placed
                    .iter()
                    .all(|r| rect.2 < r.0 || r.2 < rect.0 || rect.3 < r.1 || r.3 < rect.1);
            if clear {
                placed.push(rect);
                shown.push((*i, name.clone()));
            }
        }
        chart
            .draw_series(shown.iter().map(|(i, name)| {
                EmptyElement::at(xy[*i])
                    + Text::new(name.clone(), (11, -16), ("sans-serif", 14).into_font())
            }))
            .map_err(plot_err)?;
        legend(&mut chart, SeriesLabelPosition::UpperLeft, 14)?;
        root.present().map_err(plot_err)?;
    }
    Ok(svg)
}

/// [`scatter_svg_text`], written to `path` (atomically).
pub(crate) fn scatter_svg(
    xy: &[(f64, f64)],
    labels: &[u32],
    axes: (&str, &str),
    marked: &[(usize, String)],
    named: &[(usize, String)],
    title: &str,
    path: &Path,
) -> Result<()> {
    write_atomic(
        path,
        scatter_svg_text(xy, labels, axes, marked, named, title)?.as_bytes(),
    )
}

/// Every clustering figure for the chosen k, into `dir`: silhouette plot, scores
/// against k, dendrogram (hierarchical methods), scatter (the two features, the first
/// two principal components, or feature against silhouette for one feature) with
/// `marked` rows labelled.
pub fn write_figures(
    dir: &Path,
    ids: &[String],
    columns: &[String],
    values: ndarray::ArrayView2<f64>,
    x: ndarray::ArrayView2<f32>,
    sel: &crate::cluster::select::Selection,
    marked: &[(usize, String)],
) -> Result<()> {
    let chosen = sel
        .results
        .iter()
        .find(|r| r.k == sel.chosen_k)
        .expect("chosen k is among the results");
    // Noise points (HDBSCAN) have no silhouette.
    let ((sil, lab), names): ((Vec<f64>, Vec<u32>), Vec<String>) = chosen
        .silhouettes
        .iter()
        .zip(&chosen.labels)
        .zip(ids)
        .filter(|((_, l), _)| **l != crate::cluster::select::NOISE)
        .map(|((s, l), id)| ((*s, *l), id.clone()))
        .unzip();
    if chosen.k >= 2 {
        silhouette_svg(
            &sil,
            &lab,
            Some(&names),
            chosen.k,
            &dir.join("silhouette.svg"),
        )?;
    }
    scores_svg(&sel.results, sel.chosen_k, &dir.join("scores.svg"))?;
    if let Some(tree) = &sel.tree {
        let title = format!(
            "Dendrogram ({:?} linkage, cophenetic correlation {:.3})",
            sel.method,
            sel.cophenetic_correlation.unwrap_or(f64::NAN)
        );
        dendrogram_svg(tree, Some(ids), 40, &title, &dir.join("dendrogram.svg"))?;
    }
    let n = ids.len();
    let (xy, axes): (Vec<(f64, f64)>, (String, String)) = match columns.len() {
        1 => (
            (0..n)
                .map(|i| (values[[i, 0]], chosen.silhouettes[i]))
                .collect(),
            (columns[0].clone(), "silhouette".to_string()),
        ),
        2 => (
            (0..n).map(|i| (values[[i, 0]], values[[i, 1]])).collect(),
            (columns[0].clone(), columns[1].clone()),
        ),
        _ => {
            let (xy, f) = crate::cluster::select::principal_components_2_explained(x);
            (
                xy,
                (
                    format!(
                        "PC1 of the {} standardised features ({:.0} % of the variance)",
                        columns.len(),
                        100.0 * f[0]
                    ),
                    format!("PC2 ({:.0} % of the variance)", 100.0 * f[1]),
                ),
            )
        }
    };
    // Small sets: every point named (the known conductors keep their ring).
    let named: Vec<(usize, String)> = if n <= 30 {
        (0..n)
            .map(|i| {
                marked
                    .iter()
                    .find(|(j, _)| *j == i)
                    .map_or((i, ids[i].clone()), |m| m.clone())
            })
            .collect()
    } else {
        marked.to_vec()
    };
    let title = format!("{:?}, k = {}", sel.method, sel.chosen_k);
    scatter_svg(
        &xy,
        &chosen.labels,
        (&axes.0, &axes.1),
        marked,
        &named,
        &title,
        &dir.join("scatter.svg"),
    )
}

/// Method-agreement heatmap: the adjusted Rand index between every pair of methods,
/// each cell coloured (white 0 .. dark blue 1; negative values white) and labelled.
pub(crate) fn agreement_svg_text(ag: &crate::cluster::select::Agreement) -> Result<String> {
    let m = ag.methods.len();
    // A method that found another number of clusters (HDBSCAN: its own, or none, all
    // noise) says so beside its name: its low agreement is that, not chance.
    let names: Vec<String> = ag
        .methods
        .iter()
        .zip(&ag.clusters_found)
        .map(|(m, &c)| {
            if c == ag.k {
                m.name().to_string()
            } else if c == 0 {
                format!("{} (no clusters)", m.name())
            } else {
                format!("{} ({c} clusters)", m.name())
            }
        })
        .collect();
    let mut svg = String::new();
    {
        let side = 110 * m.max(1) as u32;
        let root = SVGBackend::with_string(&mut svg, (side + 260, side + 150)).into_drawing_area();
        root.fill(&WHITE).map_err(plot_err)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(
                format!(
                    "Agreement at k = {}: adjusted Rand index (white 0: chance, dark blue 1: the same)",
                    ag.k
                ),
                ("sans-serif", 20),
            )
            .margin(16)
            .x_label_area_size(40)
            .y_label_area_size(150)
            .build_cartesian_2d(0..m, 0..m)
            .map_err(plot_err)?;
        chart
            .configure_mesh()
            .disable_mesh()
            .x_labels(m + 1)
            .y_labels(m + 1)
            .x_label_formatter(&|i| names.get(*i).map_or(String::new(), |s| s.to_string()))
            .y_label_formatter(&|i| {
                names
                    .get(m.wrapping_sub(1).wrapping_sub(*i))
                    .map_or(String::new(), |s| s.to_string())
            })
            .x_label_offset(55)
            .y_label_offset(-55)
            .label_style(("sans-serif", 15))
            .draw()
            .map_err(plot_err)?;
        for a in 0..m {
            for b in 0..m {
                let v = ag.ari[a][b];
                let t = v.clamp(0.0, 1.0);
                let fill = RGBColor(
                    (255.0 - t * (255.0 - 8.0)) as u8,
                    (255.0 - t * (255.0 - 69.0)) as u8,
                    (255.0 - t * (255.0 - 148.0)) as u8,
                );
                let row = m - 1 - a;
                chart
                    .draw_series(std::iter::once(Rectangle::new(
                        [(b, row), (b + 1, row + 1)],
                        fill.filled(),
                    )))
                    .map_err(plot_err)?;
                let ink = if t > 0.55 { WHITE } else { BLACK };
                chart
                    .draw_series(std::iter::once(
                        EmptyElement::at((b, row + 1))
                            + Text::new(
                                format!("{v:.2}"),
                                (38, 48),
                                ("sans-serif", 16).into_font().color(&ink),
                            ),
                    ))
                    .map_err(plot_err)?;
            }
        }
        root.present().map_err(plot_err)?;
    }
    Ok(svg)
}

/// `agreement_svg_text`, written to `path` (atomically).
pub fn agreement_svg(ag: &crate::cluster::select::Agreement, path: &Path) -> Result<()> {
    write_atomic(path, agreement_svg_text(ag)?.as_bytes())
}

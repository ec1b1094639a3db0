//! Figures as SVG (plotters' SVG backend: no system fonts needed, text stays text so
//! figures remain editable for papers). Every figure is a `NAME_text` function that
//! returns the SVG text (what Python shows inline) and a `NAME` that writes it to a
//! file, atomically.

pub mod cluster;
pub mod hops;
pub mod validation;

use std::path::Path;

use plotters::prelude::*;

use crate::error::{Error, Result};
use crate::io::write_atomic;
use crate::phonon::Dos;

/// An axis range checked finite: plotters' search for tick marks never ends on an
/// infinite range (a frame time of 1e308 fs hung the MSD figure, issue 31), so a
/// non-finite range is an error here, never a hang. An empty range is widened by one.
pub(crate) fn axis(r: std::ops::Range<f64>) -> Result<std::ops::Range<f64>> {
    if !(r.start.is_finite() && r.end.is_finite()) {
        return Err(Error::InvalidInput(format!(
            "a figure's axis would run from {} to {}: not a finite range (the data behind it is not finite)",
            r.start, r.end
        )));
    }
    Ok(if r.end > r.start {
        r
    } else {
        r.start..r.start + 1.0
    })
}

/// The legend every superion figure draws: at `position`, on a translucent white box
/// with a grey border, in `size`-point sans-serif.
pub(crate) fn legend<'a, DB, CT>(
    chart: &mut ChartContext<'a, DB, CT>,
    position: SeriesLabelPosition,
    size: u32,
) -> Result<()>
where
    DB: DrawingBackend + 'a,
    CT: CoordTranslate,
{
    chart
        .configure_series_labels()
        .position(position)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK.mix(0.4))
        .label_font(("sans-serif", size))
        .draw()
        .map_err(plot_err)
}

/// The corner of a plot whose box (`frac_w` × `frac_h` of the axes' ranges) holds the
/// fewest of the points, for a legend that hides as little data as it can; ties go to
/// the first of upper left, upper right, lower left, lower right.
pub(crate) fn emptiest_corner(
    points: impl Iterator<Item = (f64, f64)>,
    x: &std::ops::Range<f64>,
    y: &std::ops::Range<f64>,
    frac_w: f64,
    frac_h: f64,
) -> SeriesLabelPosition {
    let (w, h) = ((x.end - x.start) * frac_w, (y.end - y.start) * frac_h);
    let mut count = [0usize; 4];
    for (px, py) in points {
        let (left, right) = (px <= x.start + w, px >= x.end - w);
        let (top, bottom) = (py >= y.end - h, py <= y.start + h);
        count[0] += (left && top) as usize;
        count[1] += (right && top) as usize;
        count[2] += (left && bottom) as usize;
        count[3] += (right && bottom) as usize;
    }
    let best = (0..4).min_by_key(|&i| (count[i], i)).unwrap_or(0);
    match best {
        0 => SeriesLabelPosition::UpperLeft,
        1 => SeriesLabelPosition::UpperRight,
        2 => SeriesLabelPosition::LowerLeft,
        _ => SeriesLabelPosition::LowerRight,
    }
}

pub(crate) fn plot_err<E: std::fmt::Display>(e: E) -> Error {
    Error::InvalidInput(format!("plot: {e}"))
}

/// Colours for successive series (colour-blind-safe Okabe-Ito palette).
pub(crate) const PALETTE: [RGBColor; 8] = [
    RGBColor(0, 0, 0),
    RGBColor(230, 159, 0),
    RGBColor(86, 180, 233),
    RGBColor(0, 158, 115),
    RGBColor(213, 94, 0),
    RGBColor(0, 114, 178),
    RGBColor(204, 121, 167),
    RGBColor(240, 228, 66),
];

/// One curve of a DOS figure.
struct Curve<'a> {
    label: &'a str,
    freqs: &'a [f64],
    dos: &'a [f64],
    colour: RGBColor,
    width: u32,
}

/// DOS curves against frequency on one frame, the imaginary (negative-frequency)
/// region shaded when there is one.
fn dos_lines_svg_text(title: &str, curves: &[Curve]) -> Result<String> {
    let all_f = curves.iter().flat_map(|c| c.freqs.iter());
    let fmax = all_f.clone().fold(f64::NEG_INFINITY, |m, v| m.max(*v));
    let peak = curves
        .iter()
        .flat_map(|c| c.dos.iter())
        .fold(0.0f64, |m, v| m.max(*v));
    let ymax = peak * 1.08;
    // The imaginary region is shown (and shaded) only when there is DOS in it: a grid
    // that merely starts below zero is not an instability.
    let imaginary = curves.iter().any(|c| {
        c.freqs
            .iter()
            .zip(c.dos)
            .any(|(f, g)| *f < 0.0 && *g > 1e-3 * peak)
    });
    let fmin = if imaginary {
        all_f.fold(f64::INFINITY, |m, v| m.min(*v)).min(0.0)
    } else {
        0.0
    };
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (900, 520)).into_drawing_area();
        root.fill(&WHITE).map_err(plot_err)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 22))
            .margin(16)
            .x_label_area_size(48)
            .y_label_area_size(64)
            .build_cartesian_2d(axis(fmin..fmax)?, axis(0.0..ymax.max(1e-12))?)
            .map_err(plot_err)?;
        chart
            .configure_mesh()
            .x_desc("Frequency (THz)")
            .y_desc("DOS (states/THz per cell)")
            .axis_desc_style(("sans-serif", 16))
            .light_line_style(WHITE.mix(0.0))
            .draw()
            .map_err(plot_err)?;
        if fmin < 0.0 {
            chart
                .draw_series(std::iter::once(Rectangle::new(
                    [(fmin, 0.0), (0.0, ymax)],
                    RGBColor(213, 94, 0).mix(0.12).filled(),
                )))
                .map_err(plot_err)?
                .label("imaginary frequencies")
                .legend(|(x, y)| {
                    Rectangle::new(
                        [(x, y - 5), (x + 18, y + 5)],
                        RGBColor(213, 94, 0).mix(0.3).filled(),
                    )
                });
        }
        for c in curves {
            let (colour, width) = (c.colour, c.width);
            chart
                .draw_series(LineSeries::new(
                    c.freqs
                        .iter()
                        .copied()
                        .zip(c.dos.iter().copied())
                        .filter(|(f, _)| *f >= fmin),
                    colour.stroke_width(width),
                ))
                .map_err(plot_err)?
                .label(c.label)
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 18, y)], colour.stroke_width(width.max(2)))
                });
        }
        legend(&mut chart, SeriesLabelPosition::UpperRight, 15)?;
        root.present().map_err(plot_err)?;
    }
    Ok(svg)
}

/// The total DOS and its element projections against frequency, with the imaginary
/// (negative-frequency) region shaded.
pub(crate) fn dos_svg_text(dos: &Dos) -> Result<String> {
    let series = total_and_elements(dos);
    dos_lines_svg_text(&dos_title(dos, "phonon DOS"), &curves(dos, &series))
}

/// `dos_svg_text`, written to `path` (atomically).
pub fn dos_svg(dos: &Dos, path: &Path) -> Result<()> {
    write_atomic(path, dos_svg_text(dos)?.as_bytes())
}

/// The total DOS and each element's projection, named.
fn total_and_elements(dos: &Dos) -> Vec<(String, Vec<f64>)> {
    let mut series: Vec<(String, Vec<f64>)> = vec![("total".into(), dos.total.clone())];
    for el in dos.elements() {
        if let Ok(g) = dos.element_dos(&el) {
            series.push((el, g));
        }
    }
    series
}

/// One curve per series on the DOS's frequencies, the first (the total) heavier.
fn curves<'a>(dos: &'a Dos, series: &'a [(String, Vec<f64>)]) -> Vec<Curve<'a>> {
    series
        .iter()
        .enumerate()
        .map(|(i, (name, g))| Curve {
            label: name,
            freqs: &dos.freqs_thz,
            dos: g,
            colour: PALETTE[i % PALETTE.len()],
            width: if i == 0 { 2 } else { 1 },
        })
        .collect()
}

/// "id formula — what", the formula once when it is the id.
fn dos_title(dos: &Dos, what: &str) -> String {
    let formula = dos.formula();
    if dos.id == formula || dos.id.is_empty() {
        format!("{formula} — {what}")
    } else {
        format!("{} {formula} — {what}", dos.id)
    }
}

/// A vibrational DOS from a trajectory's velocities: the total and per species. When
/// the spectrum is cut at the Nyquist frequency (half the sampling rate of the
/// frames) while still high, the title says so: the modes above it are missing and
/// fold back into the spectrum.
pub(crate) fn vdos_svg_text(dos: &Dos) -> Result<String> {
    let series = total_and_elements(dos);
    let peak = dos.total.iter().fold(0.0f64, |m, v| m.max(*v));
    let last = dos.total.last().copied().unwrap_or(0.0);
    let nyquist = dos.freqs_thz.last().copied().unwrap_or(0.0);
    let title = if peak > 0.0 && last > 0.05 * peak {
        format!(
            "{} — vibrational DOS, cut at Nyquist {nyquist:.1} THz ({:.0} % of peak)",
            dos.formula(),
            100.0 * last / peak
        )
    } else {
        format!("{} — vibrational DOS", dos.formula())
    };
    dos_lines_svg_text(&title, &curves(dos, &series))
}

/// [`vdos_svg_text`], written to `path` (atomically).
pub(crate) fn vdos_svg(dos: &Dos, path: &Path) -> Result<()> {
    write_atomic(path, vdos_svg_text(dos)?.as_bytes())
}

/// MSD against time with the fitted line over its window.
pub fn msd_svg_text(
    msd: &crate::traj::msd::Msd,
    fit: &crate::traj::diffusion::Fit,
) -> Result<String> {
    let t = msd.times_ps();
    let tmax = t.last().copied().unwrap_or(1.0);
    // Every series drawn fits: the self and collective MSD and 3 × each axis's MSD
    // (which can rise above the self MSD when the motion is anisotropic).
    let ymax = msd
        .msd_a2
        .iter()
        .chain(&msd.collective_a2)
        .copied()
        .chain(msd.msd_axes_a2.iter().map(|v| 3.0 * v))
        .filter(|v| v.is_finite())
        .fold(0.0f64, f64::max)
        * 1.08;
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (900, 560)).into_drawing_area();
        root.fill(&WHITE).map_err(plot_err)?;
        let title = if fit.diffusive {
            format!(
                "{} MSD — D = {:.3e} ± {:.1e} cm²/s",
                msd.species, fit.d_cm2_s, fit.d_err_cm2_s
            )
        } else {
            format!(
                "{} MSD — not diffusive (MSD ∝ t^{:.2}): D not determined",
                msd.species, fit.loglog_exponent
            )
        };
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 22))
            .margin(16)
            .x_label_area_size(48)
            .y_label_area_size(64)
            .build_cartesian_2d(axis(0.0..tmax)?, axis(0.0..ymax.max(1e-9))?)
            .map_err(plot_err)?;
        chart
            .configure_mesh()
            .x_desc("Time lag (ps)")
            .y_desc("MSD (Å²)")
            .axis_desc_style(("sans-serif", 16))
            .light_line_style(WHITE.mix(0.0))
            .draw()
            .map_err(plot_err)?;
        chart
            .draw_series(std::iter::once(Rectangle::new(
                [(fit.fit_start_ps, 0.0), (fit.fit_end_ps, ymax)],
                PALETTE[5].mix(0.08).filled(),
            )))
            .map_err(plot_err)?
            .label("fit window")
            .legend(|(x, y)| {
                Rectangle::new([(x, y - 5), (x + 18, y + 5)], PALETTE[5].mix(0.2).filled())
            });
        let axes = ["x", "y", "z"];
        for (ax, name) in axes.iter().enumerate() {
            let c = PALETTE[ax + 1];
            chart
                .draw_series(LineSeries::new(
                    t.iter()
                        .zip(msd.msd_axes_a2.column(ax).iter())
                        .map(|(a, b)| (*a, 3.0 * b)),
                    c.mix(0.6).stroke_width(1),
                ))
                .map_err(plot_err)?
                .label(format!("3 × MSD_{name}"))
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 18, y)], c.stroke_width(1))
                });
        }
        chart
            .draw_series(LineSeries::new(
                t.iter().copied().zip(msd.collective_a2.iter().copied()),
                PALETTE[6].stroke_width(1),
            ))
            .map_err(plot_err)?
            .label("collective / N")
            .legend(|(x, y)| {
                PathElement::new(vec![(x, y), (x + 18, y)], PALETTE[6].stroke_width(1))
            });
        chart
            .draw_series(LineSeries::new(
                t.iter().copied().zip(msd.msd_a2.iter().copied()),
                BLACK.stroke_width(2),
            ))
            .map_err(plot_err)?
            .label("MSD (self)")
            .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], BLACK.stroke_width(2)));
        let line =
            [fit.fit_start_ps, fit.fit_end_ps].map(|x| (x, fit.intercept_a2 + fit.slope_a2_ps * x));
        chart
            .draw_series(LineSeries::new(line, RGBColor(213, 94, 0).stroke_width(3)))
            .map_err(plot_err)?
            .label(if fit.diffusive {
                "GLS fit"
            } else {
                "GLS line (not a D)"
            })
            .legend(|(x, y)| {
                PathElement::new(
                    vec![(x, y), (x + 18, y)],
                    RGBColor(213, 94, 0).stroke_width(3),
                )
            });
        legend(&mut chart, SeriesLabelPosition::UpperLeft, 15)?;
        root.present().map_err(plot_err)?;
    }
    Ok(svg)
}

/// [`msd_svg_text`], written to `path` (atomically).
pub(crate) fn msd_svg(
    msd: &crate::traj::msd::Msd,
    fit: &crate::traj::diffusion::Fit,
    path: &Path,
) -> Result<()> {
    write_atomic(path, msd_svg_text(msd, fit)?.as_bytes())
}

/// Two total DOS curves on one frame (superion's against a reference such as
/// phonopy's total_dos.dat), the reference drawn wide underneath.
pub(crate) fn dos_compare_svg_text(
    title: &str,
    ours: (&str, &[f64], &[f64]),
    reference: (&str, &[f64], &[f64]),
) -> Result<String> {
    let curves = [
        Curve {
            label: reference.0,
            freqs: reference.1,
            dos: reference.2,
            colour: PALETTE[4],
            width: 5,
        },
        Curve {
            label: ours.0,
            freqs: ours.1,
            dos: ours.2,
            colour: PALETTE[0],
            width: 1,
        },
    ];
    dos_lines_svg_text(title, &curves)
}

/// [`dos_compare_svg_text`], written to `path` (atomically).
pub(crate) fn dos_compare_svg(
    title: &str,
    ours: (&str, &[f64], &[f64]),
    reference: (&str, &[f64], &[f64]),
    path: &Path,
) -> Result<()> {
    write_atomic(
        path,
        dos_compare_svg_text(title, ours, reference)?.as_bytes(),
    )
}

#[cfg(test)]
mod axis_tests {
    use super::axis;

    /// An infinite or NaN axis is an error (plotters looped on one); an empty one widens.
    #[test]
    fn axes_are_finite_or_refused() {
        assert!(axis(0.0..f64::INFINITY).is_err());
        assert!(axis(f64::NAN..1.0).is_err());
        assert!(axis(-f64::INFINITY..0.0).is_err());
        assert_eq!(axis(2.0..2.0).unwrap(), 2.0..3.0);
        assert_eq!(axis(0.0..1e300).unwrap(), 0.0..1e300);
    }
}

#[cfg(test)]
mod corner_tests {
    use super::emptiest_corner;
    use plotters::chart::SeriesLabelPosition;

    #[test]
    fn the_legend_goes_where_the_points_are_not() {
        // Points in every corner but the lower right.
        let pts = [(0.1, 0.9), (0.9, 0.9), (0.1, 0.1), (0.5, 0.5)];
        let c = emptiest_corner(pts.iter().copied(), &(0.0..1.0), &(0.0..1.0), 0.3, 0.3);
        assert!(matches!(c, SeriesLabelPosition::LowerRight));
        // No points: the first corner.
        let c = emptiest_corner(std::iter::empty(), &(0.0..1.0), &(0.0..1.0), 0.3, 0.3);
        assert!(matches!(c, SeriesLabelPosition::UpperLeft));
    }
}

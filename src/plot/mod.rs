//! Figures as SVG (plotters' SVG backend: no system fonts needed, text stays text so
//! figures remain editable for papers). Each figure is written atomically.

use std::path::Path;

use plotters::prelude::*;

use crate::error::{Error, Result};
use crate::io::write_atomic;
use crate::phonon::Dos;

fn plot_err<E: std::fmt::Display>(e: E) -> Error {
    Error::InvalidInput(format!("plot: {e}"))
}

/// Colours for successive series (colour-blind-safe Okabe-Ito palette).
pub const PALETTE: [RGBColor; 8] = [
    RGBColor(0, 0, 0),
    RGBColor(230, 159, 0),
    RGBColor(86, 180, 233),
    RGBColor(0, 158, 115),
    RGBColor(213, 94, 0),
    RGBColor(0, 114, 178),
    RGBColor(204, 121, 167),
    RGBColor(240, 228, 66),
];

/// The total DOS and its element projections against frequency, with the imaginary
/// (negative-frequency) region shaded.
pub fn dos_svg(dos: &Dos, path: &Path) -> Result<()> {
    let f = &dos.freqs_thz;
    let mut series: Vec<(String, Vec<f64>)> = vec![("total".into(), dos.total.clone())];
    if !dos.projections.is_empty() {
        for el in dos.elements() {
            if let Ok(g) = dos.element_dos(&el) {
                series.push((el, g));
            }
        }
    }
    let (fmin, fmax) = (f[0].min(0.0), *f.last().unwrap_or(&1.0));
    let ymax = series
        .iter()
        .flat_map(|(_, g)| g.iter())
        .fold(0.0f64, |m, v| m.max(*v))
        * 1.08;
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (900, 520)).into_drawing_area();
        root.fill(&WHITE).map_err(plot_err)?;
        let title = format!("{} {} — phonon DOS", dos.id, dos.formula());
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 22))
            .margin(16)
            .x_label_area_size(48)
            .y_label_area_size(64)
            .build_cartesian_2d(fmin..fmax, 0.0..ymax.max(1e-12))
            .map_err(plot_err)?;
        chart
            .configure_mesh()
            .x_desc("Frequency (THz)")
            .y_desc("DOS (states/THz per cell)")
            .axis_desc_style(("sans-serif", 16))
            .light_line_style(WHITE.mix(0.0))
            .draw()
            .map_err(plot_err)?;
        if f[0] < 0.0 {
            chart
                .draw_series(std::iter::once(Rectangle::new(
                    [(f[0], 0.0), (0.0, ymax)],
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
        for (i, (name, g)) in series.iter().enumerate() {
            let colour = PALETTE[i % PALETTE.len()];
            let width = if i == 0 { 2 } else { 1 };
            chart
                .draw_series(LineSeries::new(
                    f.iter().copied().zip(g.iter().copied()),
                    colour.stroke_width(width),
                ))
                .map_err(plot_err)?
                .label(name.as_str())
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 18, y)], colour.stroke_width(2))
                });
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperRight)
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK.mix(0.4))
            .label_font(("sans-serif", 15))
            .draw()
            .map_err(plot_err)?;
        root.present().map_err(plot_err)?;
    }
    write_atomic(path, svg.as_bytes())
}

//! The hop analysis' files: `events.csv`, IonDiff's `DIFFUSION` (written and read),
//! `sites.csv`, and the sites as extended XYZ and POSCAR for VESTA/OVITO.

use std::path::Path;

use super::{fmt_f64, parse_err, read_text, write_atomic, write_csv};
use crate::error::Result;
use crate::traj::hops::Hops;

/// `events.csv`.
pub(crate) fn write_events_csv(h: &Hops, path: &Path) -> Result<()> {
    let header: Vec<String> = [
        "ion",
        "species",
        "start_frame",
        "end_frame",
        "start_ps",
        "end_ps",
        "from_site",
        "to_site",
        "dx_a",
        "dy_a",
        "dz_a",
        "length_a",
        "duration_ps",
    ]
    .map(String::from)
    .to_vec();
    let typed = h.jumps.as_ref();
    let mut header = header;
    if typed.is_some() {
        header.extend(["from_label", "to_label", "jump_type", "transit_ps"].map(String::from));
    }
    let rows: Vec<Vec<String>> = h
        .events
        .iter()
        .map(|e| {
            let end = e.end(h.n_frames);
            vec![
                e.ion.to_string(),
                e.species.clone(),
                e.start_frame.to_string(),
                end.to_string(),
                fmt_f64(h.start_ps(e)),
                fmt_f64(h.end_ps(e)),
                e.from_site.to_string(),
                e.to_site.to_string(),
                fmt_f64(e.vector_a[0]),
                fmt_f64(e.vector_a[1]),
                fmt_f64(e.vector_a[2]),
                fmt_f64(e.length_a),
                fmt_f64((end as f64 - e.start_frame as f64) * h.dt_ps),
            ]
            .into_iter()
            .chain(typed.into_iter().flat_map(|j| {
                [
                    h.sites[e.from_site].label.clone(),
                    h.sites[e.to_site].label.clone(),
                    crate::traj::hops::sites::type_of(e, &h.sites, &j.types),
                    // Frames strictly between leaving and arriving.
                    fmt_f64((end.saturating_sub(e.start_frame + 1)) as f64 * h.dt_ps),
                ]
            }))
            .collect()
        })
        .collect();
    write_csv(path, &header, &rows)
}

/// IonDiff's `DIFFUSION` file: one line per event, particle (0-based atom index),
/// start and end configuration (−1: no end), under IonDiff's header line.
pub(crate) fn write_diffusion(h: &Hops, path: &Path) -> Result<()> {
    let mut s =
        String::from("# Particle index         Starting configuration   Ending configuration\n");
    for e in &h.events {
        let end = e.end_frame.map_or(-1, |v| v as i64);
        s.push_str(&format!("{} {} {}\n", e.ion, e.start_frame, end));
    }
    write_atomic(path, s.as_bytes())
}

/// `sites.csv`: one row per site with its position, label, radius, occupancy (mean
/// number of ions on it) and the hops out of and into it.
pub(crate) fn write_sites_csv(h: &Hops, path: &Path) -> Result<()> {
    let header: Vec<String> = [
        "site",
        "label",
        "x_a",
        "y_a",
        "z_a",
        "frac_a",
        "frac_b",
        "frac_c",
        "radius_a",
        "occupancy",
        "enrichment",
        "ions",
        "occupied_frames",
        "hops_out",
        "hops_in",
    ]
    .map(String::from)
    .to_vec();
    let mut out = vec![0usize; h.sites.len()];
    let mut inn = vec![0usize; h.sites.len()];
    for e in &h.events {
        out[e.from_site] += 1;
        inn[e.to_site] += 1;
    }
    let rows: Vec<Vec<String>> = h
        .sites
        .iter()
        .map(|s| {
            vec![
                s.id.to_string(),
                s.label.clone(),
                fmt_f64(s.centre_a[0]),
                fmt_f64(s.centre_a[1]),
                fmt_f64(s.centre_a[2]),
                fmt_f64(s.frac[0]),
                fmt_f64(s.frac[1]),
                fmt_f64(s.frac[2]),
                s.radius_a.map(fmt_f64).unwrap_or_default(),
                fmt_f64(s.occupied_frames as f64 / h.n_frames.max(1) as f64),
                s.enrichment.map(fmt_f64).unwrap_or_default(),
                s.ions.to_string(),
                s.occupied_frames.to_string(),
                out[s.id].to_string(),
                inn[s.id].to_string(),
            ]
        })
        .collect();
    write_csv(path, &header, &rows)
}

/// The sites as an extended XYZ file (one frame: the cell as `Lattice`, the
/// species as the mobile species' symbol; label, radius and occupancy as extra
/// columns), which ASE and OVITO read.
pub fn write_sites_xyz(h: &Hops, path: &Path, species: &str) -> Result<()> {
    let c = &h.cell;
    let mut s = format!(
        "{}\nLattice=\"{} {} {} {} {} {} {} {} {}\" Properties=species:S:1:pos:R:3:site_label:S:1:radius:R:1:occupancy:R:1 pbc=\"T T T\"\n",
        h.sites.len(),
        c[0][0],
        c[0][1],
        c[0][2],
        c[1][0],
        c[1][1],
        c[1][2],
        c[2][0],
        c[2][1],
        c[2][2]
    );
    for site in &h.sites {
        let label = if site.label.is_empty() {
            species
        } else {
            &site.label
        };
        s.push_str(&format!(
            "{} {:.6} {:.6} {:.6} {} {:.4} {:.4}\n",
            species,
            site.centre_a[0],
            site.centre_a[1],
            site.centre_a[2],
            label.replace(char::is_whitespace, "_"),
            site.radius_a.unwrap_or(0.0),
            site.occupied_frames as f64 / h.n_frames.max(1) as f64
        ));
    }
    write_atomic(path, s.as_bytes())
}

/// The sites as a VASP POSCAR (Direct coordinates), which VESTA opens.
pub(crate) fn write_sites_poscar(h: &Hops, path: &Path, species: &str) -> Result<()> {
    let c = &h.cell;
    let mut s = format!(
        "{} sites found by superion ({} mode)\n1.0\n",
        species,
        h.mode.name()
    );
    for row in c {
        s.push_str(&format!("  {:.10} {:.10} {:.10}\n", row[0], row[1], row[2]));
    }
    s.push_str(&format!("{species}\n{}\nDirect\n", h.sites.len()));
    for site in &h.sites {
        s.push_str(&format!(
            "  {:.8} {:.8} {:.8}\n",
            site.frac[0], site.frac[1], site.frac[2]
        ));
    }
    write_atomic(path, s.as_bytes())
}

/// Read IonDiff's `DIFFUSION` file: (particle, start, end) per line, `#` comments,
/// integers or numpy's float format; end −1 is `None`.
pub fn read_diffusion(path: &Path) -> Result<Vec<(usize, usize, Option<usize>)>> {
    let text = read_text(path)?;
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let v: Vec<f64> = line
            .split_whitespace()
            .map(|w| w.parse::<f64>())
            .collect::<std::result::Result<_, _>>()
            .map_err(|_| parse_err(path, i + 1, "three numbers: particle, start, end".into()))?;
        if v.len() != 3
            || v.iter().any(|x| x.fract() != 0.0)
            || v[0] < 0.0
            || v[1] < 0.0
            || v[2] < -1.0
        {
            return Err(parse_err(
                path,
                i + 1,
                "three integers: particle ≥ 0, start ≥ 0, end ≥ −1".into(),
            ));
        }
        out.push((
            v[0] as usize,
            v[1] as usize,
            if v[2] < 0.0 {
                None
            } else {
                Some(v[2] as usize)
            },
        ));
    }
    Ok(out)
}

//! The vibrational DOS from a trajectory as a typed result and as files: `vdos.csv`
//! (total and per species), `descriptors.json` and `vdos.svg`.

use std::path::Path;

use crate::compute::Engine;
use crate::error::Result;
use crate::io::traj_input::{Streamed, TrajReadOptions, stream_trajectory};
use crate::io::{fmt_f64, write_atomic, write_csv};
use crate::materials::row_json;
use crate::phonon::Dos;
use crate::phonon::descriptors::{FeatureOptions, FeatureRow, features};
use crate::traj::stream::{StreamOptions, StreamRunInfo, VdosStream};
use crate::traj::{Trajectory, distinct_species, vdos};
use crate::{invalid, plot};

/// The VDOS of every species and the descriptors of one.
pub struct VdosReport {
    pub dos: Dos,
    /// The species described.
    pub species: String,
    pub descriptors: FeatureRow,
    /// What the VDOS computation noted (e.g. velocities from finite differences).
    pub notes: Vec<String>,
    /// Why the descriptors are not given (their values are NaN), when they are not: a
    /// spectrum cut at the Nyquist frequency while still high misses its upper modes
    /// (and folds them back), so a centre, Cv or S from it would be wrong.
    pub withheld: Option<String>,
    /// `descriptors.json` (and `traj vdos --json`).
    pub json: serde_json::Value,
    species_list: Vec<String>,
}

/// The VDOS of `traj` (read from `file`), described for `species`.
pub fn vdos(engine: &Engine, traj: &Trajectory, file: &Path, species: &str) -> Result<VdosReport> {
    traj.indices_of(species)?;
    let (dos, notes) = vdos::vdos(engine, traj)?;
    describe(dos, file, species, notes)
}

/// [`vdos()`] of the trajectory in `file`, streamed (see `crate::traj::stream`): the
/// file is never held whole. Also how it was read and how the atoms were split.
pub fn vdos_streamed(
    file: &Path,
    read: &TrajReadOptions,
    species: &str,
    stream: &StreamOptions,
) -> Result<(VdosReport, Streamed, StreamRunInfo)> {
    let mut sink = VdosStream::new(stream, file);
    let got = stream_trajectory(file, read, &mut sink)?;
    let (dos, notes, info) = sink.finish(got.dt_ps)?;
    if !dos.species.iter().any(|s| s == species) {
        return Err(invalid!(
            "{}: no {species} atoms (species here: {})",
            file.display(),
            distinct_species(&dos.species).join(", ")
        ));
    }
    let r = describe(dos, file, species, notes)?;
    Ok((r, got, info))
}

/// The VDOS of the trajectory in `src`, described for `species`, read into memory or
/// streamed as the library's policy decides ([`super::TrajFile::policy`]): the one
/// entry of every front end.
pub fn vdos_of(
    engine: &Engine,
    src: &super::TrajFile,
    species: &str,
) -> Result<(VdosReport, super::Ran)> {
    super::Ran::run(
        src,
        |so| {
            let (r, got, info) = vdos_streamed(&src.path, &src.read, species, so)?;
            let run = super::StreamRun::new(&got, &info, so);
            Ok((r, got.notes, got.frames, run))
        },
        |traj| vdos(engine, traj, &src.path, species),
    )
}

/// The descriptors of `species` in `dos`, and the report.
fn describe(dos: Dos, file: &Path, species: &str, notes: Vec<String>) -> Result<VdosReport> {
    let opts = FeatureOptions {
        elements: vec![species.to_string()],
        ..Default::default()
    };
    let mut row = features(&dos, &opts)?;
    let withheld = nyquist_cut(&dos);
    if withheld.is_some() {
        for (_, v) in row.columns.iter_mut() {
            if let crate::phonon::descriptors::Value::Num(x) = v {
                *x = f64::NAN;
            }
        }
    }
    let json = serde_json::json!({"file": file.display().to_string(), "species": species, "notes": notes, "descriptors": row_json(&row), "descriptors_withheld": withheld});
    let species_list = distinct_species(&dos.species);
    Ok(VdosReport {
        dos,
        species: species.to_string(),
        descriptors: row,
        notes,
        withheld,
        json,
        species_list,
    })
}

/// The largest share of its peak a vibrational DOS may keep at the Nyquist frequency
/// for its descriptors to be given: above it, the spectrum is visibly cut.
pub(crate) const NYQUIST_CUT_SHARE: f64 = 0.05;

/// Why a VDOS cut at the Nyquist frequency is too high there to describe, if it is.
pub(crate) fn nyquist_cut(dos: &Dos) -> Option<String> {
    let peak = dos.total.iter().fold(0.0f64, |m, v| m.max(*v));
    let last = dos.total.last().copied().unwrap_or(0.0);
    let nyquist = dos.freqs_thz.last().copied().unwrap_or(0.0);
    (peak > 0.0 && last > NYQUIST_CUT_SHARE * peak).then(|| {
        format!(
            "the spectrum is cut at the Nyquist frequency {nyquist:.1} THz while still at {:.0} % of its peak (at most {:.0} % for a complete spectrum): the frames are too far apart for the fastest vibrations, which are missing and fold back; store frames more often (every {:.2} fs or less doubles the range) and look again",
            100.0 * last / peak,
            100.0 * NYQUIST_CUT_SHARE,
            // The frames are 1/(2 f_N) apart; half that doubles the Nyquist frequency.
            1000.0 / (4.0 * nyquist.max(1e-9))
        )
    })
}

/// `vdos.csv`, `descriptors.json` and `vdos.svg` into `dir`; the names written.
pub fn write_outputs(r: &VdosReport, dir: &Path) -> Result<Vec<String>> {
    let dos = &r.dos;
    let mut header = vec!["freq_thz".to_string(), "total".to_string()];
    header.extend(r.species_list.iter().cloned());
    let per: Vec<Vec<f64>> = r
        .species_list
        .iter()
        .map(|s| dos.element_dos(s))
        .collect::<Result<_>>()?;
    let rows: Vec<Vec<String>> = (0..dos.freqs_thz.len())
        .map(|i| {
            std::iter::once(fmt_f64(dos.freqs_thz[i]))
                .chain(std::iter::once(fmt_f64(dos.total[i])))
                .chain(per.iter().map(|g| fmt_f64(g[i])))
                .collect()
        })
        .collect();
    write_csv(&dir.join("vdos.csv"), &header, &rows)?;
    let json =
        serde_json::to_string_pretty(&r.json).map_err(|e| invalid!("descriptors.json: {e}"))?;
    write_atomic(&dir.join("descriptors.json"), json.as_bytes())?;
    plot::vdos_svg(dos, &dir.join("vdos.svg"))?;
    Ok(vec![
        "vdos.csv".into(),
        "descriptors.json".into(),
        "vdos.svg".into(),
    ])
}

//! Hop correlations across many trajectories (IonDiff's `DIFFUSION_paths` workflow):
//! hops in each, the temporal and collective many-body distributions pooled, and an
//! exponential fit; `correlations.csv`, `fit.json` and `correlations.svg`.

use std::path::Path;

use crate::compute::Engine;
use crate::error::Result;
use crate::io::iondiff::Listed;
use crate::io::traj_input::TrajReadOptions;
use crate::io::{write_atomic, write_csv};
use crate::traj::correlations::{self, ExpFit};
use crate::traj::hops::HopOptions;
use crate::{invalid, plot};

/// The pooled correlations and what went into them.
pub struct CorrelationsReport {
    pub trajectories: usize,
    /// (bodies, fraction) from 2 bodies up, and the fit, of each kind.
    pub temporal: (Vec<(usize, f64)>, Option<ExpFit>),
    pub collective: (Vec<(usize, f64)>, Option<ExpFit>),
    /// The shares of temporal and collective correlated events with more bodies than
    /// the histograms hold (normalised over n = 2..=max_bodies, as IonDiff).
    pub beyond: (f64, f64),
    pub max_bodies: usize,
    /// One row per (trajectory, kind, bodies): `correlations.csv`.
    pub rows: Vec<Vec<String>>,
    /// `fit.json` (and `traj correlations --json`).
    pub json: serde_json::Value,
}

/// Detect hops in every listed trajectory and pool their correlations. `list` names
/// the list in the report; a progress bar shows on a terminal. Each trajectory is
/// read into memory or streamed as the library's policy decides for it
/// ([`super::TrajFile::policy`]: a `memory` budget or a `scratch` folder asks for
/// streaming); the same hops either way.
#[allow(clippy::too_many_arguments)]
pub fn correlations(
    engine: &Engine,
    list: &Path,
    entries: &[Listed],
    read: &TrajReadOptions,
    opts: &HopOptions,
    max_bodies: usize,
    collective_dt_ps: f64,
    collective_dr_a: f64,
    memory: Option<u64>,
    scratch: Option<&Path>,
) -> Result<CorrelationsReport> {
    let bar = crate::progress::bar(entries.len() as u64, "hops and correlations");
    let mut temporal_counts = Vec::new();
    let mut collective_counts = Vec::new();
    let mut rows = Vec::new();
    let mut per = Vec::new();
    for e in entries {
        let src = super::TrajFile {
            path: e.path.clone(),
            read: read.clone(),
            memory,
            scratch: scratch.map(Path::to_path_buf),
        };
        let (h, _) = super::hops::detect_of(engine, &src, opts)?;
        let t = correlations::temporal(&h.events, h.n_frames, h.mode, opts.seed);
        let c = correlations::collective(&h, collective_dt_ps, collective_dr_a);
        for (kind, counts) in [("temporal", &t.counts), ("collective", &c.counts)] {
            for (n, v) in counts.iter().enumerate() {
                rows.push(vec![
                    e.path.display().to_string(),
                    e.material.clone(),
                    e.temperature.clone(),
                    kind.to_string(),
                    (n + 1).to_string(),
                    v.to_string(),
                ]);
            }
        }
        per.push(serde_json::json!({
            "path": e.path.display().to_string(), "material": e.material, "temperature": e.temperature,
            "events": h.events.len(), "threshold": t.threshold,
            "temporal_counts": t.counts, "collective_counts": c.counts,
            "collective_largest_share": c.largest_share, "collective_percolating": c.percolating,
            "pairs_against_independent_ions": match &c.null {
                Ok(t) => serde_json::to_value(t).unwrap_or_default(),
                Err(why) => serde_json::json!({ "not_tested": why }),
            },
        }));
        temporal_counts.push(t.counts);
        collective_counts.push(c.counts);
        bar.inc(1);
    }
    bar.finish_and_clear();
    let (tp, tfit) = correlations::aggregate(&temporal_counts, max_bodies);
    let (cp, cfit) = correlations::aggregate(&collective_counts, max_bodies);
    let beyond = (
        correlations::beyond_share(&temporal_counts, max_bodies),
        correlations::beyond_share(&collective_counts, max_bodies),
    );
    let json = serde_json::json!({
        "list": list.display().to_string(), "mode": opts.mode, "trajectories": per,
        "temporal": {"distribution": tp, "fit": tfit, "model": "A + B*exp(-C*n), n >= 2", "share_beyond_max_bodies": beyond.0},
        "collective": {"distribution": cp, "fit": cfit, "dt_ps": collective_dt_ps, "dr_a": collective_dr_a, "share_beyond_max_bodies": beyond.1},
        "max_bodies": max_bodies,
    });
    Ok(CorrelationsReport {
        trajectories: entries.len(),
        temporal: (tp, tfit),
        collective: (cp, cfit),
        beyond,
        max_bodies,
        rows,
        json,
    })
}

/// `correlations.csv`, `fit.json` and `correlations.svg` into `dir`; the names written.
pub fn write_outputs(r: &CorrelationsReport, dir: &Path) -> Result<Vec<String>> {
    let header: Vec<String> = ["path", "material", "temperature", "kind", "bodies", "count"]
        .map(String::from)
        .to_vec();
    write_csv(&dir.join("correlations.csv"), &header, &r.rows)?;
    let json = serde_json::to_string_pretty(&r.json).map_err(|e| invalid!("fit.json: {e}"))?;
    write_atomic(&dir.join("fit.json"), json.as_bytes())?;
    plot::hops::correlation_svg(
        &r.temporal.0,
        r.temporal.1,
        &r.collective.0,
        &format!(
            "Correlated hops over {} {}; beyond n = {}: {:.0} % (temporal), {:.0} % (collective)",
            r.trajectories,
            if r.trajectories == 1 {
                "trajectory"
            } else {
                "trajectories"
            },
            r.max_bodies,
            100.0 * r.beyond.0,
            100.0 * r.beyond.1
        ),
        &dir.join("correlations.svg"),
    )?;
    Ok(vec![
        "correlations.csv".into(),
        "fit.json".into(),
        "correlations.svg".into(),
    ])
}

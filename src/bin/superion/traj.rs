//! `superion traj ...`: MSD and diffusion, VDOS, hops and jumps, correlations across
//! trajectories.

use superion::io::traj_input::read_trajectory;
use superion::phonon::descriptors::Value;
use superion::traj::msd;
use superion::{BackendChoice, Engine, report};

use crate::args::{CorrelationsArgs, HopsArgs, TrajCommand};

pub fn run(backend: BackendChoice, cmd: TrajCommand) -> anyhow::Result<()> {
    match cmd {
        TrajCommand::Hops(a) => hops(backend, a),
        TrajCommand::Correlations(a) => correlations(backend, a),
        TrajCommand::Convert { file, read, out } => {
            let read = read.options()?;
            if out.is_dir() {
                anyhow::bail!("--out {}: a folder; give the file to write", out.display());
            }
            // The format is the name's: refused before anything is read, never a
            // format written under another's name (extended XYZ in a .pdb).
            let ext = out
                .extension()
                .map(|e| e.to_string_lossy().to_lowercase())
                .unwrap_or_default();
            if !["xyz", "extxyz", "dcd", "xtc"].contains(&ext.as_str()) {
                anyhow::bail!(
                    "--out {}: convert writes extended XYZ (.xyz, .extxyz), DCD (.dcd) or XTC (.xtc); {} is none of them",
                    out.display(),
                    if ext.is_empty() {
                        "a name without an extension".to_string()
                    } else {
                        format!(".{ext}")
                    }
                );
            }
            superion::io::check_writable(&out)?;
            let traj = read_trajectory(&file, &read)?;
            for n in &traj.notes {
                eprintln!("superion: {}", crate::flags(n));
            }
            let (dcd, xtc) = (ext == "dcd", ext == "xtc");
            if dcd {
                superion::io::dcd::write(&traj, &out)?;
            } else if xtc {
                superion::io::xtc::write(&traj, &out)?;
            } else {
                superion::io::xyz::write(&traj, &out)?;
            }
            eprintln!(
                "superion: {} frames x {} atoms -> {}",
                traj.n_frames(),
                traj.n_atoms(),
                out.display()
            );
            if dcd {
                eprintln!(
                    "superion: a DCD names no atoms: read it back with --topology {} (the time between frames is in its header, as one step in AKMA units)",
                    file.display()
                );
            }
            if xtc {
                eprintln!(
                    "superion: an XTC names no atoms: read it back with --topology {} (the time between frames is in the file)",
                    file.display()
                );
            }
            Ok(())
        }
        TrajCommand::Vdos {
            file,
            read,
            species,
            out,
            json,
            memory,
            scratch,
        } => {
            let read = read.options()?;
            let bundle = crate::open_out(out.as_deref())?;
            let engine = Engine::new(backend)?;
            let src = report::TrajFile {
                path: file.clone(),
                read,
                memory,
                scratch,
            };
            let (r, ran) = report::vdos::vdos_of(&engine, &src, &species)?;
            let mut read_notes = ran.read_notes;
            if let Some(run) = &ran.stream {
                read_notes.push(run.describe(ran.frames));
            }
            for n in read_notes.iter().chain(&r.notes) {
                eprintln!("superion: {}", crate::flags(n));
            }
            // Files first: a closed stdout (`| head`) must not lose them.
            crate::finish_out(bundle, "traj vdos", |dir| {
                Ok(report::vdos::write_outputs(&r, dir)?)
            })?;
            if json {
                println!("{}", serde_json::to_string_pretty(&r.json)?);
            } else if let Some(why) = &r.withheld {
                println!("{}: descriptors not determined: {why}", r.species);
            } else {
                for (k, v) in &r.descriptors.columns {
                    if let Value::Num(x) = v {
                        println!("{k:<28} {}", crate::phonon::shown(*x));
                    }
                }
            }
            Ok(())
        }
        TrajCommand::Msd {
            file,
            read,
            species,
            start_ps,
            temperature,
            charge,
            no_drift,
            lags,
            axes,
            out,
            json,
            memory,
            scratch,
        } => {
            let read = read.options()?;
            let opts = report::msd::DiffusionOptions {
                msd: msd::MsdOptions {
                    species: species.clone(),
                    drift_correction: !no_drift,
                    lags: lags.parse()?,
                    long_step_a: None,
                    axes: axes.parse()?,
                },
                start_ps,
                temperature_k: temperature,
                charge_e: charge,
            };
            opts.check()?;
            let bundle = crate::open_out(out.as_deref())?;
            let engine = Engine::new(backend)?;
            let src = report::TrajFile {
                path: file.clone(),
                read,
                memory,
                scratch,
            };
            let (d, ran) = report::msd::diffusion_of(&engine, &src, &opts)?;
            // The reader's notes are the summary's.
            for n in &d.summary.notes {
                eprintln!("superion: {}", crate::flags(n));
            }
            if let Some(run) = &ran.stream {
                eprintln!("superion: {}", run.describe(d.msd.n_frames));
            }
            let (m, fit, s) = (&d.msd, &d.fit, &d.summary);
            if m.long_steps.count > 0 {
                eprintln!(
                    "superion: warning: {} frame-to-frame steps longer than {:.2} Å (worst {:.2} Å, atom {}, frame {}): unwrapping may be ambiguous there",
                    m.long_steps.count,
                    m.long_step_a,
                    m.long_steps.worst_a,
                    m.long_steps.worst_atom,
                    m.long_steps.worst_frame
                );
            }
            crate::finish_out(bundle, "traj msd", |dir| {
                Ok(report::msd::write_outputs(&d, dir)?)
            })?;
            if json {
                println!("{}", serde_json::to_string_pretty(s)?);
            } else {
                use superion::traj::fmt_duration_ps as dur;
                let window = format!(
                    "fit {}{}",
                    superion::traj::fmt_span_ps(fit.fit_start_ps, fit.fit_end_ps),
                    if fit.start_chosen_automatically {
                        ", start automatic"
                    } else {
                        ""
                    }
                );
                if fit.diffusive {
                    println!(
                        "{species}: D = {:.4e} ± {:.2e} cm²/s ({window}; MSD ∝ t^{:.2}), {} atoms, {} frames of {}",
                        fit.d_cm2_s,
                        fit.d_err_cm2_s,
                        fit.loglog_exponent,
                        m.n_atoms,
                        m.n_frames,
                        dur(m.dt_ps)
                    );
                } else {
                    println!(
                        "{species}: not diffusive: D not determined. Why: {}. The line through the MSD ({window}) would give {:.3e} cm²/s, which is not a diffusion coefficient. {} atoms, {} frames of {}",
                        fit.diffusive_note,
                        fit.d_fitted_cm2_s,
                        m.n_atoms,
                        m.n_frames,
                        dur(m.dt_ps)
                    );
                }
                if s.haven_ratio.is_finite() {
                    println!(
                        "Haven ratio {:.2} ± {:.2} (D_sigma {:.3e} ± {:.1e} cm²/s; {})",
                        s.haven_ratio,
                        s.haven_ratio_err,
                        s.d_sigma_cm2_s,
                        s.d_sigma_err_cm2_s,
                        s.haven_note
                    );
                } else {
                    println!("Haven ratio {}", s.haven_note);
                }
                if let Some(c) = s.conductivity.as_ref().filter(|_| !s.diffusive) {
                    println!(
                        "σ (Nernst-Einstein) at {} K not determined: the MSD is not diffusive",
                        c.temperature_k
                    );
                } else if let Some(c) = &s.conductivity {
                    println!(
                        "σ (Nernst-Einstein, tracer D, q = {} e) at {} K = {} ± {} S/cm",
                        c.charge_e,
                        c.temperature_k,
                        sig3(c.sigma_tracer_s_cm),
                        sig3(c.sigma_tracer_err_s_cm)
                    );
                }
            }
            Ok(())
        }
    }
}

fn hops(backend: BackendChoice, a: HopsArgs) -> anyhow::Result<()> {
    let read = a.read.options()?;
    let opts = a.hop.options()?;
    let bundle = crate::open_out(a.out.as_deref())?;
    let engine = Engine::new(backend)?;
    let src = report::TrajFile {
        path: a.file.clone(),
        read,
        memory: a.memory,
        scratch: a.scratch.clone(),
    };
    let (h, ran) = report::hops::detect_of(&engine, &src, &opts)?;
    for n in ran.read_notes.iter().chain(&h.notes) {
        eprintln!("superion: {}", crate::flags(n));
    }
    if let Some(run) = &ran.stream {
        eprintln!("superion: {}", run.describe(h.n_frames));
    }
    let (read_secs, secs) = (ran.read_secs, ran.secs);
    let summary = report::hops::summary(&h, &a.file, a.hop.collective_dt_ps, a.hop.collective_dr_a);
    crate::finish_out(bundle, "traj hops", |dir| {
        Ok(report::hops::write_outputs(&h, dir, &summary)?)
    })?;
    if a.json {
        println!(
            "{}",
            serde_json::to_string_pretty(
                &serde_json::json!({"summary": summary, "events": h.events})
            )?
        );
    } else {
        println!(
            "{} ions analysed ({} mode), {} hop events, {} sites; {}",
            h.ions.len(),
            opts.mode.name(),
            h.events.len(),
            h.sites.len(),
            if ran.stream.is_some() {
                format!("read and analysed in {secs:.3} s (streamed)")
            } else {
                format!("read {read_secs:.3} s, analysis {secs:.3} s")
            }
        );
        const MAX_LISTED: usize = 40;
        if h.events.len() > MAX_LISTED {
            println!(
                "(the first {MAX_LISTED} events; all of them with --out (events.csv) or --json)"
            );
        }
        for e in h.events.iter().take(MAX_LISTED) {
            println!(
                "ion {:>4} {:<3} frames {:>4} -> {:>4}  site {:>3} -> {:>3}  {:.2} Å{}",
                e.ion,
                e.species,
                e.start_frame,
                e.end_frame.map_or(-1, |v| v as i64),
                e.from_site,
                e.to_site,
                e.length_a,
                if e.back_hop { "  (back-hop)" } else { "" }
            );
        }
        for d in &summary.species {
            println!(
                "{}: {} of {} ions hop ({:.1} %), {} events, jump rate {:.4} /ion/ps, mean hop {} Å",
                d.species,
                d.hopping_ions,
                d.ions,
                100.0 * d.fraction_hopping,
                d.events,
                d.jump_rate_per_ion_ps,
                d.hop_length_a
                    .mean
                    .map_or("-".into(), |v| format!("{v:.2}"))
            );
        }
        if let Some(j) = &h.jumps {
            println!(
                "sites: {} ({}); radius {} ({:.3}-{:.3} Å); {:.0} % of ion-frames on a site",
                j.n_sites,
                j.site_source,
                j.radius_rule,
                j.radius_min_a,
                j.radius_max_a,
                100.0 * j.on_site_fraction
            );
            for t in &j.types {
                println!(
                    "  jump type {:<22} {:>6} jumps, {:.4} ± {:.4} /ion/ps, D_jump share {:.3e} cm²/s",
                    t.name, t.count, t.rate_per_ion_ps, t.rate_err_per_ion_ps, t.d_jump_cm2_s
                );
            }
            println!(
                "D_jump = {}; tracer D = {}",
                if j.jumps == 0 {
                    "none (no jumps)".to_string()
                } else {
                    format!("{:.4e} cm²/s", j.d_jump_cm2_s)
                },
                match (j.d_tracer_cm2_s, j.d_tracer_err_cm2_s) {
                    (Some(d), Some(e)) => format!("{d:.4e} ± {e:.2e} cm²/s"),
                    _ => "not determined".into(),
                }
            );
            println!("consistency: {}", j.consistency);
        }
        let multi: usize = summary.collective.counts.iter().skip(1).sum();
        if h.events.is_empty() {
            println!("correlations: none (no jumps to correlate)");
        } else {
            let c = &summary.collective;
            println!(
                "correlations (jumps within Δt {} ps and Δr {} Å): {}",
                a.hop.collective_dt_ps,
                a.hop.collective_dr_a,
                match &c.null {
                    Ok(t) => &t.verdict,
                    Err(why) => why,
                }
            );
            if c.percolating {
                println!(
                    "  percolating: one group holds {:.0} % of the jumps, so group sizes at this Δt and Δr do not measure collective hops (narrow --collective-dt-ps / --collective-dr-a)",
                    100.0 * c.largest_share
                );
            } else {
                println!(
                    "  {} collective event(s) with 2 or more ions; IonDiff's temporal threshold {:.3}",
                    multi, summary.temporal_correlation.threshold
                );
            }
        }
    }
    Ok(())
}

fn correlations(backend: BackendChoice, a: CorrelationsArgs) -> anyhow::Result<()> {
    let read = a.read.options()?;
    let opts = a.hop.options()?;
    let entries = superion::io::iondiff::read_paths(&a.list)?;
    let bundle = crate::open_out(a.out.as_deref())?;
    let engine = Engine::new(backend)?;
    let r = report::correlations::correlations(
        &engine,
        &a.list,
        &entries,
        &read,
        &opts,
        a.max_bodies,
        a.hop.collective_dt_ps,
        a.hop.collective_dr_a,
        a.memory,
        a.scratch.as_deref(),
    )?;
    let (tp, tfit) = &r.temporal;
    let (cp, _) = &r.collective;
    crate::finish_out(bundle, "traj correlations", |dir| {
        Ok(report::correlations::write_outputs(&r, dir)?)
    })?;
    if a.json {
        println!("{}", serde_json::to_string_pretty(&r.json)?);
    } else {
        println!("{} trajectories", r.trajectories);
        println!("{:>6} {:>10} {:>11}", "bodies", "temporal", "collective");
        let n = tp.len().max(cp.len());
        for i in 0..n {
            let f =
                |v: &Vec<(usize, f64)>| v.get(i).map_or("-".to_string(), |p| format!("{:.4}", p.1));
            println!("{:>6} {:>10} {:>11}", i + 2, f(tp), f(cp));
        }
        match tfit {
            Some(f) => println!("fit (temporal): {:.4} + {:.4}·exp(−{:.4} n)", f.a, f.b, f.c),
            None => println!(
                "fit (temporal): none (fewer than 3 points, or the counts do not decay with n)"
            ),
        }
        println!(
            "beyond n = {}: {:.1} % of the temporal and {:.1} % of the collective correlated events (the fractions above are over n = 2..={})",
            r.max_bodies,
            100.0 * r.beyond.0,
            100.0 * r.beyond.1,
            r.max_bodies
        );
        for t in r.json["trajectories"].as_array().into_iter().flatten() {
            let test = &t["pairs_against_independent_ions"];
            let verdict = test["verdict"]
                .as_str()
                .or(test["not_tested"].as_str())
                .unwrap_or("");
            println!(
                "{}: {}{}",
                t["path"].as_str().unwrap_or(""),
                verdict,
                if t["collective_percolating"].as_bool() == Some(true) {
                    format!(
                        "; percolating (one group holds {:.0} % of the jumps)",
                        100.0 * t["collective_largest_share"].as_f64().unwrap_or(0.0)
                    )
                } else {
                    String::new()
                }
            );
        }
    }
    Ok(())
}

/// Three significant figures, without an exponent where one is not needed.
fn sig3(v: f64) -> String {
    if v != 0.0 && (v.abs() < 1e-2 || v.abs() >= 1e4) {
        format!("{v:.2e}")
    } else {
        let decimals = (2 - v.abs().log10().floor() as i32).max(0) as usize;
        format!("{v:.decimals$}")
    }
}

//! Streamed analyses: the MSD of a trajectory fed block by block, with its scratch
//! files and atom windows, must be the in-memory MSD (same drift, same unwrapping,
//! same fit), whatever the block size, the memory budget, the cell and the backend.

mod common;

use std::path::{Path, PathBuf};

use superion::Engine;
use superion::io::traj_input::{FrameRange, TrajReadOptions, read_trajectory, stream_trajectory};
use superion::io::xdatcar::{self, XdatcarOptions};
use superion::traj::msd::{LagGrid, Msd, MsdOptions, msd};
use superion::traj::stream::{FrameSink, MsdStream, StreamOptions};
use superion::traj::{TimeStep, Trajectory, diffusion};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn bundled() -> PathBuf {
    root().join("data/Li6PS5Cl.XDATCAR.gz")
}

fn read_opts(frames: FrameRange) -> TrajReadOptions {
    TrajReadOptions {
        time: TimeStep {
            timestep_fs: Some(2.0),
            stride: Some(50),
        },
        frames,
        ..Default::default()
    }
}

fn opts(drift: bool, lags: LagGrid, axes: &str) -> MsdOptions {
    MsdOptions {
        species: "Li".into(),
        drift_correction: drift,
        lags,
        long_step_a: None,
        axes: axes.parse().unwrap(),
    }
}

fn rel(a: f64, b: f64) -> f64 {
    (a - b).abs() / b.abs().max(1e-300)
}

/// Every number of a streamed MSD against the in-memory one, bit for bit: the curves,
/// the unwrapping report, the fit's per-atom columns, D, its error and D_sigma (both
/// paths run the same per-atom FFTs and add the atoms in the same order).
fn same_msd(s: &Msd, m: &Msd, start_ps: Option<f64>, what: &str) {
    assert_eq!(
        (s.n_atoms, s.n_frames, &s.lags),
        (m.n_atoms, m.n_frames, &m.lags),
        "{what}"
    );
    assert_eq!(s.drift, m.drift, "{what}");
    assert_eq!(s.long_steps, m.long_steps, "{what}");
    assert_eq!(s.long_step_a, m.long_step_a, "{what}");
    assert_eq!(s.msd_a2, m.msd_a2, "{what}: MSD");
    assert_eq!(s.msd_axes_a2, m.msd_axes_a2, "{what}: MSD per axis");
    assert_eq!(s.collective_a2, m.collective_a2, "{what}: collective MSD");
    assert_eq!(
        s.summed_disp_a, m.summed_disp_a,
        "{what}: summed displacement"
    );
    // The streamed run kept the per-atom curves at the fit's points only.
    let (picks, _) = diffusion::fit_points(&m.times_ps(), &m.msd_a2, start_ps).unwrap();
    assert_eq!(s.per_atom_lags, picks, "{what}");
    for &i in &picks {
        let (a, b) = (s.per_atom_column(i).unwrap(), m.per_atom_column(i).unwrap());
        assert_eq!(a, b, "{what}: per-atom MSD at lag index {i}");
    }
    let (fs, fm) = (
        diffusion::fit(s, start_ps).unwrap(),
        diffusion::fit(m, start_ps).unwrap(),
    );
    assert_eq!(fs.d_cm2_s.to_bits(), fm.d_cm2_s.to_bits(), "{what}: D");
    assert_eq!(
        fs.d_err_cm2_s.to_bits(),
        fm.d_err_cm2_s.to_bits(),
        "{what}: σ(D)"
    );
    assert_eq!(fs.fit_start_ps, fm.fit_start_ps, "{what}");
    let (cs, cm) = (diffusion::collective(s, &fs), diffusion::collective(m, &fm));
    assert_eq!(
        cs.d_cm2_s.to_bits(),
        cm.d_cm2_s.to_bits(),
        "{what}: D_sigma"
    );
}

/// The bundled XDATCAR streamed through the reader in chunks of a few frames, under
/// budgets from one atom per window to all of them, with and without drift
/// correction, along all axes and in a plane, with every lag and a log grid, and with
/// a frame range.
#[test]
fn a_streamed_xdatcar_gives_the_in_memory_msd() {
    let engine = Engine::cpu();
    let dir = common::tempdir("stream-xdatcar");
    for (frames, drift, lags, axes, start) in [
        (FrameRange::default(), true, LagGrid::All, "xyz", None),
        (
            FrameRange::default(),
            false,
            LagGrid::Log(25),
            "xy",
            Some(2.0),
        ),
        (
            FrameRange {
                start: 5,
                stop: Some(131),
                every: 2,
            },
            true,
            LagGrid::All,
            "z",
            None,
        ),
    ] {
        let ro = read_opts(frames);
        let traj = read_trajectory(&bundled(), &ro).unwrap();
        let o = opts(drift, lags, axes);
        let m = msd(&engine, &traj, &o).unwrap();
        let dt = traj.dt_ps.unwrap();
        for (chunk_lines, budget) in [(1000, 1u64), (53 * 7 + 3, 40_000), (1 << 20, 1 << 30)] {
            let what = format!(
                "{frames:?} drift {drift} {lags:?} {axes} chunks {chunk_lines} budget {budget}"
            );
            let so = StreamOptions {
                memory_bytes: budget,
                scratch_dir: Some(dir.to_path_buf()),
            };
            let mut sink = MsdStream::new(&o, &so, &bundled());
            let end = xdatcar::stream(
                &bundled(),
                XdatcarOptions {
                    frames,
                    chunk_lines,
                    ..Default::default()
                },
                &mut sink,
            )
            .unwrap();
            assert_eq!(end.frames, traj.n_frames(), "{what}");
            let s = sink.finish(&engine, dt, start).unwrap();
            same_msd(&s.msd, &m, start, &what);
            let vol = (0..traj.n_frames()).map(|t| traj.volume_a3(t)).sum::<f64>()
                / traj.n_frames() as f64;
            assert!(rel(s.mean_volume_a3, vol) < 1e-14, "{what}");
            // Windows as the budget allows: one atom each for the smallest.
            let ns = m.n_atoms;
            if budget == 1 {
                assert_eq!((s.window_atoms, s.windows), (1, ns), "{what}");
            }
            if budget == 1 << 30 {
                assert_eq!((s.window_atoms, s.windows), (ns, 1), "{what}");
            }
            // Scratch on disk: 12 bytes per selected atom and frame unless they fit in
            // half the budget (then they stay in memory), 8 per atom and lag unless
            // those fit in a quarter.
            let (disp, curves) = (12 * ns * m.n_frames, 8 * ns * m.lags.len());
            let on_disk = |bytes: usize, share: u64| {
                if bytes as u64 <= budget / share {
                    0
                } else {
                    bytes
                }
            };
            assert_eq!(
                s.scratch_bytes as usize,
                on_disk(disp, 2) + on_disk(curves, 4),
                "{what}"
            );
            if budget == 1 << 30 {
                assert_eq!(s.scratch_bytes, 0, "{what}: all of it in memory");
            }
        }
        // The scratch files are gone.
        assert_eq!(std::fs::read_dir(&*dir).unwrap().count(), 0);
    }
}

/// A sink fed by hand in blocks of 1 to 11 frames: triclinic and fluctuating (NPT)
/// cells, long steps, a one-species trajectory (drift from all atoms).
#[test]
fn blocks_of_any_size_give_the_in_memory_msd_for_any_cell() {
    let engine = Engine::cpu();
    for (triclinic, npt, mixed) in [
        (false, false, true),
        (true, false, true),
        (true, true, true),
        (false, true, false),
    ] {
        let w = common::walk(90, 24, 1.4, triclinic, npt, 11);
        let species: Vec<String> = (0..24)
            .map(|i| if !mixed || i % 3 == 0 { "Li" } else { "S" }.to_string())
            .collect();
        let traj = Trajectory {
            source: PathBuf::from("walk"),
            species: species.clone(),
            frac: w.frac.clone(),
            cells: w.cells.clone(),
            dt_ps: Some(0.05),
            velocities: None,
            notes: Vec::new(),
        };
        let o = opts(true, LagGrid::All, "xyz");
        let m = msd(&engine, &traj, &o).unwrap();
        assert!(
            m.long_steps.count > 0,
            "the walk is meant to have long steps"
        );
        for block in [1usize, 4, 11, 90] {
            let what = format!("triclinic {triclinic} npt {npt} mixed {mixed} block {block}");
            let so = StreamOptions {
                memory_bytes: 5_000,
                scratch_dir: None,
            };
            let mut sink = MsdStream::new(&o, &so, Path::new("walk"));
            sink.begin(&species).unwrap();
            for f0 in (0..90).step_by(block) {
                let f1 = (f0 + block).min(90);
                let frac = w.frac.slice(ndarray::s![f0..f1, .., ..]).to_owned();
                let cells: Vec<[[f64; 3]; 3]> = (f0..f1).map(|f| traj.cell_rows(f)).collect();
                sink.frames(frac.as_slice().unwrap(), &cells, None).unwrap();
            }
            let s = sink.finish(&engine, 0.05, None).unwrap();
            same_msd(&s.msd, &m, None, &what);
        }
    }
}

/// ASE .traj (positioned reads) and extended XYZ (chunks of any size) stream with the
/// in-memory MSD, taking the time step as an in-memory read does.
#[test]
fn ase_traj_and_extxyz_stream_with_the_in_memory_msd() {
    use superion::io::xyz;
    let engine = Engine::cpu();
    let ro = TrajReadOptions {
        time: TimeStep {
            timestep_fs: Some(1.0),
            stride: Some(10),
        },
        ..Default::default()
    };
    for (file, chunked) in [("walk.traj", false), ("walk.extxyz", true)] {
        let path = root().join("data/ase").join(file);
        let traj = read_trajectory(&path, &ro).unwrap();
        let o = MsdOptions {
            species: "Li".into(),
            ..opts(true, LagGrid::All, "xyz")
        };
        let m = msd(&engine, &traj, &o).unwrap();
        let mut sink = MsdStream::new(&o, &StreamOptions::default(), &path);
        let got = stream_trajectory(&path, &ro, &mut sink).unwrap();
        assert!(got.streamed, "{file}");
        assert_eq!(got.frames, traj.n_frames(), "{file}");
        assert_eq!(got.dt_ps, traj.dt_ps.unwrap(), "{file}");
        assert_eq!(got.notes, traj.notes, "{file}");
        let s = sink.finish(&engine, got.dt_ps, None).unwrap();
        same_msd(&s.msd, &m, None, file);
        if chunked {
            for chunk_lines in [1usize, 5, 26, 27, 100] {
                let mut sink = MsdStream::new(&o, &StreamOptions::default(), &path);
                let end = xyz::stream(&path, false, FrameRange::default(), chunk_lines, &mut sink)
                    .unwrap();
                assert_eq!(end.frames, traj.n_frames());
                let s = sink.finish(&engine, got.dt_ps, None).unwrap();
                same_msd(
                    &s.msd,
                    &m,
                    None,
                    &format!("{file}, chunks of {chunk_lines} lines"),
                );
            }
        }
    }
}

/// The GPU engine, unwrapping the frames as they stream (its scan's state kept on the
/// device between blocks) and taking the windows' self MSD, gives the CPU's streamed
/// numbers.
#[test]
fn a_streamed_msd_on_the_gpu_matches_the_cpu() {
    let Some(gpu) = common::gpu() else { return };
    let cpu = Engine::cpu();
    let ro = read_opts(FrameRange::default());
    let o = opts(true, LagGrid::Log(30), "xyz");
    let run = |e: &Engine| {
        let mut sink = MsdStream::new(
            &o,
            &StreamOptions {
                memory_bytes: 100_000,
                scratch_dir: None,
            },
            &bundled(),
        )
        .on(e);
        let got = stream_trajectory(&bundled(), &ro, &mut sink).unwrap();
        assert!(got.streamed);
        sink.finish(e, got.dt_ps, None).unwrap()
    };
    let before = gpu.traffic().unwrap();
    let (c, g) = (run(&cpu), run(&gpu));
    let t = gpu.traffic().unwrap() - before;
    // Every frame of every atom went up to be unwrapped (12 bytes an atom-frame).
    let whole = superion::io::traj_input::read_trajectory(&bundled(), &ro).unwrap();
    let frames_up = 12 * (whole.n_frames() * whole.n_atoms()) as u64;
    assert!(
        t.bytes_up >= frames_up,
        "{t:?}: {frames_up} bytes of frames"
    );
    assert!(c.windows > 1);
    for (a, b) in g.msd.msd_a2.iter().zip(&c.msd.msd_a2) {
        assert!(rel(*a, *b) < 1e-5, "{a} vs {b}");
    }
    let (fc, fg) = (
        diffusion::fit(&c.msd, None).unwrap(),
        diffusion::fit(&g.msd, None).unwrap(),
    );
    assert!(rel(fg.d_cm2_s, fc.d_cm2_s) < 1e-4);
}

/// Problems are named: a species the file lacks, a scratch folder that does not
/// exist, a fit start the streamed run did not keep, too few frames.
#[test]
fn streamed_problems_are_clear() {
    let engine = Engine::cpu();
    let ro = read_opts(FrameRange::default());
    let mut sink = MsdStream::new(
        &MsdOptions {
            species: "Na".into(),
            ..opts(true, LagGrid::All, "xyz")
        },
        &StreamOptions::default(),
        &bundled(),
    );
    let e = stream_trajectory(&bundled(), &ro, &mut sink)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("no Na atoms") && e.contains("Li, Cl, S, P"),
        "{e}"
    );

    let missing = root().join("target/no-such-scratch-folder/x");
    let mut sink = MsdStream::new(
        &opts(true, LagGrid::All, "xyz"),
        &StreamOptions {
            memory_bytes: 1 << 20,
            scratch_dir: Some(missing.clone()),
        },
        &bundled(),
    );
    let e = stream_trajectory(&bundled(), &ro, &mut sink)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("no-such-scratch-folder") && e.contains("scratch"),
        "{e}"
    );

    let mut sink = MsdStream::new(
        &opts(true, LagGrid::All, "xyz"),
        &StreamOptions::default(),
        &bundled(),
    );
    let got = stream_trajectory(&bundled(), &ro, &mut sink).unwrap();
    let s = sink.finish(&engine, got.dt_ps, None).unwrap();
    let e = diffusion::fit(&s.msd, Some(7.3)).unwrap_err().to_string();
    assert!(e.contains("fit start") && e.contains("streamed"), "{e}");

    let mut sink = MsdStream::new(
        &opts(true, LagGrid::All, "xyz"),
        &StreamOptions::default(),
        &bundled(),
    );
    let short = read_opts(FrameRange {
        start: 0,
        stop: Some(2),
        every: 1,
    });
    let got = stream_trajectory(&bundled(), &short, &mut sink).unwrap();
    let e = sink
        .finish(&engine, got.dt_ps, None)
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("2 frames") && e.contains("at least 3"), "{e}");
}

/// A LAMMPS dump (the text dump LAMMPS wrote, `data/lammps`) is read as a stream, in
/// chunks of any size, with the in-memory MSD; its stride comes from TIMESTEP.
#[test]
fn a_streamed_lammps_dump_gives_the_in_memory_msd() {
    use superion::io::lammps;
    let engine = Engine::cpu();
    let path = root().join("data/lammps/walk.lammpstrj.gz");
    let ro = TrajReadOptions {
        time: TimeStep {
            timestep_fs: Some(1.0),
            stride: None,
        },
        type_map: lammps::parse_type_map("1=Li,2=S").unwrap(),
        ..Default::default()
    };
    let traj = read_trajectory(&path, &ro).unwrap();
    let o = opts(true, LagGrid::All, "xyz");
    let m = msd(&engine, &traj, &o).unwrap();
    let mut sink = MsdStream::new(&o, &StreamOptions::default(), &path);
    let got = stream_trajectory(&path, &ro, &mut sink).unwrap();
    assert!(got.streamed && got.frames == 61, "{got:?}");
    assert_eq!(got.dt_ps, 0.02);
    same_msd(
        &sink.finish(&engine, got.dt_ps, None).unwrap().msd,
        &m,
        None,
        "lammps",
    );
    for chunk_lines in [1usize, 7, 69, 70, 1000] {
        let mut sink = MsdStream::new(&o, &StreamOptions::default(), &path);
        let end = lammps::stream(
            &path,
            &ro.type_map,
            false,
            FrameRange::default(),
            chunk_lines,
            &mut sink,
        )
        .unwrap();
        assert_eq!(end.steps.len(), 61);
        let s = sink.finish(&engine, 0.02, None).unwrap();
        same_msd(
            &s.msd,
            &m,
            None,
            &format!("lammps, chunks of {chunk_lines} lines"),
        );
    }
    // Without the MD step the error comes before the file is read.
    let mut sink = MsdStream::new(&o, &StreamOptions::default(), &path);
    let e = stream_trajectory(
        &path,
        &TrajReadOptions {
            time: TimeStep::default(),
            ..ro.clone()
        },
        &mut sink,
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("timestep_fs"), "{e}");
}

/// The streamed VDOS is the in-memory one, bit for bit: from velocities in the file
/// (ASE's momenta in walk.extxyz) and from finite differences of positions (the
/// bundled XDATCAR), under budgets from one atom per window to all of them. (The
/// in-memory sum over atoms was a parallel reduction whose last digits changed from
/// run to run.)
#[test]
fn a_streamed_vdos_is_the_in_memory_vdos() {
    use superion::report::vdos::{vdos, vdos_streamed};
    let engine = Engine::cpu();
    let xyz = TrajReadOptions {
        time: TimeStep {
            timestep_fs: Some(1.0),
            stride: Some(10),
        },
        ..Default::default()
    };
    for (path, ro, species) in [
        (root().join("data/ase/walk.extxyz"), xyz, "Li"),
        (bundled(), read_opts(FrameRange::default()), "Li"),
    ] {
        let traj = read_trajectory(&path, &ro).unwrap();
        let m = vdos(&engine, &traj, &path, species).unwrap();
        for budget in [1u64, 60_000, 1 << 30] {
            let so = StreamOptions {
                memory_bytes: budget,
                scratch_dir: None,
            };
            let (s, got, info) = vdos_streamed(&path, &ro, species, &so).unwrap();
            let what = format!("{} budget {budget}", path.display());
            assert!(got.streamed, "{what}");
            if budget == 1 {
                assert_eq!(info.window_atoms, 1, "{what}");
            }
            assert_eq!(s.notes, m.notes, "{what}");
            assert_eq!(s.withheld, m.withheld, "{what}");
            assert_eq!(s.dos.freqs_thz, m.dos.freqs_thz, "{what}");
            // Bit for bit: both sum the per-atom VACFs in atom order.
            assert_eq!(s.dos.total, m.dos.total, "{what}");
            for (p, q) in s.dos.projections.iter().zip(&m.dos.projections) {
                assert_eq!((&p.element, &p.sites), (&q.element, &q.sites), "{what}");
                assert_eq!(p.density, q.density, "{what}");
            }
            for ((k1, v1), (k2, v2)) in s.descriptors.columns.iter().zip(&m.descriptors.columns) {
                assert_eq!(k1, k2);
                if let (
                    superion::phonon::descriptors::Value::Num(a),
                    superion::phonon::descriptors::Value::Num(b),
                ) = (v1, v2)
                {
                    // Both withheld (NaN: a spectrum cut at Nyquist) or the same bits.
                    assert!(
                        (a.is_nan() && b.is_nan()) || a.to_bits() == b.to_bits(),
                        "{what}: {k1} {a} vs {b}"
                    );
                }
            }
        }
    }
    let e = vdos_streamed(
        &bundled(),
        &read_opts(FrameRange::default()),
        "Na",
        &StreamOptions::default(),
    )
    .err()
    .unwrap()
    .to_string();
    assert!(e.contains("no Na atoms"), "{e}");
}

/// A DCD (LAMMPS's, `data/lammps`) is read as a stream, a frame at a time, with the
/// in-memory MSD; its stride comes from the header.
#[test]
fn a_streamed_dcd_gives_the_in_memory_msd() {
    let engine = Engine::cpu();
    let path = root().join("data/lammps/walk.dcd");
    for frames in [
        FrameRange::default(),
        FrameRange {
            start: 3,
            stop: Some(58),
            every: 2,
        },
    ] {
        let ro = TrajReadOptions {
            time: TimeStep {
                timestep_fs: Some(1.0),
                stride: None,
            },
            topology: Some(root().join("data/lammps/walk.data")),
            frames,
            ..Default::default()
        };
        let traj = read_trajectory(&path, &ro).unwrap();
        let o = opts(true, LagGrid::All, "xyz");
        let m = msd(&engine, &traj, &o).unwrap();
        let mut sink = MsdStream::new(&o, &StreamOptions::default(), &path);
        let got = stream_trajectory(&path, &ro, &mut sink).unwrap();
        assert!(got.streamed && got.frames == traj.n_frames(), "{got:?}");
        assert_eq!(got.dt_ps, traj.dt_ps.unwrap());
        assert_eq!(got.notes, traj.notes);
        same_msd(
            &sink.finish(&engine, got.dt_ps, None).unwrap().msd,
            &m,
            None,
            "dcd",
        );
    }
}

/// The site-based hops of a streamed trajectory against the in-memory analysis: the
/// same sites, radii, events, visits, jump types and correlations, the same tracer D
/// bit for bit; the path figures' frames are the in-memory ones at the stride kept.
fn same_hops(
    s: &superion::traj::hops::Hops,
    m: &superion::traj::hops::Hops,
    file: &Path,
    what: &str,
) {
    use superion::report::hops::summary;
    assert_eq!(s.n_frames, m.n_frames, "{what}");
    assert_eq!(s.events, m.events, "{what}");
    assert!(!m.events.is_empty(), "{what}: no events to compare");
    assert_eq!(s.hop_midpoints_a, m.hop_midpoints_a, "{what}");
    let json = |h: &superion::traj::hops::Hops| {
        let mut v = serde_json::to_value(summary(h, file, 0.5, 5.0)).unwrap();
        let tracer = match v["jumps"].as_object_mut() {
            // null (NaN) when the tracer MSD is not diffusive.
            Some(j) => ["d_tracer_cm2_s", "d_tracer_err_cm2_s", "tracer_over_jump"]
                .map(|k| j.remove(k).unwrap().as_f64().unwrap_or(f64::NAN)),
            None => [1.0; 3],
        };
        v.as_object_mut().unwrap().remove("notes");
        (v, tracer)
    };
    let ((sv, st), (mv, mt)) = (json(s), json(m));
    assert_eq!(sv, mv, "{what}");
    for (a, b) in st.iter().zip(&mt) {
        assert!(
            (a.is_nan() && b.is_nan()) || a.to_bits() == b.to_bits(),
            "{what}: tracer {a} vs {b}"
        );
    }
    let sites_json = |h: &superion::traj::hops::Hops| serde_json::to_value(&h.sites).unwrap();
    assert_eq!(sites_json(s), sites_json(m), "{what}");
    let stride = s.frame_stride;
    assert_eq!(
        s.positions.shape()[0],
        m.n_frames.div_ceil(stride),
        "{what}"
    );
    for (k, f) in (0..m.n_frames).step_by(stride).enumerate() {
        assert_eq!(
            s.positions.index_axis(ndarray::Axis(0), k),
            m.positions.index_axis(ndarray::Axis(0), f),
            "{what}: frame {f}"
        );
    }
    for (a, b) in s.ions.iter().zip(&m.ions) {
        assert_eq!(
            (a.ion, a.k, &a.centres, &a.sites),
            (b.ion, b.k, &b.centres, &b.sites),
            "{what}"
        );
        let thinned: Vec<u32> = b.labels.iter().step_by(stride).copied().collect();
        assert_eq!(a.labels, thinned, "{what}: ion {}", a.ion);
    }
}

/// The bundled XDATCAR streamed in chunks of any size under budgets from one atom per
/// window to all of them: discovered sites (plain and symmetrised), known sites with
/// a minimum residence, and a frame range.
#[test]
fn streamed_hops_are_the_in_memory_hops() {
    use superion::traj::hops::{HopOptions, HopStream, Mode, detect};
    let engine = Engine::cpu();
    let dir = common::tempdir("stream-hops");
    let plain = HopOptions::new(Mode::Sites);
    let mut sym = HopOptions::new(Mode::Sites);
    sym.sites.symmetrise = true;
    let mut known = HopOptions::new(Mode::Sites);
    known.sites.known =
        Some(superion::io::sites::read(&root().join("data/sites/argyrodite.cif")).unwrap());
    known.sites.supercell = [2, 2, 2];
    known.sites.min_residence_frames = 3;
    let range = FrameRange {
        start: 7,
        stop: Some(260),
        every: 2,
    };
    for (opts, frames, name) in [
        (&plain, FrameRange::default(), "discovered"),
        (&sym, FrameRange::default(), "symmetrised"),
        (&known, range, "known, a frame range"),
    ] {
        let ro = read_opts(frames);
        let traj = read_trajectory(&bundled(), &ro).unwrap();
        let m = detect(&engine, &traj, opts).unwrap();
        for (chunk_lines, budget) in [(53 * 7 + 3, 1u64), (1 << 20, 1 << 30)] {
            let what = format!("{name}: chunks {chunk_lines} budget {budget}");
            let so = StreamOptions {
                memory_bytes: budget,
                scratch_dir: Some(dir.to_path_buf()),
            };
            let mut sink = HopStream::new(opts, &so, &bundled());
            xdatcar::stream(
                &bundled(),
                XdatcarOptions {
                    frames,
                    chunk_lines,
                    ..Default::default()
                },
                &mut sink,
            )
            .unwrap();
            let (s, info) = sink.finish(&engine, traj.dt_ps.unwrap()).unwrap();
            same_hops(&s, &m, &bundled(), &what);
            if budget == 1 {
                // One atom per window; the figures keep one frame.
                assert_eq!((info.window_atoms, info.windows), (1, 192), "{what}");
                assert_eq!(s.frame_stride, m.n_frames, "{what}");
            } else {
                assert_eq!((info.windows, s.frame_stride), (1, 1), "{what}");
            }
        }
        assert_eq!(std::fs::read_dir(&*dir).unwrap().count(), 0);
    }
}

/// On the GPU engine (the frames unwrapped on the device as they stream), the streamed
/// site-based hops are the in-memory ones on the same engine.
#[test]
fn streamed_hops_on_the_gpu_are_the_in_memory_hops() {
    use superion::traj::hops::{HopOptions, HopStream, Mode, detect};
    let Some(gpu) = common::gpu() else { return };
    let opts = HopOptions::new(Mode::Sites);
    let ro = read_opts(FrameRange::default());
    let traj = read_trajectory(&bundled(), &ro).unwrap();
    let m = detect(&gpu, &traj, &opts).unwrap();
    let mut sink = HopStream::new(&opts, &StreamOptions::default(), &bundled()).on(&gpu);
    xdatcar::stream(
        &bundled(),
        XdatcarOptions {
            chunk_lines: 53 * 7 + 3,
            ..Default::default()
        },
        &mut sink,
    )
    .unwrap();
    let (s, _) = sink.finish(&gpu, traj.dt_ps.unwrap()).unwrap();
    same_hops(&s, &m, &bundled(), "gpu");
}

/// The per-ion clustering modes streamed: the in-memory clusters, sites and events,
/// under budgets from one atom per window to all of them (IonDiff mode clusters every
/// atom of every species).
#[test]
fn streamed_clustering_modes_are_the_in_memory_hops() {
    use superion::traj::hops::{HopOptions, HopStream, Mode, detect};
    let engine = Engine::cpu();
    let ro = read_opts(FrameRange {
        start: 0,
        stop: Some(60),
        every: 1,
    });
    let traj = read_trajectory(&bundled(), &ro).unwrap();
    for (mode, species) in [
        (Mode::Kmeans, vec!["Li".to_string()]),
        (Mode::Iondiff, vec![]),
    ] {
        let mut opts = HopOptions::new(mode);
        opts.species = species;
        let m = detect(&engine, &traj, &opts).unwrap();
        for budget in [1u64, 1 << 30] {
            let what = format!("{mode:?} budget {budget}");
            let so = StreamOptions {
                memory_bytes: budget,
                scratch_dir: None,
            };
            let mut sink = HopStream::new(&opts, &so, &bundled());
            xdatcar::stream(
                &bundled(),
                XdatcarOptions {
                    frames: ro.frames,
                    chunk_lines: 53 * 7 + 3,
                    ..Default::default()
                },
                &mut sink,
            )
            .unwrap();
            let (s, info) = sink.finish(&engine, traj.dt_ps.unwrap()).unwrap();
            assert_eq!(info.windows > 1, budget == 1, "{what}");
            same_hops(&s, &m, &bundled(), &what);
            for (a, b) in s.ions.iter().zip(&m.ions) {
                assert_eq!(
                    (&a.silhouettes, a.radius_a),
                    (&b.silhouettes, b.radius_a),
                    "{what}"
                );
            }
        }
    }
}

/// Hand-fed blocks of 1 to 40 frames with a fluctuating (NPT) triclinic cell give the
/// in-memory hops.
#[test]
fn streamed_hops_follow_a_fluctuating_cell() {
    use superion::traj::hops::{HopOptions, HopStream, Mode, detect};
    let engine = Engine::cpu();
    let base = read_trajectory(&bundled(), &read_opts(FrameRange::default())).unwrap();
    let t = 120;
    let c0 = base.cell_rows(0);
    let cells = ndarray::Array3::from_shape_fn((t, 3, 3), |(f, i, j)| {
        let s = 1.0 + 0.01 * (f as f64 * 0.3).sin();
        let shear = if i == 1 && j == 0 { 0.4 } else { 0.0 };
        ((c0[i][j] + shear) * s) as f32
    });
    let traj = Trajectory {
        frac: base.frac.slice(ndarray::s![..t, .., ..]).to_owned(),
        cells,
        ..base.clone()
    };
    let opts = HopOptions::new(Mode::Sites);
    let m = detect(&engine, &traj, &opts).unwrap();
    for block in [1usize, 7, 40] {
        let what = format!("NPT block {block}");
        let so = StreamOptions {
            memory_bytes: 300_000,
            scratch_dir: None,
        };
        let mut sink = HopStream::new(&opts, &so, &bundled());
        sink.begin(&traj.species).unwrap();
        for f0 in (0..t).step_by(block) {
            let f1 = (f0 + block).min(t);
            let frac = traj.frac.slice(ndarray::s![f0..f1, .., ..]).to_owned();
            let cells: Vec<[[f64; 3]; 3]> = (f0..f1).map(|f| traj.cell_rows(f)).collect();
            sink.frames(frac.as_slice().unwrap(), &cells, None).unwrap();
        }
        let (s, info) = sink.finish(&engine, traj.dt_ps.unwrap()).unwrap();
        assert!(info.windows > 1, "{what}: several windows");
        same_hops(&s, &m, &bundled(), &what);
    }
}

/// `traj correlations` over a list, each trajectory streamed: the pooled correlations
/// of the in-memory run.
#[test]
fn streamed_correlations_pool_the_in_memory_hops() {
    use superion::traj::hops::{HopOptions, Mode};
    let dir = common::tempdir("stream-corr");
    let list = dir.join("paths");
    let file = bundled();
    std::fs::write(
        &list,
        format!(
            "{} Li6PS5Cl 500\n{} Li6PS5Cl 600\n",
            file.display(),
            file.display()
        ),
    )
    .unwrap();
    let entries = superion::io::iondiff::read_paths(&list).unwrap();
    let ro = read_opts(FrameRange::default());
    let opts = HopOptions::new(Mode::Sites);
    let run = |memory: Option<u64>, scratch: Option<&std::path::Path>| {
        superion::report::correlations::correlations(
            &Engine::cpu(),
            &list,
            &entries,
            &ro,
            &opts,
            20,
            0.5,
            5.0,
            memory,
            scratch,
        )
        .unwrap()
        .json
    };
    // Streamed (a budget and a scratch folder given) and in memory (the small file,
    // automatic): the same pooled correlations.
    assert_eq!(run(Some(1 << 16), Some(&dir)), run(None, None));
}

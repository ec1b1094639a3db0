//! Hop detection: planted hops in a synthetic trajectory (both modes, both backends),
//! flickering, a change at frame 0, short trajectories, outputs and IonDiff parity on
//! the real Li6PS5Cl trajectory (when ../shared/data is present).

mod common;

use std::path::PathBuf;

use ndarray::Array3;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use superion::Engine;
use superion::io::hops::read_diffusion;
use superion::traj::Trajectory;
use superion::traj::correlations::{collective, temporal};
use superion::traj::hops::{HopOptions, Mode, detect};

const CELL: f64 = 12.0;
const T: usize = 120;

/// Li sites on a 2 x 2 x 2 grid (6 Å apart) plus, for each, a neighbour 3 Å along x.
fn site(i: usize) -> [f64; 3] {
    [
        1.5 + 6.0 * (i & 1) as f64,
        1.5 + 6.0 * ((i >> 1) & 1) as f64,
        1.5 + 6.0 * ((i >> 2) & 1) as f64,
    ]
}

fn neighbour(i: usize) -> [f64; 3] {
    let s = site(i);
    [s[0] + 3.0, s[1], s[2]]
}

/// Where each Li is at frame f (before vibration): a per-ion script.
fn scripted(ion: usize, f: usize) -> [f64; 3] {
    let (a, b) = (site(ion), neighbour(ion));
    let lerp = |t: f64| [a[0] + t * (b[0] - a[0]), a[1], a[2]];
    match ion {
        // One clean hop A -> B through frames 50..=52.
        0 => lerp(((f as f64 - 50.0) / 3.0).clamp(0.0, 1.0)),
        // A hop right at the start: frame 0 at A, B from frame 1 (IonDiff crashes).
        1 => {
            if f == 0 {
                a
            } else {
                b
            }
        }
        // A -> B at 40, back to A at 80: a back-hop.
        2 => lerp(if f < 40 {
            0.0
        } else if f < 42 {
            0.5
        } else if f < 80 {
            1.0
        } else if f < 82 {
            0.5
        } else {
            0.0
        }),
        // Flickering between A and B in two-frame runs (60..70), then B for good.
        3 => {
            if f < 60 {
                a
            } else if f < 70 {
                if ((f - 60) / 2).is_multiple_of(2) {
                    b
                } else {
                    a
                }
            } else {
                b
            }
        }
        _ => a,
    }
}

fn planted(seed: u64) -> Trajectory {
    let n_li = 8;
    let n_s = 4;
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut gauss = move || {
        let (u, v): (f64, f64) = (rng.random(), rng.random());
        (-2.0 * (1.0 - u).ln()).sqrt() * (std::f64::consts::TAU * v).cos()
    };
    let mut frac = Array3::<f32>::zeros((T, n_li + n_s, 3));
    for f in 0..T {
        for i in 0..n_li + n_s {
            let p = if i < n_li {
                scripted(i, f)
            } else {
                [4.5 + 6.0 * (i - n_li) as f64 * 0.5, 4.5, 10.5]
            };
            for x in 0..3 {
                let v = (p[x] + 0.12 * gauss()) / CELL;
                frac[[f, i, x]] = (v - v.floor()) as f32;
            }
        }
    }
    common::li_s_cubic(frac, CELL, n_li, n_s)
}

#[test]
fn default_mode_finds_the_planted_hops_and_nothing_else() {
    let traj = planted(1);
    let engines: Vec<Engine> = std::iter::once(Engine::cpu())
        .chain(common::gpu())
        .collect();
    let mut all = Vec::new();
    for e in &engines {
        let h = detect(e, &traj, &HopOptions::new(Mode::Kmeans)).unwrap();
        assert_eq!(h.ions.len(), 8, "default mode analyses only Li");
        let ev: Vec<(usize, usize, usize)> = h
            .events
            .iter()
            .map(|e| (e.ion, e.start_frame, e.end_frame.unwrap()))
            .collect();
        // Ion 0 hops once across 50..52; ion 1 at the start; ion 2 out and back; ion 3
        // flickers, then moves once: one hop, not one per flicker.
        let ions: Vec<usize> = ev.iter().map(|e| e.0).collect();
        assert_eq!(ions, vec![0, 1, 2, 2, 3], "{ev:?}");
        let e0 = &h.events[0];
        assert!(
            e0.start_frame <= 50 && e0.end_frame.unwrap() >= 52 && e0.end_frame.unwrap() <= 55,
            "{ev:?}"
        );
        assert!(
            (e0.length_a - 3.0).abs() < 0.1,
            "hop length {}",
            e0.length_a
        );
        assert!(e0.vector_a[0] > 2.9 && e0.vector_a[1].abs() < 0.1);
        assert_eq!(
            h.events[1].start_frame, 0,
            "a hop at the first frame is kept"
        );
        assert!(
            !h.events[2].back_hop && h.events[3].back_hop,
            "A -> B -> A: the second is a back-hop"
        );
        assert_eq!(h.events[2].from_site, h.events[3].to_site);
        assert_ne!(h.events[2].from_site, h.events[2].to_site);
        // No overlapping events of one ion.
        for w in h.events.windows(2) {
            if w[0].ion == w[1].ion {
                assert!(w[0].end_frame.unwrap() <= w[1].start_frame);
            }
        }
        let d = &h.descriptors()[0];
        assert_eq!(
            (d.species.as_str(), d.events, d.hopping_ions, d.back_hops),
            ("Li", 5, 4, 1)
        );
        assert!((d.fraction_hopping - 0.5).abs() < 1e-12);
        assert!((d.jump_rate_per_ion_ps - 5.0 / 8.0 / 11.9).abs() < 1e-9);
        all.push(h.events);
    }
    if all.len() == 2 {
        // Same events; vectors agree to the unwrapping's f32 rounding.
        assert_eq!(all[0].len(), all[1].len());
        for (a, b) in all[0].iter().zip(&all[1]) {
            assert_eq!(
                (
                    a.ion,
                    a.start_frame,
                    a.end_frame,
                    a.from_site,
                    a.to_site,
                    a.back_hop
                ),
                (
                    b.ion,
                    b.start_frame,
                    b.end_frame,
                    b.from_site,
                    b.to_site,
                    b.back_hop
                ),
                "GPU and CPU give the same events"
            );
            assert!((0..3).all(|x| (a.vector_a[x] - b.vector_a[x]).abs() < 1e-4));
        }
    }
}

#[test]
fn iondiff_mode_follows_iondiffs_rules() {
    let traj = planted(2);
    let h = detect(&Engine::cpu(), &traj, &HopOptions::new(Mode::Iondiff)).unwrap();
    assert_eq!(h.ions.len(), 12, "IonDiff analyses every atom");
    // Framework atoms only vibrate.
    assert!(h.ions[8..].iter().all(|s| s.k == 1));
    // The clean hop spans its transit frames (50..=52).
    let e0: Vec<_> = h.events.iter().filter(|e| e.ion == 0).collect();
    assert_eq!(e0.len(), 1, "{e0:?}");
    assert!(
        e0[0].start_frame <= 50 && e0[0].end_frame.is_none_or(|e| e >= 52),
        "{e0:?}"
    );
    // The change at frame 0 does not crash and starts at 0.
    assert!(h.events.iter().any(|e| e.ion == 1 && e.start_frame == 0));
    // No duplicates.
    for (i, a) in h.events.iter().enumerate() {
        for b in &h.events[i + 1..] {
            assert!(
                !(a.ion == b.ion && a.start_frame == b.start_frame && a.end_frame == b.end_frame)
            );
        }
    }
}

#[test]
fn short_trajectories_shrink_the_k_range_or_are_refused() {
    let mut traj = planted(3);
    traj.frac = traj.frac.slice(ndarray::s![45..52, .., ..]).to_owned();
    let h = detect(&Engine::cpu(), &traj, &HopOptions::new(Mode::Iondiff)).unwrap();
    assert_eq!(h.k_range, (2, 6));
    assert!(h.notes[0].contains("cut to 2..6"), "{:?}", h.notes);
    traj.frac = traj.frac.slice(ndarray::s![..2, .., ..]).to_owned();
    let e = detect(&Engine::cpu(), &traj, &HopOptions::new(Mode::Kmeans)).unwrap_err();
    assert!(e.to_string().contains("at least 3 frames"), "{e}");
    let mut opts = HopOptions::new(Mode::Kmeans);
    opts.species = vec!["Na".into()];
    let e = detect(&Engine::cpu(), &planted(3), &opts).unwrap_err();
    assert!(e.to_string().contains("no Na atoms"), "{e}");
}

#[test]
fn correlations_group_simultaneous_nearby_hops() {
    // Ions 0 and 4 hop at the same time 6 Å apart (site 4 is 6 Å above site 0 in z).
    let mut traj = planted(4);
    let t0 = planted(5);
    for f in 0..T {
        for x in 0..3 {
            // Ion 4 copies ion 0's script, shifted by +6 Å in z.
            let v = t0.frac[[f, 0, x]] as f64 + if x == 2 { 0.5 } else { 0.0 };
            traj.frac[[f, 4, x]] = (v - v.floor()) as f32;
        }
    }
    let h = detect(&Engine::cpu(), &traj, &HopOptions::new(Mode::Kmeans)).unwrap();
    let i0 = h.events.iter().position(|e| e.ion == 0).unwrap();
    let i4 = h.events.iter().position(|e| e.ion == 4).unwrap();
    let c = collective(&h, 0.5, 7.0);
    assert!(
        c.groups.iter().any(|g| g.contains(&i0) && g.contains(&i4)),
        "{:?}",
        c.groups
    );
    assert_eq!(
        c.counts[1], 1,
        "one two-ion collective event: {:?}",
        c.counts
    );
    let c = collective(&h, 0.5, 5.0);
    assert!(
        !c.groups.iter().any(|g| g.contains(&i0) && g.contains(&i4)),
        "6 Å apart is beyond Δr = 5 Å"
    );
    let t = temporal(&h.events, h.n_frames, Mode::Kmeans, 0);
    assert!(t.bodies[i0] >= 2 && t.bodies[i4] >= 2, "{:?}", t.bodies);
    // Seeded: the same threshold every time.
    assert_eq!(
        t.threshold,
        temporal(&h.events, h.n_frames, Mode::Kmeans, 0).threshold
    );
}

fn tempdir(tag: &str) -> common::TestDir {
    common::tempdir(&format!("hops-{tag}"))
}

#[test]
fn outputs_are_written_for_one_event_and_for_none() {
    let dir = tempdir("out");
    // One event: only ion 0 hops (the others stay put).
    let mut traj = planted(6);
    for f in 0..T {
        for i in 1..4 {
            for x in 0..3 {
                traj.frac[[f, i, x]] = traj.frac[[0, i, x]];
            }
        }
    }
    let h = detect(&Engine::cpu(), &traj, &HopOptions::new(Mode::Kmeans)).unwrap();
    assert_eq!(h.events.len(), 1);
    let s = superion::report::hops::summary(&h, std::path::Path::new("planted"), 0.5, 5.0);
    let written = superion::report::hops::write_outputs(&h, &dir, &s).unwrap();
    assert!(written.iter().any(|w| w.starts_with("paths/")));
    let csv = std::fs::read_to_string(dir.join("events.csv")).unwrap();
    assert!(csv.starts_with(
        "ion,species,start_frame,end_frame,start_ps,end_ps,from_site,to_site,dx_a,dy_a,dz_a,length_a,duration_ps\n0,Li,"
    ), "{csv}");
    assert_eq!(csv.lines().count(), 2);
    let back = read_diffusion(&dir.join("DIFFUSION")).unwrap();
    assert_eq!(
        back,
        vec![(0, h.events[0].start_frame, h.events[0].end_frame)]
    );
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("descriptors.json")).unwrap())
            .unwrap();
    assert_eq!(json["species"][0]["events"], 1);
    assert!(json["species"][0]["hop_length_a"]["mean"].as_f64().unwrap() > 2.9);
    for f in [
        "sites.csv",
        "hops.svg",
        "correlations.svg",
        "paths/ion_0.svg",
    ] {
        assert!(dir.join(f).is_file(), "{f}");
    }
    // No events at all: every file still written, tables with their header only.
    for f in 0..T {
        for x in 0..3 {
            traj.frac[[f, 0, x]] = traj.frac[[0, 0, x]];
        }
    }
    let h = detect(&Engine::cpu(), &traj, &HopOptions::new(Mode::Kmeans)).unwrap();
    assert!(h.events.is_empty());
    let s = superion::report::hops::summary(&h, std::path::Path::new("planted"), 0.5, 5.0);
    let empty = dir.join("empty");
    superion::report::hops::write_outputs(&h, &empty, &s).unwrap();
    assert_eq!(
        std::fs::read_to_string(empty.join("events.csv"))
            .unwrap()
            .lines()
            .count(),
        1
    );
    assert!(read_diffusion(&empty.join("DIFFUSION")).unwrap().is_empty());
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(empty.join("descriptors.json")).unwrap())
            .unwrap();
    assert_eq!(json["species"][0]["events"], 0);
    assert!(
        json["species"][0]["hop_length_a"]["mean"].is_null(),
        "no NaN in the JSON"
    );
    // The same folder reused for the run without events: the earlier run's path
    // figure is gone (what is there belongs to this run), a user's file stays.
    std::fs::write(dir.join("paths/my_notes.txt"), "mine").unwrap();
    superion::report::hops::write_outputs(&h, &dir, &s).unwrap();
    assert!(!dir.join("paths/ion_0.svg").exists());
    assert!(dir.join("paths/my_notes.txt").is_file());
}

#[test]
fn malformed_diffusion_files_name_the_line() {
    let dir = tempdir("bad");
    let p = dir.join("DIFFUSION");
    std::fs::write(&p, "# header\n3 10 20\n4 x 7\n").unwrap();
    let e = read_diffusion(&p).unwrap_err().to_string();
    assert!(
        e.contains("DIFFUSION:3") && e.contains("three numbers"),
        "{e}"
    );
    std::fs::write(&p, "2.000000000000000000e+00 3.4e+01 -1.0e+00\n").unwrap();
    assert_eq!(read_diffusion(&p).unwrap(), vec![(2, 34, None)]);
}

/// IonDiff 1.6 with its defaults on this file (benches/peers/iondiff.sh): 10 events on
/// 9 Li ions, as (atom, start, end).
const IONDIFF_EVENTS: [(usize, usize, usize); 10] = [
    (2, 34, 49),
    (11, 26, 66),
    (64, 58, 79),
    (83, 69, 94),
    (93, 73, 86),
    (99, 54, 68),
    (125, 82, 87),
    (125, 121, 127),
    (128, 96, 125),
    (189, 49, 112),
];

#[test]
fn iondiff_mode_reproduces_iondiff_on_li6ps5cl() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("data/Li6PS5Cl.XDATCAR.gz");
    let opts = superion::io::traj_input::TrajReadOptions {
        time: superion::traj::TimeStep {
            timestep_fs: Some(2.0),
            stride: Some(50),
        },
        ..Default::default()
    };
    let traj = superion::io::traj_input::read_trajectory(&path, &opts).unwrap();
    let h = detect(&Engine::cpu(), &traj, &HopOptions::new(Mode::Iondiff)).unwrap();
    let got: Vec<(usize, usize, usize)> = h
        .events
        .iter()
        .map(|e| (e.ion, e.start_frame, e.end_frame.unwrap()))
        .collect();
    assert_eq!(got, IONDIFF_EVENTS);
    assert!(h.events.iter().all(|e| e.species == "Li"));
    // The default mode finds hops on the same nine ions, each inside IonDiff's window.
    let d = detect(&Engine::cpu(), &traj, &HopOptions::new(Mode::Kmeans)).unwrap();
    for e in &d.events {
        assert!(
            IONDIFF_EVENTS.iter().any(|&(i, a, b)| i == e.ion
                && e.start_frame >= a.saturating_sub(5)
                && e.end_frame.unwrap() <= b + 5),
            "{e:?}"
        );
    }
}

fn superion(args: &[&str]) -> std::process::Output {
    common::no_panic(
        std::process::Command::new(env!("CARGO_BIN_EXE_superion"))
            .args(args)
            .env("SUPERION_BACKEND", "cpu")
            .output()
            .unwrap(),
    )
}

#[test]
fn cli_hops_and_correlations_on_the_bundled_trajectory() {
    let dir = tempdir("cli");
    let file = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("data/Li6PS5Cl.XDATCAR.gz");
    let file = file.to_str().unwrap();
    let out = dir.join("iondiff");
    let o = superion(&[
        "traj",
        "hops",
        file,
        "--timestep-fs",
        "2",
        "--stride",
        "50",
        "--mode",
        "iondiff",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(
        stdout.contains("416 ions analysed (iondiff mode), 10 hop events"),
        "{stdout}"
    );
    let d = read_diffusion(&out.join("DIFFUSION")).unwrap();
    let got: Vec<(usize, usize, usize)> = d
        .iter()
        .map(|&(p, a, b)| (p, a, b.expect("an end frame")))
        .collect();
    assert_eq!(
        got, IONDIFF_EVENTS,
        "superion's iondiff mode against IonDiff 1.6's events"
    );
    // A list of trajectories (IonDiff's DIFFUSION_paths layout), relative paths from
    // the list's folder.
    std::fs::copy(file, dir.join("a.XDATCAR.gz")).unwrap();
    std::fs::write(
        dir.join("paths"),
        "# path material temperature\na.XDATCAR.gz Li6PS5Cl 500K\na.XDATCAR.gz Li6PS5Cl-again 500K\n",
    )
    .unwrap();
    let cdir = dir.join("corr");
    let o = superion(&[
        "traj",
        "correlations",
        dir.join("paths").to_str().unwrap(),
        "--timestep-fs",
        "2",
        "--stride",
        "50",
        "--out",
        cdir.to_str().unwrap(),
        "--json",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["trajectories"].as_array().unwrap().len(), 2);
    // The default, site-based mode: every Li jump, the same in both copies.
    // (854 jumps, 1.6 % of them shorter than 1.5 Å.)
    assert!(v["trajectories"][0]["events"].as_u64().unwrap() > 400);
    assert_eq!(
        v["trajectories"][0]["events"],
        v["trajectories"][1]["events"]
    );
    // The same trajectory twice: identical, seeded results.
    assert_eq!(
        v["trajectories"][0]["threshold"],
        v["trajectories"][1]["threshold"]
    );
    for f in ["correlations.csv", "fit.json", "correlations.svg"] {
        assert!(cdir.join(f).is_file(), "{f}");
    }
    // A malformed list names its line.
    std::fs::write(dir.join("paths"), "a.XDATCAR.gz Li6PS5Cl\n").unwrap();
    let o = superion(&["traj", "correlations", dir.join("paths").to_str().unwrap()]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        common::failed_cleanly(&o)
            && err.contains("paths:1")
            && err.contains("PATH MATERIAL TEMPERATURE"),
        "{err}"
    );
}

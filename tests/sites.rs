//! Site-based jumps (the default hop mode): planted jumps on a known site lattice
//! (known and discovered sites, exact events, nothing from vibration), the bundled
//! Li6PS5Cl trajectory (jumps account for the tracer D; GEMDAT's counts with its
//! argyrodite CIF), and bad input.

use std::path::{Path, PathBuf};

use ndarray::Array3;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use superion::Engine;
use superion::traj::Trajectory;
use superion::traj::hops::{HopOptions, Mode, detect};

const A: f64 = 2.5; // site spacing (Å)
const CELL: f64 = 10.0; // 4 x 4 x 4 sites
const T: usize = 200;
const N_LI: usize = 24;

fn jump_frame(i: usize) -> usize {
    40 + 5 * i
}

/// Ion i's site (x index 0 or 2, so that x + 1 is free for its jump).
fn home(i: usize) -> [f64; 3] {
    let slot = i; // 0..32
    [
        A * (2 * (slot / 16)) as f64 + 1.25,
        A * ((slot / 4) % 4) as f64 + 1.25,
        A * (slot % 4) as f64 + 1.25,
    ]
}

/// Ions 0..16 jump +x at jump_frame(i) (one frame half-way); ions 0..4 jump back 60
/// frames later; ions 16..24 only vibrate.
fn scripted(i: usize, f: usize) -> [f64; 3] {
    let a = home(i);
    let at = |s: f64| [a[0] + s * A, a[1], a[2]];
    if i >= 16 {
        return a;
    }
    let j = jump_frame(i);
    let back = j + 60;
    let s = if f < j {
        0.0
    } else if f == j {
        0.5
    } else if i < 4 && f == back {
        0.5
    } else if i < 4 && f > back {
        0.0
    } else {
        1.0
    };
    at(s)
}

fn planted(seed: u64, noise: f64) -> Trajectory {
    let n_s = 8;
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut gauss = move || {
        let (u, v): (f64, f64) = (rng.random(), rng.random());
        (-2.0 * (1.0 - u).ln()).sqrt() * (std::f64::consts::TAU * v).cos()
    };
    let mut frac = Array3::<f32>::zeros((T, N_LI + n_s, 3));
    for f in 0..T {
        for i in 0..N_LI + n_s {
            let p = if i < N_LI {
                scripted(i, f)
            } else {
                // Framework atoms between the Li sites.
                let k = i - N_LI;
                [
                    5.0 * (k & 1) as f64,
                    5.0 * ((k >> 1) & 1) as f64,
                    5.0 * ((k >> 2) & 1) as f64,
                ]
            };
            for x in 0..3 {
                let v = (p[x] + noise * gauss()) / CELL;
                frac[[f, i, x]] = (v - v.floor()) as f32;
            }
        }
    }
    common::li_s_cubic(frac, CELL, N_LI, n_s)
}

fn tempdir(name: &str) -> common::TestDir {
    common::tempdir(&format!("sites-{name}"))
}

/// The 64 sites of the lattice as a POSCAR.
fn lattice_poscar(dir: &Path) -> PathBuf {
    let mut s = format!("sites\n1.0\n{CELL} 0 0\n0 {CELL} 0\n0 0 {CELL}\nLi\n64\nDirect\n");
    for i in 0..4 {
        for j in 0..4 {
            for k in 0..4 {
                s.push_str(&format!(
                    "{} {} {}\n",
                    (i as f64 + 0.5) / 4.0,
                    (j as f64 + 0.5) / 4.0,
                    (k as f64 + 0.5) / 4.0
                ));
            }
        }
    }
    let p = dir.join("POSCAR-sites");
    std::fs::write(&p, s).unwrap();
    p
}

fn expected_events() -> Vec<(usize, usize, usize, bool)> {
    let mut v = Vec::new();
    for i in 0..16 {
        let j = jump_frame(i);
        v.push((i, j - 1, j + 1, false));
        if i < 4 {
            v.push((i, j + 59, j + 61, true));
        }
    }
    v
}

fn check_planted(h: &superion::traj::hops::Hops, n_sites: usize) {
    let got: Vec<(usize, usize, usize, bool)> = h
        .events
        .iter()
        .map(|e| (e.ion, e.start_frame, e.end_frame.unwrap(), e.back_hop))
        .collect();
    assert_eq!(got, expected_events(), "exactly the planted jumps");
    for e in &h.events {
        assert!((e.length_a - A).abs() < 0.05, "jump length {}", e.length_a);
        assert!((e.vector_a[0].abs() - A).abs() < 0.05 && e.vector_a[1].abs() < 0.05);
    }
    let j = h.jumps.as_ref().unwrap();
    assert_eq!(j.n_sites, n_sites);
    assert_eq!((j.jumps, j.jumping_ions, j.ions), (20, 16, 24));
    // D_jump = Σ|Δr|² / (6 N t), with the site-to-site vectors.
    let sum_sq: f64 = h.events.iter().map(|e| e.length_a.powi(2)).sum();
    let expect = sum_sq / (6.0 * 24.0 * (T - 1) as f64 * 0.1) * 1e-4;
    assert!((j.d_jump_cm2_s - expect).abs() < 1e-12 * expect.max(1.0));
    assert!((j.d_jump_cm2_s / (20.0 * A * A / (6.0 * 24.0 * 19.9) * 1e-4) - 1.0).abs() < 0.05);
    // One class of jump, at the lattice spacing; Poisson error √n / (N t).
    assert_eq!(j.types.len(), 1, "{:?}", j.types);
    assert_eq!(j.types[0].count, 20);
    assert!((j.types[0].rate_err_per_ion_ps - 20f64.sqrt() / (24.0 * 19.9)).abs() < 1e-12);
}

#[test]
fn planted_jumps_with_known_sites_exactly() {
    let dir = tempdir("known");
    let mut opts = HopOptions::new(Mode::Sites);
    opts.sites.known = Some(superion::io::sites::read(&lattice_poscar(&dir)).unwrap());
    let traj = planted(1, 0.1);
    for engine in std::iter::once(Engine::cpu()).chain(common::gpu()) {
        let h = detect(&engine, &traj, &opts).unwrap();
        check_planted(&h, 64);
        // Sites were capped at half the spacing (minus 0.005 Å) at most.
        assert!(h.sites.iter().all(|s| s.radius_a.unwrap() <= 1.245 + 1e-9));
        // The vibrating ions sit on their sites nearly all the time.
        let j = h.jumps.as_ref().unwrap();
        assert!(j.on_site_fraction > 0.8, "{}", j.on_site_fraction);
    }
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn planted_jumps_with_discovered_sites_exactly() {
    let traj = planted(2, 0.1);
    let h = detect(&Engine::cpu(), &traj, &HopOptions::new(Mode::Sites)).unwrap();
    // Only visited sites exist: two per jumping ion, one per vibrating ion.
    check_planted(&h, 40);
    // Each ion's jumps add up to its net displacement (its vibration about its first
    // and last site, in their density basins, left out).
    let share = h.jumps.as_ref().unwrap().explained_share.unwrap();
    assert!(share > 0.99, "{share}");
    for s in &h.sites {
        let f: Vec<f64> = s.frac.iter().map(|v| v * 4.0 - 0.5).collect();
        assert!(
            f.iter().all(|v| (v - v.round()).abs() * A < 0.1),
            "discovered site {:?} is on the lattice",
            s.frac
        );
    }
    // Louder vibration still makes no jump for ions that never leave.
    let loud = planted(3, 0.25);
    let h = detect(&Engine::cpu(), &loud, &HopOptions::new(Mode::Sites)).unwrap();
    assert!(h.events.iter().all(|e| e.ion < 16), "{:?}", h.events);
    assert_eq!(h.events.len(), 20);
}

/// A crystal drifting as a whole (4 Å over the run, as a thermostat's momentum leak
/// does) gives the same sites and exactly the same jumps: the drift is taken out before
/// the density is counted and sites are assigned, in memory and streamed.
#[test]
fn a_drifting_crystal_gives_the_planted_jumps() {
    let mut traj = planted(2, 0.1);
    let t = traj.n_frames();
    for f in 0..t {
        for a in 0..traj.frac.shape()[1] {
            let v = traj.frac[[f, a, 0]] as f64 + 0.02 * f as f64 / CELL;
            traj.frac[[f, a, 0]] = (v - v.floor()) as f32;
        }
    }
    let h = detect(&Engine::cpu(), &traj, &HopOptions::new(Mode::Sites)).unwrap();
    // The planted events exactly; the site positions carry the framework's vibration
    // (8 atoms, 0.1 Å) through the drift taken out, so lengths to within 0.1 Å.
    let got: Vec<(usize, usize, usize, bool)> = h
        .events
        .iter()
        .map(|e| (e.ion, e.start_frame, e.end_frame.unwrap(), e.back_hop))
        .collect();
    assert_eq!(got, expected_events(), "{:?}", h.notes);
    assert!(h.events.iter().all(|e| (e.length_a - A).abs() < 0.1));
    assert_eq!(h.sites.len(), 40);
    assert!(h.notes.iter().any(|n| n.contains("drift is taken out")));
    let j = h.jumps.as_ref().unwrap();
    assert!(
        (j.drift_a[0] - 0.02 * (t - 1) as f64).abs() < 0.1,
        "{:?}",
        j.drift_a
    );
    assert!(j.explained_share.unwrap() > 0.95, "{}", j.consistency);
}

#[test]
fn flickers_shorter_than_the_minimum_residence_are_dropped() {
    // Ion 0 visits its neighbour for 2 frames only, then goes home.
    let mut traj = planted(4, 0.05);
    for f in 100..102 {
        let v = (home(20)[0] + A) / CELL;
        traj.frac[[f, 20, 0]] = (v - v.floor()) as f32;
    }
    let dir = tempdir("flicker");
    let mut opts = HopOptions::new(Mode::Sites);
    opts.sites.known = Some(superion::io::sites::read(&lattice_poscar(&dir)).unwrap());
    let h = detect(&Engine::cpu(), &traj, &opts).unwrap();
    assert_eq!(
        h.events.iter().filter(|e| e.ion == 20).count(),
        2,
        "out and back"
    );
    opts.sites.min_residence_frames = 3;
    let h = detect(&Engine::cpu(), &traj, &opts).unwrap();
    assert_eq!(
        h.events.iter().filter(|e| e.ion == 20).count(),
        0,
        "a flicker"
    );
    assert_eq!(h.events.len(), 20);
    let _ = std::fs::remove_dir_all(dir);
}

mod common;

fn li6ps5cl() -> Trajectory {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("data/Li6PS5Cl.XDATCAR.gz");
    superion::io::traj_input::read_trajectory(
        &p,
        &superion::io::traj_input::TrajReadOptions {
            time: superion::traj::TimeStep {
                timestep_fs: Some(2.0),
                stride: Some(50),
            },
            ..Default::default()
        },
    )
    .unwrap()
}

/// With no options, the jumps account for the diffusion: they explain at least 80 % of
/// the ions' net displacement, D_tracer / D_jump (the correlation factor) is below 1,
/// most Li ions jump, and at most 5 % of the jumps are shorter than 1.5 Å (before
/// sites were joined across shallow saddles, 45 % were 1.0-1.3 Å flickers between two
/// humps of one site).
#[test]
fn li6ps5cl_jumps_account_for_the_tracer_diffusion() {
    let traj = li6ps5cl();
    let h = detect(&Engine::cpu(), &traj, &HopOptions::new(Mode::Sites)).unwrap();
    let j = h.jumps.as_ref().unwrap();
    let ratio = j.tracer_over_jump.unwrap();
    // kinisi's D for this file is 1.3568e-5 cm²/s (see tests/traj.rs).
    assert!((j.d_tracer_cm2_s.unwrap() / 1.3568e-5 - 1.0).abs() < 1e-3);
    assert!(
        (0.2..=1.0).contains(&ratio),
        "D_tracer / D_jump = {ratio}: {}",
        j.consistency
    );
    let share = j.explained_share.unwrap();
    assert!(share >= 0.8, "{share}: {}", j.consistency);
    assert!(j.consistency.contains("account for"), "{}", j.consistency);
    assert!(
        j.jumping_ions as f64 >= 0.7 * 192.0,
        "{} of 192 jump",
        j.jumping_ions
    );
    assert!(j.jumps > 400, "{} jumps", j.jumps);
    let short = h.events.iter().filter(|e| e.length_a < 1.5).count();
    assert!(
        short as f64 <= 0.05 * h.events.len() as f64,
        "{short} of {} jumps shorter than 1.5 Å",
        h.events.len()
    );
    // No two discovered sites closer than the shortest 48h-48h distance (1.92 Å) less
    // the density's blur, where 109 pairs were under 1.5 Å before.
    let close = (0..h.sites.len())
        .flat_map(|a| (0..a).map(move |b| (a, b)))
        .filter(|&(a, b)| {
            let d: [f64; 3] = std::array::from_fn(|x| {
                let v = h.sites[a].frac[x] - h.sites[b].frac[x];
                (v - v.round()) * 20.3123
            });
            (d[0] * d[0] + d[1] * d[1] + d[2] * d[2]).sqrt() < 1.4
        })
        .count();
    assert_eq!(close, 0, "site pairs closer than 1.4 Å");
    // Fewer sites than argyrodite's 384 48h positions: at this temperature the Li
    // density has one maximum per 48h pair or cage region (the Li positions lie a
    // median 0.87 Å from the nearest 48h site).
    assert!((180..=300).contains(&j.n_sites), "{} sites", j.n_sites);
    // One residence time: the species' descriptors and the jump analysis agree (frames
    // on the site × the time between frames), as do the two transit times.
    let d = &h.descriptors()[0];
    assert_eq!(d.residence_ps.n, j.residence_ps.n);
    assert!((d.residence_ps.mean.unwrap() - j.residence_ps.mean.unwrap()).abs() < 1e-9);
    assert!((d.residence_ps.min.unwrap() - j.residence_ps.min.unwrap()).abs() < 1e-9);
    let summary = superion::report::hops::summary(&h, std::path::Path::new("x"), 0.5, 5.0);
    let v = serde_json::to_value(&summary).unwrap();
    assert!(v.get("k_range").is_none(), "no k range in sites mode");
    // The k-means mode misses most of the jumps (the reason for the default).
    let k = detect(&Engine::cpu(), &traj, &HopOptions::new(Mode::Kmeans)).unwrap();
    assert!(k.events.len() * 20 < j.jumps);
}

/// Net motion the sites do not capture is reported, not hidden: known sites that leave
/// out where eight ions go give an explained share near 1/3 and a verdict that says
/// the jumps miss motion; the full lattice explains all of it.
#[test]
fn motion_the_sites_miss_fails_the_consistency_check() {
    let dir = tempdir("missing");
    let full = lattice_poscar(&dir);
    let text = std::fs::read_to_string(&full).unwrap();
    // Ions 4..12 land on x index 1, y index 1 or 2: drop those sites.
    let mut lines: Vec<&str> = text.lines().collect();
    let kept: Vec<&str> = lines
        .split_off(8)
        .into_iter()
        .filter(|l| {
            let f: Vec<f64> = l.split_whitespace().map(|v| v.parse().unwrap()).collect();
            let (i, j) = ((f[0] * 4.0 - 0.5).round(), (f[1] * 4.0 - 0.5).round());
            !(i == 1.0 && (j == 1.0 || j == 2.0))
        })
        .collect();
    lines[6] = "56";
    let partial = dir.join("POSCAR-partial");
    std::fs::write(
        &partial,
        format!("{}\n{}\n", lines.join("\n"), kept.join("\n")),
    )
    .unwrap();
    let traj = planted(4, 0.1);
    let share = |poscar: &Path| {
        let mut opts = HopOptions::new(Mode::Sites);
        opts.sites.known = Some(superion::io::sites::read(poscar).unwrap());
        let h = detect(&Engine::cpu(), &traj, &opts).unwrap();
        let j = h.jumps.unwrap();
        (j.explained_share.unwrap(), j.consistency)
    };
    let (all, verdict) = share(&full);
    assert!(all > 0.95, "{all}: {verdict}");
    assert!(!verdict.contains("miss"), "{verdict}");
    let (part, verdict) = share(&partial);
    // Ions 4..12 (8 of the 12 that moved) moved 2.5 Å with no jump.
    assert!((part - 1.0 / 3.0).abs() < 0.1, "{part}: {verdict}");
    assert!(verdict.contains("the jumps miss motion"), "{verdict}");
    let _ = std::fs::remove_dir_all(dir);
}

/// Two density humps with no real barrier between them are one site; the same humps
/// with every maximum kept (saddle fraction 1) are two; humps 2.5 Å apart with empty
/// space between them are two either way.
#[test]
fn density_humps_without_a_barrier_are_one_site() {
    let humps = |gap: f64, seed: u64| {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut gauss = move || {
            let (u, v): (f64, f64) = (rng.random(), rng.random());
            (-2.0 * (1.0 - u).ln()).sqrt() * (std::f64::consts::TAU * v).cos()
        };
        let (n, t) = (8, 400);
        let mut frac = Array3::<f32>::zeros((t, n + 1, 3));
        for f in 0..t {
            for i in 0..n {
                let side = if (f + i) % 2 == 0 { -0.5 } else { 0.5 };
                let p = [5.0 + side * gap, 5.0, 5.0];
                for x in 0..3 {
                    frac[[f, i, x]] = ((p[x] + 0.2 * gauss()) / CELL) as f32;
                }
            }
            frac[[f, n, 0]] = 0.0;
        }
        common::li_s_cubic(frac, CELL, n, 1)
    };
    let count = |traj: &Trajectory, saddle: f64| {
        let mut o = superion::traj::hops::SiteOptions::default();
        o.saddle_fraction = saddle;
        o.merge_a = 0.0;
        let atoms: Vec<usize> = (0..8).collect();
        superion::traj::hops::sites::discover_sites(traj, &atoms, "Li", &o)
            .unwrap()
            .len()
    };
    let close = humps(0.9, 5);
    assert_eq!(count(&close, 1.0), 2, "two maxima 0.9 Å apart");
    assert_eq!(count(&close, 0.6), 1, "joined across the shallow saddle");
    let far = humps(2.5, 6);
    assert_eq!(count(&far, 1.0), 2);
    assert_eq!(count(&far, 0.6), 2, "a real barrier keeps them apart");
}

/// GEMDAT 1.8.1 on the same file with its argyrodite CIF, 2 x 2 x 2
/// (benches/peers/gemdat_jumps.py): 1353 jumps by 189 ions; by site-to-site distance
/// 478 at 1.92 Å, 203 at 2.28, 637 at 2.97, 31 at 3.75, 3 at 4.27, 1 at 4.57; jump
/// diffusivity 5.5627e-5 cm²/s with GEMDAT's time n_frames × dt (14.0 ps; superion
/// uses the elapsed (n_frames − 1) × dt = 13.9 ps); vibration amplitude 0.6687 Å,
/// site radius 0.95731 Å.
#[test]
fn li6ps5cl_with_argyrodite_sites_matches_gemdat() {
    let traj = li6ps5cl();
    let mut opts = HopOptions::new(Mode::Sites);
    opts.sites.known = Some(
        superion::io::sites::read(
            &Path::new(env!("CARGO_MANIFEST_DIR")).join("data/sites/argyrodite.cif"),
        )
        .unwrap(),
    );
    opts.sites.supercell = [2, 2, 2];
    let h = detect(&Engine::cpu(), &traj, &opts).unwrap();
    let j = h.jumps.as_ref().unwrap();
    assert_eq!(j.n_sites, 384);
    assert_eq!((j.jumps, j.jumping_ions), (1353, 189));
    let classes: Vec<(String, usize)> = j
        .types
        .iter()
        .map(|t| (format!("{:.2}", t.distance_a), t.count))
        .collect();
    let want: Vec<(String, usize)> = [
        ("1.92", 478),
        ("2.28", 203),
        ("2.97", 637),
        ("3.75", 31),
        ("4.27", 3),
        ("4.57", 1),
    ]
    .iter()
    .map(|(d, n)| (d.to_string(), *n))
    .collect();
    assert_eq!(classes, want);
    assert!(
        j.types
            .iter()
            .all(|t| t.labels == ("48h".into(), "48h".into()))
    );
    let gemdat_time = j.d_jump_cm2_s * 13.9 / 14.0;
    assert!(
        (gemdat_time / 5.5627e-5 - 1.0).abs() < 2e-4,
        "{gemdat_time}"
    );
    assert!((j.vibration_amplitude_a - 0.6687).abs() < 1e-3);
    assert!((j.radius_max_a - 0.95731).abs() < 1e-4 && (j.radius_min_a - 0.95731).abs() < 1e-4);
    assert!(j.tracer_over_jump.unwrap() > 0.1 && j.tracer_over_jump.unwrap() < 1.0);
}

#[test]
fn a_site_cell_that_does_not_fit_says_which_supercell() {
    let traj = li6ps5cl();
    let mut opts = HopOptions::new(Mode::Sites);
    opts.sites.known = Some(
        superion::io::sites::read(
            &Path::new(env!("CARGO_MANIFEST_DIR")).join("data/sites/argyrodite.cif"),
        )
        .unwrap(),
    );
    let e = detect(&Engine::cpu(), &traj, &opts)
        .unwrap_err()
        .to_string();
    assert!(e.contains("try option supercell 2 2 2"), "{e}");
    opts.sites.supercell = [2, 2, 2];
    opts.species = vec!["Cl".into()];
    let e = detect(&Engine::cpu(), &traj, &opts)
        .unwrap_err()
        .to_string();
    assert!(e.contains("no Cl sites") && e.contains("Li"), "{e}");
}

#[test]
fn sites_are_written_for_vesta_and_ase() {
    let traj = planted(5, 0.1);
    let h = detect(&Engine::cpu(), &traj, &HopOptions::new(Mode::Sites)).unwrap();
    let dir = tempdir("out");
    let summary = superion::report::hops::summary(&h, Path::new("planted"), 0.5, 5.0);
    let written = superion::report::hops::write_outputs(&h, &dir, &summary).unwrap();
    for f in [
        "sites.csv",
        "sites.xyz",
        "sites.vasp",
        "events.csv",
        "DIFFUSION",
        "sitemap.svg",
        "jump_types.svg",
    ] {
        assert!(
            written.iter().any(|w| w.starts_with(f)),
            "{f} in {written:?}"
        );
    }
    // The POSCAR reads back as the same sites.
    let text = std::fs::read_to_string(dir.join("sites.vasp")).unwrap();
    let s =
        superion::io::phonondb::parse_poscar(&text, "sites.vasp", &dir.join("sites.vasp")).unwrap();
    assert_eq!(s.frac.len(), h.sites.len());
    for (a, b) in s.frac.iter().zip(&h.sites) {
        assert!((0..3).all(|x| (a[x] - b.frac[x]).abs() < 1e-7));
    }
    // The extended XYZ reads back with the trajectory reader.
    let x = superion::io::xyz::read(&dir.join("sites.xyz"), false).unwrap();
    assert_eq!(x.n_atoms(), h.sites.len());
    let csv = std::fs::read_to_string(dir.join("events.csv")).unwrap();
    assert!(
        csv.lines()
            .next()
            .unwrap()
            .ends_with("from_label,to_label,jump_type,transit_ps")
    );
    assert_eq!(csv.lines().count(), 21);
    let _ = std::fs::remove_dir_all(dir);
}

/// `--symmetrise`: the framework (S on a 5 Å cubic grid) has the symmetry of the Li
/// site lattice, so the 40 visited sites' orbits fill all 64 sites, one label.
#[test]
fn symmetrised_sites_fill_the_orbits_of_the_framework_group() {
    let traj = planted(6, 0.05);
    let mut opts = HopOptions::new(Mode::Sites);
    opts.sites.symmetrise = true;
    let h = detect(&Engine::cpu(), &traj, &opts).unwrap();
    assert_eq!(h.sites.len(), 64, "{:?}", h.notes);
    assert!(h.sites.iter().all(|s| s.label == "S1"));
    assert!(
        h.notes
            .iter()
            .any(|n| n.contains("framework space group 221")),
        "{:?}",
        h.notes
    );
    // The jumps are the planted ones still.
    assert_eq!(h.events.len(), 20);
    // Per-label radii apply.
    opts.sites.label_radii = vec![("S1".into(), 0.5)];
    let h = detect(&Engine::cpu(), &traj, &opts).unwrap();
    assert!(h.sites.iter().all(|s| s.radius_a == Some(0.5)));
    assert_eq!(h.events.len(), 20);
}

/// An NPT run: the cell breathes by ±2 % while the fractional positions are those of
/// the fixed-cell run; the sites live in fractional space, so the jumps are the same.
#[test]
fn fluctuating_cells_give_the_same_jumps() {
    let fixed = planted(7, 0.1);
    let mut npt = fixed.clone();
    npt.cells = Array3::from_shape_fn((T, 3, 3), |(f, a, b)| {
        if a == b {
            (CELL * (1.0 + 0.02 * (f as f64 * 0.37).sin())) as f32
        } else {
            0.0
        }
    });
    let a = detect(&Engine::cpu(), &fixed, &HopOptions::new(Mode::Sites)).unwrap();
    let b = detect(&Engine::cpu(), &npt, &HopOptions::new(Mode::Sites)).unwrap();
    let key = |h: &superion::traj::hops::Hops| -> Vec<(usize, usize, Option<usize>)> {
        h.events
            .iter()
            .map(|e| (e.ion, e.start_frame, e.end_frame))
            .collect()
    };
    assert_eq!(key(&a), key(&b));
    assert_eq!(b.events.len(), 20);
    // Jump vectors use the cell of their frame: lengths follow the breathing.
    for (x, y) in a.events.iter().zip(&b.events) {
        assert!(
            (x.length_a - y.length_a).abs() < 0.03 * A,
            "{} {}",
            x.length_a,
            y.length_a
        );
    }
}

/// The extended XYZ superion writes reads back as known sites (the same sites, the same
/// jumps), and one given radius applies to every site.
#[test]
fn written_sites_read_back_as_known_sites() {
    let traj = planted(8, 0.1);
    let h = detect(&Engine::cpu(), &traj, &HopOptions::new(Mode::Sites)).unwrap();
    let dir = tempdir("xyz");
    let xyz = dir.join("sites.xyz");
    superion::io::hops::write_sites_xyz(&h, &xyz, "Li").unwrap();
    let mut opts = HopOptions::new(Mode::Sites);
    opts.sites.known = Some(superion::io::sites::read(&xyz).unwrap());
    let k = detect(&Engine::cpu(), &traj, &opts).unwrap();
    assert_eq!(k.sites.len(), h.sites.len());
    let ev = |h: &superion::traj::hops::Hops| -> Vec<(usize, usize, Option<usize>, usize, usize)> {
        h.events
            .iter()
            .map(|e| (e.ion, e.start_frame, e.end_frame, e.from_site, e.to_site))
            .collect()
    };
    assert_eq!(ev(&k), ev(&h));
    opts.sites.radius_a = Some(0.6);
    let r = detect(&Engine::cpu(), &traj, &opts).unwrap();
    assert!(r.sites.iter().all(|s| s.radius_a == Some(0.6)));
    assert_eq!(r.events.len(), 20);
    let _ = std::fs::remove_dir_all(dir);
}

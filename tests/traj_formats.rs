//! The other trajectory formats (extended XYZ, LAMMPS dump) and the vibrational DOS,
//! on trajectories generated with known answers.

mod common;

use std::path::Path;

use superion::Engine;
use superion::io::lammps::parse_type_map;
use superion::io::traj_input::{TrajFormat, TrajReadOptions, read_trajectory};
use superion::phonon::descriptors::{FeatureOptions, features};
use superion::traj::msd::{LagGrid, MsdOptions, msd};
use superion::traj::{TimeStep, vdos};

fn tempdir(tag: &str) -> common::TestDir {
    common::tempdir(&format!("fmt-{tag}"))
}

/// A LAMMPS-style (lower-triangular) triclinic cell.
const CELL: [[f64; 3]; 3] = [[9.0, 0.0, 0.0], [2.0, 8.0, 0.0], [-1.5, 1.0, 10.0]];

fn cart(f: [f64; 3]) -> [f64; 3] {
    std::array::from_fn(|j| (0..3).map(|k| f[k] * CELL[k][j]).sum())
}

/// Unwrapped fractional positions: `n` atoms (first half Li, rest O) random-walking.
fn walk(frames: usize, n: usize) -> Vec<Vec<[f64; 3]>> {
    let mut s = 12345u64;
    let mut r = move || {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        (s >> 11) as f64 / (1u64 << 53) as f64 - 0.5
    };
    let mut pos: Vec<[f64; 3]> = (0..n)
        .map(|i| {
            [
                (i as f64 * 0.37) % 1.0,
                (i as f64 * 0.61) % 1.0,
                (i as f64 * 0.13) % 1.0,
            ]
        })
        .collect();
    (0..frames)
        .map(|f| {
            if f > 0 {
                for (i, p) in pos.iter_mut().enumerate() {
                    let step = if i < n / 2 { 0.06 } else { 0.005 };
                    for c in p.iter_mut() {
                        *c += step * r();
                    }
                }
            }
            pos.clone()
        })
        .collect()
}

fn species(i: usize, n: usize) -> &'static str {
    if i < n / 2 { "Li" } else { "O" }
}

fn write_xdatcar(path: &Path, w: &[Vec<[f64; 3]>]) {
    let n = w[0].len();
    let mut t = format!(
        "walk\n1.0\n{}\nLi O\n{} {}\n",
        CELL.iter()
            .map(|r| format!("{} {} {}", r[0], r[1], r[2]))
            .collect::<Vec<_>>()
            .join("\n"),
        n / 2,
        n - n / 2
    );
    for (f, frame) in w.iter().enumerate() {
        t.push_str(&format!("Direct configuration= {}\n", f + 1));
        for p in frame {
            t.push_str(&format!(
                "{:.10} {:.10} {:.10}\n",
                p[0].rem_euclid(1.0),
                p[1].rem_euclid(1.0),
                p[2].rem_euclid(1.0)
            ));
        }
    }
    std::fs::write(path, t).unwrap();
}

fn write_xyz(path: &Path, w: &[Vec<[f64; 3]>]) {
    let n = w[0].len();
    let lattice = CELL
        .iter()
        .flatten()
        .map(|v| v.to_string())
        .collect::<Vec<_>>()
        .join(" ");
    let mut t = String::new();
    for frame in w {
        t.push_str(&format!(
            "{n}\nLattice=\"{lattice}\" Properties=species:S:1:pos:R:3 pbc=\"T T T\"\n"
        ));
        for (i, p) in frame.iter().enumerate() {
            let c = cart([
                p[0].rem_euclid(1.0),
                p[1].rem_euclid(1.0),
                p[2].rem_euclid(1.0),
            ]);
            t.push_str(&format!(
                "{} {:.10} {:.10} {:.10}\n",
                species(i, n),
                c[0],
                c[1],
                c[2]
            ));
        }
    }
    std::fs::write(path, t).unwrap();
}

/// A triclinic LAMMPS dump, atoms in shuffled order, wrapped positions with image
/// flags (or scaled positions), types 1 = Li, 2 = O.
fn write_lammps(path: &Path, w: &[Vec<[f64; 3]>], scaled: bool) {
    let n = w[0].len();
    let (xy, xz, yz) = (CELL[1][0], CELL[2][0], CELL[2][1]);
    let xb = (
        0.0f64.min(xy).min(xz).min(xy + xz),
        9.0 + 0.0f64.max(xy).max(xz).max(xy + xz),
    );
    let yb = (0.0f64.min(yz), 8.0 + 0.0f64.max(yz));
    let mut t = String::new();
    for (f, frame) in w.iter().enumerate() {
        t.push_str(&format!(
            "ITEM: TIMESTEP\n{}\nITEM: NUMBER OF ATOMS\n{n}\nITEM: BOX BOUNDS xy xz yz pp pp pp\n",
            100 * f
        ));
        t.push_str(&format!(
            "{} {} {xy}\n{} {} {xz}\n0 10 {yz}\n",
            xb.0, xb.1, yb.0, yb.1
        ));
        t.push_str(if scaled {
            "ITEM: ATOMS id type xs ys zs\n"
        } else {
            "ITEM: ATOMS id type x y z ix iy iz\n"
        });
        for k in 0..n {
            let i = (k * 7 + 3) % n; // shuffled
            let p = frame[i];
            let img = p.map(f64::floor);
            let wrapped = [p[0] - img[0], p[1] - img[1], p[2] - img[2]];
            let ty = if i < n / 2 { 1 } else { 2 };
            if scaled {
                t.push_str(&format!(
                    "{} {ty} {:.10} {:.10} {:.10}\n",
                    i + 1,
                    wrapped[0],
                    wrapped[1],
                    wrapped[2]
                ));
            } else {
                let c = cart(wrapped);
                t.push_str(&format!(
                    "{} {ty} {:.10} {:.10} {:.10} {} {} {}\n",
                    i + 1,
                    c[0],
                    c[1],
                    c[2],
                    img[0],
                    img[1],
                    img[2]
                ));
            }
        }
    }
    std::fs::write(path, t).unwrap();
}

/// The Li MSD (every lag) of a trajectory, with or without drift correction.
fn li_msd_of(t: &superion::traj::Trajectory, drift: bool) -> superion::traj::msd::Msd {
    msd(
        &Engine::cpu(),
        t,
        &MsdOptions {
            species: "Li".into(),
            drift_correction: drift,
            lags: LagGrid::All,
            long_step_a: None,
            axes: Default::default(),
        },
    )
    .unwrap()
}

fn li_msd(path: &Path, fmt: TrajFormat, stride: Option<usize>) -> Vec<f64> {
    let opts = TrajReadOptions {
        format: Some(fmt),
        time: TimeStep {
            timestep_fs: Some(1.0),
            stride,
        },
        type_map: parse_type_map("1=Li,2=O").unwrap(),
        ..Default::default()
    };
    let t = read_trajectory(path, &opts).unwrap();
    assert!(
        (t.dt_ps.unwrap() - 0.1).abs() < 1e-12,
        "{fmt:?}: 100 fs between frames"
    );
    li_msd_of(&t, false).msd_a2
}

#[test]
fn xdatcar_extxyz_and_lammps_give_the_same_msd() {
    let dir = tempdir("same");
    let w = walk(120, 24);
    write_xdatcar(&dir.join("XDATCAR"), &w);
    write_xyz(&dir.join("walk.extxyz"), &w);
    write_lammps(&dir.join("walk.dump"), &w, false);
    write_lammps(&dir.join("scaled.lammpstrj"), &w, true);
    let reference = li_msd(&dir.join("XDATCAR"), TrajFormat::Xdatcar, Some(100));
    // The exact answer from the unwrapped walk.
    let exact: Vec<f64> = (1..120)
        .map(|m| {
            let mut s = 0.0;
            for t0 in 0..120 - m {
                for i in 0..12 {
                    let d = cart(std::array::from_fn(|c| w[t0 + m][i][c] - w[t0][i][c]));
                    s += d.iter().map(|x| x * x).sum::<f64>();
                }
            }
            s / ((120 - m) * 12) as f64
        })
        .collect();
    for (a, b) in reference.iter().zip(&exact) {
        assert!((a / b - 1.0).abs() < 1e-3, "XDATCAR {a} vs exact {b}");
    }
    for (path, fmt, stride) in [
        ("walk.extxyz", TrajFormat::Xyz, Some(100)),
        ("walk.dump", TrajFormat::Lammps, None),
        ("scaled.lammpstrj", TrajFormat::Lammps, None),
    ] {
        let got = li_msd(&dir.join(path), fmt, stride);
        for (a, b) in got.iter().zip(&reference) {
            assert!((a / b - 1.0).abs() < 1e-4, "{path}: {a} vs {b}");
        }
    }
}

#[test]
fn formats_are_detected_from_names_and_content() {
    let dir = tempdir("detect");
    let w = walk(5, 4);
    write_xyz(&dir.join("no_extension"), &w);
    write_lammps(&dir.join("another"), &w, false);
    let opts = |s: Option<usize>| TrajReadOptions {
        time: TimeStep {
            timestep_fs: Some(1.0),
            stride: s,
        },
        type_map: parse_type_map("1=Li,2=O").unwrap(),
        ..Default::default()
    };
    assert_eq!(
        read_trajectory(&dir.join("no_extension"), &opts(Some(1)))
            .unwrap()
            .n_atoms(),
        4
    );
    let t = read_trajectory(&dir.join("another"), &opts(None)).unwrap();
    assert!(
        (t.dt_ps.unwrap() - 0.1).abs() < 1e-12,
        "stride 100 from TIMESTEP"
    );
}

fn err(path: &Path, fmt: TrajFormat, map: &str) -> String {
    let opts = TrajReadOptions {
        format: Some(fmt),
        time: TimeStep {
            timestep_fs: Some(1.0),
            stride: Some(1),
        },
        type_map: parse_type_map(map).unwrap(),
        ..Default::default()
    };
    read_trajectory(path, &opts).unwrap_err().to_string()
}

#[test]
fn malformed_xyz_and_lammps_name_the_line() {
    let dir = tempdir("bad");
    let w = walk(3, 4);
    let p = dir.join("a.xyz");
    write_xyz(&p, &w);
    let good = std::fs::read_to_string(&p).unwrap();
    std::fs::write(&p, good.replacen("Lattice=", "Box=", 1)).unwrap();
    let e = err(&p, TrajFormat::Xyz, "");
    assert!(e.contains("a.xyz:2") && e.contains("Lattice"), "{e}");
    std::fs::write(&p, good.replacen("Li ", "Li x", 1)).unwrap();
    let e = err(&p, TrajFormat::Xyz, "");
    assert!(e.contains("a.xyz:3") && e.contains("finite number"), "{e}");
    std::fs::write(
        &p,
        format!("{good}4\nLattice=\"9 0 0 0 8 0 0 0 10\"\nLi 0 0 0\n"),
    )
    .unwrap();
    let e = err(&p, TrajFormat::Xyz, "");
    assert!(
        e.contains("frame 4 is truncated") && e.contains("option allow_truncated"),
        "{e}"
    );
    std::fs::write(&p, good.replacen("4\n", "five\n", 1)).unwrap();
    let e = err(&p, TrajFormat::Xyz, "");
    assert!(
        e.contains("a.xyz:1") && e.contains("number of atoms"),
        "{e}"
    );

    let d = dir.join("a.dump");
    write_lammps(&d, &w, false);
    let e = err(&d, TrajFormat::Lammps, "1=Li");
    assert!(
        e.contains("a.dump:") && e.contains("atom type 2") && e.contains("option type_map"),
        "{e}"
    );
    let good = std::fs::read_to_string(&d).unwrap();
    std::fs::write(
        &d,
        good.replacen("ITEM: TIMESTEP\n200", "ITEM: TIMESTEP\n250", 1),
    )
    .unwrap();
    let e = err(&d, TrajFormat::Lammps, "1=Li,2=O");
    assert!(e.contains("not evenly spaced"), "{e}");
    std::fs::write(
        &d,
        good.replacen("ITEM: NUMBER OF ATOMS", "ITEM: NUMBER OF BEES", 1),
    )
    .unwrap();
    let e = err(&d, TrajFormat::Lammps, "1=Li,2=O");
    assert!(
        e.contains("a.dump:3") && e.contains("NUMBER OF ATOMS"),
        "{e}"
    );
    assert!(parse_type_map("1=Li,2").is_err());
}

/// Atoms oscillating harmonically: Li at 4 THz, O at 12 THz, dt = 5 fs.
fn write_oscillators(path: &Path, with: &str) {
    let (frames, n, dt_ps) = (800, 16, 0.005);
    let mut t = String::new();
    for f in 0..frames {
        let time = f as f64 * dt_ps;
        let props = match with {
            "vel" | "noise" => "species:S:1:pos:R:3:vel:R:3",
            "momenta" => "species:S:1:pos:R:3:momenta:R:3",
            _ => "species:S:1:pos:R:3",
        };
        t.push_str(&format!(
            "{n}\nLattice=\"10 0 0 0 10 0 0 0 10\" Properties={props}\n"
        ));
        for i in 0..n {
            let (sp, f0, mass) = if i < n / 2 {
                ("Li", 4.0, 6.94)
            } else {
                ("O", 12.0, 15.999)
            };
            let phase = i as f64 * 0.7;
            let w = 2.0 * std::f64::consts::PI * f0;
            let x = 5.0 + 0.05 * (w * time + phase).cos();
            let v_a_ps = -0.05 * w * (w * time + phase).sin();
            let extra = match with {
                "vel" => format!(" {} 0 0", v_a_ps / 1000.0),
                "momenta" => format!(" {} 0 0", v_a_ps / 1000.0 * mass * 10.180505710774743),
                // Uncorrelated velocities: a flat spectrum, still high at Nyquist.
                "noise" => {
                    let mut h = ((f * 64 + i) as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
                    h = (h ^ (h >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
                    h = (h ^ (h >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
                    h ^= h >> 31;
                    let r = (h >> 11) as f64 / (1u64 << 53) as f64 - 0.5;
                    format!(" {} 0 0", 0.01 * r)
                }
                _ => String::new(),
            };
            t.push_str(&format!(
                "{sp} {x:.10} {} 1.0{extra}\n",
                1.0 + i as f64 * 0.5
            ));
        }
    }
    std::fs::write(path, t).unwrap();
}

#[test]
fn vdos_of_harmonic_oscillators_peaks_at_their_frequencies() {
    let dir = tempdir("vdos");
    for with in ["vel", "momenta", "none"] {
        let p = dir.join(format!("{with}.xyz"));
        write_oscillators(&p, with);
        let opts = TrajReadOptions {
            time: TimeStep {
                timestep_fs: Some(5.0),
                stride: Some(1),
            },
            ..Default::default()
        };
        let traj = read_trajectory(&p, &opts).unwrap();
        assert_eq!(traj.velocities.is_some(), with != "none");
        let (dos, notes) = vdos::vdos(&Engine::cpu(), &traj).unwrap();
        assert!(notes[0].contains(if with == "none" {
            "finite differences"
        } else {
            "from the file"
        }));
        let opts = FeatureOptions {
            elements: vec!["Li".into(), "O".into()],
            temperatures_k: vec![],
            ..Default::default()
        };
        let row = features(&dos, &opts).unwrap();
        let li = row.get("li_centre_thz").and_then(|v| v.num()).unwrap();
        let o = row.get("o_centre_thz").and_then(|v| v.num()).unwrap();
        assert!((li - 4.0).abs() < 0.2, "{with}: Li centre {li}");
        assert!((o - 12.0).abs() < 0.3, "{with}: O centre {o}");
        let w = row.get("li_weight").and_then(|v| v.num()).unwrap();
        assert!(
            (w - 0.5).abs() < 1e-6,
            "3 modes per atom for each species: {w}"
        );
    }
}

/// An extended XYZ whose comment lines carry `key=value` (e.g. `time=50.0 step=50`).
fn with_comment_key(path: &Path, w: &[Vec<[f64; 3]>], key: impl Fn(usize) -> String) {
    write_xyz(path, w);
    let text = std::fs::read_to_string(path).unwrap();
    let mut f = 0;
    let out: Vec<String> = text
        .lines()
        .map(|l| {
            if l.starts_with("Lattice=") {
                f += 1;
                format!("{l} {}", key(f - 1))
            } else {
                l.to_string()
            }
        })
        .collect();
    std::fs::write(path, out.join("\n") + "\n").unwrap();
}

#[test]
fn extxyz_time_and_step_keys_give_the_time_between_frames() {
    let dir = tempdir("clock");
    let w = walk(6, 4);
    let read = |p: &Path, timestep_fs: Option<f64>, stride: Option<usize>| {
        read_trajectory(
            p,
            &TrajReadOptions {
                time: TimeStep {
                    timestep_fs,
                    stride,
                },
                ..Default::default()
            },
        )
    };
    // time= (fs): the time between frames, with nothing on the command line.
    let p = dir.join("time.extxyz");
    with_comment_key(&p, &w, |f| format!("time={}", 100.0 + 50.0 * f as f64));
    let t = read(&p, None, None).unwrap();
    assert!((t.dt_ps.unwrap() - 0.05).abs() < 1e-12);
    assert!(
        t.notes
            .iter()
            .any(|n| n.contains("50 fs") && n.contains("time= values")),
        "{:?}",
        t.notes
    );
    // With a time step, the stride follows from it; a contradiction is an error.
    let t = read(&p, Some(2.0), None).unwrap();
    assert!((t.dt_ps.unwrap() - 0.05).abs() < 1e-12);
    assert!(t.notes.iter().any(|n| n.contains("x 25")), "{:?}", t.notes);
    let e = read(&p, Some(2.0), Some(10)).unwrap_err().to_string();
    assert!(
        e.contains("50 fs apart") && e.contains("which is right"),
        "{e}"
    );
    let e = read(&p, Some(3.0), None).unwrap_err().to_string();
    assert!(e.contains("not a whole number"), "{e}");
    let e = read(&p, None, Some(5)).unwrap_err().to_string();
    assert!(e.contains("option stride needs option timestep_fs"), "{e}");
    // step=: the stride, as LAMMPS's TIMESTEP.
    let p = dir.join("step.extxyz");
    with_comment_key(&p, &w, |f| format!("step={}", 1000 + 20 * f));
    let t = read(&p, Some(0.5), None).unwrap();
    assert!((t.dt_ps.unwrap() - 0.01).abs() < 1e-12);
    assert!(
        t.notes.iter().any(|n| n.contains("step= values")),
        "{:?}",
        t.notes
    );
    let e = read(&p, None, None).unwrap_err().to_string();
    assert!(e.contains("option timestep_fs"), "{e}");
    // Uneven times are refused, not averaged.
    let p = dir.join("uneven.extxyz");
    with_comment_key(&p, &w, |f| {
        format!("time={}", [0, 50, 100, 160, 200, 250][f])
    });
    let e = read(&p, None, None).unwrap_err().to_string();
    assert!(e.contains("not evenly spaced"), "{e}");
    // A frame without the key: no inference, the usual request for the time step.
    let p = dir.join("partial.extxyz");
    with_comment_key(&p, &w, |f| {
        if f == 3 {
            String::new()
        } else {
            format!("time={}", 50 * f)
        }
    });
    let e = read(&p, None, None).unwrap_err().to_string();
    assert!(e.contains("not in the file"), "{e}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn vdos_command_writes_the_dos_its_figure_and_says_where_nyquist_cuts() {
    let dir = tempdir("vdos-cli");
    let p = dir.join("vel.xyz");
    write_oscillators(&p, "vel");
    let out = dir.join("out");
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_superion"))
        .args(["--backend", "cpu", "traj", "vdos"])
        .arg(&p)
        .args(["--timestep-fs", "5", "--stride", "1", "--json", "--out"])
        .arg(&out)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let text = v.to_string();
    assert!(text.contains("li_centre_thz"), "{text}");
    let t = common::only_svg_texts(&out);
    assert!(t.iter().any(|x| x.contains("Frequency (THz)")), "{t:?}");
    assert!(
        t.iter().any(|x| x.contains("vibrational")),
        "not a phonon DOS: {t:?}"
    );
    assert!(!t.iter().any(|x| x.contains("phonon DOS")), "{t:?}");
    // 5 fs between frames: Nyquist at 100 THz, far above 4 and 12 THz: no warning.
    assert!(!t.iter().any(|x| x.contains("Nyquist")), "{t:?}");
    // White-noise velocities fill the band up to Nyquist: the title says it is cut.
    let p2 = dir.join("noise.xyz");
    write_oscillators(&p2, "noise");
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_superion"))
        .args(["--backend", "cpu", "traj", "vdos"])
        .arg(&p2)
        .args(["--timestep-fs", "5", "--stride", "1", "--out"])
        .arg(dir.join("noise"))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let t = common::only_svg_texts(&dir.join("noise"));
    assert!(
        t.iter().any(|x| x.contains("cut at Nyquist 100.0 THz")),
        "{t:?}"
    );
    // ... and no centre, Cv or S is printed from it: they are not determined, and why.
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(
        stdout.contains("descriptors not determined")
            && stdout.contains("Nyquist frequency 100.0 THz")
            && stdout.contains("every 2.50 fs or less")
            && !stdout.contains("li_centre_thz"),
        "{stdout}"
    );
    let d: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("noise/descriptors.json")).unwrap())
            .unwrap();
    assert!(d["descriptors_withheld"].as_str().is_some(), "{d}");
    assert!(d["descriptors"]["li_centre_thz"].is_null(), "{d}");
    // The oscillators well below Nyquist keep theirs.
    assert!(v["descriptors_withheld"].is_null(), "{v}");
    // Bad input: a missing time step exits 1 with the reason.
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_superion"))
        .args(["--backend", "cpu", "traj", "vdos"])
        .arg(&p)
        .output()
        .unwrap();
    assert!(common::failed_cleanly(&o));
    assert!(String::from_utf8_lossy(&o.stderr).contains("--timestep-fs"));
}

#[test]
fn chosen_frames_give_the_msd_of_a_file_holding_only_them() {
    use superion::io::traj_input::FrameRange;
    let dir = tempdir("frames");
    let w = walk(120, 24);
    write_xdatcar(&dir.join("XDATCAR"), &w);
    write_lammps(&dir.join("walk.dump"), &w, false);
    write_xyz(&dir.join("walk.extxyz"), &w);
    // Frames 10, 12, ..., 108 written on their own, 200 MD steps apart.
    let kept: Vec<Vec<[f64; 3]>> = w[10..110].iter().step_by(2).cloned().collect();
    let sub = dir.join("sub");
    std::fs::create_dir_all(&sub).unwrap();
    write_xdatcar(&sub.join("XDATCAR"), &kept);
    let msd_of = |path: &Path, fmt: TrajFormat, stride: Option<usize>, frames: FrameRange| {
        let opts = TrajReadOptions {
            format: Some(fmt),
            time: TimeStep {
                timestep_fs: Some(1.0),
                stride,
            },
            type_map: parse_type_map("1=Li,2=O").unwrap(),
            frames,
            ..Default::default()
        };
        let t = read_trajectory(path, &opts).unwrap();
        let m = li_msd_of(&t, false);
        (t, m)
    };
    let range = FrameRange {
        start: 10,
        stop: Some(110),
        every: 2,
    };
    let (t0, want) = msd_of(
        &sub.join("XDATCAR"),
        TrajFormat::Xdatcar,
        Some(200),
        FrameRange::default(),
    );
    assert_eq!(t0.n_frames(), 50);
    for (path, fmt, stride) in [
        (dir.join("XDATCAR"), TrajFormat::Xdatcar, Some(100)),
        (dir.join("walk.dump"), TrajFormat::Lammps, None),
        (dir.join("walk.extxyz"), TrajFormat::Xyz, Some(100)),
    ] {
        let (t, got) = msd_of(&path, fmt, stride, range);
        assert_eq!(t.n_frames(), 50, "{fmt:?}");
        assert!(
            (t.dt_ps.unwrap() - 0.2).abs() < 1e-12,
            "{fmt:?}: {:?}",
            t.notes
        );
        assert!(
            t.notes.iter().any(|n| n.contains("50 of 120 frames kept")),
            "{fmt:?}: {:?}",
            t.notes
        );
        assert_eq!(got.times_ps(), want.times_ps());
        for (a, b) in got.msd_a2.iter().zip(&want.msd_a2) {
            assert!((a / b - 1.0).abs() < 1e-5, "{fmt:?}: {a} vs {b}");
        }
    }
    // A range outside the file is an error that says how many frames there are.
    let opts = |frames| TrajReadOptions {
        time: TimeStep {
            timestep_fs: Some(1.0),
            stride: Some(1),
        },
        frames,
        ..Default::default()
    };
    let e = read_trajectory(
        &dir.join("XDATCAR"),
        &opts(FrameRange {
            start: 500,
            stop: None,
            every: 1,
        }),
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("option start 500") && e.contains("120 frames"),
        "{e}"
    );
    let e = read_trajectory(
        &dir.join("walk.extxyz"),
        &opts(FrameRange {
            start: 0,
            stop: None,
            every: 0,
        }),
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("option every"), "{e}");
}

#[test]
fn a_converted_trajectory_reads_back_with_its_time_and_the_same_msd() {
    let dir = tempdir("convert");
    let w = walk(60, 24);
    write_xdatcar(&dir.join("XDATCAR"), &w);
    let out = dir.join("walk.extxyz");
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_superion"))
        .args(["--backend", "cpu", "traj", "convert"])
        .arg(dir.join("XDATCAR"))
        .args([
            "--timestep-fs",
            "2",
            "--stride",
            "50",
            "--every",
            "2",
            "--out",
        ])
        .arg(&out)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("30 frames x 24 atoms"), "{err}");
    // Read back with nothing on the command line: time= gives 0.2 ps between frames.
    let back = read_trajectory(&out, &TrajReadOptions::default()).unwrap();
    assert!(
        (back.dt_ps.unwrap() - 0.2).abs() < 1e-12,
        "{:?}",
        back.notes
    );
    let orig = read_trajectory(
        &dir.join("XDATCAR"),
        &TrajReadOptions {
            time: TimeStep {
                timestep_fs: Some(2.0),
                stride: Some(50),
            },
            frames: superion::io::traj_input::FrameRange {
                start: 0,
                stop: None,
                every: 2,
            },
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(back.species, orig.species);
    for (a, b) in back.frac.iter().zip(orig.frac.iter()) {
        assert!((a - b).abs() < 1e-6, "{a} vs {b}");
    }
    let li = |t: &superion::traj::Trajectory| li_msd_of(t, true).msd_a2;
    for (a, b) in li(&back).iter().zip(&li(&orig)) {
        assert!((a / b - 1.0).abs() < 1e-5, "{a} vs {b}");
    }
    // Velocities survive the trip (Å/ps inside, Å/fs in the file).
    let p = dir.join("vel.xyz");
    write_oscillators(&p, "vel");
    let read = |p: &Path| {
        read_trajectory(
            p,
            &TrajReadOptions {
                time: TimeStep {
                    timestep_fs: Some(5.0),
                    stride: Some(1),
                },
                ..Default::default()
            },
        )
        .unwrap()
    };
    let v0 = read(&p);
    let out = dir.join("vel-out.xyz");
    superion::io::xyz::write(&v0, &out).unwrap();
    let v1 = read_trajectory(&out, &TrajReadOptions::default()).unwrap();
    let (a, b) = (v0.velocities.unwrap(), v1.velocities.unwrap());
    for (x, y) in a.iter().zip(b.iter()) {
        assert!((x - y).abs() <= 1e-6 * x.abs().max(1.0), "{x} vs {y}");
    }
    // A folder as --out is refused before anything is read.
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_superion"))
        .args(["--backend", "cpu", "traj", "convert"])
        .arg(dir.join("XDATCAR"))
        .args(["--timestep-fs", "2", "--stride", "50", "--out"])
        .arg(&*dir)
        .output()
        .unwrap();
    assert!(common::failed_cleanly(&o));
}

/// ASE's binary trajectory, against the same frames written by ASE as extended XYZ
/// (data/ase, both written by ASE 3.29.0's own writers: data/ase/make.py).
#[test]
fn ase_traj_reads_as_the_same_frames_in_extended_xyz() {
    use superion::io::traj_input::FrameRange;
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("data/ase");
    let opts = |frames| TrajReadOptions {
        time: TimeStep {
            timestep_fs: Some(1.0),
            stride: Some(10),
        },
        frames,
        ..Default::default()
    };
    let t = read_trajectory(&data.join("walk.traj"), &opts(FrameRange::default())).unwrap();
    let x = read_trajectory(&data.join("walk.extxyz"), &opts(FrameRange::default())).unwrap();
    assert_eq!((t.n_frames(), t.n_atoms()), (30, 24));
    assert_eq!(t.species, x.species);
    assert_eq!(&t.species[..2], ["Li", "Li"]);
    assert_eq!(
        t.cells.shape()[0],
        30,
        "the breathing cell is kept per frame"
    );
    for (a, b) in t.cells.iter().zip(x.cells.iter()) {
        assert!((a - b).abs() < 1e-5, "cell {a} vs {b}");
    }
    for (a, b) in t.frac.iter().zip(x.frac.iter()) {
        assert!((a - b).abs() < 1e-6, "frac {a} vs {b}");
    }
    // Momenta -> velocities by the same rule as extended XYZ's `momenta` column.
    let (vt, vx) = (
        t.velocities.as_ref().unwrap(),
        x.velocities.as_ref().unwrap(),
    );
    for (a, b) in vt.iter().zip(vx.iter()) {
        assert!(
            (a - b).abs() <= 1e-5 * b.abs().max(1.0),
            "velocity {a} vs {b}"
        );
    }
    let li = |t: &superion::traj::Trajectory| li_msd_of(t, true).msd_a2;
    for (a, b) in li(&t).iter().zip(&li(&x)) {
        assert!((a / b - 1.0).abs() < 1e-5, "{a} vs {b}");
    }
    // Frames chosen; the rest never decoded.
    let part = read_trajectory(
        &data.join("walk.traj"),
        &opts(FrameRange {
            start: 5,
            stop: None,
            every: 5,
        }),
    )
    .unwrap();
    assert_eq!(part.n_frames(), 5);
    assert!((part.dt_ps.unwrap() - 0.05).abs() < 1e-12);
    assert_eq!(
        part.frac.index_axis(ndarray::Axis(0), 1),
        t.frac.index_axis(ndarray::Axis(0), 10)
    );
    // The file stores no time: asked for, not guessed.
    let e = read_trajectory(&data.join("walk.traj"), &TrajReadOptions::default())
        .unwrap_err()
        .to_string();
    assert!(e.contains("option timestep_fs"), "{e}");
    // Cut short (a run still writing): an error, or the complete frames when allowed.
    let dir = tempdir("ase");
    let bytes = std::fs::read(data.join("walk.traj")).unwrap();
    let cut = dir.join("cut.traj");
    std::fs::write(&cut, &bytes[..bytes.len() - 200]).unwrap();
    let e = read_trajectory(&cut, &opts(FrameRange::default()))
        .unwrap_err()
        .to_string();
    assert!(e.contains("cut short"), "{e}");
    let mut o = opts(FrameRange::default());
    o.allow_truncated = true;
    let c = read_trajectory(&cut, &o).unwrap();
    assert!(c.n_frames() >= 1 && c.n_frames() < 30, "{}", c.n_frames());
    assert!(
        c.notes.iter().any(|n| n.contains("cut short")),
        "{:?}",
        c.notes
    );
    // Not a trajectory at all.
    let junk = dir.join("junk.traj");
    std::fs::write(&junk, b"- of Ulm").unwrap();
    assert!(read_trajectory(&junk, &opts(FrameRange::default())).is_err());
}

// ---------- DCD (LAMMPS dump dcd) with a topology ----------

fn lammps_dir() -> std::path::PathBuf {
    std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("data/lammps")
}

fn dcd_opts(topology: Option<&str>) -> TrajReadOptions {
    TrajReadOptions {
        time: TimeStep {
            timestep_fs: Some(1.0),
            stride: None,
        },
        topology: topology.map(|t| lammps_dir().join(t)),
        ..Default::default()
    }
}

/// Rows of a small CSV with a header, as strings.
fn csv_rows(path: &Path) -> Vec<Vec<String>> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .skip(1)
        .map(|l| l.split(',').map(str::to_string).collect())
        .collect()
}

/// The shortest distance (Å) between Cartesian `a` and `b` over lattice translations.
fn min_image(t: &superion::traj::Trajectory, frame: usize, a: [f64; 3], b: [f64; 3]) -> f64 {
    let cell = t.cell_rows(frame);
    let inv = common::inv3(&cell);
    let d: Vec<f64> = (0..3).map(|k| a[k] - b[k]).collect();
    let mut f: Vec<f64> = (0..3)
        .map(|j| (0..3).map(|k| d[k] * inv[k][j]).sum())
        .collect();
    f.iter_mut().for_each(|v| *v -= v.round());
    let c: Vec<f64> = (0..3)
        .map(|j| (0..3).map(|k| f[k] * cell[k][j]).sum())
        .collect();
    c.iter().map(|v| v * v).sum::<f64>().sqrt()
}

/// A DCD written by LAMMPS 2025-07-22 (`data/lammps/make.py`) read with its LAMMPS data
/// file: species by mass in atom-id order, cells and positions as MDAnalysis 2.11 reads
/// the same file, positions as LAMMPS's own text dump of the same frames, the stride
/// from the header, and the same MSD as the text dump.
#[test]
fn a_lammps_dcd_reads_as_mdanalysis_and_the_text_dump_of_the_same_run() {
    let dcd = lammps_dir().join("walk.dcd");
    let t = read_trajectory(&dcd, &dcd_opts(Some("walk.data"))).unwrap();
    assert_eq!((t.n_frames(), t.n_atoms()), (61, 60));
    assert!((t.dt_ps.unwrap() - 0.02).abs() < 1e-12, "NSAVC 20 x 1 fs");
    assert!(
        t.notes
            .iter()
            .any(|n| n.contains("1=Li (mass 6.94 u), 2=S")),
        "{:?}",
        t.notes
    );
    // MDAnalysis: the species (types in atom-id order), the cells and the positions.
    let mda = csv_rows(&lammps_dir().join("walk.mda.csv"));
    assert_eq!(mda.len(), 3 * 60);
    for r in &mda {
        let (f, a) = (
            r[0].parse::<usize>().unwrap(),
            r[1].parse::<usize>().unwrap(),
        );
        let el = if r[2] == "1" { "Li" } else { "S" };
        assert_eq!(t.species[a], el, "atom {a}");
        let want: Vec<f64> = r[3..6].iter().map(|v| v.parse().unwrap()).collect();
        let cell = t.cell_rows(f);
        let got: Vec<f64> = (0..3)
            .map(|j| (0..3).map(|k| t.frac[[f, a, k]] as f64 * cell[k][j]).sum())
            .collect();
        let d = min_image(&t, f, [got[0], got[1], got[2]], [want[0], want[1], want[2]]);
        assert!(
            d < 2e-5 * 15.0,
            "frame {f} atom {a}: {got:?} vs MDAnalysis {want:?} ({d} Å)"
        );
    }
    for r in csv_rows(&lammps_dir().join("walk.mda-cells.csv")) {
        let f: usize = r[0].parse().unwrap();
        let v: Vec<f64> = r[1..].iter().map(|x| x.parse().unwrap()).collect();
        let c = t.cell_rows(f);
        let len = |i: usize| (c[i][0].powi(2) + c[i][1].powi(2) + c[i][2].powi(2)).sqrt();
        let ang = |i: usize, j: usize| {
            ((0..3).map(|k| c[i][k] * c[j][k]).sum::<f64>() / len(i) / len(j))
                .acos()
                .to_degrees()
        };
        let got = [len(0), len(1), len(2), ang(1, 2), ang(0, 2), ang(0, 1)];
        for (g, w) in got.iter().zip(&v) {
            assert!(
                (g - w).abs() < 1e-4,
                "frame {f}: cell {got:?} vs MDAnalysis {v:?}"
            );
        }
    }
    // LAMMPS's text dump of the same frames (9 significant digits; DCD is float32).
    let text = read_trajectory(
        &lammps_dir().join("walk.lammpstrj.gz"),
        &TrajReadOptions {
            type_map: parse_type_map("1=Li,2=S").unwrap(),
            ..dcd_opts(None)
        },
    )
    .unwrap();
    assert_eq!(text.species, t.species);
    assert_eq!(text.dt_ps, t.dt_ps);
    for f in [0, 17, 60] {
        for a in 0..60 {
            let cart = |tr: &superion::traj::Trajectory| -> [f64; 3] {
                let c = tr.cell_rows(f);
                std::array::from_fn(|j| (0..3).map(|k| tr.frac[[f, a, k]] as f64 * c[k][j]).sum())
            };
            let d = min_image(&t, f, cart(&t), cart(&text));
            assert!(
                d < 3e-5 * 15.0,
                "frame {f} atom {a}: {d} Å from the text dump"
            );
        }
    }
    let (m1, m2) = (li_msd_of(&t, true), li_msd_of(&text, true));
    for (a, b) in m1.msd_a2.iter().zip(&m2.msd_a2) {
        assert!((a - b).abs() <= 1e-4 * b.abs() + 1e-6, "MSD {a} vs {b}");
    }
}

/// The topology may be any trajectory superion reads (its first frame names the
/// atoms); a type map overrides the masses; and every problem is named.
#[test]
fn dcd_topologies_and_their_problems() {
    let dir = tempdir("dcd");
    let dcd = lammps_dir().join("walk.dcd");
    let by_data = read_trajectory(&dcd, &dcd_opts(Some("walk.data"))).unwrap();
    let by_dump = read_trajectory(
        &dcd,
        &TrajReadOptions {
            type_map: parse_type_map("1=Li,2=S").unwrap(),
            ..dcd_opts(Some("walk.lammpstrj.gz"))
        },
    )
    .unwrap();
    assert_eq!(by_dump.species, by_data.species);
    assert_eq!(by_dump.frac, by_data.frac);
    let mapped = read_trajectory(
        &dcd,
        &TrajReadOptions {
            type_map: parse_type_map("1=Na").unwrap(),
            ..dcd_opts(Some("walk.data"))
        },
    )
    .unwrap();
    assert_eq!(mapped.species.iter().filter(|s| *s == "Na").count(), 36);
    assert_eq!(mapped.species.iter().filter(|s| *s == "S").count(), 24);
    // Frames chosen: the stride follows the kept frames' steps.
    let some = read_trajectory(
        &dcd,
        &TrajReadOptions {
            frames: superion::io::traj_input::FrameRange {
                start: 10,
                stop: Some(40),
                every: 3,
            },
            ..dcd_opts(Some("walk.data"))
        },
    )
    .unwrap();
    assert_eq!(some.n_frames(), 10);
    assert!((some.dt_ps.unwrap() - 0.06).abs() < 1e-12);
    assert_eq!(
        some.frac.index_axis(ndarray::Axis(0), 1),
        by_data.frac.index_axis(ndarray::Axis(0), 13)
    );

    let e = |o: &TrajReadOptions, p: &Path| read_trajectory(p, o).unwrap_err().to_string();
    let m = e(&dcd_opts(None), &dcd);
    assert!(
        m.contains("names no atoms") && m.contains("topology"),
        "{m}"
    );
    // A data file with a mass that names no element, and one with too few atoms.
    let data = std::fs::read_to_string(lammps_dir().join("walk.data")).unwrap();
    let odd = dir.join("odd.data");
    std::fs::write(&odd, data.replace("2 32.06", "2 31.5")).unwrap();
    let m = e(
        &TrajReadOptions {
            topology: Some(odd.clone()),
            ..dcd_opts(None)
        },
        &dcd,
    );
    assert!(
        m.contains("odd.data") && m.contains("31.5") && m.contains("type_map"),
        "{m}"
    );
    let few = dir.join("few.data");
    std::fs::write(&few, data.replace("60 atoms", "59 atoms")).unwrap();
    let m = e(
        &TrajReadOptions {
            topology: Some(few),
            ..dcd_opts(None)
        },
        &dcd,
    );
    assert!(m.contains("59 atoms") && m.contains("lists 60"), "{m}");
    // A DCD cut short: the complete frames on request, else an error that says so.
    let bytes = std::fs::read(&dcd).unwrap();
    let cut = dir.join("cut.dcd");
    std::fs::write(&cut, &bytes[..bytes.len() - 100]).unwrap();
    let m = e(&dcd_opts(Some("walk.data")), &cut);
    assert!(
        m.contains("frame 61 is truncated") && m.contains("allow_truncated"),
        "{m}"
    );
    let t = read_trajectory(
        &cut,
        &TrajReadOptions {
            allow_truncated: true,
            ..dcd_opts(Some("walk.data"))
        },
    )
    .unwrap();
    assert_eq!(t.n_frames(), 60);
    // A record whose two length markers differ is named by its byte.
    let mut bad = bytes.clone();
    let at = bad.len() - 4;
    bad[at] ^= 1;
    let badp = dir.join("bad.dcd");
    std::fs::write(&badp, &bad).unwrap();
    let m = e(&dcd_opts(Some("walk.data")), &badp);
    assert!(
        m.contains("bad.dcd") && m.contains("byte") && m.contains("lengths differ"),
        "{m}"
    );
    // Not a DCD at all.
    let m = e(
        &TrajReadOptions {
            format: Some(TrajFormat::Dcd),
            ..dcd_opts(Some("walk.data"))
        },
        &lammps_dir().join("walk.data"),
    );
    assert!(m.contains("not a DCD"), "{m}");
}

/// `traj convert --out x.dcd` writes a DCD that reads back (with the input as its
/// topology) as the same frames in the same cells, triclinic and fluctuating ones
/// included, with the same MSD; the header holds the time step in AKMA units.
#[test]
fn a_trajectory_written_as_dcd_reads_back_as_the_same_frames() {
    let dir = tempdir("dcd-write");
    let w = walk(60, 24);
    write_xdatcar(&dir.join("XDATCAR"), &w);
    let out = dir.join("walk.dcd");
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_superion"))
        .args(["--backend", "cpu", "traj", "convert"])
        .arg(dir.join("XDATCAR"))
        .args(["--timestep-fs", "2", "--stride", "50", "--out"])
        .arg(&out)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("--topology") && err.contains("time between frames is in its header"),
        "{err}"
    );
    // Read back with no time options: the time between frames is the header's.
    let opts = |topology: &Path| TrajReadOptions {
        topology: Some(topology.to_path_buf()),
        ..Default::default()
    };
    let orig = read_trajectory(
        &dir.join("XDATCAR"),
        &TrajReadOptions {
            time: TimeStep {
                timestep_fs: Some(2.0),
                stride: Some(50),
            },
            ..Default::default()
        },
    )
    .unwrap();
    let back = read_trajectory(&out, &opts(&dir.join("XDATCAR"))).unwrap();
    assert_eq!(back.species, orig.species);
    // f32 DELTA in AKMA units: the 0.1 ps to 4e-8 ps.
    assert!(
        (back.dt_ps.unwrap() - orig.dt_ps.unwrap()).abs() < 1e-7,
        "{:?}",
        back.notes
    );
    assert!(
        back.notes.iter().any(|n| n.contains("from the DCD header")
            && n.contains("NSAVC 1 x DELTA 2.0455 AKMA (100 fs)")),
        "{:?}",
        back.notes
    );
    // The MD step given as the time step (issue 30: D came out 50 times too large,
    // unwarned): the given time is used and the disagreement with the header said.
    let md_step = read_trajectory(
        &out,
        &TrajReadOptions {
            time: TimeStep {
                timestep_fs: Some(2.0),
                stride: None,
            },
            ..opts(&dir.join("XDATCAR"))
        },
    )
    .unwrap();
    assert!((md_step.dt_ps.unwrap() - 0.002).abs() < 1e-12);
    assert!(
        md_step.notes.iter().any(|n| n.starts_with("warning:")
            && n.contains("2 fs between frames")
            && n.contains("= 100 fs")),
        "{:?}",
        md_step.notes
    );
    // Given as the original run's step and stride, it agrees: no warning.
    let agreed = read_trajectory(
        &out,
        &TrajReadOptions {
            time: TimeStep {
                timestep_fs: Some(2.0),
                stride: Some(50),
            },
            ..opts(&dir.join("XDATCAR"))
        },
    )
    .unwrap();
    assert!(
        !agreed.notes.iter().any(|n| n.contains("warning")),
        "{:?}",
        agreed.notes
    );
    let frac_close = |a: &superion::traj::Trajectory, b: &superion::traj::Trajectory| {
        for (x, y) in a.frac.iter().zip(b.frac.iter()) {
            let d = (x - y) - (x - y).round();
            assert!(d.abs() < 2e-6, "{x} vs {y}");
        }
    };
    frac_close(&back, &orig);
    let li = |t: &superion::traj::Trajectory| li_msd_of(t, true).msd_a2;
    for (a, b) in li(&back).iter().zip(&li(&orig)) {
        assert!((a / b - 1.0).abs() < 1e-5, "{a} vs {b}");
    }
    // The header: 60 frames, one step per frame, the step in AKMA units.
    let bytes = std::fs::read(&out).unwrap();
    let int = |i: usize| i32::from_le_bytes(bytes[8 + 4 * i..12 + 4 * i].try_into().unwrap());
    assert_eq!((int(0), int(2), int(10), int(19)), (60, 1, 1, 24));
    let delta = f32::from_le_bytes(bytes[44..48].try_into().unwrap()) as f64;
    assert!(
        (delta * superion::io::dcd::AKMA_PS - 0.1).abs() < 1e-7,
        "{delta}"
    );
    // A triclinic, fluctuating cell: the same fractional positions and cell shape
    // (DCD turns the cell to a along x, b in the xy plane).
    let t = 20;
    let cells = ndarray::Array3::from_shape_fn((t, 3, 3), |(f, i, j)| {
        let s = 1.0 + 0.02 * (f as f64 * 0.5).sin();
        let c = [[10.0, 0.0, 0.0], [2.0, 9.0, 0.0], [1.0, -1.5, 11.0]];
        (c[i][j] * s) as f32
    });
    let tri = superion::traj::Trajectory {
        frac: orig.frac.slice(ndarray::s![..t, .., ..]).to_owned(),
        cells,
        ..orig.clone()
    };
    let p = dir.join("tri.dcd");
    superion::io::dcd::write(&tri, &p).unwrap();
    let back = read_trajectory(&p, &opts(&dir.join("XDATCAR"))).unwrap();
    frac_close(&back, &tri);
    for f in 0..t {
        let (a, b) = (back.cell_rows(f), tri.cell_rows(f));
        let g =
            |m: [[f64; 3]; 3], i: usize, j: usize| (0..3).map(|k| m[i][k] * m[j][k]).sum::<f64>();
        for i in 0..3 {
            for j in 0..3 {
                assert!(
                    (g(a, i, j) - g(b, i, j)).abs() < 1e-3,
                    "frame {f} metric {i}{j}"
                );
            }
        }
    }
}

// ---------- XTC (GROMACS) with a topology ----------

fn xtc_dir() -> std::path::PathBuf {
    std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("data/xtc")
}

/// Every row of an MDAnalysis CSV (`data/xtc/make.py`) against `t`: the same box
/// (lengths, angles), step, time and position (up to a lattice translation).
fn same_as_mdanalysis(t: &superion::traj::Trajectory, csv: &Path, frames: &[usize], tol_a: f64) {
    let rows = csv_rows(csv);
    assert_eq!(rows.len(), frames.len() * t.n_atoms(), "{}", csv.display());
    for r in rows {
        let v: Vec<f64> = r.iter().map(|x| x.parse().unwrap()).collect();
        let (f, a) = (v[0] as usize, v[3] as usize);
        assert!(frames.contains(&f));
        let c = t.cell_rows(f);
        let len = |i: usize| (c[i][0].powi(2) + c[i][1].powi(2) + c[i][2].powi(2)).sqrt();
        let ang = |i: usize, j: usize| {
            ((0..3).map(|k| c[i][k] * c[j][k]).sum::<f64>() / len(i) / len(j))
                .acos()
                .to_degrees()
        };
        let cell = [len(0), len(1), len(2), ang(1, 2), ang(0, 2), ang(0, 1)];
        for (g, w) in cell.iter().zip(&v[7..13]) {
            assert!(
                (g - w).abs() < 2e-4 * w.abs(),
                "frame {f}: cell {cell:?} vs {:?}",
                &v[7..]
            );
        }
        let got: [f64; 3] =
            std::array::from_fn(|j| (0..3).map(|k| t.frac[[f, a, k]] as f64 * c[k][j]).sum());
        let d = min_image(t, f, got, [v[4], v[5], v[6]]);
        assert!(
            d < tol_a,
            "frame {f} atom {a}: {got:?} vs MDAnalysis {:?} ({d} Å)",
            &v[4..7]
        );
    }
}

/// XTCs read as MDAnalysis 2.11 reads them: MDAnalysisTests' test.xtc (uncompressed,
/// a triclinic box that changes every frame; atoms named by its PDB) and walk.xtc
/// (GROMACS's compression, written by MDAnalysis from LAMMPS's DCD; atoms named by the
/// LAMMPS data file): boxes, positions, the time between frames from the file, and
/// the MSD of the DCD it came from. Streamed, the MSD is the in-memory one.
#[test]
fn xtc_reads_as_mdanalysis_and_gives_the_msd_of_the_same_run() {
    let opts = |top: std::path::PathBuf, map: &str| TrajReadOptions {
        topology: Some(top),
        type_map: parse_type_map(map).unwrap_or_default(),
        ..Default::default()
    };
    let t = read_trajectory(
        &xtc_dir().join("test.xtc"),
        &opts(xtc_dir().join("test_topology.pdb"), "CA=Li"),
    )
    .unwrap();
    assert_eq!((t.n_frames(), t.n_atoms()), (5, 5));
    assert!(t.species.iter().all(|s| s == "Li"));
    assert!((t.dt_ps.unwrap() - 1.0).abs() < 1e-12, "{:?}", t.notes);
    same_as_mdanalysis(&t, &xtc_dir().join("test.mda.csv"), &[0, 1, 2, 3, 4], 1e-3);
    // Without the type map, "CA" with no element column could be calcium or an alpha
    // carbon: refused with both readings named, never guessed (issue 30: it became Ca).
    let e = read_trajectory(
        &xtc_dir().join("test.xtc"),
        &opts(xtc_dir().join("test_topology.pdb"), ""),
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("test_topology.pdb:3")
            && e.contains("\"CA\"")
            && e.contains("Ca or as C")
            && e.contains("type_map"),
        "{e}"
    );
    // Names aligned as PDB aligns them (" CA " is carbon, "CL  " left-justified is
    // ambiguous), an element column that settles it, and unambiguous names.
    let dir = tempdir("pdb-names");
    let pdb = |names: &[&str], element: bool| {
        let mut t = String::from("CRYST1   80.000   80.000   80.000  60.00  60.00  90.00\n");
        for (i, n) in names.iter().enumerate() {
            t += &format!(
                "ATOM  {:>5} {n:<4} MET     1    {:8.3}{:8.3}{:8.3}  1.00  0.00{}\n",
                i + 1,
                i as f64,
                i as f64,
                i as f64,
                if element {
                    format!("          {:>2}", n.trim().get(..1).unwrap())
                } else {
                    String::new()
                }
            );
        }
        let p = dir.join(format!("t{}.pdb", names.len() * 2 + element as usize));
        std::fs::write(&p, t).unwrap();
        p
    };
    let species = |p: std::path::PathBuf| {
        read_trajectory(&xtc_dir().join("test.xtc"), &opts(p, "")).map(|t| t.species)
    };
    assert_eq!(
        species(pdb(&[" CA ", " HG ", "LI  ", "S1  ", " O  "], false)).unwrap(),
        ["C", "H", "Li", "S", "O"]
    );
    assert_eq!(
        species(pdb(&["CA  ", "HG  ", "CA  ", "HG  ", "CA  "], true)).unwrap(),
        ["C", "H", "C", "H", "C"]
    );
    let e = species(pdb(&["LI  ", "CL  ", "LI  ", "LI  ", "LI  "], false))
        .unwrap_err()
        .to_string();
    assert!(e.contains(":3:") && e.contains("Cl or as C"), "{e}");

    let xtc = xtc_dir().join("walk.xtc");
    let w = read_trajectory(&xtc, &opts(lammps_dir().join("walk.data"), "")).unwrap();
    assert_eq!((w.n_frames(), w.n_atoms()), (61, 60));
    assert!((w.dt_ps.unwrap() - 0.02).abs() < 1e-9, "{:?}", w.notes);
    // GROMACS's compression keeps 0.001 nm: within 0.006 Å of MDAnalysis.
    same_as_mdanalysis(&w, &xtc_dir().join("walk.mda.csv"), &[0, 30, 60], 6e-3);
    let dcd =
        read_trajectory(&lammps_dir().join("walk.dcd"), &dcd_opts(Some("walk.data"))).unwrap();
    assert_eq!(w.species, dcd.species);
    let (a, b) = (li_msd_of(&w, true), li_msd_of(&dcd, true));
    for (x, y) in a.msd_a2.iter().zip(&b.msd_a2).skip(1) {
        assert!((x / y - 1.0).abs() < 2e-3, "MSD {x} vs the DCD's {y}");
    }
    // With --timestep-fs the stride comes from the steps (20).
    let given = read_trajectory(
        &xtc,
        &TrajReadOptions {
            time: TimeStep {
                timestep_fs: Some(1.0),
                stride: None,
            },
            ..opts(lammps_dir().join("walk.data"), "")
        },
    )
    .unwrap();
    assert!((given.dt_ps.unwrap() - 0.02).abs() < 1e-12);
    // Streamed: the in-memory MSD, the time read from the file.
    let o = superion::traj::msd::MsdOptions {
        species: "Li".into(),
        drift_correction: true,
        lags: superion::traj::msd::LagGrid::All,
        long_step_a: None,
        axes: Default::default(),
    };
    let mut sink = superion::traj::stream::MsdStream::new(
        &o,
        &superion::traj::stream::StreamOptions::default(),
        &xtc,
    );
    let got = superion::io::traj_input::stream_trajectory(
        &xtc,
        &opts(lammps_dir().join("walk.data"), ""),
        &mut sink,
    )
    .unwrap();
    assert_eq!(got.dt_ps, w.dt_ps.unwrap());
    let s = sink.finish(&Engine::cpu(), got.dt_ps, None).unwrap();
    let m = superion::traj::msd::msd(&Engine::cpu(), &w, &o).unwrap();
    for (x, y) in s.msd.msd_a2.iter().zip(&m.msd_a2) {
        assert!((x - y).abs() <= 1e-12 * y.abs().max(1e-9), "{x} vs {y}");
    }
}

/// XTC problems are named: no topology, a topology of another size, a frame cut
/// short (or allowed), a frame that is not an XTC frame.
#[test]
fn xtc_problems_name_the_file_and_frame() {
    let dir = tempdir("xtc");
    let xtc = xtc_dir().join("walk.xtc");
    let read = |p: &Path, top: Option<std::path::PathBuf>, cut: bool| {
        read_trajectory(
            p,
            &TrajReadOptions {
                topology: top,
                allow_truncated: cut,
                ..Default::default()
            },
        )
    };
    let e = read(&xtc, None, false).unwrap_err().to_string();
    assert!(
        e.contains("an XTC names no atoms") && e.contains("topology"),
        "{e}"
    );
    // A five-atom topology (MDAnalysis's, its "CA" atoms named Li) for a 60-atom XTC.
    let five = dir.join("five.pdb");
    std::fs::write(
        &five,
        std::fs::read_to_string(xtc_dir().join("test_topology.pdb"))
            .unwrap()
            .replace(" CA ", " LI "),
    )
    .unwrap();
    let e = read(&xtc, Some(five), false).unwrap_err().to_string();
    assert!(e.contains("60 atoms, but the topology names 5"), "{e}");
    let top = Some(lammps_dir().join("walk.data"));
    let bytes = std::fs::read(&xtc).unwrap();
    let cut = dir.join("cut.xtc");
    std::fs::write(&cut, &bytes[..bytes.len() - 100]).unwrap();
    let e = read(&cut, top.clone(), false).unwrap_err().to_string();
    assert!(
        e.contains("frame 61 is cut short") && e.contains("cut.xtc"),
        "{e}"
    );
    let t = read(&cut, top.clone(), true).unwrap();
    assert_eq!(t.n_frames(), 60);
    let mut bad = bytes.clone();
    let second = bytes.len() / 61; // frames are about the same size
    let at = (second..bytes.len())
        .find(|&i| bytes[i..i + 4] == 1995i32.to_be_bytes())
        .unwrap();
    bad[at + 3] ^= 0x55;
    let badp = dir.join("bad.xtc");
    std::fs::write(&badp, &bad).unwrap();
    let e = read(&badp, top, false).unwrap_err().to_string();
    assert!(
        e.contains("bad.xtc") && e.contains("not an XTC frame"),
        "{e}"
    );
}

/// `traj convert --out x.xtc` writes an XTC that reads back (with the input as its
/// topology) as the same frames to GROMACS's 0.001 nm, with the time between frames
/// from the file and the same MSD; more than 9 atoms, so compressed.
#[test]
fn a_trajectory_written_as_xtc_reads_back_as_the_same_frames() {
    let dir = tempdir("xtc-write");
    let w = walk(60, 24);
    write_xdatcar(&dir.join("XDATCAR"), &w);
    let out = dir.join("walk.xtc");
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_superion"))
        .args(["--backend", "cpu", "traj", "convert"])
        .arg(dir.join("XDATCAR"))
        .args(["--timestep-fs", "2", "--stride", "50", "--out"])
        .arg(&out)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("--topology"), "{err}");
    let orig = read_trajectory(
        &dir.join("XDATCAR"),
        &TrajReadOptions {
            time: TimeStep {
                timestep_fs: Some(2.0),
                stride: Some(50),
            },
            ..Default::default()
        },
    )
    .unwrap();
    let back = read_trajectory(
        &out,
        &TrajReadOptions {
            topology: Some(dir.join("XDATCAR")),
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(back.species, orig.species);
    assert!((back.dt_ps.unwrap() - 0.1).abs() < 1e-6, "{:?}", back.notes);
    for f in 0..orig.n_frames() {
        for a in 0..orig.n_atoms() {
            let cart = |t: &superion::traj::Trajectory| -> [f64; 3] {
                let c = t.cell_rows(f);
                std::array::from_fn(|j| (0..3).map(|k| t.frac[[f, a, k]] as f64 * c[k][j]).sum())
            };
            let d = min_image(&orig, f, cart(&back), cart(&orig));
            assert!(d < 0.009, "frame {f} atom {a}: {d} Å");
        }
    }
    let li = |t: &superion::traj::Trajectory| li_msd_of(t, true).msd_a2;
    for (a, b) in li(&back).iter().zip(&li(&orig)).skip(1) {
        assert!((a / b - 1.0).abs() < 1e-2, "{a} vs {b}");
    }
}

/// ZnH5MD's layout (MDAnalysisTests' cu.h5md): the species are time-dependent
/// (`species/value`, frames × atoms) and the box boundary a dataset. Read with the type
/// map; positions against h5py's reading of the same file; a run whose species change
/// (species-change.h5md, made by data/h5md/make_species.py) is refused with the reason.
#[test]
fn znh5md_time_dependent_species_name_the_atoms() {
    let dir = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("data/h5md");
    let opts = TrajReadOptions {
        type_map: parse_type_map("29=Cu").unwrap(),
        ..Default::default()
    };
    let t = read_trajectory(&dir.join("cu.h5md"), &opts).unwrap();
    assert_eq!((t.n_frames(), t.n_atoms()), (20, 108));
    assert!(t.species.iter().all(|s| s == "Cu"));
    assert!((t.dt_ps.unwrap() - 0.001).abs() < 1e-12, "{:?}", t.notes);
    // h5py: position/value[0, 0], [0, 107], [19, 0], [19, 107] (Å, a 10.83 Å cube).
    let want = [
        (0, 0, [0.07884859, -0.03009585, -0.02360368]),
        (0, 107, [7.33639151, 9.06364009, 9.02582831]),
        (19, 0, [0.28879815, 0.09920622, -0.19033865]),
        (19, 107, [7.56304476, 9.09974932, 8.83684305]),
    ];
    for (f, a, w) in want {
        let c = t.cell_rows(f);
        let cart: [f64; 3] =
            std::array::from_fn(|j| (0..3).map(|k| t.frac[[f, a, k]] as f64 * c[k][j]).sum());
        assert!(
            min_image(&t, f, cart, w) < 1e-4,
            "frame {f} atom {a}: {cart:?}"
        );
    }
    // Without a type map the integers cannot name elements: said so.
    let e = read_trajectory(&dir.join("cu.h5md"), &TrajReadOptions::default())
        .unwrap_err()
        .to_string();
    assert!(e.contains("type") && e.contains("cu.h5md"), "{e}");
    let e = read_trajectory(
        &dir.join("species-change.h5md"),
        &TrajReadOptions {
            type_map: parse_type_map("3=Li,17=Cl").unwrap(),
            ..Default::default()
        },
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("species change") && e.contains("species-change.h5md"),
        "{e}"
    );
}

/// MDAnalysisTests' test.h5md (the frames of test.xtc with velocities, written by
/// MDAnalysis) read as MDAnalysis 2.11 reads it: boxes, positions and velocities, the
/// time between frames from the file; the same frames as the XTC; a frame range; and
/// the atoms must be named.
#[test]
fn h5md_reads_as_mdanalysis_and_as_the_same_frames_in_xtc() {
    let h5 = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("data/h5md/test.h5md");
    use superion::io::traj_input::FrameRange;
    let opts = |frames: FrameRange| TrajReadOptions {
        topology: Some(xtc_dir().join("test_topology.pdb")),
        type_map: parse_type_map("CA=Li").unwrap(),
        frames,
        ..Default::default()
    };
    let t = read_trajectory(&h5, &opts(FrameRange::default())).unwrap();
    assert_eq!((t.n_frames(), t.n_atoms()), (5, 5));
    assert!((t.dt_ps.unwrap() - 1.0).abs() < 1e-12, "{:?}", t.notes);
    let csv = h5.with_file_name("test.mda.csv");
    let rows = csv_rows(&csv);
    // Positions and boxes (columns 4-6 and 10-15), as same_as_mdanalysis reads them.
    let dir = tempdir("h5md");
    let slim = dir.join("slim.csv");
    let mut text = String::from("frame,step,time_ps,atom,x,y,z,a,b,c,alpha,beta,gamma\n");
    for r in &rows {
        let keep: Vec<&str> = r[..7].iter().chain(&r[10..]).map(|s| s.as_str()).collect();
        text += &(keep.join(",") + "\n");
    }
    std::fs::write(&slim, text).unwrap();
    same_as_mdanalysis(&t, &slim, &[0, 1, 2, 3, 4], 1e-4);
    let v = t.velocities.as_ref().expect("the file has velocities");
    for r in &rows {
        let (f, a): (usize, usize) = (r[0].parse().unwrap(), r[3].parse().unwrap());
        for x in 0..3 {
            let want: f64 = r[7 + x].parse().unwrap();
            assert!(
                (v[[f, a, x]] as f64 - want).abs() < 1e-5,
                "frame {f} atom {a}"
            );
        }
    }
    let x = read_trajectory(
        &xtc_dir().join("test.xtc"),
        &TrajReadOptions {
            topology: Some(xtc_dir().join("test_topology.pdb")),
            type_map: parse_type_map("CA=Li").unwrap(),
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(x.species, t.species);
    for f in 0..5 {
        for a in 0..5 {
            let cart = |tr: &superion::traj::Trajectory| -> [f64; 3] {
                let c = tr.cell_rows(f);
                std::array::from_fn(|j| (0..3).map(|k| tr.frac[[f, a, k]] as f64 * c[k][j]).sum())
            };
            assert!(min_image(&t, f, cart(&t), cart(&x)) < 1e-3);
        }
    }
    // Frames 1 and 3: a hyperslab read, the time between them doubled.
    let some = read_trajectory(
        &h5,
        &opts(FrameRange {
            start: 1,
            stop: Some(4),
            every: 2,
        }),
    )
    .unwrap();
    assert_eq!(some.n_frames(), 2);
    assert!((some.dt_ps.unwrap() - 2.0).abs() < 1e-12);
    assert_eq!(
        some.frac.index_axis(ndarray::Axis(0), 1),
        t.frac.index_axis(ndarray::Axis(0), 3)
    );
    // Streamed (hyperslabs of frames): the in-memory MSD.
    let o = superion::traj::msd::MsdOptions {
        species: "Li".into(),
        drift_correction: false,
        lags: superion::traj::msd::LagGrid::All,
        long_step_a: None,
        axes: Default::default(),
    };
    let mut sink = superion::traj::stream::MsdStream::new(
        &o,
        &superion::traj::stream::StreamOptions::default(),
        &h5,
    );
    let got =
        superion::io::traj_input::stream_trajectory(&h5, &opts(FrameRange::default()), &mut sink)
            .unwrap();
    assert_eq!((got.frames, got.dt_ps), (5, 1.0));
    let s = sink.finish(&Engine::cpu(), got.dt_ps, None).unwrap();
    let m = superion::traj::msd::msd(&Engine::cpu(), &t, &o).unwrap();
    assert_eq!(s.msd.msd_a2.len(), m.msd_a2.len());
    for (a, b) in s.msd.msd_a2.iter().zip(&m.msd_a2) {
        assert!((a - b).abs() <= 1e-12 * b.abs().max(1e-9), "{a} vs {b}");
    }
    // No species in the file and no topology: said so.
    let e = read_trajectory(&h5, &TrajReadOptions::default())
        .unwrap_err()
        .to_string();
    assert!(e.contains("topology") && e.contains("test.h5md"), "{e}");
}

/// The same XDATCAR stored plain, gzipped, as zstd (two frames one after another, as
/// `pzstd` writes) and as xz reads as the same frames, in memory and streamed;
/// compression is told by content, not name.
#[test]
fn gzip_zstd_and_xz_read_as_the_plain_file() {
    use std::io::Write;
    let dir = tempdir("packed");
    let plain = dir.join("XDATCAR");
    let w = walk(40, 12);
    write_xdatcar(&plain, &w);
    let bytes = std::fs::read(&plain).unwrap();
    let gz = {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(&bytes).unwrap();
        e.finish().unwrap()
    };
    let half = bytes.len() / 2;
    let mut zst = Vec::new();
    for part in [&bytes[..half], &bytes[half..]] {
        zst.extend(ruzstd::encoding::compress_to_vec(
            part,
            ruzstd::encoding::CompressionLevel::Fastest,
        ));
    }
    let xz = {
        let mut e = xz2::write::XzEncoder::new(Vec::new(), 3);
        e.write_all(&bytes).unwrap();
        e.finish().unwrap()
    };
    let opts = TrajReadOptions {
        time: TimeStep {
            timestep_fs: Some(2.0),
            stride: Some(50),
        },
        ..Default::default()
    };
    let want = read_trajectory(&plain, &opts).unwrap();
    for (name, data) in [
        ("a.XDATCAR.gz", gz),
        ("b.XDATCAR.zst", zst),
        ("c_XDATCAR.xz", xz),
    ] {
        let p = dir.join(name);
        std::fs::write(&p, &data).unwrap();
        let got = read_trajectory(&p, &opts).unwrap();
        assert_eq!(got.frac, want.frac, "{name}");
        let (a, b) = (li_msd_of(&got, true), li_msd_of(&want, true));
        assert_eq!(a.msd_a2, b.msd_a2, "{name}");
    }
    // Damaged: the error names the file and the compression.
    let mut bad = std::fs::read(dir.join("b.XDATCAR.zst")).unwrap();
    let n = bad.len();
    bad.truncate(n / 2);
    std::fs::write(dir.join("bad.XDATCAR.zst"), &bad).unwrap();
    let e = read_trajectory(&dir.join("bad.XDATCAR.zst"), &opts)
        .map(|_| ())
        .unwrap_err()
        .to_string();
    assert!(e.contains("bad.XDATCAR.zst"), "{e}");
}

// ---------- VASP vasprun.xml ----------

fn vasprun_dir() -> std::path::PathBuf {
    std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("data/vasprun")
}

fn si_msd_of(t: &superion::traj::Trajectory) -> superion::traj::msd::Msd {
    msd(
        &Engine::cpu(),
        t,
        &MsdOptions {
            species: "Si".into(),
            drift_correction: false,
            lags: LagGrid::All,
            long_step_a: None,
            axes: Default::default(),
        },
    )
    .unwrap()
}

/// A vasprun.xml written by VASP 5.4.1 (parsevasp's test data: a variable-cell
/// relaxation of 8 Si, 19 ionic steps): cells and positions as ASE 3.29 reads them, the
/// same MSD as ASE's extended XYZ of the same steps, in memory and streamed; the time
/// from POTIM only for molecular dynamics; a file cut inside a step (aiida-vasp's test
/// data) read to its last complete step only when allowed.
#[test]
fn vasprun_reads_as_ase_and_gives_the_msd_of_the_same_steps_in_extended_xyz() {
    use superion::io::traj_input::FrameRange;
    let dir = vasprun_dir();
    let path = dir.join("vasprun.xml");
    let opts = |frames| TrajReadOptions {
        time: TimeStep {
            timestep_fs: Some(1.0),
            stride: None,
        },
        frames,
        ..Default::default()
    };
    let t = read_trajectory(&path, &opts(FrameRange::default())).unwrap();
    assert_eq!((t.n_frames(), t.n_atoms()), (19, 8));
    assert!(t.species.iter().all(|s| s == "Si"));
    assert_eq!(t.cells.shape()[0], 19, "the relaxing cell is kept per step");
    assert!(t.dt_ps.is_some_and(|d| (d - 0.001).abs() < 1e-15));
    // ASE's reading: every step's cell and Cartesian positions.
    let rows = csv_rows(&dir.join("vasprun.ase.csv"));
    assert_eq!(rows.len(), 19 * 8);
    let mut worst: f64 = 0.0;
    for r in &rows {
        let (k, i): (usize, usize) = (r[0].parse().unwrap(), r[1].parse().unwrap());
        assert_eq!(t.species[i], r[2]);
        let v: Vec<f64> = r[3..].iter().map(|x| x.parse().unwrap()).collect();
        let cell = t.cell_rows(k);
        for a in 0..3 {
            for b in 0..3 {
                assert!(
                    (cell[a][b] - v[3 + 3 * a + b]).abs() < 1e-6,
                    "step {k} cell"
                );
            }
        }
        let f = t.frac.slice(ndarray::s![k, i, ..]);
        let x: Vec<f64> = (0..3)
            .map(|j| (0..3).map(|a| f[a] as f64 * cell[a][j]).sum())
            .collect();
        for j in 0..3 {
            worst = worst.max((x[j] - v[j]).abs());
        }
    }
    assert!(worst < 1e-5, "positions differ from ASE's by {worst} Å");
    // The same steps as ASE writes them in extended XYZ: the same MSD.
    let x = read_trajectory(
        &dir.join("vasprun.ase.extxyz"),
        &TrajReadOptions {
            time: TimeStep {
                timestep_fs: Some(1.0),
                stride: Some(1),
            },
            ..Default::default()
        },
    )
    .unwrap();
    let (a, b) = (si_msd_of(&t), si_msd_of(&x));
    assert_eq!(a.msd_a2.len(), 18, "lags 1..18");
    for (a, b) in a.msd_a2.iter().zip(&b.msd_a2) {
        assert!((a - b).abs() <= 1e-5 * b.abs().max(1e-6), "{a} vs {b}");
    }
    // Streamed: the in-memory MSD.
    let o = MsdOptions {
        species: "Si".into(),
        drift_correction: false,
        lags: LagGrid::All,
        long_step_a: None,
        axes: Default::default(),
    };
    let mut sink = superion::traj::stream::MsdStream::new(
        &o,
        &superion::traj::stream::StreamOptions::default(),
        &path,
    );
    let got =
        superion::io::traj_input::stream_trajectory(&path, &opts(FrameRange::default()), &mut sink)
            .unwrap();
    assert_eq!(got.frames, 19);
    let s = sink.finish(&Engine::cpu(), got.dt_ps, None).unwrap();
    for (a, b) in s.msd.msd_a2.iter().zip(&si_msd_of(&t).msd_a2) {
        assert!((a - b).abs() <= 1e-12 * b.abs().max(1e-9), "{a} vs {b}");
    }
    // Chosen steps: those of the whole read; the rest counted, not parsed.
    let part = read_trajectory(
        &path,
        &opts(FrameRange {
            start: 2,
            stop: Some(15),
            every: 4,
        }),
    )
    .unwrap();
    assert_eq!(part.n_frames(), 4);
    assert_eq!(
        part.frac.index_axis(ndarray::Axis(0), 3),
        t.frac.index_axis(ndarray::Axis(0), 14)
    );
    assert!((part.dt_ps.unwrap() - 0.004).abs() < 1e-15);
    // A relaxation's steps are not times: asked for, not guessed.
    let e = read_trajectory(&path, &TrajReadOptions::default())
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("IBRION = 1, a relaxation") && e.contains("timestep_fs"),
        "{e}"
    );
    // Molecular dynamics (the same file marked IBRION = 0): POTIM is the time step.
    let tmp = tempdir("vasprun");
    let md = tmp.join("md.vasprun.xml");
    let text = std::fs::read_to_string(&path).unwrap();
    let text = text.replace(
        r#"<i type="int" name="IBRION">     1</i>"#,
        r#"<i type="int" name="IBRION">     0</i>"#,
    );
    std::fs::write(&md, &text).unwrap();
    let m = read_trajectory(&md, &TrajReadOptions::default()).unwrap();
    assert!((m.dt_ps.unwrap() - 0.0005).abs() < 1e-15, "POTIM 0.5 fs");
    assert!(
        m.notes.iter().any(|n| n.contains("POTIM 0.5 fs")),
        "{:?}",
        m.notes
    );
    // Cut inside the 19th step (aiida-vasp's relax-truncated, gzipped): an error
    // that says what to do, or the 18 complete steps, as ASE reads them.
    let cut = dir.join("truncated.vasprun.xml.gz");
    let e = read_trajectory(&cut, &opts(FrameRange::default()))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("truncated.vasprun.xml.gz")
            && e.contains("inside ionic step 19")
            && e.contains("18 complete")
            && e.contains("allow_truncated"),
        "{e}"
    );
    let mut o = opts(FrameRange::default());
    o.allow_truncated = true;
    let c = read_trajectory(&cut, &o).unwrap();
    assert_eq!(c.n_frames(), 18);
    assert_eq!(c.frac, t.frac.slice(ndarray::s![..18, .., ..]));
    // Damaged: the file and line named.
    let bad = tmp.join("bad.vasprun.xml");
    let k = text.find("<calculation>").unwrap();
    let damaged = text[k..].replacen("<v>       0.25000000", "<v>       0.25x00000", 1);
    std::fs::write(&bad, format!("{}{damaged}", &text[..k])).unwrap();
    let e = read_trajectory(&bad, &TrajReadOptions::default())
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("bad.vasprun.xml:") && e.contains("three finite numbers"),
        "{e}"
    );
    let fewer = tmp.join("fewer.vasprun.xml");
    let i = text.rfind("<rc><c>Si</c>").unwrap();
    let j = i + text[i..].find('\n').unwrap() + 1;
    std::fs::write(&fewer, format!("{}{}", &text[..i], &text[j..])).unwrap();
    let e = read_trajectory(&fewer, &TrajReadOptions::default())
        .unwrap_err()
        .to_string();
    assert!(e.contains("8 positions, expected 7"), "{e}");
    // Long enough to be read in several chunks in parallel (150 copies of the steps,
    // 24 MB): every step in order, a range across chunks, and a cut mid-file.
    let i = text.find(" <calculation>").unwrap();
    let j = text.rfind("</calculation>").unwrap() + "</calculation>\n".len();
    let long = format!("{}{}{}", &text[..i], text[i..j].repeat(150), &text[j..]);
    let big = tmp.join("long.vasprun.xml");
    std::fs::write(&big, &long).unwrap();
    let l = read_trajectory(&big, &TrajReadOptions::default()).unwrap();
    assert_eq!(l.n_frames(), 19 * 150);
    for k in [0, 18, 19, 1000, 2849] {
        assert_eq!(
            l.frac.index_axis(ndarray::Axis(0), k),
            t.frac.index_axis(ndarray::Axis(0), k % 19),
            "step {k}"
        );
    }
    let chosen = FrameRange {
        start: 700,
        stop: Some(2600),
        every: 7,
    };
    let o = TrajReadOptions {
        frames: chosen,
        ..Default::default()
    };
    let p = read_trajectory(&big, &o).unwrap();
    assert_eq!(p.n_frames(), (2600 - 700usize).div_ceil(7));
    for (q, k) in (700..2600).step_by(7).enumerate() {
        assert_eq!(
            p.frac.index_axis(ndarray::Axis(0), q),
            l.frac.index_axis(ndarray::Axis(0), k)
        );
    }
    let at = long.len() * 3 / 5;
    let complete = long[..at].matches("</structure>").count() - 1; // not initialpos
    let cut = tmp.join("cut.vasprun.xml");
    std::fs::write(&cut, &long[..at]).unwrap();
    let o = TrajReadOptions {
        allow_truncated: true,
        ..Default::default()
    };
    let c = read_trajectory(&cut, &o).unwrap();
    assert_eq!(c.n_frames(), complete);
    assert_eq!(c.frac, l.frac.slice(ndarray::s![..complete, .., ..]));
    let e = read_trajectory(&cut, &TrajReadOptions::default())
        .unwrap_err()
        .to_string();
    assert!(
        e.contains(&format!("the {complete} complete ionic steps")),
        "{e}"
    );
}

/// The reader registry is the one list of formats: every name (and alias) parses to
/// its reader, `--format` offers exactly these names, and an unknown one is refused
/// with the list.
#[test]
fn the_reader_registry_names_every_format_once() {
    use superion::io::traj_input::READERS;
    let names: Vec<&str> = READERS.iter().map(|r| r.name()).collect();
    let mut sorted = names.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(sorted.len(), names.len(), "{names:?}");
    for r in READERS {
        let f: TrajFormat = r.name().parse().unwrap();
        assert_eq!(f.reader().name(), r.name());
        for a in r.aliases() {
            assert_eq!(a.parse::<TrajFormat>().unwrap(), f);
        }
        assert_eq!(r.name().to_uppercase().parse::<TrajFormat>().unwrap(), f);
    }
    let e = "pdbx".parse::<TrajFormat>().unwrap_err().to_string();
    assert!(names.iter().all(|n| e.contains(n)), "{e}");
    let help = std::process::Command::new(env!("CARGO_BIN_EXE_superion"))
        .args(["traj", "msd", "--help"])
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&help.stdout);
    for r in READERS {
        assert!(help.contains(&format!("- {}:", r.name())), "{help}");
    }
}

//! Mutation fuzzing of every reader (issue 31): seeded byte mutations of real files of
//! each format, each read as a user's file would be and, when it reads, analysed, with
//! the address space capped so that an allocation sized by a corrupt header aborts
//! the test instead of passing unseen. A case fails on a panic, on a hang (a case that
//! runs past a bound) or by aborting the test binary.
//!
//! - `SUPERION_FUZZ_CASES` (default 120) mutated inputs per target; the default keeps
//!   CI short; the note of issue 31 quotes a run of 500 per target.
//! - every input that ever failed is kept in `tests/fuzz-regressions/<target>/` and read
//!   first, every run (a failure writes the input to `target/tmp/fuzz-failures/`;
//!   copy it there once fixed);
//! - a table of outcomes by target goes to `target/tmp/fuzz-table.md`.

mod common;

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use superion::io::traj_input::{TrajFormat, TrajReadOptions, read_trajectory};
use superion::traj::TimeStep;
use superion::{BackendChoice, Engine};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn shared() -> PathBuf {
    root().join("../shared/data")
}

/// splitmix64: a small, fixed generator (results are the same on every machine).
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }
}

/// Numbers that break parsers and the arithmetic behind them.
const EXTREME_TEXT: &[&str] = &[
    "1e308",
    "-6.9e274",
    "1e40",
    "nan",
    "inf",
    "-inf",
    "4294967296",
    "18446744073709551616",
    "1000000000000",
    "-1",
    "0",
    "1e-320",
    "99999999999999999999",
    "",
];
const EXTREME_WORDS: &[u32] = &[
    0,
    1,
    0x7FFF_FFFF,
    0x8000_0000,
    0xFFFF_FFFF,
    1_000_000_000,
    0x7F80_0000, // f32 +inf
    0x7FC0_0000, // f32 NaN
    0x7F7F_FFFF, // f32 max
    0xFF80_0000, // f32 -inf
];

/// One to three mutations of `seed`: bit flips, bytes overwritten, a number replaced
/// by an extreme one, a 4-byte word replaced (binary formats), a span deleted,
/// duplicated or cut off.
fn mutate(seed: &[u8], rng: &mut Rng) -> Vec<u8> {
    let mut b = seed.to_vec();
    for _ in 0..1 + rng.below(3) {
        if b.is_empty() {
            b.push(b'1');
        }
        let n = b.len();
        match rng.below(8) {
            0 => {
                for _ in 0..1 + rng.below(8) {
                    let i = rng.below(n);
                    b[i] ^= 1 << rng.below(8);
                }
            }
            1 => {
                const BYTES: &[u8] = b"\0\xff\n\r 9-+.eE:=\"'#";
                let i = rng.below(n);
                b[i] = BYTES[rng.below(BYTES.len())];
            }
            2 | 3 => {
                // A number token replaced (text formats).
                let starts: Vec<usize> = (0..n)
                    .filter(|&i| b[i].is_ascii_digit() && (i == 0 || !b[i - 1].is_ascii_digit()))
                    .collect();
                if starts.is_empty() {
                    continue;
                }
                let s = starts[rng.below(starts.len())];
                let mut e = s;
                while e < n && (b[e].is_ascii_digit() || b"+-.eE".contains(&b[e])) {
                    e += 1;
                }
                let w = EXTREME_TEXT[rng.below(EXTREME_TEXT.len())];
                b.splice(s..e, w.bytes());
            }
            4 => {
                if n >= 4 {
                    let i = rng.below(n / 4) * 4;
                    let w = EXTREME_WORDS[rng.below(EXTREME_WORDS.len())];
                    let bytes = if rng.below(2) == 0 {
                        w.to_le_bytes()
                    } else {
                        w.to_be_bytes()
                    };
                    b[i..i + 4].copy_from_slice(&bytes);
                }
            }
            5 => {
                let i = rng.below(n);
                let len = 1 + rng.below((n - i).min(256));
                b.drain(i..i + len);
            }
            6 => {
                let i = rng.below(n);
                let len = 1 + rng.below((n - i).min(512));
                let copy: Vec<u8> = b[i..i + len].to_vec();
                let at = rng.below(n);
                b.splice(at..at, copy);
            }
            _ => b.truncate(rng.below(n)),
        }
    }
    b
}

type Check = Box<dyn Fn(&Path) -> Result<(), String> + Send + Sync>;

/// A reader under test: the file it mutates (written as `name` into a fresh folder that
/// also holds `companions`), how its bytes are packed (compressed formats are mutated
/// before compression half the time, and as compressed bytes the other half), and what
/// is run on the result.
struct Target {
    name: &'static str,
    file: &'static str,
    seed: Vec<u8>,
    pack: fn(&[u8]) -> Vec<u8>,
    companions: Vec<(String, Vec<u8>)>,
    check: Check,
}

fn same(b: &[u8]) -> Vec<u8> {
    b.to_vec()
}

fn gz(b: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(b).unwrap();
    e.finish().unwrap()
}

fn xz(b: &[u8]) -> Vec<u8> {
    let mut e = xz2::write::XzEncoder::new(Vec::new(), 1);
    e.write_all(b).unwrap();
    e.finish().unwrap()
}

fn gunzip(p: &Path) -> Vec<u8> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(std::fs::File::open(p).unwrap())
        .read_to_end(&mut out)
        .unwrap();
    out
}

/// The first `n` lines of a text.
fn head(text: &[u8], n: usize) -> Vec<u8> {
    let mut lines = 0;
    for (i, &c) in text.iter().enumerate() {
        if c == b'\n' {
            lines += 1;
            if lines == n {
                return text[..=i].to_vec();
            }
        }
    }
    text.to_vec()
}

fn read(p: &Path) -> Vec<u8> {
    std::fs::read(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// Read a trajectory and, when it reads, compute its MSD: in memory on even cases,
/// streamed (the other reader path) on odd ones.
fn traj_check(format: TrajFormat, time: TimeStep, type_map: &str, topology: Option<&str>) -> Check {
    traj_check_of("Li", format, time, type_map, topology)
}

fn traj_check_of(
    species: &str,
    format: TrajFormat,
    time: TimeStep,
    type_map: &str,
    topology: Option<&str>,
) -> Check {
    let species = species.to_string();
    let type_map = type_map.to_string();
    let topology = topology.map(String::from);
    Box::new(move |path: &Path| {
        let opts = TrajReadOptions {
            format: Some(format),
            time,
            type_map: if type_map.is_empty() {
                Default::default()
            } else {
                superion::io::lammps::parse_type_map(&type_map).unwrap()
            },
            topology: topology.as_ref().map(|t| path.parent().unwrap().join(t)),
            ..Default::default()
        };
        let engine = Engine::new(BackendChoice::Cpu).unwrap();
        let dopts = superion::report::msd::DiffusionOptions {
            msd: superion::traj::msd::MsdOptions {
                species: species.clone(),
                drift_correction: true,
                lags: "all".parse().unwrap(),
                long_step_a: None,
                axes: "xyz".parse().unwrap(),
            },
            start_ps: None,
            temperature_k: Some(300.0),
            charge_e: Some(1.0),
        };
        let streamed = path.to_string_lossy().contains("stream");
        if streamed {
            let so = superion::traj::stream::StreamOptions {
                memory_bytes: 1 << 20,
                scratch_dir: Some(path.parent().unwrap().to_path_buf()),
            };
            superion::report::msd::diffusion_streamed(&engine, path, &opts, &dopts, &so)
                .map(|_| ())
                .map_err(|e| e.to_string())
        } else {
            let t = read_trajectory(path, &opts).map_err(|e| e.to_string())?;
            superion::report::msd::diffusion(&engine, &t, path, &dopts)
                .map(|_| ())
                .map_err(|e| e.to_string())
        }
    })
}

fn dt(fs: f64, stride: usize) -> TimeStep {
    TimeStep {
        timestep_fs: Some(fs),
        stride: Some(stride),
    }
}

fn none() -> TimeStep {
    TimeStep {
        timestep_fs: None,
        stride: None,
    }
}

fn targets() -> Vec<Target> {
    let data = root().join("data");
    let xdatcar = head(&gunzip(&data.join("Li6PS5Cl.XDATCAR.gz")), 7 + 6 * 417);
    // MDAnalysis's 5-atom topology with its atoms named Li (they are "CA").
    let li_pdb: Vec<u8> = String::from_utf8(read(&data.join("xtc/test_topology.pdb")))
        .unwrap()
        .replace(" CA ", " LI ")
        .into_bytes();
    let incar = b"POTIM = 2\nNBLOCK = 50\n".to_vec();
    let dump = head(&gunzip(&data.join("lammps/walk.lammpstrj.gz")), 4 * 69);
    let extxyz = head(&read(&data.join("ase/walk.extxyz")), 4 * 26);
    let mut t = vec![
        Target {
            name: "XDATCAR",
            file: "XDATCAR",
            seed: xdatcar.clone(),
            pack: same,
            companions: vec![("INCAR".into(), incar.clone())],
            check: traj_check(TrajFormat::Xdatcar, none(), "", None),
        },
        Target {
            name: "INCAR",
            file: "INCAR",
            seed: b"SYSTEM = argyrodite\nPOTIM = 2.0\nNBLOCK = 50\nTEBEG = 750\n".to_vec(),
            pack: same,
            companions: vec![("XDATCAR".into(), xdatcar.clone())],
            check: Box::new(|p: &Path| {
                traj_check(TrajFormat::Xdatcar, none(), "", None)(&p.with_file_name("XDATCAR"))
            }),
        },
        Target {
            name: "XDATCAR.gz",
            file: "XDATCAR.gz",
            seed: xdatcar.clone(),
            pack: gz,
            companions: vec![],
            check: traj_check(TrajFormat::Xdatcar, dt(2.0, 50), "", None),
        },
        Target {
            name: "XDATCAR.xz",
            file: "XDATCAR.xz",
            seed: xdatcar.clone(),
            pack: xz,
            companions: vec![],
            check: traj_check(TrajFormat::Xdatcar, dt(2.0, 50), "", None),
        },
        Target {
            name: "extended XYZ",
            file: "walk.extxyz",
            seed: extxyz,
            pack: same,
            companions: vec![],
            check: traj_check(TrajFormat::Xyz, dt(1.0, 1), "", None),
        },
        Target {
            name: "LAMMPS dump",
            file: "walk.lammpstrj",
            seed: dump,
            pack: same,
            companions: vec![],
            check: traj_check(TrajFormat::Lammps, dt(1.0, 1), "1=Li,2=S", None),
        },
        Target {
            name: "LAMMPS data (topology)",
            file: "walk.data",
            seed: read(&data.join("lammps/walk.data")),
            pack: same,
            companions: vec![("walk.dcd".into(), read(&data.join("lammps/walk.dcd")))],
            check: Box::new(|p: &Path| {
                traj_check(TrajFormat::Dcd, dt(1.0, 20), "1=Li,2=S", Some("walk.data"))(
                    &p.with_file_name("walk.dcd"),
                )
            }),
        },
        Target {
            name: "DCD",
            file: "walk.dcd",
            seed: read(&data.join("lammps/walk.dcd")),
            pack: same,
            companions: vec![("walk.data".into(), read(&data.join("lammps/walk.data")))],
            check: traj_check(TrajFormat::Dcd, dt(1.0, 20), "1=Li,2=S", Some("walk.data")),
        },
        Target {
            name: "XTC",
            file: "walk.xtc",
            seed: read(&data.join("xtc/walk.xtc")),
            pack: same,
            companions: vec![("walk.data".into(), read(&data.join("lammps/walk.data")))],
            check: traj_check(TrajFormat::Xtc, none(), "1=Li,2=S", Some("walk.data")),
        },
        Target {
            name: "PDB (topology)",
            file: "top.pdb",
            seed: li_pdb.clone(),
            pack: same,
            companions: vec![("test.xtc".into(), read(&data.join("xtc/test.xtc")))],
            check: Box::new(|p: &Path| {
                traj_check(TrajFormat::Xtc, none(), "", Some("top.pdb"))(
                    &p.with_file_name("test.xtc"),
                )
            }),
        },
        Target {
            name: "GRO (topology)",
            file: "top.gro",
            seed: b"five atoms\n    5\n    1MET     Li    1   0.000   0.000   0.000\n    2ARG     Li    2   0.100   0.100   0.100\n    3ILE     S     3   0.200   0.200   0.200\n    4ALA     S     4   0.300   0.300   0.300\n    5GLY     Li    5   0.400   0.400   0.400\n   8.00000   8.00000   8.00000\n".to_vec(),
            pack: same,
            companions: vec![("test.xtc".into(), read(&data.join("xtc/test.xtc")))],
            check: Box::new(|p: &Path| {
                traj_check(TrajFormat::Xtc, none(), "", Some("top.gro"))(
                    &p.with_file_name("test.xtc"),
                )
            }),
        },
        Target {
            name: "H5MD",
            file: "test.h5md",
            seed: read(&data.join("h5md/test.h5md")),
            pack: same,
            companions: vec![("top.pdb".into(), li_pdb.clone())],
            check: traj_check(TrajFormat::H5md, none(), "", Some("top.pdb")),
        },
        Target {
            name: "ASE .traj",
            file: "walk.traj",
            seed: read(&data.join("ase/walk.traj")),
            pack: same,
            companions: vec![],
            check: traj_check(TrajFormat::AseTraj, dt(1.0, 1), "", None),
        },
        Target {
            name: "vasprun.xml",
            file: "vasprun.xml",
            seed: read(&data.join("vasprun/vasprun.xml")),
            pack: same,
            companions: vec![],
            check: traj_check_of("Si", TrajFormat::Vasprun, dt(1.0, 1), "", None),
        },
        Target {
            name: "CIF",
            file: "argyrodite.cif",
            seed: read(&data.join("sites/argyrodite.cif")),
            pack: same,
            companions: vec![],
            check: Box::new(|p: &Path| {
                let c = superion::crystal::read(p).map_err(|e| e.to_string())?;
                superion::io::sites::read(p).map_err(|e| e.to_string())?;
                let _ = c;
                Ok(())
            }),
        },
        Target {
            name: "POSCAR",
            file: "POSCAR",
            seed: read(&data.join("forces/NaCl/POSCAR-unitcell")),
            pack: same,
            companions: vec![],
            check: Box::new(|p: &Path| {
                superion::crystal::read(p)
                    .map(|_| ())
                    .map_err(|e| e.to_string())
            }),
        },
        Target {
            name: "phonopy total_dos.dat",
            file: "total_dos.dat",
            seed: read(&data.join("phonopy/LiF/total_dos.dat")),
            pack: same,
            companions: vec![
                ("phonopy.yaml".into(), read(&data.join("phonopy/LiF/phonopy.yaml"))),
                (
                    "projected_dos.dat".into(),
                    read(&data.join("phonopy/LiF/projected_dos.dat")),
                ),
            ],
            check: Box::new(phonopy_check),
        },
        Target {
            name: "phonopy.yaml",
            file: "phonopy.yaml",
            seed: read(&data.join("phonopy/LiF/phonopy.yaml")),
            pack: same,
            companions: vec![
                ("total_dos.dat".into(), read(&data.join("phonopy/LiF/total_dos.dat"))),
                (
                    "projected_dos.dat".into(),
                    read(&data.join("phonopy/LiF/projected_dos.dat")),
                ),
            ],
            check: Box::new(phonopy_check),
        },
        Target {
            name: "FORCE_SETS",
            file: "FORCE_SETS",
            seed: read(&data.join("forces/NaCl/FORCE_SETS")),
            pack: same,
            companions: force_companions("FORCE_SETS"),
            check: Box::new(forces_check),
        },
        Target {
            name: "BORN",
            file: "BORN",
            seed: read(&data.join("forces/NaCl/BORN")),
            pack: same,
            companions: force_companions("BORN"),
            check: Box::new(forces_check),
        },
        Target {
            name: "feature table (CSV)",
            file: "features.csv",
            seed: b"id,formula,li_centre_thz,li_f10_thz,li_weight\nmp-1,Li2S,7.5,3.1,0.66\nmp-2,LiF,9.25,4.0,0.5\nmp-3,Li3PS4,6.0,2.5,0.375\n".to_vec(),
            pack: same,
            companions: vec![],
            check: Box::new(|p: &Path| {
                superion::io::table::read_features(p, &Default::default())
                    .map_err(|e| e.to_string())?;
                superion::validate::read_feature_tables(&[p.to_path_buf()])
                    .map(|_| ())
                    .map_err(|e| e.to_string())
            }),
        },
        Target {
            name: "conductivity table (CSV)",
            file: "measured.csv",
            seed: b"ID,Reduced Composition,Ionic conductivity (S cm-1)\nabc,Li7La3Zr2O12,3.1e-4\nabd,Li2S,<1E-10\nabe,Li10GeP2S12,1.2e-2\n".to_vec(),
            pack: same,
            companions: vec![],
            check: Box::new(|p: &Path| {
                superion::validate::read_conductivities(p, &Default::default())
                    .map(|_| ())
                    .map_err(|e| e.to_string())
            }),
        },
        Target {
            name: "IonDiff path list",
            file: "paths.txt",
            seed: b"XDATCAR argyrodite 750\n".to_vec(),
            pack: same,
            companions: vec![("XDATCAR".into(), xdatcar.clone())],
            check: Box::new(|p: &Path| {
                superion::io::iondiff::read_paths(p)
                    .map(|_| ())
                    .map_err(|e| e.to_string())
            }),
        },
    ];
    // Materials Project documents and PhononDB archives: the smallest real ones.
    let mp = shared().join("mp-phonon-dos/mp-10182-Li1Zn1P1-mp.json.gz");
    if mp.is_file() {
        t.push(Target {
            name: "MP JSON (gz)",
            file: "mp-10182-mp.json.gz",
            seed: gunzip(&mp),
            pack: gz,
            companions: vec![],
            check: Box::new(|p: &Path| {
                let found =
                    superion::materials::discover(&[p.to_path_buf()]).map_err(|e| e.to_string())?;
                let (_, failed) = superion::materials::read_all(&found);
                match failed.first() {
                    Some(f) => Err(f.error.clone()),
                    None => Ok(()),
                }
            }),
        });
    }
    let db = shared().join("phonondb-li/materials-id-23703-lih-fm-3m-225.tar.lzma");
    if db.is_file() {
        t.push(Target {
            name: "PhononDB archive",
            file: "lih.tar.lzma",
            seed: read(&db),
            pack: same,
            companions: vec![],
            check: Box::new(|p: &Path| {
                superion::materials::compute_dos(p, &small_mesh())
                    .map(|_| ())
                    .map_err(|e| e.to_string())
            }),
        });
    }
    t
}

fn force_companions(except: &str) -> Vec<(String, Vec<u8>)> {
    let dir = root().join("data/forces/NaCl");
    ["FORCE_SETS", "POSCAR-unitcell", "phonopy.conf", "BORN"]
        .iter()
        .filter(|n| **n != except)
        .map(|n| (n.to_string(), read(&dir.join(n))))
        .collect()
}

fn small_mesh() -> superion::phonon::entry_dos::DosOptions {
    let mut o = superion::phonon::entry_dos::DosOptions::default();
    o.mesh.mesh = [4, 4, 4];
    o
}

fn phonopy_check(p: &Path) -> Result<(), String> {
    let (rows, failed) = superion::materials::feature_rows(
        &[p.parent().unwrap().to_path_buf()],
        &Default::default(),
        &superion::materials::screening_dos_options(),
    )
    .map_err(|e| e.to_string())?;
    match failed.first() {
        Some(f) => Err(f.error.clone()),
        None if rows.is_empty() => Err("no rows".into()),
        None => Ok(()),
    }
}

fn forces_check(p: &Path) -> Result<(), String> {
    superion::materials::compute_dos(p.parent().unwrap(), &small_mesh())
        .map(|_| ())
        .map_err(|e| e.to_string())
}

/// What one case did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Outcome {
    Read,
    Refused,
    Panicked,
    Hung,
}

/// Cap the address space of this test process (the fuzz binary only), so that an
/// allocation sized by a corrupt header fails here as it would on a smaller machine.
fn cap_memory(bytes: u64) {
    let lim = libc::rlimit {
        rlim_cur: bytes,
        rlim_max: libc::RLIM_INFINITY,
    };
    // SAFETY: setrlimit with a valid struct; lowering a soft limit has no preconditions.
    unsafe {
        libc::setrlimit(libc::RLIMIT_AS, &lim);
    }
}

/// Run one case on a worker thread, bounded in time.
fn run_case(check: &'static Check, path: PathBuf, limit: Duration) -> Outcome {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| check(&path)));
        let _ = tx.send(r);
    });
    match rx.recv_timeout(limit) {
        Ok(Ok(Ok(()))) => Outcome::Read,
        Ok(Ok(Err(message))) => {
            assert!(
                !message.contains("panicked"),
                "panic text in an error: {message}"
            );
            Outcome::Refused
        }
        Ok(Err(_)) => Outcome::Panicked,
        Err(_) => Outcome::Hung,
    }
}

#[test]
fn mutated_inputs_of_every_reader_are_read_or_refused_never_panic_hang_or_abort() {
    cap_memory(6 << 30);
    let cases: usize = std::env::var("SUPERION_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(120);
    let limit = Duration::from_secs(20);
    let work = common::tempdir("fuzz");
    let failures_dir = root().join("target/tmp/fuzz-failures");
    let regressions = root().join("tests/fuzz-regressions");
    let targets: &'static [Target] = Box::leak(targets().into_boxed_slice());
    let mut table: BTreeMap<&str, BTreeMap<Outcome, usize>> = BTreeMap::new();
    let mut bad = Vec::new();
    let t0 = Instant::now();
    for (ti, t) in targets.iter().enumerate() {
        // Inputs that failed once, then fresh mutations.
        let mut inputs: Vec<(String, Vec<u8>)> = Vec::new();
        let slug: String = t
            .name
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
            .collect();
        if let Ok(entries) = std::fs::read_dir(regressions.join(&slug)) {
            let mut e: Vec<PathBuf> = entries.map(|e| e.unwrap().path()).collect();
            e.sort();
            for p in e {
                inputs.push((format!("regression {}", p.display()), read(&p)));
            }
        }
        // The unmutated seed reads (else the mutations test nothing but the refusal).
        {
            let dir = work.join(format!("{slug}-seed"));
            std::fs::create_dir_all(&dir).unwrap();
            for (name, b) in &t.companions {
                std::fs::write(dir.join(name), b).unwrap();
            }
            let path = dir.join(t.file);
            std::fs::write(&path, (t.pack)(&t.seed)).unwrap();
            if let Err(e) = (t.check)(&path) {
                bad.push(format!("{}: the seed itself does not read: {e}", t.name));
            }
        }
        let mut rng = Rng(0x5EED_0000 + ti as u64);
        for c in 0..cases {
            let bytes = if c % 2 == 0 {
                (t.pack)(&mutate(&t.seed, &mut rng))
            } else {
                mutate(&(t.pack)(&t.seed), &mut rng)
            };
            inputs.push((format!("case {c}"), bytes));
        }
        for (i, (label, bytes)) in inputs.iter().enumerate() {
            // Even cases in memory, odd ones streamed (the folder name says which).
            let dir = work.join(format!(
                "{slug}-{i}-{}",
                if i % 2 == 1 { "stream" } else { "mem" }
            ));
            std::fs::create_dir_all(&dir).unwrap();
            for (name, b) in &t.companions {
                std::fs::write(dir.join(name), b).unwrap();
            }
            let path = dir.join(t.file);
            std::fs::write(&path, bytes).unwrap();
            let outcome = run_case(&t.check, path, limit);
            *table.entry(t.name).or_default().entry(outcome).or_default() += 1;
            if matches!(outcome, Outcome::Panicked | Outcome::Hung) {
                std::fs::create_dir_all(&failures_dir).unwrap();
                let keep = failures_dir.join(format!("{slug}-{i}"));
                std::fs::write(&keep, bytes).unwrap();
                bad.push(format!(
                    "{} {label}: {outcome:?} (input kept as {})",
                    t.name,
                    keep.display()
                ));
                if outcome == Outcome::Hung {
                    // The hung thread cannot be stopped: report what is known now.
                    break;
                }
            }
            let _ = std::fs::remove_dir_all(&dir);
        }
    }
    let mut md = String::from(
        "| format | inputs | read | refused (located error) | panics | hangs |\n|---|---:|---:|---:|---:|---:|\n",
    );
    let mut total = [0usize; 5];
    for (name, m) in &table {
        let g = |o| m.get(&o).copied().unwrap_or(0);
        let row = [
            m.values().sum::<usize>(),
            g(Outcome::Read),
            g(Outcome::Refused),
            g(Outcome::Panicked),
            g(Outcome::Hung),
        ];
        for (t, r) in total.iter_mut().zip(row) {
            *t += r;
        }
        md += &format!(
            "| {name} | {} | {} | {} | {} | {} |\n",
            row[0], row[1], row[2], row[3], row[4]
        );
    }
    md += &format!(
        "| **all** | {} | {} | {} | {} | {} |\n\n{} targets, {} mutations each, {:.0} s\n",
        total[0],
        total[1],
        total[2],
        total[3],
        total[4],
        table.len(),
        cases,
        t0.elapsed().as_secs_f64()
    );
    let out = root().join("target/tmp");
    std::fs::create_dir_all(&out).unwrap();
    std::fs::write(out.join("fuzz-table.md"), &md).unwrap();
    eprintln!("{md}");
    assert!(bad.is_empty(), "{}", bad.join("\n"));
    if std::env::var("SUPERION_REQUIRE_SHARED").is_ok_and(|v| v == "1") {
        assert!(
            table.contains_key("MP JSON (gz)") && table.contains_key("PhononDB archive"),
            "../shared/data is required here"
        );
    }
}

/// A corrupt compressed XTC frame makes the decoder (the `molly` crate) panic: the
/// command line says where, and no panic text reaches the user (issue 31: it printed
/// buffer.rs:164 / reader.rs:515 panics before the error).
#[test]
fn a_corrupt_xtc_frame_is_a_located_error_without_panic_text() {
    let dir = common::tempdir("xtc-corrupt");
    let xtc = root().join("tests/fuzz-regressions/XTC/corrupt-frame-59.xtc");
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_superion"))
        .args(["--backend", "cpu", "traj", "convert"])
        .arg(&xtc)
        .arg("--topology")
        .arg(root().join("data/lammps/walk.data"))
        .args(["--type-map", "1=Li,2=S", "--out"])
        .arg(dir.join("o.extxyz"))
        .env("XDG_RUNTIME_DIR", std::env::temp_dir())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains("corrupt-frame-59.xtc") && err.contains("frame 59") && err.contains("corrupt"),
        "{err}"
    );
    assert!(!err.contains("panicked") && !err.contains(".rs:"), "{err}");
    assert!(!dir.join("o.extxyz").exists());
}

/// Batch manifests and plans, mutated: `batch plan` and `batch status` refuse them with
/// an error naming the file (exit 1), or accept them; never a panic, a hang or an
/// abort (checked by the exit status: a panic is 101, an abort a signal).
#[test]
fn mutated_batch_manifests_and_plans_are_refused_or_accepted_never_panic() {
    let cases: usize = std::env::var("SUPERION_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(120)
        .min(400);
    let dir = common::tempdir("fuzz-batch");
    // Each run is bounded: a mutated path that names `/`, `/proc` or a FIFO must be refused
    // in a moment, not walked or read for ever (one did: CI ran out of time).
    let run = |args: &[&str]| {
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_superion"))
            .args(["--backend", "cpu"])
            .args(args)
            .env("XDG_RUNTIME_DIR", std::env::temp_dir())
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut stderr = child.stderr.take().unwrap();
        let reader = std::thread::spawn(move || {
            let mut err = String::new();
            let _ = stderr.read_to_string(&mut err);
            err
        });
        let t0 = Instant::now();
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                return (status.code(), reader.join().unwrap());
            }
            if t0.elapsed() > Duration::from_secs(60) {
                let _ = child.kill();
                let _ = child.wait();
                panic!("hung for 60 s: superion {}", args.join(" "));
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    };
    // The inputs beside the manifest, named relatively: the mutations (and so this test)
    // do not depend on where the project is checked out.
    for name in ["LiF", "NaCl"] {
        let from = root().join("data/phonopy").join(name);
        let to = dir.join("in").join(name);
        std::fs::create_dir_all(&to).unwrap();
        for f in std::fs::read_dir(&from).unwrap() {
            let f = f.unwrap().path();
            std::fs::copy(&f, to.join(f.file_name().unwrap())).unwrap();
        }
    }
    let manifest =
        "command: phonon features\nargs: [\"--legacy\"]\ninputs:\n  - in/LiF\n  - in/NaCl\n"
            .to_string();
    let m = dir.join("manifest.yaml");
    std::fs::write(&m, &manifest).unwrap();
    // Hostile inputs, named outright: the root folder, a device, a FIFO.
    let fifo = dir.join("fifo.xyz");
    assert!(
        std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success()
    );
    for (command, input, expect) in [
        ("phonon features", "/", "below /"),
        ("traj msd", "/dev/zero", "not a regular file"),
        ("traj msd", fifo.to_str().unwrap(), "not a regular file"),
    ] {
        let hm = dir.join("hostile.yaml");
        std::fs::write(
            &hm,
            format!("command: {command}\nargs: [\"--timestep-fs\", \"1\"]\ninputs:\n  - {input}\n"),
        )
        .unwrap();
        let out = dir.join("hostile");
        let (code, err) = run(&[
            "batch",
            "plan",
            hm.to_str().unwrap(),
            "--shards",
            "1",
            "--out",
            out.to_str().unwrap(),
        ]);
        assert_eq!(code, Some(1), "{input}: {err}");
        assert!(err.contains(expect), "{input}: {err}");
    }
    let good = dir.join("good");
    let (code, err) = run(&[
        "batch",
        "plan",
        m.to_str().unwrap(),
        "--shards",
        "2",
        "--out",
        good.to_str().unwrap(),
    ]);
    assert_eq!(code, Some(0), "{err}");
    let plan = std::fs::read(good.join("plan.json")).unwrap();
    let mut rng = Rng(0xBA7C);
    let mut seen = BTreeMap::new();
    for c in 0..cases {
        // A mutated manifest, planned.
        let mm = dir.join(format!("m{c}.yaml"));
        std::fs::write(&mm, mutate(manifest.as_bytes(), &mut rng)).unwrap();
        let out = dir.join(format!("run{c}"));
        let (code, err) = run(&[
            "batch",
            "plan",
            mm.to_str().unwrap(),
            "--shards",
            "2",
            "--out",
            out.to_str().unwrap(),
        ]);
        assert!(
            matches!(code, Some(0) | Some(1)),
            "manifest case {c}: {code:?} {err}"
        );
        assert!(!err.contains("panicked"), "{err}");
        *seen.entry(("manifest", code)).or_insert(0) += 1;
        // A mutated plan, asked about.
        let pd = dir.join(format!("plan{c}"));
        for sub in ["results", "logs"] {
            std::fs::create_dir_all(pd.join(sub)).unwrap();
        }
        std::fs::write(pd.join("plan.json"), mutate(&plan, &mut rng)).unwrap();
        let (code, err) = run(&["batch", "status", pd.to_str().unwrap()]);
        assert!(
            matches!(code, Some(0) | Some(1)),
            "plan case {c}: {code:?} {err}"
        );
        assert!(!err.contains("panicked"), "{err}");
        if code == Some(1) {
            assert!(err.contains("plan.json"), "plan case {c}: {err}");
        }
        *seen.entry(("plan", code)).or_insert(0) += 1;
    }
    eprintln!("{seen:?}");
}

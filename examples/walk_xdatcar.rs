//! Write a large generated XDATCAR for the memory-at-scale benchmarks: `ATOMS` atoms
//! in a cubic cell of 20 Å, the first 40 % Li on a random walk (0.05 Å per axis per
//! frame, so D = 0.05² / (2 · 10 fs) = 1.25e-5 cm²/s with 1 fs steps written every
//! 10th), the rest a framework vibrating about fixed sites; 8 decimals as VASP writes.
//!
//!     cargo run --release --example walk_xdatcar -- OUT FRAMES ATOMS [SEED]
//!
//! An OUT ending in `.lammpstrj` is written as a LAMMPS text dump of the same walk
//! (`id type xs ys zs`, type 1 Li, 2 O; TIMESTEP every 10 steps) instead.
//! `benches/stream_scale.sh` runs it; nothing else needs it.

use std::io::Write;

fn main() -> std::io::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.len() < 3 {
        eprintln!("usage: walk_xdatcar OUT FRAMES ATOMS [SEED]");
        std::process::exit(2);
    }
    let out = &args[0];
    let frames: usize = args[1].parse().expect("FRAMES: a whole number");
    let atoms: usize = args[2].parse().expect("ATOMS: a whole number");
    let mut s: u64 = args.get(3).and_then(|v| v.parse().ok()).unwrap_or(7) | 1;
    let mut uniform = move || {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        (s >> 11) as f64 / (1u64 << 53) as f64
    };
    let a = 20.0f64;
    let li = atoms * 2 / 5;
    let mut pos: Vec<[f64; 3]> = (0..atoms)
        .map(|_| [uniform() * a, uniform() * a, uniform() * a])
        .collect();
    let home = pos.clone();
    let lammps = out.ends_with(".lammpstrj");
    let mut w = std::io::BufWriter::with_capacity(8 << 20, std::fs::File::create(out)?);
    if !lammps {
        write!(
            w,
            "generated walk\n1.0\n{a:.6} 0 0\n0 {a:.6} 0\n0 0 {a:.6}\nLi O\n{li} {}\n",
            atoms - li
        )?;
    }
    let mut line = String::with_capacity(48);
    for f in 0..frames {
        if lammps {
            write!(
                w,
                "ITEM: TIMESTEP\n{}\nITEM: NUMBER OF ATOMS\n{atoms}\nITEM: BOX BOUNDS pp pp pp\n0 {a}\n0 {a}\n0 {a}\nITEM: ATOMS id type xs ys zs\n",
                10 * f
            )?;
        } else {
            writeln!(w, "Direct configuration= {:>7}", f + 1)?;
        }
        for (i, p) in pos.iter_mut().enumerate() {
            for c in 0..3 {
                // Uniform steps of the same variance as a Gaussian of 0.05 Å.
                let u = (uniform() - 0.5) * 2.0 * 0.05 * 3f64.sqrt();
                if i < li {
                    p[c] += u;
                } else {
                    p[c] = home[i][c] + 2.0 * u;
                }
            }
            line.clear();
            use std::fmt::Write as _;
            if lammps {
                let _ = write!(line, "{} {} ", i + 1, if i < li { 1 } else { 2 });
            }
            let _ = writeln!(
                line,
                "  {:.8}  {:.8}  {:.8}",
                (p[0] / a).rem_euclid(1.0),
                (p[1] / a).rem_euclid(1.0),
                (p[2] / a).rem_euclid(1.0)
            );
            w.write_all(line.as_bytes())?;
        }
    }
    w.flush()
}

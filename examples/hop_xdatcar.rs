//! Write a large generated XDATCAR whose Li ions hop between sites, for the hop
//! analysis at scale: `ATOMS` atoms in a cubic cell of 20 Å; the first 40 % are Li on
//! a simple cubic lattice of 512 sites (2.5 Å apart), vibrating about their site
//! (Gaussian, σ 0.12 Å per axis) and hopping to a free neighbouring site with
//! probability 0.002 per frame (one frame in transit, halfway); the rest a framework
//! vibrating about random fixed positions. 8 decimals as VASP writes.
//!
//!     cargo run --release --example hop_xdatcar -- OUT FRAMES ATOMS [SEED]
//!
//! With 1 fs steps written every 10th, the jump diffusivity is
//! 0.002 × 2.5² Å² / (6 × 10 fs) = 2.1e-5 cm²/s (less, by blocking, for the 22 %
//! of sites left free). `benches/stream_scale.sh` runs it; nothing else needs it.

use std::io::Write;

fn main() -> std::io::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.len() < 3 {
        eprintln!("usage: hop_xdatcar OUT FRAMES ATOMS [SEED]");
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
    let (a, m) = (20.0f64, 8usize);
    let spacing = a / m as f64;
    let li = atoms * 2 / 5;
    assert!(
        li <= m * m * m,
        "at most {} Li (ATOMS ≤ {})",
        m * m * m,
        m * m * m * 5 / 2
    );
    let site = |i: usize| -> [usize; 3] { [i / (m * m), (i / m) % m, i % m] };
    let index = |c: [usize; 3]| (c[0] * m + c[1]) * m + c[2];
    // Li on every (512 / li)-th site, spread over the lattice.
    let mut occupied = vec![usize::MAX; m * m * m];
    let mut on: Vec<usize> = (0..li).map(|i| i * m * m * m / li.max(1)).collect();
    for (i, &k) in on.iter().enumerate() {
        occupied[k] = i;
    }
    let home: Vec<[f64; 3]> = (0..atoms)
        .map(|_| [uniform() * a, uniform() * a, uniform() * a])
        .collect();
    let mut gauss = {
        let mut spare: Option<f64> = None;
        move |u: &mut dyn FnMut() -> f64| -> f64 {
            if let Some(v) = spare.take() {
                return v;
            }
            let (u1, u2) = (u().max(1e-300), u());
            let r = (-2.0 * u1.ln()).sqrt();
            spare = Some(r * (2.0 * std::f64::consts::PI * u2).sin());
            r * (2.0 * std::f64::consts::PI * u2).cos()
        }
    };
    let mut w = std::io::BufWriter::with_capacity(8 << 20, std::fs::File::create(out)?);
    write!(
        w,
        "generated site hopping\n1.0\n{a:.6} 0 0\n0 {a:.6} 0\n0 0 {a:.6}\nLi O\n{li} {}\n",
        atoms - li
    )?;
    let mut line = String::with_capacity(48);
    for f in 0..frames {
        writeln!(w, "Direct configuration= {:>7}", f + 1)?;
        for i in 0..atoms {
            let p: [f64; 3] = if i < li {
                let centre = |k: usize| -> [f64; 3] {
                    let c = site(k);
                    std::array::from_fn(|x| (c[x] as f64 + 0.5) * spacing)
                };
                let mut base = centre(on[i]);
                if f > 0 && uniform() < 0.002 {
                    let c = site(on[i]);
                    let axis = (uniform() * 3.0) as usize % 3;
                    let mut n = c;
                    n[axis] = (n[axis] + if uniform() < 0.5 { 1 } else { m - 1 }) % m;
                    let to = index(n);
                    if occupied[to] == usize::MAX {
                        // This frame is the transit: halfway (minimum image).
                        let (p, q) = (centre(on[i]), centre(to));
                        base = std::array::from_fn(|x| {
                            let mut d = q[x] - p[x];
                            d -= a * (d / a).round();
                            p[x] + 0.5 * d
                        });
                        occupied[on[i]] = usize::MAX;
                        occupied[to] = i;
                        on[i] = to;
                    }
                }
                std::array::from_fn(|x| base[x] + 0.12 * gauss(&mut uniform))
            } else {
                std::array::from_fn(|x| home[i][x] + 0.1 * gauss(&mut uniform))
            };
            line.clear();
            use std::fmt::Write as _;
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

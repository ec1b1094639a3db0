//! Percolation barriers of an energy landscape on a periodic grid: the lowest energy
//! (above the minimum) at which the points below it form a network that crosses the
//! crystal in 1, 2 and 3 independent directions.
//!
//! One sweep: the points are taken in order of energy and joined to their active
//! neighbours (26-connectivity, as bvlain's `scipy.ndimage.label` with a full
//! structure) in a union-find whose nodes carry the lattice translation to their root.
//! Joining two points already in one component closes a loop; its net translation is a
//! winding vector of the component. The energy at which some component's winding
//! vectors first span k dimensions is E_kD. No threshold is bisected and nothing is
//! relabelled: O(N log N) for the sort, nearly linear for the sweep.
//!
//! bvlain (and its bisection on a 2 x 2 x 2 supercell) counts the images of a point
//! inside the 2 x 2 x 2 supercell, so it sees the winding vectors modulo 2: a network
//! wound by (1,1,0) and (1,-1,0) is 2-D to superion and 1-D to bvlain. Both are
//! computed; [`Barriers::bvlain`] holds the modulo-2 figures for parity.

/// Barriers in eV above the landscape's minimum; None where the network does not
/// percolate below the energy cut.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Barriers {
    pub e_min_ev: f64,
    /// E_1D, E_2D, E_3D (winding vectors' rank over the integers).
    pub e_kd: [Option<f64>; 3],
    /// The same with bvlain's modulo-2 counting.
    pub bvlain: [Option<f64>; 3],
}

#[derive(Clone, Copy)]
struct Winding {
    /// Independent winding vectors found so far (`rank` of them used).
    basis: [[i64; 3]; 3],
    rank: u8,
    /// Modulo-2 images of the winding vectors: the span, as a set of GF(2)^3.
    span2: u8,
}

fn cross(a: [i64; 3], b: [i64; 3]) -> [i64; 3] {
    [
        a[1] * b[2] - a[2] * b[1],
        a[2] * b[0] - a[0] * b[2],
        a[0] * b[1] - a[1] * b[0],
    ]
}

impl Winding {
    fn add(&mut self, w: [i64; 3]) {
        if w == [0; 3] {
            return;
        }
        let independent = match self.rank {
            0 => true,
            1 => cross(self.basis[0], w) != [0; 3],
            2 => {
                let c = cross(self.basis[0], self.basis[1]);
                c[0] * w[0] + c[1] * w[1] + c[2] * w[2] != 0
            }
            _ => false,
        };
        if independent {
            self.basis[self.rank as usize] = w;
            self.rank += 1;
        }
        // Modulo 2: the span is a set of the eight vectors of GF(2)^3 (bit m for the
        // vector with bit mask m); adding w adds every member XOR w's mask.
        let m = (w[0].rem_euclid(2) | (w[1].rem_euclid(2) << 1) | (w[2].rem_euclid(2) << 2)) as u8;
        let mut span = self.span2;
        for s in 0..8u8 {
            if self.span2 & (1 << s) != 0 {
                span |= 1 << (s ^ m);
            }
        }
        self.span2 = span;
    }

    /// Dimensions of the winding vectors modulo 2 (bvlain's count of images: 2^rank).
    fn rank2(&self) -> u8 {
        self.span2.count_ones().trailing_zeros() as u8
    }

    fn merge(&mut self, o: &Winding) {
        for k in 0..o.rank as usize {
            self.add(o.basis[k]);
        }
        // The other's span, through vectors that need not be independent over Z.
        for m in 0..8u8 {
            if o.span2 & (1 << m) != 0 {
                let mut span = self.span2;
                for s in 0..8u8 {
                    if self.span2 & (1 << s) != 0 {
                        span |= 1 << (s ^ m);
                    }
                }
                self.span2 = span;
            }
        }
    }
}

struct Forest {
    parent: Vec<u32>,
    /// Translation (in cells) from a node's copy to its parent's copy in cell 0.
    shift: Vec<[i32; 3]>,
    size: Vec<u32>,
    winding: Vec<Winding>,
}

impl Forest {
    /// The root of `x` and the cell of the copy of `x` joined to the root's copy in cell 0.
    fn find(&mut self, x: usize) -> (usize, [i32; 3]) {
        // Walk up, then compress: every node on the path points at the root directly.
        let mut path = Vec::new();
        let mut r = x;
        while self.parent[r] as usize != r {
            path.push(r);
            r = self.parent[r] as usize;
        }
        let mut acc = [0i32; 3];
        for &n in path.iter().rev() {
            let s = self.shift[n];
            acc = [acc[0] + s[0], acc[1] + s[1], acc[2] + s[2]];
            self.shift[n] = acc;
            self.parent[n] = r as u32;
        }
        (
            r,
            if path.is_empty() {
                [0; 3]
            } else {
                self.shift[x]
            },
        )
    }
}

/// Percolation barriers of `energies` (eV) on the periodic grid `n` (k fastest), up to
/// `encut_ev` above the minimum.
pub fn barriers(n: [usize; 3], energies: &[f32], encut_ev: f64) -> Barriers {
    let total = n[0] * n[1] * n[2];
    assert_eq!(energies.len(), total, "one energy per grid point");
    let e_min = energies.iter().copied().fold(f32::INFINITY, f32::min) as f64;
    let mut order: Vec<u32> = (0..total as u32).collect();
    order.sort_unstable_by(|&a, &b| {
        energies[a as usize]
            .total_cmp(&energies[b as usize])
            .then(a.cmp(&b))
    });
    let mut f = Forest {
        parent: (0..total as u32).collect(),
        shift: vec![[0; 3]; total],
        size: vec![1; total],
        winding: vec![
            Winding {
                basis: [[0; 3]; 3],
                rank: 0,
                span2: 1,
            };
            total
        ],
    };
    let mut active = vec![false; total];
    let (mut best, mut best2) = (0u8, 0u8);
    let mut out = Barriers {
        e_min_ev: e_min,
        e_kd: [None; 3],
        bvlain: [None; 3],
    };
    let idx3 = |v: usize| [v / (n[1] * n[2]), (v / n[2]) % n[1], v % n[2]];
    for &v in &order {
        let v = v as usize;
        let ev = energies[v] as f64 - e_min;
        if !(ev <= encut_ev) || (best == 3 && best2 == 3) {
            break;
        }
        active[v] = true;
        let p = idx3(v);
        for d in 0..27usize {
            if d == 13 {
                continue;
            }
            let step = [d / 9, (d / 3) % 3, d % 3].map(|s| s as i64 - 1);
            let mut q = [0usize; 3];
            let mut cross_cell = [0i32; 3];
            for a in 0..3 {
                let x = p[a] as i64 + step[a];
                let m = n[a] as i64;
                cross_cell[a] = x.div_euclid(m) as i32;
                q[a] = x.rem_euclid(m) as usize;
            }
            let w = (q[0] * n[1] + q[1]) * n[2] + q[2];
            if !active[w] {
                continue;
            }
            let (rv, sv) = f.find(v);
            let (rw, sw) = f.find(w);
            // v's copy in cell sv joins the root rv; its neighbour is w's copy in
            // cell sv + cross_cell, while w's copy in cell sw joins the root rw.
            let t = [0, 1, 2].map(|a| sv[a] + cross_cell[a] - sw[a]);
            let root = if rv == rw {
                f.winding[rv].add(t.map(i64::from));
                rv
            } else {
                // Union by size; the attached root's shift is its copy's cell.
                let (big, small, s) = if f.size[rv] >= f.size[rw] {
                    (rv, rw, t)
                } else {
                    (rw, rv, t.map(|x| -x))
                };
                f.parent[small] = big as u32;
                f.shift[small] = s;
                f.size[big] += f.size[small];
                let ws = f.winding[small];
                f.winding[big].merge(&ws);
                big
            };
            let (r, r2) = (f.winding[root].rank, f.winding[root].rank2());
            while best < r {
                out.e_kd[best as usize] = Some(ev);
                best += 1;
            }
            while best2 < r2 {
                out.bvlain[best2 as usize] = Some(ev);
                best2 += 1;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A landscape of height 1 with channels of height `h` along the chosen axes.
    fn channels(n: usize, axes: &[(usize, f32)]) -> Vec<f32> {
        let mut e = vec![1.0f32; n * n * n];
        for i in 0..n {
            for j in 0..n {
                for k in 0..n {
                    let p = [i, j, k];
                    for &(axis, h) in axes {
                        // A line along `axis` through the cell's centre of the other two.
                        let others: Vec<usize> = (0..3).filter(|&a| a != axis).collect();
                        if p[others[0]] == n / 2 && p[others[1]] == n / 2 {
                            let v = &mut e[(i * n + j) * n + k];
                            *v = v.min(h + 0.001 * p[axis] as f32);
                        }
                    }
                }
            }
        }
        e[0] = 0.0; // the minimum, away from the channels
        e
    }

    #[test]
    fn channels_give_their_heights_in_order_of_dimension() {
        // A channel along a at 0.3 (its highest point 0.3 + 0.001 * 7), one along b at
        // 0.5: 1-D at 0.307, 2-D once the b channel closes at 0.507, 3-D only at 1.
        let e = channels(8, &[(0, 0.3), (1, 0.5)]);
        let b = barriers([8, 8, 8], &e, 10.0);
        let close = |x: Option<f64>, y: f64| (x.unwrap() - y).abs() < 1e-6;
        assert!(close(b.e_kd[0], 0.307), "{b:?}");
        assert!(close(b.e_kd[1], 0.507), "{b:?}");
        assert!(close(b.e_kd[2], 1.0), "{b:?}");
        assert_eq!(b.e_kd, b.bvlain);
        // Below the cut nothing percolates.
        assert_eq!(barriers([8, 8, 8], &e, 0.2).e_kd, [None; 3]);
    }

    #[test]
    fn a_diagonal_network_is_two_dimensional_but_one_dimensional_modulo_two() {
        // Low-energy points on the line i = j in the plane k = 0 (winding (1,1,0)) and,
        // at 0.2, on i = -j in the plane k = 3 (winding (1,-1,0)), joined by a column at
        // i = j = 0: a 2-D network whose windings are equal modulo 2.
        let n = 7;
        let mut e = vec![1.0f32; n * n * n];
        for i in 0..n {
            e[(i * n + i) * n] = 0.0;
            e[(i * n + (n - i) % n) * n + 3] = 0.2;
        }
        for k in 1..3 {
            e[k] = 0.1;
        }
        let b = barriers([n, n, n], &e, 10.0);
        assert_eq!(b.e_kd[0], Some(0.0));
        assert!((b.e_kd[1].unwrap() - 0.2).abs() < 1e-6, "{b:?}");
        assert_eq!(b.bvlain[0], Some(0.0));
        assert!((b.bvlain[1].unwrap() - 1.0).abs() < 1e-6, "{b:?}");
    }
}

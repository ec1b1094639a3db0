//! Lattice geometry, once: 3 × 3 determinants and inverses, fractional ↔ Cartesian,
//! the minimum image and a cell's face-to-face widths. Lattice vectors are the rows of
//! the cell matrix (r = s · L, as in POSCAR and ASE). Depends on nothing in the crate.

use std::ops::{Add, Mul, Sub};

use ndarray::ArrayView2;

/// A 3 × 3 matrix as rows.
pub(crate) type Mat3 = [[f64; 3]; 3];

/// Determinant of a 3 × 3 matrix (real or integer), by the first row's cofactors.
pub fn det<T>(m: &[[T; 3]; 3]) -> T
where
    T: Copy + Add<Output = T> + Sub<Output = T> + Mul<Output = T>,
{
    m[0][0] * (m[1][1] * m[2][2] - m[1][2] * m[2][1])
        - m[0][1] * (m[1][0] * m[2][2] - m[1][2] * m[2][0])
        + m[0][2] * (m[1][0] * m[2][1] - m[1][1] * m[2][0])
}

/// Inverse of a 3 × 3 matrix by its adjugate (not finite when the matrix is singular:
/// callers check [`det`] first).
pub(crate) fn inverse(m: &Mat3) -> Mat3 {
    let d = det(m);
    let mut o = [[0.0; 3]; 3];
    for i in 0..3 {
        for j in 0..3 {
            // the cofactor of (j, i)
            let (r0, r1, c0, c1) = ((j + 1) % 3, (j + 2) % 3, (i + 1) % 3, (i + 2) % 3);
            o[i][j] = (m[r0][c0] * m[r1][c1] - m[r0][c1] * m[r1][c0]) / d;
        }
    }
    o
}

/// A 3 × 3 view of `f32` (a trajectory's cell) in `f64`.
pub(crate) fn mat3_of(v: ArrayView2<f32>) -> Mat3 {
    std::array::from_fn(|i| std::array::from_fn(|j| v[[i, j]] as f64))
}

/// Fractional coordinates of a Cartesian vector, given the cell's inverse (s = r · L⁻¹).
pub(crate) fn frac_of(cart: [f64; 3], inv: &Mat3) -> [f64; 3] {
    let mut s = [0.0; 3];
    for (j, sj) in s.iter_mut().enumerate() {
        *sj = (0..3).map(|i| cart[i] * inv[i][j]).sum();
    }
    s
}

/// Cartesian vector of fractional coordinates (r = s · L).
pub(crate) fn cart_of(frac: [f64; 3], cell: &Mat3) -> [f64; 3] {
    let mut r = [0.0; 3];
    for (j, rj) in r.iter_mut().enumerate() {
        *rj = (0..3).map(|i| frac[i] * cell[i][j]).sum();
    }
    r
}

/// Minimum-image version of a Cartesian vector (exact for the nearest image within the
/// 27 neighbouring cells).
pub(crate) fn minimum_image(v: [f64; 3], cell: &Mat3) -> [f64; 3] {
    minimum_image_inv(v, cell, &inverse(cell))
}

/// [`minimum_image`] with the cell's inverse already at hand.
pub(crate) fn minimum_image_inv(v: [f64; 3], cell: &Mat3, inv: &Mat3) -> [f64; 3] {
    let s = frac_of(v, inv);
    let base = [
        s[0] - s[0].round(),
        s[1] - s[1].round(),
        s[2] - s[2].round(),
    ];
    let mut best = cart_of(base, cell);
    let mut best_d = best.iter().map(|x| x * x).sum::<f64>();
    for a in -1..=1 {
        for b in -1..=1 {
            for c in -1..=1 {
                let f = [base[0] + a as f64, base[1] + b as f64, base[2] + c as f64];
                let r = cart_of(f, cell);
                let d = r.iter().map(|x| x * x).sum::<f64>();
                if d < best_d - 1e-12 {
                    best = r;
                    best_d = d;
                }
            }
        }
    }
    best
}

/// The perpendicular widths of a cell (Å): the distances between opposite faces.
pub(crate) fn cell_widths(cell: &Mat3) -> [f64; 3] {
    let cross = |a: [f64; 3], b: [f64; 3]| {
        [
            a[1] * b[2] - a[2] * b[1],
            a[2] * b[0] - a[0] * b[2],
            a[0] * b[1] - a[1] * b[0],
        ]
    };
    let norm = |v: [f64; 3]| (v[0] * v[0] + v[1] * v[1] + v[2] * v[2]).sqrt();
    let vol = {
        let c = cross(cell[1], cell[2]);
        (0..3).map(|k| cell[0][k] * c[k]).sum::<f64>().abs()
    };
    [
        vol / norm(cross(cell[1], cell[2])),
        vol / norm(cross(cell[2], cell[0])),
        vol / norm(cross(cell[0], cell[1])),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inverse_and_minimum_image_of_a_triclinic_cell() {
        let l = [[5.0, 0.0, 0.0], [1.5, 4.0, 0.0], [0.5, 0.7, 6.0]];
        let inv = inverse(&l);
        for i in 0..3 {
            for j in 0..3 {
                let p: f64 = (0..3).map(|k| l[i][k] * inv[k][j]).sum();
                assert!((p - if i == j { 1.0 } else { 0.0 }).abs() < 1e-12);
            }
        }
        assert_eq!(det(&[[2i64, 0, 0], [0, 3, 0], [1, 0, 1]]), 6);
        // A lattice vector plus a small step is the small step.
        let v = [l[1][0] + 0.1, l[1][1] - 0.2, 0.3];
        let m = minimum_image(v, &l);
        assert!((m[0] - 0.1).abs() < 1e-12 && (m[1] + 0.2).abs() < 1e-12);
        let w = cell_widths(&[[4.0, 0.0, 0.0], [0.0, 5.0, 0.0], [0.0, 0.0, 6.0]]);
        assert_eq!(w, [4.0, 5.0, 6.0]);
    }
}

/// Disjoint sets over `0..n` with path compression: the one union-find of site
/// discovery's density basins, the collective-hop groups and the dendrogram's cuts.
/// Which root survives a union is the caller's (the densest peak, the smallest index,
/// a new node), so roots are joined explicitly with `UnionFind::attach`. (BVSE
/// percolation keeps its own: it carries a winding vector along every link.)
#[derive(Debug, Clone)]
pub struct UnionFind {
    parent: Vec<u32>,
}

impl UnionFind {
    const ABSENT: u32 = u32::MAX;

    /// `n` elements, each its own set.
    pub fn new(n: usize) -> UnionFind {
        assert!(n < u32::MAX as usize, "at most 2^32 - 1 elements");
        UnionFind {
            parent: (0..n as u32).collect(),
        }
    }

    /// `n` elements, none in any set until [`UnionFind::insert`] adds it.
    pub fn absent(n: usize) -> UnionFind {
        assert!(n < u32::MAX as usize, "at most 2^32 - 1 elements");
        UnionFind {
            parent: vec![Self::ABSENT; n],
        }
    }

    /// Whether `v` is in a set.
    pub fn contains(&self, v: usize) -> bool {
        self.parent[v] != Self::ABSENT
    }

    /// Add `v` as a set of its own.
    pub fn insert(&mut self, v: usize) {
        self.parent[v] = v as u32;
    }

    /// Whether `v` is the root of its set.
    pub fn is_root(&self, v: usize) -> bool {
        self.parent[v] as usize == v
    }

    /// The root of `v`'s set (which must hold it); the path is compressed.
    pub fn find(&mut self, mut v: usize) -> usize {
        let mut root = v;
        while self.parent[root] as usize != root {
            root = self.parent[root] as usize;
        }
        while self.parent[v] as usize != root {
            let next = self.parent[v] as usize;
            self.parent[v] = root as u32;
            v = next;
        }
        root
    }

    /// Make `to` the parent of `v` (a root, or an element not yet in a set).
    pub(crate) fn attach(&mut self, v: usize, to: usize) {
        self.parent[v] = to as u32;
    }
}

#[cfg(test)]
mod union_find_tests {
    use super::UnionFind;

    #[test]
    fn joins_and_finds_against_a_naive_labelling() {
        let mut u = UnionFind::new(10);
        let mut label: Vec<usize> = (0..10).collect();
        for (a, b) in [(0, 1), (2, 3), (1, 3), (7, 8), (9, 7)] {
            let (ra, rb) = (u.find(a), u.find(b));
            if ra != rb {
                u.attach(ra.max(rb), ra.min(rb));
            }
            let (la, lb) = (label[a], label[b]);
            label.iter_mut().filter(|l| **l == lb).for_each(|l| *l = la);
        }
        for a in 0..10 {
            for b in 0..10 {
                assert_eq!(u.find(a) == u.find(b), label[a] == label[b], "{a} {b}");
            }
        }
        assert_eq!(u.find(3), 0);
        let mut v = UnionFind::absent(3);
        assert!(!v.contains(1));
        v.insert(1);
        v.attach(2, 1);
        assert!(v.contains(2) && v.is_root(1) && v.find(2) == 1);
    }
}

//! Fractional-coordinate helpers shared by site discovery and site assignment.

/// Cartesian vector of the fractional vector `d` in `cell` (rows: lattice vectors).
pub(crate) fn dot_frac(d: [f64; 3], cell: &[[f64; 3]; 3]) -> [f64; 3] {
    std::array::from_fn(|k| (0..3).map(|a| d[a] * cell[a][k]).sum())
}

/// Euclidean length.
pub(crate) fn norm(v: [f64; 3]) -> f64 {
    (v[0] * v[0] + v[1] * v[1] + v[2] * v[2]).sqrt()
}

/// Minimum-image Cartesian vector from fractional `a` to fractional `b`.
pub(crate) fn frac_delta(a: [f64; 3], b: [f64; 3], cell: &[[f64; 3]; 3]) -> [f64; 3] {
    let d: [f64; 3] = std::array::from_fn(|x| {
        let v = b[x] - a[x];
        v - v.round()
    });
    let v = dot_frac(d, cell);
    // Check the neighbouring images too (skewed cells).
    crate::geom::minimum_image(v, cell)
}

/// Into [0, 1) along each axis.
pub(crate) fn wrap(f: [f64; 3]) -> [f64; 3] {
    std::array::from_fn(|x| {
        let v = f[x] - f[x].floor();
        if v >= 1.0 { 0.0 } else { v }
    })
}

/// The state of a frame that is on no site (in transit).
pub(crate) const NONE: u32 = u32::MAX;

//! Gaussian cube files of a scalar field on a periodic grid (what VESTA, VMD, OVITO and
//! ASE read): the atoms and the grid's voxel vectors in bohr, the values as given
//! (here eV), six per line with the last index fastest.

use std::path::Path;

use crate::error::Result;
use crate::geom::Mat3;

const BOHR_A: f64 = 0.529_177_210_903;

/// Write `values` (n\[0\] x n\[1\] x n\[2\], the last fastest) over the cell `lattice` (rows,
/// Å) with `atoms` (atomic number, fractional position).
pub fn write(
    path: &Path,
    comment: &str,
    lattice: &Mat3,
    n: [usize; 3],
    atoms: &[(u32, [f64; 3])],
    values: &[f32],
) -> Result<()> {
    assert_eq!(values.len(), n[0] * n[1] * n[2], "one value per grid point");
    crate::io::write_atomic_with(path, |w| {
        writeln!(w, "{}", comment.replace('\n', " "))?;
        writeln!(
            w,
            "values in eV; grid points at i/n along each lattice vector"
        )?;
        writeln!(
            w,
            "{:5} {:12.6} {:12.6} {:12.6}",
            atoms.len(),
            0.0,
            0.0,
            0.0
        )?;
        for a in 0..3 {
            let v = lattice[a].map(|x| x / n[a] as f64 / BOHR_A);
            writeln!(w, "{:5} {:12.6} {:12.6} {:12.6}", n[a], v[0], v[1], v[2])?;
        }
        for (zz, f) in atoms {
            let c = crate::geom::cart_of(*f, lattice).map(|x| x / BOHR_A);
            let zz = *zz;
            writeln!(
                w,
                "{:5} {:12.6} {:12.6} {:12.6} {:12.6}",
                zz, zz as f64, c[0], c[1], c[2]
            )?;
        }
        for row in values.chunks(n[2]) {
            for (i, v) in row.iter().enumerate() {
                write!(w, " {:12.5e}", v)?;
                if i % 6 == 5 || i + 1 == row.len() {
                    writeln!(w)?;
                }
            }
        }
        Ok(())
    })
}

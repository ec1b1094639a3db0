//! Host side of `shaders/bvse.wgsl` (CPU twin: `crate::compute::cpu::bvse`).

use super::GpuContext;
use crate::compute::batch::EnergyGrid;
use crate::error::{Error, Result};

const SHADER: &str = include_str!("../../../shaders/bvse.wgsl");

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct Params {
    na: u32,
    nb: u32,
    nc: u32,
    blocks_b: u32,
    blocks_c: u32,
    n_blocks: u32,
    rc2: f32,
    _pad: u32,
    la: [f32; 4],
    lb: [f32; 4],
    lc: [f32; 4],
}

/// Energies at every grid point, k fastest (see [`EnergyGrid`]).
pub fn site_energies(ctx: &GpuContext, g: &EnergyGrid) -> Result<Vec<f32>> {
    let n_points = g.points();
    if n_points == 0 {
        return Ok(Vec::new());
    }
    let max_bind = ctx.max_binding();
    for (what, bytes) in [
        ("atoms", 32 * g.atoms.len() as u64),
        ("candidate lists", 4 * g.candidates.len() as u64),
        ("energies", 4 * n_points as u64),
    ] {
        if bytes > max_bind {
            return Err(Error::TooLarge(format!(
                "the grid's {what} take {bytes} bytes, over the adapter's {max_bind}-byte binding limit; use a coarser grid or option backend cpu"
            )));
        }
    }
    let pipeline = ctx.pipeline("bvse", SHADER, "site_energies")?;
    let [_, bb, bc] = g.blocks();
    let n_blocks = g.blocks().iter().product::<usize>();
    let row = |r: [f32; 3]| [r[0], r[1], r[2], 0.0];
    let params = ctx.uniform(&Params {
        na: g.n[0] as u32,
        nb: g.n[1] as u32,
        nc: g.n[2] as u32,
        blocks_b: bb as u32,
        blocks_c: bc as u32,
        n_blocks: n_blocks as u32,
        rc2: g.cutoff_a * g.cutoff_a,
        _pad: 0,
        la: row(g.lattice[0]),
        lb: row(g.lattice[1]),
        lc: row(g.lattice[2]),
    });
    // Empty lists still need a non-empty binding.
    let atoms = ctx.upload(
        "atoms",
        if g.atoms.is_empty() {
            &[crate::compute::batch::GridAtom {
                pos: [0.0; 3],
                kind: 0,
                a: 0.0,
                b: 0.0,
                c: 0.0,
                _pad: 0.0,
            }]
        } else {
            &g.atoms[..]
        },
    );
    let starts = ctx.upload("starts", &g.starts);
    let cands = ctx.upload(
        "candidates",
        if g.candidates.is_empty() {
            &[0u32][..]
        } else {
            &g.candidates[..]
        },
    );
    let out = ctx.output("energies", 4 * n_points as u64);
    let group = ctx.bind(
        &pipeline,
        &[
            (0, &params),
            (1, &atoms),
            (2, &starts),
            (3, &cands),
            (4, &out),
        ],
    );
    let mut enc = ctx.encoder();
    ctx.dispatch(&mut enc, &pipeline, &group, (n_blocks * 64) as u64)?;
    ctx.submit(enc)?;
    ctx.read(&out, n_points)
}

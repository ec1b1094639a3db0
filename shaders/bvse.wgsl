// Site energies of a probe ion on a periodic grid (CPU twin: src/compute/cpu/bvse.rs).
//
// One workgroup per block of 4 x 4 x 4 grid points; the block's candidate atoms (listed
// by the host: every atom within the cutoff of some point of the block) are walked in
// tiles of 64 loaded once into workgroup memory, and each lane adds, in candidate order,
// the terms of the atoms closer than the cutoff to its point: a Morse-type bond-valence
// term (kind 0) or a screened Coulomb term (kind 1), as `grid_term` in
// src/compute/batch.rs. Lanes whose point lies past the grid's edge still load and wait
// at the barriers (control flow stays uniform) but write nothing.

const WG: u32 = 64u;

struct Params {
    na: u32,
    nb: u32,
    nc: u32,
    blocks_b: u32,
    blocks_c: u32,
    n_blocks: u32,
    rc2: f32,
    _pad: u32,
    // Lattice rows, each padded to four floats.
    la: vec4<f32>,
    lb: vec4<f32>,
    lc: vec4<f32>,
}

struct Atom {
    pos: vec3<f32>,
    kind: u32,
    a: f32,
    b: f32,
    c: f32,
    _pad: f32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> atoms: array<Atom>;
@group(0) @binding(2) var<storage, read> starts: array<u32>;
@group(0) @binding(3) var<storage, read> candidates: array<u32>;
@group(0) @binding(4) var<storage, read_write> energies: array<f32>;

var<workgroup> tile: array<Atom, 64>;

fn erfc_as(x: f32) -> f32 {
    let t = 1.0 / (1.0 + 0.3275911 * x);
    let poly = t * (0.2548296 + t * (-0.28449674 + t * (1.4214138 + t * (-1.4531521 + t * 1.0614054))));
    return poly * exp(-x * x);
}

fn term(at: Atom, r_in: f32) -> f32 {
    let r = max(r_in, 1e-4);
    if (at.kind == 0u) {
        let e = exp(at.b * (at.a - r)) - 1.0;
        return 0.5 * at.c * (e * e - 1.0);
    }
    return at.a / r * erfc_as(at.b * r);
}

@compute @workgroup_size(64)
fn site_energies(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lane: u32,
) {
    let block = wid.y * nwg.x + wid.x;
    // Every lane of a workgroup sees the same block, so this return is uniform.
    if (block >= p.n_blocks) {
        return;
    }
    let bk = block % p.blocks_c;
    let bj = (block / p.blocks_c) % p.blocks_b;
    let bi = block / (p.blocks_c * p.blocks_b);
    let i = bi * 4u + lane / 16u;
    let j = bj * 4u + (lane / 4u) % 4u;
    let k = bk * 4u + lane % 4u;
    let inside = i < p.na && j < p.nb && k < p.nc;
    let f = vec3<f32>(f32(i) / f32(p.na), f32(j) / f32(p.nb), f32(k) / f32(p.nc));
    let pos = vec3<f32>(
        f.x * p.la.x + f.y * p.lb.x + f.z * p.lc.x,
        f.x * p.la.y + f.y * p.lb.y + f.z * p.lc.y,
        f.x * p.la.z + f.y * p.lb.z + f.z * p.lc.z,
    );
    let first = starts[block];
    let last = starts[block + 1u];
    var e = 0.0;
    for (var t0 = first; t0 < last; t0 = t0 + WG) {
        let mine = t0 + lane;
        if (mine < last) {
            tile[lane] = atoms[candidates[mine]];
        }
        workgroupBarrier();
        let count = min(WG, last - t0);
        for (var c = 0u; c < count; c = c + 1u) {
            let at = tile[c];
            let d = pos - at.pos;
            let d2 = d.x * d.x + d.y * d.y + d.z * d.z;
            if (d2 < p.rc2) {
                e = e + term(at, sqrt(d2));
            }
        }
        workgroupBarrier();
    }
    if (inside) {
        energies[(i * p.nb + j) * p.nc + k] = e;
    }
}

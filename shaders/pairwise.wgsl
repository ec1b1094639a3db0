// Pairwise distances (CPU twin: src/compute/cpu/pairwise.rs).
//
// sq_dists: |x_i - y_j|^2 for every (i, j) of a tile, summed as differences
//   (not |x|^2 + |y|^2 - 2 x.y, which cancels badly in f32 for nearby points).
// cluster_dist_sums: silhouette's building block. For B problems that share n and d,
//   each with its own labels, out[b, i, c] += sum over members j of cluster c (in the
//   current segment of the label-sorted order) of |x_i - x_j|. The n x n matrix is never
//   stored; the host walks the segments so no single dispatch runs for long. Members
//   are read a tile at a time into workgroup memory (see below).

const WG: u32 = 64u;

struct TileParams {
    n: u32,      // rows of x in this tile
    m: u32,      // rows of y in this tile
    d: u32,
    _pad: u32,
}

@group(0) @binding(0) var<uniform> tp: TileParams;
@group(0) @binding(1) var<storage, read> tx: array<f32>;
@group(0) @binding(2) var<storage, read> ty: array<f32>;
@group(0) @binding(3) var<storage, read_write> tout: array<f32>;

// Register-tiled: a workgroup of 16 x 16 lanes computes a 64 x 64 block of the output,
// each lane a 4 x 4 sub-block (rows ty + 16 r, columns tx + 16 c). The coordinates are
// walked in slices of 16: each slice of the block's 64 rows of x and 64 rows of y is
// loaded once into workgroup memory (rows padded to 17 floats, so lanes reading down a
// column hit different banks), then every lane adds its 16 outputs' terms. Each output
// still adds (x_t - y_t)^2 for t = 0, 1, ..., d - 1 in order, as the CPU twin does.
const BLOCK: u32 = 64u;
const SLICE: u32 = 16u;
const PAD: u32 = 17u;
var<workgroup> xs: array<f32, 1088>;   // BLOCK x PAD
var<workgroup> ys: array<f32, 1088>;

@compute @workgroup_size(16, 16)
fn sq_dists(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(local_invocation_id) lid: vec3<u32>,
    @builtin(local_invocation_index) li: u32,
) {
    let tx = lid.x;
    let ty = lid.y;
    let i0 = wid.y * BLOCK;
    let j0 = wid.x * BLOCK;
    var acc: array<vec4<f32>, 4>;
    for (var r = 0u; r < 4u; r++) {
        acc[r] = vec4<f32>(0.0);
    }
    for (var t0 = 0u; t0 < tp.d; t0 += SLICE) {
        let width = min(SLICE, tp.d - t0);
        // 256 lanes load the 64 x 16 slices of x and y, four values each.
        for (var e = li; e < BLOCK * SLICE; e += 256u) {
            let row = e / SLICE;
            let t = e % SLICE;
            var xv = 0.0;
            var yv = 0.0;
            if (t < width) {
                if (i0 + row < tp.n) { xv = tx_at(i0 + row, t0 + t); }
                if (j0 + row < tp.m) { yv = ty_at(j0 + row, t0 + t); }
            }
            xs[row * PAD + t] = xv;
            ys[row * PAD + t] = yv;
        }
        workgroupBarrier();
        for (var t = 0u; t < width; t++) {
            let y4 = vec4<f32>(
                ys[tx * PAD + t],
                ys[(tx + 16u) * PAD + t],
                ys[(tx + 32u) * PAD + t],
                ys[(tx + 48u) * PAD + t],
            );
            for (var r = 0u; r < 4u; r++) {
                let diff = vec4<f32>(xs[(ty + 16u * r) * PAD + t]) - y4;
                acc[r] += diff * diff;
            }
        }
        workgroupBarrier();
    }
    for (var r = 0u; r < 4u; r++) {
        let i = i0 + ty + 16u * r;
        for (var c = 0u; c < 4u; c++) {
            let j = j0 + tx + 16u * c;
            if (i < tp.n && j < tp.m) {
                tout[i * tp.m + j] = acc[r][c];
            }
        }
    }
}

fn tx_at(i: u32, t: u32) -> f32 {
    return tx[i * tp.d + t];
}

fn ty_at(j: u32, t: u32) -> f32 {
    return ty[j * tp.d + t];
}

struct SumParams {
    n: u32,          // points per problem
    d: u32,
    kmax: u32,       // clusters per problem row in `sums` / `starts`
    n_problems: u32,
    seg_start: u32,  // this dispatch covers sorted positions [seg_start, seg_end)
    seg_end: u32,
    one: f32,        // 1.0, unknown to the compiler: keeps the Kahan compensation
    _pad1: u32,
}

@group(0) @binding(0) var<uniform> sp: SumParams;
@group(0) @binding(1) var<storage, read> points: array<f32>;      // P x n x d
@group(0) @binding(2) var<storage, read> set_of: array<u32>;      // B: point set of problem b
@group(0) @binding(3) var<storage, read> order: array<u32>;       // B x n: point indices sorted by label
@group(0) @binding(4) var<storage, read> starts: array<u32>;      // B x (kmax + 1): cluster ranges in `order`
@group(0) @binding(5) var<storage, read_write> sums: array<f32>;  // B x n x kmax

// A workgroup per (problem, block of 64 points): the members of the segment are
// walked in label-sorted order a tile at a time, each tile's coordinates loaded once
// into workgroup memory by all lanes together; every lane then adds its point's
// distance to each member into the running (Kahan) sum of the member's cluster, and
// writes that sum when the clusters change. Every lane does the same walk (no lane
// idles on a small cluster), and the sums are those of one invocation per (point,
// cluster) in the same order.
const TILE_FLOATS: u32 = 4096u;
var<workgroup> tile: array<f32, 4096>;

@compute @workgroup_size(64)
fn cluster_dist_sums(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let g = wid.y * nwg.x + wid.x;
    let blocks = (sp.n + WG - 1u) / WG;
    let b = g / blocks;
    if (b >= sp.n_problems) {
        return;
    }
    let i = (g % blocks) * WG + lid;
    let has = i < sp.n;
    let base = set_of[b] * sp.n * sp.d;
    let row = b * (sp.kmax + 1u);
    let xi = base + min(i, sp.n - 1u) * sp.d;
    let per_tile = max(1u, TILE_FLOATS / max(sp.d, 1u));
    var c = 0u;
    var terms = 0u;
    var s = 0.0;
    var comp = 0.0;
    for (var r0 = sp.seg_start; r0 < sp.seg_end; r0 += per_tile) {
        let cnt = min(per_tile, sp.seg_end - r0);
        for (var e = lid; e < cnt * sp.d; e += WG) {
            let m = e / sp.d;
            tile[e] = points[base + order[b * sp.n + r0 + m] * sp.d + (e % sp.d)];
        }
        workgroupBarrier();
        if (has) {
            for (var m = 0u; m < cnt; m++) {
                let r = r0 + m;
                // The member's cluster: the sums so far belong to the one before.
                while (starts[row + c + 1u] <= r) {
                    if (terms > 0u) {
                        let o = (b * sp.n + i) * sp.kmax + c;
                        sums[o] = sums[o] + s;
                    }
                    c += 1u;
                    terms = 0u;
                    s = 0.0;
                    comp = 0.0;
                }
                var acc = 0.0;
                for (var t = 0u; t < sp.d; t++) {
                    let diff = points[xi + t] - tile[m * sp.d + t];
                    acc += diff * diff;
                }
                // Kahan-compensated: n can reach 1e5 terms per cluster.
                // The sum times a uniform 1.0 the compiler cannot see: a driver that
                // reassociates floats (llvmpipe does) cannot cancel (t - s) - y to 0.
                let y = sqrt(acc) - comp;
                let tot = (s + y) * sp.one;
                comp = (tot - s) - y;
                s = tot;
                terms += 1u;
            }
        }
        workgroupBarrier();
    }
    if (has && terms > 0u) {
        let o = (b * sp.n + i) * sp.kmax + c;
        sums[o] = sums[o] + s;
    }
}

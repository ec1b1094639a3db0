// Pairwise distances (CPU twin: src/cpu/pairwise.rs).
//
// sq_dists: one invocation per (i, j) of a tile: |x_i - y_j|^2, summed as differences
//   (not |x|^2 + |y|^2 - 2 x.y, which cancels badly in f32 for nearby points).
// cluster_dist_sums: silhouette's building block. For B problems that share n and d,
//   each with its own labels, out[b, i, c] += sum over members j of cluster c (in the
//   current segment of the label-sorted order) of |x_i - x_j|. The n x n matrix is never
//   stored; the host walks the segments so no single dispatch runs for long.

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

@compute @workgroup_size(16, 16)
fn sq_dists(@builtin(global_invocation_id) g: vec3<u32>) {
    let j = g.x;
    let i = g.y;
    if (i >= tp.n || j >= tp.m) {
        return;
    }
    var acc = 0.0;
    for (var t = 0u; t < tp.d; t++) {
        let diff = tx[i * tp.d + t] - ty[j * tp.d + t];
        acc += diff * diff;
    }
    tout[i * tp.m + j] = acc;
}

struct SumParams {
    n: u32,          // points per problem
    d: u32,
    kmax: u32,       // clusters per problem row in `sums` / `starts`
    n_problems: u32,
    seg_start: u32,  // this dispatch covers sorted positions [seg_start, seg_end)
    seg_end: u32,
    _pad0: u32,
    _pad1: u32,
}

@group(0) @binding(0) var<uniform> sp: SumParams;
@group(0) @binding(1) var<storage, read> points: array<f32>;      // P x n x d
@group(0) @binding(2) var<storage, read> set_of: array<u32>;      // B: point set of problem b
@group(0) @binding(3) var<storage, read> order: array<u32>;       // B x n: point indices sorted by label
@group(0) @binding(4) var<storage, read> starts: array<u32>;      // B x (kmax + 1): cluster ranges in `order`
@group(0) @binding(5) var<storage, read_write> sums: array<f32>;  // B x n x kmax

@compute @workgroup_size(64)
fn cluster_dist_sums(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let flat = (wid.y * nwg.x + wid.x) * WG + lid;
    let c = flat % sp.kmax;
    let i = (flat / sp.kmax) % sp.n;
    let b = flat / (sp.kmax * sp.n);
    if (b >= sp.n_problems) {
        return;
    }
    let base = set_of[b] * sp.n * sp.d;
    let row = b * (sp.kmax + 1u);
    let lo = max(starts[row + c], sp.seg_start);
    let hi = min(starts[row + c + 1u], sp.seg_end);
    let xi = base + i * sp.d;
    // Kahan-compensated sum: n can reach 1e5 terms per cluster.
    var s = 0.0;
    var comp = 0.0;
    for (var r = lo; r < hi; r++) {
        let xj = base + order[b * sp.n + r] * sp.d;
        var acc = 0.0;
        for (var t = 0u; t < sp.d; t++) {
            let diff = points[xi + t] - points[xj + t];
            acc += diff * diff;
        }
        let y = sqrt(acc) - comp;
        let tot = s + y;
        comp = (tot - s) - y;
        s = tot;
    }
    if (hi > lo) {
        let o = (b * sp.n + i) * sp.kmax + c;
        sums[o] = sums[o] + s;
    }
}

// Per-frame displacement scans (CPU twin: src/compute/cpu/displacement.rs).
//
// unwrap: every (frame, atom) step of a chunk of frames at once, then the steps added
//   up per atom in blocks of 64 frames, the blocks in parallel (see SEG). Each step is the
//   minimum image of the frame-to-frame Cartesian difference in the *current* frame's
//   cell (the "toroidal" scheme of von Bülow et al., J. Chem. Phys. 153, 021101 (2020),
//   which stays correct when the cell fluctuates, as in NPT). For triclinic cells the
//   rounded fractional shift is refined over the 27 neighbouring images. Steps are
//   accumulated (Kahan-compensated) into the displacement from frame 0. The running
//   state (previous wrapped position, sums, compensations) lives in buffers, so the host
//   can stream any number of frames through in chunks.
// sq_disp: sums over time origins of the squared displacement per axis and (lag, atom),
//   Kahan-compensated, in two passes (blocks of 256 origins, then the blocks in order),
//   so a short lag's thousands of origins are split over many invocations; the host
//   adds atoms up in f64.

const WG: u32 = 64u;

struct UnwrapParams {
    n_atoms: u32,
    n_frames: u32,        // frames in this chunk
    cell_per_frame: u32,  // 0: one fixed cell
    orthogonal: u32,      // 1: rounding alone gives the minimum image
    first_frame: u32,     // global index of the chunk's first frame
    n_segs: u32,          // segments of the chunk (its frames cut at multiples of SEG)
    long2: f32,           // squared step length (Å²) above which a step is reported
    one: f32,             // 1.0, unknown to the compiler (keeps the Kahan compensation)
}

@group(0) @binding(0) var<uniform> up: UnwrapParams;
@group(0) @binding(1) var<storage, read> frac: array<f32>;          // chunk x N x 3
@group(0) @binding(2) var<storage, read> cells: array<f32>;         // (chunk | 1) x 9, rows = lattice vectors
@group(0) @binding(3) var<storage, read> inv_cells: array<f32>;     // same layout, inverses
@group(0) @binding(4) var<storage, read_write> carry: array<f32>;   // N x 15: prev x, O, Oc, L, Lc
@group(0) @binding(5) var<storage, read_write> disp: array<f32>;    // chunk x N x 3
@group(0) @binding(6) var<storage, read_write> stats: array<vec4<u32>>; // N: (count, max len² bits, frame, 0)

fn row_times(v: vec3<f32>, m: u32, which: u32) -> vec3<f32> {
    // v · M for the 3x3 matrix at offset m of `cells` (which = 0) or `inv_cells` (1).
    var out = vec3<f32>(0.0);
    for (var j = 0u; j < 3u; j++) {
        var acc = 0.0;
        for (var i = 0u; i < 3u; i++) {
            var e = 0.0;
            if (which == 0u) { e = cells[m + i * 3u + j]; } else { e = inv_cells[m + i * 3u + j]; }
            acc += v[i] * e;
        }
        out[j] = acc;
    }
    return out;
}

// One Kahan-compensated step: *sum += x, the rounding error kept in *comp. The sum is
// multiplied by `one` (a uniform 1.0 the compiler cannot see), so a driver that
// reassociates floats (llvmpipe does) cannot cancel (tot - sum) - y to 0.
fn kahan3(sum: ptr<function, vec3<f32>>, comp: ptr<function, vec3<f32>>, x: vec3<f32>, one: f32) {
    let y = x - *comp;
    let tot = (*sum + y) * one;
    *comp = (tot - *sum) - y;
    *sum = tot;
}

// First pass: every (frame, atom) step at once: the minimum image of x_t - x_(t-1),
// each position in its own frame's cell (the chunk's first frame steps from the
// carried position), written into `disp`.
@compute @workgroup_size(64)
fn unwrap_steps(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let flat = (wid.y * nwg.x + wid.x) * WG + lid;
    let a = flat % up.n_atoms;
    let t = flat / up.n_atoms;
    if (t >= up.n_frames) {
        return;
    }
    var m = 0u;
    if (up.cell_per_frame != 0u) { m = t * 9u; }
    let o = (t * up.n_atoms + a) * 3u;
    let x = row_times(vec3<f32>(frac[o], frac[o + 1u], frac[o + 2u]), m, 0u);
    if (up.first_frame + t == 0u) {
        disp[o] = 0.0;
        disp[o + 1u] = 0.0;
        disp[o + 2u] = 0.0;
        return;
    }
    var prev = vec3<f32>(carry[a * 15u], carry[a * 15u + 1u], carry[a * 15u + 2u]);
    if (t > 0u) {
        var mp = 0u;
        if (up.cell_per_frame != 0u) { mp = (t - 1u) * 9u; }
        let q = o - up.n_atoms * 3u;
        prev = row_times(vec3<f32>(frac[q], frac[q + 1u], frac[q + 2u]), mp, 0u);
    }
    let f = row_times(x - prev, m, 1u);
    var g = f - round(f);
    if (up.orthogonal == 0u) {
        var best = g;
        let v0 = row_times(g, m, 0u);
        var bestl = dot(v0, v0);
        for (var e = 0u; e < 27u; e++) {
            let shift = vec3<f32>(f32(e / 9u) - 1.0, f32((e / 3u) % 3u) - 1.0, f32(e % 3u) - 1.0);
            let h = g - shift;
            let v = row_times(h, m, 0u);
            let l = dot(v, v);
            if (l < bestl) {
                bestl = l;
                best = h;
            }
        }
        g = best;
    }
    let step = row_times(g, m, 0u);
    disp[o] = step.x;
    disp[o + 1u] = step.y;
    disp[o + 2u] = step.z;
}

// The steps are added up per atom in blocks of SEG frames (by global frame index):
// within a block a Kahan sum L (compensation Lc) from zero; at each block's start the
// previous block's L - Lc is added (Kahan) into the offset O (compensation Oc);
// a frame's displacement is O + L. The CPU twin does the same, frame by frame. Here a
// chunk's frames are cut at block edges into segments, and the sum runs in three
// passes: every (atom, segment)'s own L from its start, written per frame
// (`unwrap_segments`), then per atom the segments in order, to get each one's offset
// (`unwrap_offsets`), then every (frame, atom) at once, O + L (`unwrap_write`). A chunk
// that starts inside a block continues the carried L.
const SEG: u32 = 64u;

@group(0) @binding(10) var<storage, read_write> seg_state: array<f32>;       // N x segs x 9: L, Lc (end), O (start)
@group(0) @binding(11) var<storage, read_write> seg_stats: array<vec4<u32>>; // N x segs

// Frames [start, end) (global) of segment k of the chunk.
fn segment(k: u32) -> vec2<u32> {
    let b = up.first_frame / SEG + k;
    let start = max(up.first_frame, b * SEG);
    let end = min(up.first_frame + up.n_frames, (b + 1u) * SEG);
    return vec2<u32>(start, end);
}

// Second pass: every (atom, segment): the in-block sum at each frame (written over
// the step), at the end, and the segment's long steps.
@compute @workgroup_size(64)
fn unwrap_segments(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let flat = (wid.y * nwg.x + wid.x) * WG + lid;
    let a = flat % up.n_atoms;
    let k = flat / up.n_atoms;
    if (k >= up.n_segs) {
        return;
    }
    var l = vec3<f32>(0.0);
    var lc = vec3<f32>(0.0);
    if (k == 0u && up.first_frame % SEG != 0u) {
        let c = a * 15u;
        l = vec3<f32>(carry[c + 9u], carry[c + 10u], carry[c + 11u]);
        lc = vec3<f32>(carry[c + 12u], carry[c + 13u], carry[c + 14u]);
    }
    var st = vec4<u32>(0u);
    let r = segment(k);
    for (var g = r.x; g < r.y; g++) {
        if (g == 0u) {
            continue;
        }
        let o = ((g - up.first_frame) * up.n_atoms + a) * 3u;
        let step = vec3<f32>(disp[o], disp[o + 1u], disp[o + 2u]);
        kahan3(&l, &lc, step, up.one);
        disp[o] = l.x;
        disp[o + 1u] = l.y;
        disp[o + 2u] = l.z;
        let l2 = dot(step, step);
        if (l2 > up.long2) {
            st.x += 1u;
            if (l2 > bitcast<f32>(st.y)) {
                st.y = bitcast<u32>(l2);
                st.z = g;
            }
        }
    }
    let q = (a * up.n_segs + k) * 9u;
    seg_state[q] = l.x;
    seg_state[q + 1u] = l.y;
    seg_state[q + 2u] = l.z;
    seg_state[q + 3u] = lc.x;
    seg_state[q + 4u] = lc.y;
    seg_state[q + 5u] = lc.z;
    seg_stats[a * up.n_segs + k] = st;
}

// Third pass: per atom, the segments in order: the offset each starts from (a block
// that starts there first adds the previous block's sum), the long steps merged in
// frame order, and the state carried to the next chunk.
@compute @workgroup_size(64)
fn unwrap_offsets(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let a = (wid.y * nwg.x + wid.x) * WG + lid;
    if (a >= up.n_atoms) {
        return;
    }
    let c = a * 15u;
    var o = vec3<f32>(carry[c + 3u], carry[c + 4u], carry[c + 5u]);
    var oc = vec3<f32>(carry[c + 6u], carry[c + 7u], carry[c + 8u]);
    var l = vec3<f32>(carry[c + 9u], carry[c + 10u], carry[c + 11u]);
    var lc = vec3<f32>(carry[c + 12u], carry[c + 13u], carry[c + 14u]);
    var st = stats[a];
    for (var k = 0u; k < up.n_segs; k++) {
        let g0 = segment(k).x;
        if (g0 > 0u && g0 % SEG == 0u) {
            kahan3(&o, &oc, l - lc, up.one);
        }
        let q = (a * up.n_segs + k) * 9u;
        seg_state[q + 6u] = o.x;
        seg_state[q + 7u] = o.y;
        seg_state[q + 8u] = o.z;
        l = vec3<f32>(seg_state[q], seg_state[q + 1u], seg_state[q + 2u]);
        lc = vec3<f32>(seg_state[q + 3u], seg_state[q + 4u], seg_state[q + 5u]);
        let s = seg_stats[a * up.n_segs + k];
        st.x += s.x;
        if (s.x > 0u && bitcast<f32>(s.y) > bitcast<f32>(st.y)) {
            st.y = s.y;
            st.z = s.z;
        }
    }
    // The chunk's last position, for the next chunk's first step.
    let last = up.n_frames - 1u;
    var m = 0u;
    if (up.cell_per_frame != 0u) { m = last * 9u; }
    let p = (last * up.n_atoms + a) * 3u;
    let prev = row_times(vec3<f32>(frac[p], frac[p + 1u], frac[p + 2u]), m, 0u);
    carry[c] = prev.x;
    carry[c + 1u] = prev.y;
    carry[c + 2u] = prev.z;
    carry[c + 3u] = o.x;
    carry[c + 4u] = o.y;
    carry[c + 5u] = o.z;
    carry[c + 6u] = oc.x;
    carry[c + 7u] = oc.y;
    carry[c + 8u] = oc.z;
    carry[c + 9u] = l.x;
    carry[c + 10u] = l.y;
    carry[c + 11u] = l.z;
    carry[c + 12u] = lc.x;
    carry[c + 13u] = lc.y;
    carry[c + 14u] = lc.z;
    stats[a] = st;
}

// Fourth pass: every (frame, atom) at once: the displacement is the offset of the
// frame's segment plus the in-block sum.
@compute @workgroup_size(64)
fn unwrap_write(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let flat = (wid.y * nwg.x + wid.x) * WG + lid;
    let a = flat % up.n_atoms;
    let t = flat / up.n_atoms;
    let g = up.first_frame + t;
    if (t >= up.n_frames || g == 0u) {
        return;
    }
    let k = g / SEG - up.first_frame / SEG;
    let q = (a * up.n_segs + k) * 9u;
    let o = (t * up.n_atoms + a) * 3u;
    disp[o] = seg_state[q + 6u] + disp[o];
    disp[o + 1u] = seg_state[q + 7u] + disp[o + 1u];
    disp[o + 2u] = seg_state[q + 8u] + disp[o + 2u];
}

struct DispParams {
    n_atoms: u32,
    n_frames: u32,
    n_lags: u32,
    one: f32,             // 1.0 (see UnwrapParams)
    n_blocks: u32,        // blocks of ORIGINS time origins (enough for lag 0)
    _pad0: u32,
    _pad1: u32,
    _pad2: u32,
}

const ORIGINS: u32 = 256u;

@group(0) @binding(0) var<uniform> dp: DispParams;
@group(0) @binding(1) var<storage, read> u: array<f32>;             // T x N x 3
@group(0) @binding(2) var<storage, read> lags: array<u32>;          // L
@group(0) @binding(3) var<storage, read_write> sums: array<f32>;    // L x N x 3
@group(0) @binding(4) var<storage, read_write> parts: array<f32>;   // L x N x blocks x 3

// First pass: one invocation per (lag, atom, block of 256 time origins), a Kahan sum
// over the block's origins in order; short lags have many blocks, so no invocation
// walks all T origins alone.
@compute @workgroup_size(64)
fn sq_disp_blocks(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let flat = (wid.y * nwg.x + wid.x) * WG + lid;
    let blk = flat % dp.n_blocks;
    let a = (flat / dp.n_blocks) % dp.n_atoms;
    let l = flat / (dp.n_blocks * dp.n_atoms);
    if (l >= dp.n_lags) {
        return;
    }
    let lag = lags[l];
    var s = vec3<f32>(0.0);
    var comp = vec3<f32>(0.0);
    let t_end = min((blk + 1u) * ORIGINS, dp.n_frames - min(lag, dp.n_frames));
    for (var t0 = blk * ORIGINS; t0 < t_end; t0++) {
        let p0 = (t0 * dp.n_atoms + a) * 3u;
        let p1 = ((t0 + lag) * dp.n_atoms + a) * 3u;
        let dv = vec3<f32>(u[p1] - u[p0], u[p1 + 1u] - u[p0 + 1u], u[p1 + 2u] - u[p0 + 2u]);
        kahan3(&s, &comp, dv * dv, dp.one);
    }
    let o = flat * 3u;
    parts[o] = s.x;
    parts[o + 1u] = s.y;
    parts[o + 2u] = s.z;
}

// Second pass: one invocation per (lag, atom), the blocks' sums in order (Kahan).
@compute @workgroup_size(64)
fn sq_disp(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let flat = (wid.y * nwg.x + wid.x) * WG + lid;
    if (flat >= dp.n_lags * dp.n_atoms) {
        return;
    }
    var s = vec3<f32>(0.0);
    var comp = vec3<f32>(0.0);
    for (var blk = 0u; blk < dp.n_blocks; blk++) {
        let q = (flat * dp.n_blocks + blk) * 3u;
        kahan3(&s, &comp, vec3<f32>(parts[q], parts[q + 1u], parts[q + 2u]), dp.one);
    }
    let o = flat * 3u;
    sums[o] = s.x;
    sums[o + 1u] = s.y;
    sums[o + 2u] = s.z;
}

// Chained MSD: after each chunk's unwrap, the displacements stay on the device. Per
// frame, the summed displacement of two atom lists (the drift reference, then the
// selected atoms) is folded in a workgroup; the selected atoms' displacements, less
// the reference's mean, are gathered frame by frame into a T x Ns x 3 buffer (one per
// group of selected atoms) that `sq_disp_blocks` then reads as `u`. Only the sums
// over origins, the per-frame totals and the long-step statistics come back.

struct ChainParams {
    n_atoms: u32,         // atoms in the unwrapped chunk
    n_frames: u32,        // frames in this chunk
    first_frame: u32,     // global index of the chunk's first frame
    n_ref: u32,           // drift reference atoms (0: no drift correction)
    n_sel: u32,           // selected atoms
    group_start: u32,     // first selected atom of this group
    group_len: u32,       // selected atoms in this group
    one: f32,             // 1.0 (see UnwrapParams)
    inv_ref: f32,         // 1 / n_ref (0 when n_ref = 0)
    _pad0: u32,
    _pad1: u32,
    _pad2: u32,
}

@group(0) @binding(0) var<uniform> cp: ChainParams;
@group(0) @binding(7) var<storage, read> lists: array<u32>;           // reference, then selected
@group(0) @binding(8) var<storage, read_write> totals: array<f32>;    // T x 2 x 3
@group(0) @binding(9) var<storage, read_write> sel_u: array<f32>;     // T x group x 3

var<workgroup> lane_sums: array<vec3<f32>, 64>;

// One workgroup per (frame, list): lane j adds the list's atoms j, j + 64, ... in order
// (Kahan), then the 64 lane sums are folded pairwise (32 apart, 16, ..., 1).
@compute @workgroup_size(64)
fn frame_sums(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let g = wid.y * nwg.x + wid.x;
    let t = g / 2u;
    let l = g % 2u;
    if (t >= cp.n_frames) {
        return;
    }
    var start = 0u;
    var len = cp.n_ref;
    if (l == 1u) {
        start = cp.n_ref;
        len = cp.n_sel;
    }
    var s = vec3<f32>(0.0);
    var comp = vec3<f32>(0.0);
    for (var i = lid; i < len; i += WG) {
        let o = (t * cp.n_atoms + lists[start + i]) * 3u;
        kahan3(&s, &comp, vec3<f32>(disp[o], disp[o + 1u], disp[o + 2u]), cp.one);
    }
    lane_sums[lid] = s;
    workgroupBarrier();
    for (var w = WG / 2u; w > 0u; w /= 2u) {
        if (lid < w) {
            lane_sums[lid] = lane_sums[lid] + lane_sums[lid + w];
        }
        workgroupBarrier();
    }
    if (lid == 0u) {
        let q = ((cp.first_frame + t) * 2u + l) * 3u;
        totals[q] = lane_sums[0].x;
        totals[q + 1u] = lane_sums[0].y;
        totals[q + 2u] = lane_sums[0].z;
    }
}

// One invocation per (frame, selected atom of the group): its displacement less the
// reference's mean displacement in that frame.
@compute @workgroup_size(64)
fn gather(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let flat = (wid.y * nwg.x + wid.x) * WG + lid;
    let j = flat % cp.group_len;
    let t = flat / cp.group_len;
    if (t >= cp.n_frames) {
        return;
    }
    let q = (cp.first_frame + t) * 6u;
    let drift = vec3<f32>(totals[q], totals[q + 1u], totals[q + 2u]) * cp.inv_ref;
    let o = (t * cp.n_atoms + lists[cp.n_ref + cp.group_start + j]) * 3u;
    let p = ((cp.first_frame + t) * cp.group_len + j) * 3u;
    sel_u[p] = disp[o] - drift.x;
    sel_u[p + 1u] = disp[o + 1u] - drift.y;
    sel_u[p + 2u] = disp[o + 2u] - drift.z;
}

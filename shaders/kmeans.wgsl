// Batched Lloyd iterations (CPU twin: src/compute/cpu/kmeans.rs).
//
// B independent problems share n points and d dimensions; problem b clusters point set
// prob[b].x into prob[b].y clusters. One iteration is four dispatches:
//   assign   (b, i)      nearest centre, label changes counted per problem
//   partial  (b, chunk, c) sums of the chunk's members of cluster c: 8 interleaved
//            lanes in point order, then the lanes in order
//   update   (b, c)      new centre = sum of partials (a workgroup each) / count
//   check    (b)         scikit-learn's rule: converged when no label changed, or when
//                        the summed squared centre shift <= tol; or at max_iter
// Every sum runs in a fixed order, with no float atomics, so results do not depend on
// scheduling and the CPU twin reproduces them. Finished problems are skipped, so the
// host may queue several iterations per submission without changing the result.
// An empty cluster keeps its previous centre.
//
// Around the iterations, so that only results cross the bus:
//   fill_labels (b, i)   labels start as "none" on the device (nothing uploaded)
//   check also counts the problems still running into `pending` (the host reads 4
//                        bytes to know whether to go on)
//   inertia_chunks (b, chunk)  Kahan sums of the chunk's squared distances in point
//                        order; the host adds the chunks in order in f64 (the CPU twin:
//                        `batch::inertia_of`)
//   gather (g, j)        for group g's best problem (chosen by the host from the
//                        inertias): its labels packed 4, 2 or 1 to a word, its centres
//                        and its iteration count

const WG: u32 = 64u;
const CHUNK: u32 = 256u;
const FLT_MAX: f32 = 3.40282347e38;

struct Params {
    n: u32,
    d: u32,
    kmax: u32,
    n_problems: u32,
    n_chunks: u32,
    max_iter: u32,
    final_pass: u32,   // 1: assign every problem (labels consistent with final centres)
    one: f32,          // 1.0, unknown to the compiler (keeps the Kahan compensation)
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> points: array<f32>;           // P x n x d
@group(0) @binding(2) var<storage, read> prob: array<vec2<u32>>;       // B: (point set, k)
@group(0) @binding(3) var<storage, read_write> centres: array<f32>;    // B x kmax x d
@group(0) @binding(4) var<storage, read_write> labels: array<u32>;     // B x n
@group(0) @binding(5) var<storage, read_write> mindist: array<f32>;    // B x n
@group(0) @binding(6) var<storage, read_write> partial: array<f32>;    // B x chunks x kmax x (d + 1)
@group(0) @binding(7) var<storage, read_write> state: array<vec4<u32>>; // B: (done, n_iter, strict, 0)
@group(0) @binding(8) var<storage, read_write> changed: array<atomic<u32>>; // B
@group(0) @binding(9) var<storage, read> tol: array<f32>;              // B
@group(0) @binding(10) var<storage, read_write> shift: array<f32>;     // B x kmax
@group(0) @binding(11) var<storage, read_write> pending: atomic<u32>;  // problems still running

struct GatherParams {
    n_groups: u32,
    words: u32,        // words of packed labels per group
    per_word: u32,     // labels per word: 4, 2 or 1
    width: u32,        // threads per group: max(words, kmax * d + 1)
}

@group(0) @binding(12) var<uniform> gp: GatherParams;
@group(0) @binding(13) var<storage, read> best: array<u32>;            // G: problem index
@group(0) @binding(14) var<storage, read_write> packed: array<u32>;    // G x words
@group(0) @binding(15) var<storage, read_write> out_centres: array<f32>; // G x kmax x d
@group(0) @binding(16) var<storage, read_write> out_iter: array<u32>;  // G
@group(0) @binding(17) var<storage, read_write> inertia: array<f32>;   // B x chunks

fn flat_index(wid: vec3<u32>, nwg: vec3<u32>, lid: u32) -> u32 {
    return (wid.y * nwg.x + wid.x) * WG + lid;
}

@compute @workgroup_size(64)
fn assign(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let flat = flat_index(wid, nwg, lid);
    let b = flat / p.n;
    let i = flat % p.n;
    if (b >= p.n_problems) {
        return;
    }
    if (p.final_pass == 0u && state[b].x != 0u) {
        return;
    }
    let pr = prob[b];
    let xo = (pr.x * p.n + i) * p.d;
    let co = b * p.kmax * p.d;
    var best = 0u;
    var bestd = FLT_MAX;
    for (var c = 0u; c < pr.y; c++) {
        var acc = 0.0;
        for (var t = 0u; t < p.d; t++) {
            let diff = points[xo + t] - centres[co + c * p.d + t];
            acc += diff * diff;
        }
        if (acc < bestd) {
            bestd = acc;
            best = c;
        }
    }
    let o = b * p.n + i;
    // Only whether any label moved matters: a plain load first, so once one lane has
    // marked the problem the rest do not queue on the same address (early iterations
    // move most labels).
    if (labels[o] != best && atomicLoad(&changed[b]) == 0u) {
        atomicStore(&changed[b], 1u);
    }
    labels[o] = best;
    mindist[o] = bestd;
}

// Coordinate t of point i of problem b's point set `ps` if the point is in cluster c
// (and before `end`), else 0.
fn member(b: u32, c: u32, i: u32, end: u32, ps: u32, t: u32) -> f32 {
    if (i < end && labels[b * p.n + i] == c) {
        return points[(ps * p.n + i) * p.d + t];
    }
    return 0.0;
}

@compute @workgroup_size(64)
fn partial_sums(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let flat = flat_index(wid, nwg, lid);
    let c = flat % p.kmax;
    let ch = (flat / p.kmax) % p.n_chunks;
    let b = flat / (p.kmax * p.n_chunks);
    if (b >= p.n_problems || state[b].x != 0u) {
        return;
    }
    let pr = prob[b];
    if (c >= pr.y) {
        return;
    }
    let i0 = ch * CHUNK;
    let i1 = min(i0 + CHUNK, p.n);
    let po = ((b * p.n_chunks + ch) * p.kmax + c) * (p.d + 1u);
    var count = 0u;
    for (var i = i0; i < i1; i++) {
        if (labels[b * p.n + i] == c) {
            count += 1u;
        }
    }
    for (var t = 0u; t < p.d; t++) {
        // Eight interleaved running sums (point i goes to lane (i - i0) % 8, in point
        // order), then the lanes in order: the CPU twin sums the same way with one
        // 8-wide register per cluster. The lanes are two vectors (registers; an array
        // indexed by a variable would live in local memory on some GPUs); a point of
        // another cluster adds an exact 0 to its lane (lanes start at +0, so no -0).
        var lo = vec4<f32>(0.0);
        var hi = vec4<f32>(0.0);
        for (var i = i0; i < i1; i += 8u) {
            lo += vec4<f32>(member(b, c, i, i1, pr.x, t), member(b, c, i + 1u, i1, pr.x, t),
                            member(b, c, i + 2u, i1, pr.x, t), member(b, c, i + 3u, i1, pr.x, t));
            hi += vec4<f32>(member(b, c, i + 4u, i1, pr.x, t), member(b, c, i + 5u, i1, pr.x, t),
                            member(b, c, i + 6u, i1, pr.x, t), member(b, c, i + 7u, i1, pr.x, t));
        }
        var s = 0.0;
        s += lo.x;
        s += lo.y;
        s += lo.z;
        s += lo.w;
        s += hi.x;
        s += hi.y;
        s += hi.z;
        s += hi.w;
        partial[po + t] = s;
    }
    partial[po + p.d] = f32(count);
}

// One workgroup per (problem, centre): lane j sums chunks j, j + 64, j + 128, ... in
// order, then the 64 lanes fold pairwise (lane i takes lane i + 32, then i + 16, ...)
// in workgroup memory. A fixed order, mirrored by the CPU twin (`fold_chunks`).
var<workgroup> lanes: array<f32, 64>;
var<workgroup> counts: array<u32, 64>;
var<workgroup> live: u32;

@compute @workgroup_size(64)
fn update(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let g = wid.y * nwg.x + wid.x;
    let c = g % p.kmax;
    let b = g / p.kmax;
    if (lid == 0u) {
        var on = 0u;
        if (b < p.n_problems) {
            if (state[b].x == 0u && c < prob[b].y) {
                on = 1u;
            }
        }
        live = on;
    }
    // The same for the whole workgroup: its barriers stay in uniform control flow.
    if (workgroupUniformLoad(&live) == 0u) {
        return;
    }
    let stride = p.kmax * (p.d + 1u);
    let first = (b * p.n_chunks * p.kmax + c) * (p.d + 1u);
    var cnt = 0u;
    for (var ch = lid; ch < p.n_chunks; ch += 64u) {
        cnt += u32(partial[first + ch * stride + p.d]);
    }
    counts[lid] = cnt;
    workgroupBarrier();
    for (var w = 32u; w > 0u; w = w >> 1u) {
        if (lid < w) {
            counts[lid] = counts[lid] + counts[lid + w];
        }
        workgroupBarrier();
    }
    let count = counts[0];
    let co = (b * p.kmax + c) * p.d;
    var sh = 0.0;
    for (var t = 0u; t < p.d; t++) {
        var s = 0.0;
        for (var ch = lid; ch < p.n_chunks; ch += 64u) {
            s += partial[first + ch * stride + t];
        }
        lanes[lid] = s;
        workgroupBarrier();
        for (var w = 32u; w > 0u; w = w >> 1u) {
            if (lid < w) {
                lanes[lid] = lanes[lid] + lanes[lid + w];
            }
            workgroupBarrier();
        }
        if (lid == 0u) {
            let old = centres[co + t];
            var nv = old;
            if (count > 0u) {
                nv = lanes[0] / f32(count);
            }
            let diff = nv - old;
            sh += diff * diff;
            centres[co + t] = nv;
        }
        workgroupBarrier();
    }
    if (lid == 0u) {
        shift[b * p.kmax + c] = sh;
    }
}

@compute @workgroup_size(64)
fn check(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let b = flat_index(wid, nwg, lid);
    if (b >= p.n_problems) {
        return;
    }
    var st = state[b];
    if (st.x != 0u) {
        return;
    }
    st.y += 1u;
    let moved = atomicExchange(&changed[b], 0u);
    var total = 0.0;
    for (var c = 0u; c < prob[b].y; c++) {
        total += shift[b * p.kmax + c];
    }
    if (moved == 0u) {
        st.x = 1u;
        st.z = 1u;
    } else if (total <= tol[b]) {
        st.x = 1u;
    }
    if (st.y >= p.max_iter) {
        st.x = 1u;
    }
    if (st.x == 0u) {
        atomicAdd(&pending, 1u);
    }
    state[b] = st;
}

@compute @workgroup_size(64)
fn fill_labels(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let flat = flat_index(wid, nwg, lid);
    if (flat < p.n_problems * p.n) {
        labels[flat] = 0xffffffffu;
    }
}

@compute @workgroup_size(64)
fn inertia_chunks(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let flat = flat_index(wid, nwg, lid);
    let ch = flat % p.n_chunks;
    let b = flat / p.n_chunks;
    if (b >= p.n_problems) {
        return;
    }
    let i0 = ch * CHUNK;
    let i1 = min(i0 + CHUNK, p.n);
    var sum = 0.0;
    var comp = 0.0;
    for (var i = i0; i < i1; i++) {
        // Times a uniform 1.0 the compiler cannot see: a driver that reassociates
        // floats (llvmpipe does) cannot cancel (t - sum) - y to 0.
        let y = mindist[b * p.n + i] - comp;
        let t = (sum + y) * p.one;
        comp = (t - sum) - y;
        sum = t;
    }
    inertia[flat] = sum;
}

@compute @workgroup_size(64)
fn gather(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let flat = flat_index(wid, nwg, lid);
    let g = flat / gp.width;
    let j = flat % gp.width;
    if (g >= gp.n_groups) {
        return;
    }
    let b = best[g];
    if (j < gp.words) {
        let bits = 32u / gp.per_word;
        var word = 0u;
        for (var q = 0u; q < gp.per_word; q++) {
            let i = j * gp.per_word + q;
            if (i < p.n) {
                word = word | (labels[b * p.n + i] << (q * bits));
            }
        }
        packed[g * gp.words + j] = word;
    }
    let kd = p.kmax * p.d;
    if (j < kd) {
        out_centres[g * kd + j] = centres[b * kd + j];
    }
    if (j == kd) {
        out_iter[g] = state[b].y;
    }
}

// Small problems (n <= 256 points, n x d <= 2048, kmax x d <= 512; hop detection's
// shape): one workgroup per problem runs the whole Lloyd loop on points held in
// workgroup memory, with the same arithmetic in the same order as the kernels above
// (assign, the 8 interleaved lanes of `partial_sums` over one chunk, `update`,
// `check`), then the final assignment and the inertia: one dispatch in all.
const SMALL_N: u32 = 256u;
var<workgroup> s_pts: array<f32, 2048>;   // point-major: i * d + t
var<workgroup> s_lab: array<u32, 256>;
var<workgroup> s_min: array<f32, 256>;
var<workgroup> s_cen: array<f32, 512>;    // c * d + t
var<workgroup> s_sum: array<f32, 512>;
var<workgroup> s_cnt: array<u32, 64>;
var<workgroup> s_shift: array<f32, 64>;
var<workgroup> s_moved: atomic<u32>;
var<workgroup> s_go: u32;

fn small_assign(lid: u32, n: u32, d: u32, k: u32, count: bool) {
    for (var i = lid; i < n; i += WG) {
        var best = 0u;
        var bestd = FLT_MAX;
        for (var c = 0u; c < k; c++) {
            var acc = 0.0;
            for (var t = 0u; t < d; t++) {
                let diff = s_pts[i * d + t] - s_cen[c * d + t];
                acc += diff * diff;
            }
            if (acc < bestd) {
                bestd = acc;
                best = c;
            }
        }
        if (count && s_lab[i] != best) {
            atomicAdd(&s_moved, 1u);
        }
        s_lab[i] = best;
        s_min[i] = bestd;
    }
}

@compute @workgroup_size(64)
fn lloyd_small(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let b = wid.y * nwg.x + wid.x;
    if (b >= p.n_problems) {
        return;
    }
    let pr = prob[b];
    let k = pr.y;
    let n = p.n;
    let d = p.d;
    let co = b * p.kmax * d;
    for (var e = lid; e < n * d; e += WG) {
        s_pts[e] = points[pr.x * n * d + e];
    }
    for (var e = lid; e < k * d; e += WG) {
        s_cen[e] = centres[co + e];
    }
    for (var i = lid; i < n; i += WG) {
        s_lab[i] = 0xffffffffu;
    }
    var iter = 0u;
    var strict = 0u;
    loop {
        if (lid == 0u) {
            atomicStore(&s_moved, 0u);
        }
        workgroupBarrier();
        small_assign(lid, n, d, k, true);
        workgroupBarrier();
        for (var j = lid; j < k * d; j += WG) {
            let c = j / d;
            let t = j % d;
            var lane = array<f32, 8>(0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0);
            for (var i = 0u; i < n; i++) {
                if (s_lab[i] == c) {
                    lane[i % 8u] += s_pts[i * d + t];
                }
            }
            var s = 0.0;
            for (var q = 0u; q < 8u; q++) {
                s += lane[q];
            }
            s_sum[j] = s;
        }
        for (var c = lid; c < k; c += WG) {
            var cnt = 0u;
            for (var i = 0u; i < n; i++) {
                if (s_lab[i] == c) {
                    cnt += 1u;
                }
            }
            s_cnt[c] = cnt;
        }
        workgroupBarrier();
        for (var c = lid; c < k; c += WG) {
            var sh = 0.0;
            for (var t = 0u; t < d; t++) {
                let old = s_cen[c * d + t];
                var nv = old;
                if (s_cnt[c] > 0u) {
                    nv = s_sum[c * d + t] / f32(s_cnt[c]);
                }
                let diff = nv - old;
                sh += diff * diff;
                s_cen[c * d + t] = nv;
            }
            s_shift[c] = sh;
        }
        workgroupBarrier();
        if (lid == 0u) {
            iter += 1u;
            var total = 0.0;
            for (var c = 0u; c < k; c++) {
                total += s_shift[c];
            }
            let moved = atomicLoad(&s_moved);
            var go = 1u;
            if (moved == 0u) {
                go = 0u;
                strict = 1u;
            } else if (total <= tol[b]) {
                go = 0u;
            }
            if (iter >= p.max_iter) {
                go = 0u;
            }
            s_go = go;
        }
        if (workgroupUniformLoad(&s_go) == 0u) {
            break;
        }
    }
    // Labels consistent with the final centres, then the inertia (one chunk).
    small_assign(lid, n, d, k, false);
    workgroupBarrier();
    for (var i = lid; i < n; i += WG) {
        labels[b * n + i] = s_lab[i];
    }
    for (var e = lid; e < k * d; e += WG) {
        centres[co + e] = s_cen[e];
    }
    if (lid == 0u) {
        var sum = 0.0;
        var comp = 0.0;
        for (var i = 0u; i < n; i++) {
            let y = s_min[i] - comp;
            let t = (sum + y) * p.one;
            comp = (t - sum) - y;
            sum = t;
        }
        inertia[b] = sum;
        state[b] = vec4<u32>(1u, iter, strict, 0u);
    }
}

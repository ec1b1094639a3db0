//! Shared test helpers.
#![allow(dead_code)]

use ndarray::{Array2, Array3};
use superion::{BackendChoice, Engine};

/// The wgpu engine for GPU-vs-CPU tests. With no adapter the test fails loudly (CI
/// installs the software Vulkan driver), unless `SUPERION_SKIP_GPU_TESTS=1` says this
/// machine has none, in which case GPU comparisons are skipped with a message.
pub fn gpu() -> Option<Engine> {
    if std::env::var("SUPERION_SKIP_GPU_TESTS").is_ok_and(|v| v == "1") {
        eprintln!("SUPERION_SKIP_GPU_TESTS=1: skipping the GPU side of this test");
        return None;
    }
    match Engine::new(BackendChoice::Gpu) {
        Ok(e) => Some(e),
        Err(err) => panic!(
            "no GPU adapter ({err}). Install one (apt-get install mesa-vulkan-drivers gives the \
             software Vulkan adapter) or set SUPERION_SKIP_GPU_TESTS=1 to skip GPU comparisons"
        ),
    }
}

/// |a - b| <= abs + rel * |b|
pub fn close(a: f64, b: f64, rel: f64, abs: f64) -> bool {
    (a - b).abs() <= abs + rel * b.abs()
}

pub fn naive_sq(x: &Array2<f32>, y: &Array2<f32>) -> Array2<f64> {
    Array2::from_shape_fn((x.nrows(), y.nrows()), |(i, j)| {
        x.row(i)
            .iter()
            .zip(y.row(j))
            .map(|(a, b)| (*a as f64 - *b as f64).powi(2))
            .sum()
    })
}

pub fn matrix(n: usize, d: usize, seed: u64) -> Array2<f32> {
    let mut s = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    Array2::from_shape_simple_fn((n, d), || {
        s = s
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((s >> 40) as f32 / (1u64 << 24) as f32) * 4.0 - 2.0
    })
}

pub fn blobs(n: usize, d: usize, k: usize, spread: f32, seed: u64) -> (Array2<f32>, Vec<u32>) {
    let mut s = seed | 1;
    let mut next = move || {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        (s >> 40) as f32 / (1u64 << 24) as f32 - 0.5
    };
    let centres: Vec<Vec<f32>> = (0..k)
        .map(|c| {
            (0..d)
                .map(|t| 10.0 * ((c * 7 + t * 3) % 11) as f32)
                .collect()
        })
        .collect();
    let truth: Vec<u32> = (0..n).map(|i| (i % k) as u32).collect();
    let x = Array2::from_shape_fn((n, d), |(i, t)| {
        centres[truth[i] as usize][t] + spread * next()
    });
    (x, truth)
}

pub struct Walk {
    pub frac: Array3<f32>,
    pub cells: Array3<f32>,
    /// True displacements from frame 0 (f64).
    pub truth: Array3<f64>,
}

pub fn mat_vec(v: [f64; 3], m: &[[f64; 3]; 3]) -> [f64; 3] {
    let mut o = [0.0; 3];
    for j in 0..3 {
        for i in 0..3 {
            o[j] += v[i] * m[i][j];
        }
    }
    o
}

pub fn inv3(m: &[[f64; 3]; 3]) -> [[f64; 3]; 3] {
    let det = m[0][0] * (m[1][1] * m[2][2] - m[1][2] * m[2][1])
        - m[0][1] * (m[1][0] * m[2][2] - m[1][2] * m[2][0])
        + m[0][2] * (m[1][0] * m[2][1] - m[1][1] * m[2][0]);
    let mut o = [[0.0; 3]; 3];
    for i in 0..3 {
        for j in 0..3 {
            let (r0, r1, c0, c1) = ((j + 1) % 3, (j + 2) % 3, (i + 1) % 3, (i + 2) % 3);
            o[i][j] = (m[r0][c0] * m[r1][c1] - m[r0][c1] * m[r1][c0]) / det;
        }
    }
    o
}

/// A random walk with steps up to `step` Å, wrapped into a (possibly triclinic,
/// possibly fluctuating) cell at every frame, as an MD code writes it.
pub fn walk(t: usize, n: usize, step: f64, triclinic: bool, npt: bool, seed: u64) -> Walk {
    let mut s = seed | 1;
    let mut rnd = move || {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        (s >> 11) as f64 / (1u64 << 53) as f64
    };
    let base = if triclinic {
        [[9.0, 0.0, 0.0], [3.5, 8.0, 0.0], [-2.0, 2.5, 10.0]]
    } else {
        [[9.0, 0.0, 0.0], [0.0, 8.0, 0.0], [0.0, 0.0, 10.0]]
    };
    let cell_at = |f: usize| {
        let scale = if npt {
            1.0 + 0.02 * ((f as f64) * 0.7).sin()
        } else {
            1.0
        };
        base.map(|r| r.map(|v| v * scale))
    };
    let nc = if npt { t } else { 1 };
    let cells = Array3::from_shape_fn((nc, 3, 3), |(f, i, j)| cell_at(f)[i][j] as f32);
    let mut frac = Array3::<f32>::zeros((t, n, 3));
    let mut truth = Array3::<f64>::zeros((t, n, 3));
    for a in 0..n {
        let mut x = mat_vec([rnd(), rnd(), rnd()], &cell_at(0));
        let mut total = [0.0; 3];
        for f in 0..t {
            if f > 0 {
                for ax in 0..3 {
                    let dx = step * (2.0 * rnd() - 1.0);
                    x[ax] += dx;
                    total[ax] += dx;
                }
            }
            let cell = cell_at(f);
            let mut sf = mat_vec(x, &inv3(&cell));
            for v in sf.iter_mut() {
                *v -= v.floor();
            }
            x = mat_vec(sf, &cell); // wrapped position: the next step starts here
            for ax in 0..3 {
                frac[[f, a, ax]] = sf[ax] as f32;
                truth[[f, a, ax]] = total[ax];
            }
        }
    }
    Walk { frac, cells, truth }
}

pub fn naive_windowed(disp: &Array3<f32>, lags: &[usize]) -> Array3<f64> {
    let (t, n, _) = disp.dim();
    Array3::from_shape_fn((lags.len(), n, 3), |(l, a, ax)| {
        let lag = lags[l];
        (0..t - lag)
            .map(|t0| (disp[[t0 + lag, a, ax]] as f64 - disp[[t0, a, ax]] as f64).powi(2))
            .sum()
    })
}

/// A fixed cubic cell of edge `cell` Å holding `n_li` Li then `n_s` S atoms at the
/// fractional positions `frac` (frames x atoms x 3), 0.1 ps between frames: the
/// planted-hop trajectories' frame.
pub fn li_s_cubic(
    frac: Array3<f32>,
    cell: f64,
    n_li: usize,
    n_s: usize,
) -> superion::traj::Trajectory {
    let mut cells = Array3::<f32>::zeros((1, 3, 3));
    for x in 0..3 {
        cells[[0, x, x]] = cell as f32;
    }
    superion::traj::Trajectory {
        source: std::path::PathBuf::from("planted"),
        species: (0..n_li)
            .map(|_| "Li".to_string())
            .chain((0..n_s).map(|_| "S".to_string()))
            .collect(),
        frac,
        cells,
        dt_ps: Some(0.1),
        velocities: None,
        notes: Vec::new(),
    }
}

/// `../shared/data/<sub>` (reference data beside the clone) when it is there. Without
/// it the check `what` is skipped: noted on stderr and in `target/tmp/skipped-tests.txt`
/// (which `python/run-tests.sh`, the end of the README's test command, lists), or,
/// with `SUPERION_REQUIRE_SHARED=1` (set by `.ci/run` beside `../shared`), a failure.
pub fn shared_data(sub: &str, what: &str) -> Option<std::path::PathBuf> {
    let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/data")
        .join(sub);
    // The test's name (libtest names each test's thread after it) and the check.
    let test = std::thread::current()
        .name()
        .unwrap_or("a test")
        .to_string();
    if p.exists() {
        log_line("ran-data-tests.txt", &format!("{test}: {what}"));
        return Some(p);
    }
    let note = format!("{test}: {what}: skipped, ../shared/data/{sub} is absent");
    if std::env::var("SUPERION_REQUIRE_SHARED").is_ok_and(|v| v == "1") {
        panic!("{note}, and SUPERION_REQUIRE_SHARED=1 requires it");
    }
    eprintln!("{note}");
    log_line("skipped-tests.txt", &note);
    None
}

/// One line appended to a log under the target's tmp folder (listed by
/// python/run-tests.sh at the end of the README's test command).
fn log_line(file: &str, line: &str) {
    let log = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join(file);
    if let Ok(mut f) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
    {
        use std::io::Write;
        let _ = writeln!(f, "{line}");
    }
}

/// A temporary folder unique to one test, removed when it goes out of scope (kept
/// with `SUPERION_KEEP_TEST_DIRS=1`, for looking at a failing test's outputs). It
/// derefs to its path.
pub struct TestDir(Option<tempfile::TempDir>, std::path::PathBuf);

pub fn tempdir(tag: &str) -> TestDir {
    let d = tempfile::Builder::new()
        .prefix(&format!("superion-{tag}-"))
        .tempdir()
        .expect("a temporary folder");
    let path = d.path().to_path_buf();
    if std::env::var("SUPERION_KEEP_TEST_DIRS").is_ok_and(|v| v == "1") {
        eprintln!("kept: {}", path.display());
        return TestDir(None, d.keep());
    }
    TestDir(Some(d), path)
}

impl std::ops::Deref for TestDir {
    type Target = std::path::Path;
    fn deref(&self) -> &std::path::Path {
        &self.1
    }
}

impl AsRef<std::path::Path> for TestDir {
    fn as_ref(&self) -> &std::path::Path {
        &self.1
    }
}

impl AsRef<std::ffi::OsStr> for TestDir {
    fn as_ref(&self) -> &std::ffi::OsStr {
        self.1.as_os_str()
    }
}

/// True when the command failed as a user error should: exit code exactly 1, and no
/// panic message. Panics (failing the test) when it succeeded, panicked or exited
/// with another code; a drop-in for `!o.status.success()`.
pub fn failed_cleanly(o: &std::process::Output) -> bool {
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(
        o.status.code(),
        Some(1),
        "expected exit code 1 (a reported error); stderr: {err}"
    );
    assert!(
        !err.contains("panicked") && !err.contains("RUST_BACKTRACE"),
        "a panic, not an error message: {err}"
    );
    true
}

/// Parse an SVG and check what a reader relies on: well-formed XML with an `<svg>`
/// root of positive size, no NaN or infinity in any attribute, every coordinate
/// attribute a finite number. Returns the texts (titles, axis labels, legends), each
/// trimmed, for the caller's checks.
pub fn svg_texts(path: &std::path::Path) -> Vec<String> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let doc = roxmltree::Document::parse(&text)
        .unwrap_or_else(|e| panic!("{}: not well-formed XML: {e}", path.display()));
    let root = doc.root_element();
    assert_eq!(root.tag_name().name(), "svg", "{}", path.display());
    for dim in ["width", "height"] {
        let v: f64 = root
            .attribute(dim)
            .and_then(|v| v.trim_end_matches("px").parse().ok())
            .unwrap_or_else(|| panic!("{}: no numeric {dim}", path.display()));
        assert!(v > 0.0, "{}: {dim} {v}", path.display());
    }
    let mut texts = Vec::new();
    for node in doc.descendants().filter(|n| n.is_element()) {
        for a in node.attributes() {
            let v = a.value();
            assert!(
                !v.contains("NaN") && !v.to_ascii_lowercase().contains("inf"),
                "{}: <{} {}=\"{v}\">",
                path.display(),
                node.tag_name().name(),
                a.name()
            );
            if matches!(
                a.name(),
                "x" | "y" | "x1" | "x2" | "y1" | "y2" | "cx" | "cy" | "r" | "width" | "height"
            ) {
                let x: f64 = v.trim_end_matches('%').parse().unwrap_or_else(|_| {
                    panic!("{}: {}=\"{v}\" is not a number", path.display(), a.name())
                });
                assert!(x.is_finite(), "{}: {}={v}", path.display(), a.name());
            }
            if a.name() == "points" || a.name() == "d" {
                for t in v.split(|c: char| {
                    c == ',' || c.is_whitespace() || c.is_ascii_alphabetic() && c != 'e'
                }) {
                    if !t.is_empty() {
                        assert!(
                            t.parse::<f64>().is_ok_and(|x| x.is_finite()),
                            "{}: {} holds {t:?}",
                            path.display(),
                            a.name()
                        );
                    }
                }
            }
        }
        if node.tag_name().name() == "text" {
            let t: String = node
                .descendants()
                .filter(|n| n.is_text())
                .filter_map(|n| n.text())
                .collect();
            texts.push(t.trim().to_string());
        }
    }
    assert!(!texts.is_empty(), "{}: no text at all", path.display());
    texts
}

/// The texts of the one SVG a command wrote in `dir` (fails if there are more or none).
pub fn only_svg_texts(dir: &std::path::Path) -> Vec<String> {
    let svgs: Vec<std::path::PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "svg"))
        .collect();
    assert_eq!(svgs.len(), 1, "{svgs:?}");
    svg_texts(&svgs[0])
}

/// Every SVG under `dir` checked with [`svg_texts`]; returns how many.
pub fn check_all_svgs(dir: &std::path::Path) -> usize {
    let mut n = 0;
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            n += check_all_svgs(&p);
        } else if p.extension().is_some_and(|x| x == "svg") {
            svg_texts(&p);
            n += 1;
        }
    }
    n
}

/// The two folders hold the same files with the same contents up to the last digits
/// of their numbers (|a − b| ≤ 1e-9 + rel·|b|, and 0.02 for drawing coordinates in
/// SVGs): the text between numbers must match exactly. Lines containing any of `skip`
/// (e.g. the backend's name) are not compared.
pub fn same_outputs(a: &std::path::Path, b: &std::path::Path, rel: f64, skip: &[&str]) {
    let mut names: Vec<_> = std::fs::read_dir(a)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    names.sort();
    let mut other: Vec<_> = std::fs::read_dir(b)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    other.sort();
    assert_eq!(names, other, "{} vs {}", a.display(), b.display());
    for n in names {
        let (pa, pb) = (a.join(&n), b.join(&n));
        if pa.is_dir() {
            same_outputs(&pa, &pb, rel, skip);
            continue;
        }
        let (ta, tb) = (
            std::fs::read_to_string(&pa).unwrap(),
            std::fs::read_to_string(&pb).unwrap(),
        );
        if n == "manifest.json" {
            // The same files listed; their digests differ with the last digits.
            let files = |t: &str| -> Vec<String> {
                let v: serde_json::Value = serde_json::from_str(t).unwrap();
                v["files"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|f| f["path"].as_str().unwrap().to_string())
                    .collect()
            };
            assert_eq!(files(&ta), files(&tb), "{}", pa.display());
            continue;
        }
        let svg = pa.extension().is_some_and(|x| x == "svg");
        let la: Vec<&str> = ta
            .lines()
            .filter(|l| !skip.iter().any(|s| l.contains(s)))
            .collect();
        let lb: Vec<&str> = tb
            .lines()
            .filter(|l| !skip.iter().any(|s| l.contains(s)))
            .collect();
        assert_eq!(la.len(), lb.len(), "{}: line counts differ", pa.display());
        for (k, (x, y)) in la.iter().zip(&lb).enumerate() {
            if x == y {
                continue;
            }
            let (wa, na) = split_numbers(x);
            let (wb, nb) = split_numbers(y);
            assert_eq!(wa, wb, "{}:{}: {x} vs {y}", pa.display(), k + 1);
            assert_eq!(na.len(), nb.len(), "{}:{}", pa.display(), k + 1);
            for (p, q) in na.iter().zip(&nb) {
                let tol = if svg { 0.02 } else { 1e-9 + rel * q.abs() };
                assert!(
                    (p - q).abs() <= tol,
                    "{}:{}: {p} vs {q}\n{x}\n{y}",
                    pa.display(),
                    k + 1
                );
            }
        }
    }
}

/// The text of a line with its numbers taken out, and the numbers.
fn split_numbers(line: &str) -> (String, Vec<f64>) {
    let b = line.as_bytes();
    let (mut words, mut nums) = (String::new(), Vec::new());
    let mut i = 0;
    while i < b.len() {
        let start = i;
        let digit_at = |j: usize| j < b.len() && b[j].is_ascii_digit();
        if digit_at(i)
            || ((b[i] == b'-' || b[i] == b'.')
                && (digit_at(i + 1)
                    || (b[i] == b'-' && b.get(i + 1) == Some(&b'.') && digit_at(i + 2))))
        {
            i += 1;
            while i < b.len() && (b[i].is_ascii_digit() || b[i] == b'.') {
                i += 1;
            }
            if i < b.len() && (b[i] == b'e' || b[i] == b'E') {
                let mut j = i + 1;
                if j < b.len() && (b[j] == b'-' || b[j] == b'+') {
                    j += 1;
                }
                if digit_at(j) {
                    i = j;
                    while digit_at(i) {
                        i += 1;
                    }
                }
            }
            match line[start..i].parse::<f64>() {
                Ok(v) => {
                    nums.push(v);
                    words.push('#');
                }
                Err(_) => words.push_str(&line[start..i]),
            }
        } else {
            let ch = line[i..].chars().next().unwrap();
            words.push(ch);
            i += ch.len_utf8();
        }
    }
    (words, nums)
}

/// Every run of the binary goes through here: whatever the outcome, never a panic.
pub fn no_panic(o: std::process::Output) -> std::process::Output {
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        o.status.code() != Some(101) && !err.contains("panicked at"),
        "the binary panicked: {err}"
    );
    o
}

/// True when the command line itself was refused (clap's usage error): exit code 2,
/// the offending option named, no panic.
pub fn usage_error(o: &std::process::Output) -> bool {
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(
        o.status.code(),
        Some(2),
        "expected a usage error (exit 2): {err}"
    );
    assert!(!err.contains("panicked"), "{err}");
    true
}

/// Whether GPU results must equal the CPU twin's bit for bit: on a software adapter
/// (lavapipe: the same IEEE operations in the same order), yes; a hardware driver may
/// legitimately contract a*b+c into a fused multiply-add or round division and sqrt
/// differently, so there labels are compared by agreement (adjusted Rand index) and
/// numbers by tolerance.
pub fn exact_on(gpu: &Engine) -> bool {
    gpu.gpu().is_none_or(|c| !c.summary.is_hardware())
}

/// GPU labels against the CPU twin's: equal on a software adapter, an adjusted Rand
/// index of at least 0.99 on hardware.
pub fn labels_agree(gpu: &Engine, got: &[u32], cpu: &[u32]) -> Result<(), String> {
    if exact_on(gpu) {
        return if got == cpu {
            Ok(())
        } else {
            Err("labels differ from the CPU twin's on a software adapter".into())
        };
    }
    let ari = superion::cluster::scores::adjusted_rand_index(got, cpu);
    if ari >= 0.99 {
        Ok(())
    } else {
        Err(format!(
            "labels agree with the CPU twin's only to ARI {ari:.4}"
        ))
    }
}

/// GPU iteration counts against the CPU twin's: equal on a software adapter, within
/// 2 on hardware.
pub fn iterations_agree(gpu: &Engine, got: &[u32], cpu: &[u32]) -> Result<(), String> {
    let tol = if exact_on(gpu) { 0 } else { 2 };
    match got.iter().zip(cpu).find(|(a, b)| a.abs_diff(**b) > tol) {
        None if got.len() == cpu.len() => Ok(()),
        _ => Err(format!("iterations {got:?} vs the CPU twin's {cpu:?}")),
    }
}

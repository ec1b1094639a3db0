//! The library's layers point one way. Every `crate::`/`super::` path in `src/` (tests
//! excluded) is resolved to the file that defines its module; the test fails when a
//! module imports from a layer above its own, when two files import each other
//! (directly or round a circle), when a library module is not placed in a layer, or
//! when `clap` appears outside the command line (`src/bin/`).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Bottom to top. A module may use its own layer and the ones before it.
const LAYERS: &[&[&str]] = &[
    &["error", "geom", "progress"],
    &["compute"],
    &["cluster"],
    &["phonon"],
    &["traj"],
    &["io"],
    &["materials"],
    &["batch"],
    &["crystal"],
    &["validate"],
    &["ranking"],
    &["screen"],
    &["plot"],
    &["report"],
    &["bench"],
];

fn layer_of(top: &str) -> Option<usize> {
    LAYERS.iter().position(|l| l.contains(&top))
}

type Module = Vec<String>;

/// Every library source file by its module path (`src/traj/hops/mod.rs` ->
/// ["traj", "hops"]), `src/bin/` left out.
fn modules(src: &Path) -> BTreeMap<Module, PathBuf> {
    let mut out = BTreeMap::new();
    let mut stack = vec![src.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                if p.file_name().unwrap() != "bin" {
                    stack.push(p);
                }
                continue;
            }
            if p.extension().is_none_or(|x| x != "rs") || p == src.join("main.rs") {
                continue;
            }
            let rel = p.strip_prefix(src).unwrap().with_extension("");
            let mut m: Module = rel
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect();
            if matches!(m.last().map(String::as_str), Some("mod" | "lib")) {
                m.pop();
            }
            out.insert(m, p);
        }
    }
    out
}

/// The source without comments and without its `#[cfg(test)]` tail.
fn code(path: &Path) -> String {
    strip(&std::fs::read_to_string(path).unwrap())
}

fn strip(text: &str) -> String {
    let text = text.split("#[cfg(test)]").next().unwrap();
    text.lines()
        .map(|l| l.split("//").next().unwrap())
        .collect::<Vec<_>>()
        .join("\n")
}

fn is_ident(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// The paths after `at` (just past `crate` or `super`): `::a::b`, or groups
/// `::{a::b, c::{d, e}}`, expanded.
fn paths_at(s: &[char], mut at: usize, prefix: Vec<String>, out: &mut Vec<Vec<String>>) -> usize {
    let mut path = prefix;
    loop {
        if s.get(at) == Some(&':') && s.get(at + 1) == Some(&':') {
            at += 2;
        } else {
            out.push(path);
            return at;
        }
        if s.get(at) == Some(&'{') {
            at += 1;
            loop {
                while s.get(at).is_some_and(|c| c.is_whitespace() || *c == ',') {
                    at += 1;
                }
                if s.get(at) == Some(&'}') || at >= s.len() {
                    return at + 1;
                }
                let start = at;
                while s.get(at).copied().is_some_and(is_ident) {
                    at += 1;
                }
                let word: String = s[start..at].iter().collect();
                let mut p = path.clone();
                p.push(word);
                at = paths_at(s, at, p, out);
                // skip `as name`
                while s.get(at).is_some_and(|c| *c != ',' && *c != '}') {
                    at += 1;
                }
            }
        }
        let start = at;
        while s.get(at).copied().is_some_and(is_ident) {
            at += 1;
        }
        if start == at {
            out.push(path);
            return at;
        }
        path.push(s[start..at].iter().collect());
    }
}

/// (kind, path) for every `crate::...` and `super::...` reference.
fn references(code: &str) -> Vec<(bool, Vec<String>)> {
    let s: Vec<char> = code.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < s.len() {
        let word_start = i == 0 || !is_ident(s[i - 1]);
        for (kw, is_crate) in [("crate", true), ("super", false)] {
            let n = kw.len();
            if word_start
                && s[i..].starts_with(&kw.chars().collect::<Vec<_>>())
                && s.get(i + n) == Some(&':')
            {
                let mut paths = Vec::new();
                let end = paths_at(&s, i + n, Vec::new(), &mut paths);
                out.extend(paths.into_iter().map(|p| (is_crate, p)));
                i = end.max(i + 1) - 1;
                break;
            }
        }
        i += 1;
    }
    out
}

/// The module a path refers to: its longest prefix that is a module.
fn resolve(mods: &BTreeMap<Module, PathBuf>, path: &[String]) -> Module {
    (0..=path.len())
        .rev()
        .map(|n| path[..n].to_vec())
        .find(|m| mods.contains_key(m))
        .unwrap_or_default()
}

fn edges() -> BTreeMap<Module, BTreeSet<Module>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mods = modules(&src);
    let mut edges: BTreeMap<Module, BTreeSet<Module>> = BTreeMap::new();
    for (m, path) in &mods {
        for (is_crate, p) in references(&code(path)) {
            let mut full: Vec<String> = if is_crate {
                Vec::new()
            } else {
                // `super` of a file is its folder's module; of a mod.rs, the parent's.
                let mut base = m.clone();
                base.pop();
                base
            };
            let mut rest = p.as_slice();
            while rest.first().is_some_and(|w| w == "super") {
                full.pop();
                rest = &rest[1..];
            }
            full.extend(rest.iter().cloned());
            let target = resolve(&mods, &full);
            if &target != m {
                edges.entry(m.clone()).or_default().insert(target);
            }
        }
    }
    edges
}

fn name(m: &Module) -> String {
    if m.is_empty() {
        "crate".into()
    } else {
        m.join("::")
    }
}

#[test]
fn every_library_module_is_in_a_layer() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let unplaced: Vec<String> = modules(&src)
        .keys()
        .filter(|m| !m.is_empty() && layer_of(&m[0]).is_none())
        .map(name)
        .collect();
    assert!(unplaced.is_empty(), "modules in no layer: {unplaced:?}");
}

#[test]
fn no_module_imports_from_a_layer_above_its_own() {
    let mut upward = Vec::new();
    for (from, tos) in edges() {
        let Some(lf) = from.first().and_then(|t| layer_of(t)) else {
            continue;
        };
        for to in tos {
            // The crate root holds the error macros and re-exports of `error`.
            let lt = to.first().map_or(Some(0), |t| layer_of(t));
            if lt.is_none_or(|lt| lt > lf) {
                upward.push(format!("{} -> {}", name(&from), name(&to)));
            }
        }
    }
    assert!(upward.is_empty(), "imports from a layer above: {upward:#?}");
}

#[test]
fn the_module_graph_has_no_circles() {
    let edges = edges();
    // Depth-first search with colours; a grey target closes a circle.
    fn visit(
        m: &Module,
        edges: &BTreeMap<Module, BTreeSet<Module>>,
        colour: &mut BTreeMap<Module, u8>,
        stack: &mut Vec<Module>,
        circles: &mut Vec<String>,
    ) {
        colour.insert(m.clone(), 1);
        stack.push(m.clone());
        for t in edges.get(m).into_iter().flatten() {
            match colour.get(t).copied().unwrap_or(0) {
                0 => visit(t, edges, colour, stack, circles),
                1 => {
                    let at = stack.iter().position(|s| s == t).unwrap();
                    let mut c: Vec<String> = stack[at..].iter().map(name).collect();
                    c.push(name(t));
                    circles.push(c.join(" -> "));
                }
                _ => {}
            }
        }
        stack.pop();
        colour.insert(m.clone(), 2);
    }
    let mut colour = BTreeMap::new();
    let mut circles = Vec::new();
    for m in edges.keys() {
        if !colour.contains_key(m) {
            visit(m, &edges, &mut colour, &mut Vec::new(), &mut circles);
        }
    }
    assert!(circles.is_empty(), "import circles: {circles:#?}");
}

#[test]
fn the_checker_sees_paths_groups_and_super() {
    let refs = references(&strip(
        "use crate::{io::write_csv, traj::{hops::Hops, msd}};\nlet x = super::super::geom::det(m);\n// crate::plot::ignored\n#[cfg(test)]\nuse crate::report;\n",
    ));
    let paths: Vec<String> = refs.iter().map(|(_, p)| p.join("::")).collect();
    assert_eq!(
        paths,
        [
            "io::write_csv",
            "traj::hops::Hops",
            "traj::msd",
            "super::geom::det"
        ]
    );
    assert!(!refs[3].0);
}

#[test]
fn clap_is_only_in_the_command_line() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let with_clap: Vec<String> = modules(&src)
        .values()
        .filter(|p| code(p).contains("clap"))
        .map(|p| p.display().to_string())
        .collect();
    assert!(with_clap.is_empty(), "clap outside src/bin/: {with_clap:?}");
}

//! Topologies: the species of the atoms of a trajectory that names none (DCD, XTC),
//! read from a LAMMPS data file, a GROMACS .gro or PDB file, or the first frame of any
//! trajectory superion reads.
//!
//! In a LAMMPS data file the `Atoms` section (its style from the `# atomic`/`# full`
//! comment LAMMPS writes) gives each atom's type, sorted here by atom id as `dump
//! dcd` writes them; a type is named by `--type-map`, or else by its mass in the
//! `Masses` section (the element within 0.1 u, when exactly one is).

use std::collections::HashMap;
use std::path::Path;

use super::parse_err;

/// The largest topology read (decompressed): about 10^7 atoms of a LAMMPS data file.
const TOPOLOGY_MAX_BYTES: u64 = 2 << 30;
use crate::error::Result;
use crate::phonon::composition::element_of_mass;

/// Species per atom and how they were found.
#[derive(Debug, Clone)]
pub struct Topology {
    pub species: Vec<String>,
    pub note: String,
}

/// Whether `text` looks like a LAMMPS data file (an `N atoms` line near the top).
pub(crate) fn is_lammps_data(text: &str) -> bool {
    text.lines().take(40).skip(1).any(|l| {
        let t: Vec<&str> = l
            .split('#')
            .next()
            .unwrap_or("")
            .split_whitespace()
            .collect();
        t.len() == 2 && t[1] == "atoms" && t[0].parse::<usize>().is_ok()
    })
}

/// The column of the atom type in the `Atoms` section for a LAMMPS atom style.
fn type_column(style: &str) -> Option<usize> {
    match style {
        "atomic" | "charge" | "dipole" | "sphere" | "ellipsoid" => Some(1),
        "full" | "molecular" | "bond" | "angle" => Some(2),
        _ => None,
    }
}

/// Read a LAMMPS data file's atoms as species.
pub(crate) fn read_lammps_data(
    path: &Path,
    type_map: &HashMap<String, String>,
) -> Result<Topology> {
    let text = super::read_text_at_most(path, TOPOLOGY_MAX_BYTES)?;
    let lines: Vec<&str> = text.lines().collect();
    let strip = |l: &str| l.split('#').next().unwrap_or("").trim().to_string();
    let mut n_atoms = None;
    let mut masses: HashMap<String, (f64, usize)> = HashMap::new();
    let mut atoms: Vec<(i64, String)> = Vec::new();
    let mut i = 1;
    let is_section = |l: &str| {
        let w = strip(l);
        !w.is_empty() && w.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
    };
    while i < lines.len() {
        let line = lines[i];
        let words: Vec<&str> = line
            .split('#')
            .next()
            .unwrap_or("")
            .split_whitespace()
            .collect();
        if words.len() == 2 && words[1] == "atoms" {
            n_atoms = Some(words[0].parse::<usize>().map_err(|_| {
                parse_err(
                    path,
                    i + 1,
                    format!("expected a number of atoms, found {:?}", words[0]),
                )
            })?);
        }
        let section = words.first().copied().unwrap_or("");
        if words.len() == 1 && (section == "Masses" || section == "Atoms") {
            let style = line.split_once('#').map(|(_, s)| s.trim().to_string());
            // The entries: after one blank line, up to the next section.
            let mut j = i + 1;
            while j < lines.len() && strip(lines[j]).is_empty() {
                j += 1;
            }
            while j < lines.len() && !is_section(lines[j]) {
                let t: Vec<&str> = lines[j]
                    .split('#')
                    .next()
                    .unwrap_or("")
                    .split_whitespace()
                    .collect();
                if t.is_empty() {
                    j += 1;
                    continue;
                }
                if section == "Masses" {
                    let m = t
                        .get(1)
                        .and_then(|v| v.parse::<f64>().ok())
                        .ok_or_else(|| parse_err(path, j + 1, "expected \"TYPE MASS\"".into()))?;
                    masses.insert(t[0].to_string(), (m, j + 1));
                } else {
                    let col = match style.as_deref() {
                        Some(s) => type_column(s.split_whitespace().next().unwrap_or("")).ok_or_else(|| {
                            parse_err(
                                path,
                                i + 1,
                                format!("atom style {s:?} is not one superion reads (atomic, charge, full, molecular, bond, angle, dipole, sphere, ellipsoid)"),
                            )
                        })?,
                        // No style comment: atomic (id type x y z [images]) or
                        // charge (id type q x y z [images]) put the type second.
                        None if matches!(t.len(), 5 | 6 | 8 | 9) => 1,
                        None => {
                            return Err(parse_err(
                                path,
                                i + 1,
                                "the Atoms section names no atom style (e.g. \"Atoms # atomic\")".into(),
                            ));
                        }
                    };
                    let id = t[0].parse::<i64>().map_err(|_| {
                        parse_err(
                            path,
                            j + 1,
                            format!("expected an atom id, found {:?}", t[0]),
                        )
                    })?;
                    let ty = t.get(col).ok_or_else(|| {
                        parse_err(
                            path,
                            j + 1,
                            format!("expected the atom type in column {}", col + 1),
                        )
                    })?;
                    atoms.push((id, ty.to_string()));
                }
                j += 1;
            }
            i = j;
            continue;
        }
        i += 1;
    }
    let n =
        n_atoms.ok_or_else(|| parse_err(path, 1, "no \"N atoms\" line in the header".into()))?;
    if atoms.len() != n {
        return Err(parse_err(
            path,
            1,
            format!(
                "the header says {n} atoms, the Atoms section lists {}",
                atoms.len()
            ),
        ));
    }
    atoms.sort_by_key(|a| a.0);
    if let Some(w) = atoms.windows(2).find(|w| w[0].0 == w[1].0) {
        return Err(parse_err(
            path,
            1,
            format!("atom id {} appears twice", w[0].0),
        ));
    }
    let mut names: HashMap<String, String> = HashMap::new();
    let mut how: Vec<String> = Vec::new();
    let mut types: Vec<&String> = atoms.iter().map(|a| &a.1).collect();
    types.sort_by_key(|t| t.parse::<i64>().unwrap_or(i64::MAX));
    types.dedup();
    for t in types {
        let name = if let Some(el) = type_map.get(t) {
            how.push(format!("{t}={el}"));
            el.clone()
        } else {
            let Some(&(m, line)) = masses.get(t) else {
                return Err(parse_err(
                    path,
                    1,
                    format!(
                        "atom type {t} has no mass in the Masses section: give option type_map (e.g. {t}=Li)"
                    ),
                ));
            };
            let el = element_of_mass(m, 0.1).ok_or_else(|| {
                parse_err(
                    path,
                    line,
                    format!("atom type {t} has mass {m} u, which names no one element within 0.1 u: give option type_map (e.g. {t}=Li)"),
                )
            })?;
            how.push(format!("{t}={el} (mass {m} u)"));
            el.to_string()
        };
        names.insert(t.clone(), name);
    }
    Ok(Topology {
        species: atoms.iter().map(|a| names[&a.1].clone()).collect(),
        note: format!(
            "species from the LAMMPS data file {}: types {}",
            path.display(),
            how.join(", ")
        ),
    })
}

/// Whether `path` names a GROMACS structure (.gro) or a PDB file, by its name.
pub(crate) fn structure_kind(path: &Path) -> Option<&'static str> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().to_lowercase())
        .unwrap_or_default();
    let stem = name.trim_end_matches(".gz");
    if stem.ends_with(".gro") {
        Some("gro")
    } else if stem.ends_with(".pdb") || stem.ends_with(".ent") {
        Some("pdb")
    } else {
        None
    }
}

/// The species of an atom named `name` (and, in a PDB, with element column
/// `element`): `--type-map` by name first, then the element column, then the name's
/// leading letters as an element symbol (two letters, else one: "LI1" is Li, "S2" S).
/// The letters an atom name starts with, after any leading digits ("1HG" -> "HG",
/// "Li2" -> "Li").
fn name_letters(name: &str) -> String {
    name.trim_start_matches(|c: char| c.is_ascii_digit())
        .chars()
        .take_while(|c| c.is_ascii_alphabetic())
        .collect()
}

fn species_of_name(
    name: &str,
    element: &str,
    type_map: &HashMap<String, String>,
) -> Option<String> {
    if let Some(s) = type_map.get(name) {
        return Some(s.clone());
    }
    if let Some(s) = crate::phonon::composition::element_symbol(element) {
        return Some(s);
    }
    let letters = name_letters(name);
    let two = letters
        .get(..2)
        .and_then(crate::phonon::composition::element_symbol);
    two.or_else(|| {
        letters
            .get(..1)
            .and_then(crate::phonon::composition::element_symbol)
    })
}

/// The element of a PDB atom record with no element column, from its atom name field
/// (columns 13-16, as written): a type-map entry first; a name whose first column is
/// blank or a digit (" CA ", "1HG ") is a one-letter element in the second column, as
/// PDB aligns names (Cα is carbon); otherwise a name that reads as an element both
/// with one letter and with two ("CA", "HG", "NA", "CL") is ambiguous and refused, so
/// that Cα never becomes calcium nor Hγ mercury; an unambiguous one ("LI", "S1", "O")
/// is read.
fn pdb_species(
    field: &str,
    type_map: &HashMap<String, String>,
) -> std::result::Result<String, String> {
    use crate::phonon::composition::element_symbol;
    let name = field.trim();
    if let Some(s) = type_map.get(name) {
        return Ok(s.clone());
    }
    let b = field.as_bytes();
    if b.len() >= 2 && (b[0] == b' ' || b[0].is_ascii_digit()) && b[1].is_ascii_alphabetic() {
        if let Some(e) = element_symbol(&field[1..2]) {
            return Ok(e);
        }
    }
    let letters = name_letters(name);
    let two = letters.get(..2).and_then(element_symbol);
    let one = letters.get(..1).and_then(element_symbol);
    match (two, one) {
        (Some(t), Some(o)) => Err(format!(
            "atom name {name:?} has no element column and reads as {t} or as {o}: give the element in columns 77-78, or option type_map ({name}={t} or {name}={o})"
        )),
        (Some(e), None) | (None, Some(e)) => Ok(e),
        (None, None) => Err(format!(
            "atom name {name:?} is no element symbol: map it with option type_map ({name}=Li)"
        )),
    }
}

/// Read the atoms of a GROMACS .gro file (the atom name in columns 11-15) or of a PDB
/// file's first model (ATOM/HETATM records: the element in columns 77-78, else the
/// atom name in 13-16) as species; `type_map` maps atom names to elements
/// (`CA=Li`), before anything else.
pub fn read_structure(
    path: &Path,
    kind: &str,
    type_map: &HashMap<String, String>,
) -> Result<Topology> {
    let text = super::read_text_at_most(path, TOPOLOGY_MAX_BYTES)?;
    let mut species = Vec::new();
    let unknown = |line: usize, name: &str| {
        parse_err(
            path,
            line,
            format!(
                "atom name {name:?} is no element symbol: map it with option type_map ({name}=Li)"
            ),
        )
    };
    if kind == "gro" {
        let lines: Vec<&str> = text.lines().collect();
        let n: usize = lines
            .get(1)
            .and_then(|l| l.trim().parse().ok())
            .ok_or_else(|| parse_err(path, 2, "expected the number of atoms".into()))?;
        if lines.len() < n + 2 {
            return Err(parse_err(
                path,
                lines.len(),
                format!(
                    "{n} atoms announced, {} lines follow",
                    lines.len().saturating_sub(2)
                ),
            ));
        }
        for (i, l) in lines[2..n + 2].iter().enumerate() {
            let name = l.get(10..15).unwrap_or("").trim();
            species.push(species_of_name(name, "", type_map).ok_or_else(|| unknown(i + 3, name))?);
        }
    } else {
        for (i, l) in text.lines().enumerate() {
            if l.starts_with("ENDMDL") || (l.starts_with("END") && !species.is_empty()) {
                break;
            }
            if !(l.starts_with("ATOM") || l.starts_with("HETATM")) {
                continue;
            }
            let field = l.get(12..16).or_else(|| l.get(12..)).unwrap_or("");
            let element = l.get(76..78).unwrap_or("").trim();
            let from_column = crate::phonon::composition::element_symbol(element)
                .filter(|_| !type_map.contains_key(field.trim()));
            let s = match from_column {
                Some(e) => e,
                None => pdb_species(field, type_map).map_err(|m| parse_err(path, i + 1, m))?,
            };
            species.push(s);
        }
        if species.is_empty() {
            return Err(parse_err(path, 0, "no ATOM or HETATM records".into()));
        }
    }
    Ok(Topology {
        note: format!(
            "species from the atoms of {} ({})",
            path.display(),
            crate::traj::distinct_species(&species).join(", ")
        ),
        species,
    })
}

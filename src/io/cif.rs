//! A small CIF reader for what site analysis needs: the cell, the symmetry operations
//! and the atom sites (label, element, fractional position, occupancy), expanded to
//! the full unit cell by the operations. Values with uncertainties (`0.1830(4)`) are
//! read without them; `?` and `.` mean unknown.

use std::path::Path;

use crate::error::Result;
use crate::io::parse_err;

/// One atom site of the full cell after symmetry expansion.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct CifSite {
    /// `_atom_site_label` of the asymmetric-unit site it comes from.
    pub label: String,
    /// Element symbol (from `_atom_site_type_symbol`, else the label's leading letters).
    pub element: String,
    pub frac: [f64; 3],
    pub occupancy: f64,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct Cif {
    /// Lattice vectors as rows (Å): a along x, b in the xy plane.
    pub lattice: [[f64; 3]; 3],
    pub sites: Vec<CifSite>,
    /// Symmetry operations read (1 when the file lists none).
    pub n_operations: usize,
}

/// A symmetry operation: frac' = rot · frac + trans.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SymOp {
    pub rot: [[f64; 3]; 3],
    pub trans: [f64; 3],
}

/// Parse `x, 1/2+y, -z+1/4` (also `X,Y,Z`, without spaces, with decimals).
pub(crate) fn parse_symop(text: &str) -> Option<SymOp> {
    let parts: Vec<&str> = text.split(',').collect();
    if parts.len() != 3 {
        return None;
    }
    let mut rot = [[0.0; 3]; 3];
    let mut trans = [0.0; 3];
    for (i, p) in parts.iter().enumerate() {
        let s: String = p.chars().filter(|c| !c.is_whitespace()).collect();
        let s = s.to_ascii_lowercase();
        if s.is_empty() {
            return None;
        }
        // Split into signed terms.
        let mut terms: Vec<String> = Vec::new();
        let mut cur = String::new();
        for c in s.chars() {
            if (c == '+' || c == '-') && !cur.is_empty() {
                terms.push(std::mem::take(&mut cur));
            }
            cur.push(c);
        }
        terms.push(cur);
        for t in terms {
            let (sign, body) = match t.strip_prefix('-') {
                Some(b) => (-1.0, b),
                None => (1.0, t.strip_prefix('+').unwrap_or(&t)),
            };
            if let Some(axis) = body
                .chars()
                .last()
                .and_then(|c| "xyz".find(c))
                .filter(|_| body.chars().any(|c| "xyz".contains(c)))
            {
                let coef = &body[..body.len() - 1];
                let coef = coef.strip_suffix('*').unwrap_or(coef);
                let v = if coef.is_empty() { 1.0 } else { number(coef)? };
                rot[i][axis] += sign * v;
            } else {
                trans[i] += sign * number(body)?;
            }
        }
    }
    Some(SymOp { rot, trans })
}

fn number(s: &str) -> Option<f64> {
    match s.split_once('/') {
        Some((a, b)) => Some(a.parse::<f64>().ok()? / b.parse::<f64>().ok()?),
        None => s.parse().ok(),
    }
}

/// A CIF number: the uncertainty in parentheses dropped; `?` and `.` are None.
fn cif_number(s: &str) -> Option<f64> {
    let s = s.split('(').next().unwrap_or(s);
    if s == "?" || s == "." {
        return None;
    }
    s.parse().ok()
}

/// Tokens of one line: whitespace-separated, quotes keep spaces.
fn tokens(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut chars = line.chars().peekable();
    while let Some(&c) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
            continue;
        }
        if c == '#' {
            break;
        }
        if c == '\'' || c == '"' {
            chars.next();
            let mut t = String::new();
            while let Some(d) = chars.next() {
                // A quote closes only when followed by whitespace or the end.
                if d == c && chars.peek().is_none_or(|n| n.is_whitespace()) {
                    break;
                }
                t.push(d);
            }
            out.push(t);
        } else {
            let mut t = String::new();
            while let Some(&d) = chars.peek() {
                if d.is_whitespace() {
                    break;
                }
                t.push(d);
                chars.next();
            }
            out.push(t);
        }
    }
    out
}

/// Element symbol from a type symbol or label: `Li1+` → `Li`, `LI2` → `Li`.
pub(crate) fn element_of(s: &str) -> String {
    let letters: String = s.chars().take_while(|c| c.is_ascii_alphabetic()).collect();
    let mut it = letters.chars();
    match it.next() {
        None => String::new(),
        Some(f) => {
            let rest: String = it.take(1).collect::<String>().to_ascii_lowercase();
            let two = format!("{}{}", f.to_ascii_uppercase(), rest);
            if !rest.is_empty() && crate::phonon::composition::is_element(&two) {
                two
            } else {
                f.to_ascii_uppercase().to_string()
            }
        }
    }
}

/// Lattice rows from a, b, c (Å) and α, β, γ (degrees), in the usual setting.
pub(crate) fn lattice_from_parameters(p: [f64; 6]) -> [[f64; 3]; 3] {
    let [a, b, c, al, be, ga] = p;
    let (al, be, ga) = (al.to_radians(), be.to_radians(), ga.to_radians());
    let cx = c * be.cos();
    let cy = c * (al.cos() - be.cos() * ga.cos()) / ga.sin();
    let cz = (c * c - cx * cx - cy * cy).max(0.0).sqrt();
    [
        [a, 0.0, 0.0],
        [b * ga.cos(), b * ga.sin(), 0.0],
        [cx, cy, cz],
    ]
}

/// Read the first data block of a CIF.
pub fn read(path: &Path) -> Result<Cif> {
    let text = crate::io::read_text(path)?;
    parse(&text, path)
}

pub fn parse(text: &str, path: &Path) -> Result<Cif> {
    let lines: Vec<&str> = text.lines().collect();
    let mut items: std::collections::HashMap<String, (String, usize)> = Default::default();
    // Loops: (column names, rows of values with the line of their first value).
    let mut loops: Vec<(Vec<String>, Vec<(Vec<String>, usize)>)> = Vec::new();
    let mut i = 0;
    let mut blocks = 0;
    while i < lines.len() {
        let line = lines[i].trim();
        if line.starts_with("data_") {
            blocks += 1;
            if blocks > 1 {
                break; // the first data block only
            }
            i += 1;
            continue;
        }
        if line.eq_ignore_ascii_case("loop_") {
            let mut names = Vec::new();
            i += 1;
            while i < lines.len() && lines[i].trim().starts_with('_') {
                names.push(lines[i].trim().to_ascii_lowercase());
                i += 1;
            }
            let mut values: Vec<(String, usize)> = Vec::new();
            while i < lines.len() {
                let l = lines[i].trim();
                if l.is_empty() || l.starts_with('#') {
                    i += 1;
                    continue;
                }
                if l.starts_with('_') || l.eq_ignore_ascii_case("loop_") || l.starts_with("data_") {
                    break;
                }
                if l.starts_with(';') {
                    // A text field: one value up to the closing ';'.
                    let start = i;
                    let mut t = l[1..].to_string();
                    i += 1;
                    while i < lines.len() && !lines[i].starts_with(';') {
                        t.push('\n');
                        t.push_str(lines[i]);
                        i += 1;
                    }
                    i += 1;
                    values.push((t, start + 1));
                    continue;
                }
                for t in tokens(l) {
                    values.push((t, i + 1));
                }
                i += 1;
            }
            if names.is_empty() {
                return Err(parse_err(path, i, "loop_ without column names".into()));
            }
            if values.len() % names.len() != 0 {
                let at = values.last().map_or(i, |v| v.1);
                return Err(parse_err(
                    path,
                    at,
                    format!(
                        "a loop of {} columns ({}) holds {} values, not a multiple of {}",
                        names.len(),
                        names[0],
                        values.len(),
                        names.len()
                    ),
                ));
            }
            let rows = values
                .chunks(names.len())
                .map(|c| (c.iter().map(|v| v.0.clone()).collect(), c[0].1))
                .collect();
            loops.push((names, rows));
            continue;
        }
        if line.starts_with('_') {
            let t = tokens(line);
            let name = t[0].to_ascii_lowercase();
            let value = if t.len() > 1 {
                t[1].clone()
            } else {
                // The value on the next line.
                i += 1;
                lines
                    .get(i)
                    .map(|l| tokens(l).into_iter().next().unwrap_or_default())
                    .unwrap_or_default()
            };
            items.insert(name, (value, i + 1));
        }
        i += 1;
    }
    let get = |name: &str| -> Result<f64> {
        let (v, line) = items.get(name).ok_or_else(|| {
            parse_err(
                path,
                0,
                format!("no {name}: a CIF needs the cell parameters"),
            )
        })?;
        cif_number(v).ok_or_else(|| parse_err(path, *line, format!("{name} {v:?} is not a number")))
    };
    let p = [
        get("_cell_length_a")?,
        get("_cell_length_b")?,
        get("_cell_length_c")?,
        get("_cell_angle_alpha")?,
        get("_cell_angle_beta")?,
        get("_cell_angle_gamma")?,
    ];
    if p.iter().any(|v| !(v.is_finite() && *v > 0.0)) {
        return Err(parse_err(
            path,
            0,
            format!("cell parameters {p:?} must be positive"),
        ));
    }
    let lattice = lattice_from_parameters(p);

    let find = |cols: &[&str]| {
        loops
            .iter()
            .find(|(names, _)| cols.iter().any(|c| names.iter().any(|n| n == c)))
    };
    let mut ops = Vec::new();
    let sym_cols = [
        "_symmetry_equiv_pos_as_xyz",
        "_space_group_symop_operation_xyz",
        "_space_group_symop.operation_xyz",
    ];
    if let Some((names, rows)) = find(&sym_cols) {
        let col = names
            .iter()
            .position(|n| sym_cols.contains(&n.as_str()))
            .unwrap_or(0);
        for (row, line) in rows {
            let op = parse_symop(&row[col]).ok_or_else(|| {
                parse_err(
                    path,
                    *line,
                    format!(
                        "symmetry operation {:?}: expected three comma-separated terms like 'x, 1/2+y, -z'",
                        row[col]
                    ),
                )
            })?;
            ops.push(op);
        }
    }
    if ops.is_empty() {
        ops.push(SymOp {
            rot: [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]],
            trans: [0.0; 3],
        });
    }
    let (names, rows) = find(&["_atom_site_fract_x"])
        .ok_or_else(|| parse_err(path, 0, "no atom_site loop with _atom_site_fract_x".into()))?;
    let col = |n: &str| names.iter().position(|x| x == n);
    let (cx, cy, cz) = (
        col("_atom_site_fract_x"),
        col("_atom_site_fract_y"),
        col("_atom_site_fract_z"),
    );
    let (Some(cx), Some(cy), Some(cz)) = (cx, cy, cz) else {
        return Err(parse_err(
            path,
            0,
            "the atom_site loop needs _atom_site_fract_x, _y and _z".into(),
        ));
    };
    let c_label = col("_atom_site_label");
    let c_type = col("_atom_site_type_symbol");
    let c_occ = col("_atom_site_occupancy");
    let mut sites: Vec<CifSite> = Vec::new();
    for (row, line) in rows {
        let coord = |c: usize| {
            cif_number(&row[c]).ok_or_else(|| {
                parse_err(
                    path,
                    *line,
                    format!("fractional coordinate {:?} is not a number", row[c]),
                )
            })
        };
        let f = [coord(cx)?, coord(cy)?, coord(cz)?];
        let label = c_label.map(|c| row[c].clone()).unwrap_or_else(|| {
            c_type
                .map(|c| row[c].clone())
                .unwrap_or_else(|| format!("site{}", sites.len() + 1))
        });
        let element = element_of(
            &c_type
                .map(|c| row[c].clone())
                .unwrap_or_else(|| label.clone()),
        );
        let occupancy = c_occ.and_then(|c| cif_number(&row[c])).unwrap_or(1.0);
        let start = sites.len();
        for op in &ops {
            let mut g = [0.0; 3];
            for a in 0..3 {
                g[a] = op.trans[a] + (0..3).map(|b| op.rot[a][b] * f[b]).sum::<f64>();
                g[a] -= g[a].floor();
                if g[a] >= 1.0 - 1e-9 {
                    g[a] = 0.0;
                }
            }
            // Images closer than 0.01 Å to one already made are the same site.
            let dup = sites[start..].iter().any(|s| {
                let d: [f64; 3] = std::array::from_fn(|a| {
                    let x = s.frac[a] - g[a];
                    x - x.round()
                });
                let cart: [f64; 3] =
                    std::array::from_fn(|k| (0..3).map(|a| d[a] * lattice[a][k]).sum());
                (cart[0] * cart[0] + cart[1] * cart[1] + cart[2] * cart[2]).sqrt() < 0.01
            });
            if !dup {
                sites.push(CifSite {
                    label: label.clone(),
                    element: element.clone(),
                    frac: g,
                    occupancy,
                });
            }
        }
    }
    Ok(Cif {
        lattice,
        sites,
        n_operations: ops.len(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn symops_parse() {
        let op = parse_symop("1/2-z, 1/2+x, -y").unwrap();
        assert_eq!(
            op.rot,
            [[0.0, 0.0, -1.0], [1.0, 0.0, 0.0], [0.0, -1.0, 0.0]]
        );
        assert_eq!(op.trans, [0.5, 0.5, 0.0]);
        let op = parse_symop("X-Y,X,Z+0.25").unwrap();
        assert_eq!(op.rot, [[1.0, -1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]]);
        assert_eq!(op.trans, [0.0, 0.0, 0.25]);
        assert!(parse_symop("x, y").is_none());
        assert!(parse_symop("x, y, q").is_none());
    }

    #[test]
    fn elements() {
        assert_eq!(element_of("Li1+"), "Li");
        assert_eq!(element_of("LI2"), "Li");
        assert_eq!(element_of("S1"), "S");
        assert_eq!(element_of("Cl"), "Cl");
        assert_eq!(element_of("P"), "P");
    }

    #[test]
    fn rocksalt_expands_to_eight_sites() {
        let text = "data_x\n_cell_length_a 4.0\n_cell_length_b 4.0\n_cell_length_c 4.0(1)\n_cell_angle_alpha 90\n_cell_angle_beta 90\n_cell_angle_gamma 90\nloop_\n_symmetry_equiv_pos_as_xyz\n'x, y, z'\n'x, 1/2+y, 1/2+z'\n'1/2+x, y, 1/2+z'\n'1/2+x, 1/2+y, z'\nloop_\n_atom_site_label\n_atom_site_type_symbol\n_atom_site_fract_x\n_atom_site_fract_y\n_atom_site_fract_z\n_atom_site_occupancy\nNa1 Na+ 0 0 0 1\nCl1 Cl- 0.5 0.5 0.5 0.5\n";
        let c = parse(text, Path::new("t.cif")).unwrap();
        assert_eq!(c.sites.len(), 8);
        assert_eq!(c.sites.iter().filter(|s| s.element == "Cl").count(), 4);
        assert!(
            c.sites
                .iter()
                .any(|s| s.frac == [0.0, 0.5, 0.0] && s.element == "Cl")
        );
        assert_eq!(c.sites[7].occupancy, 0.5);
        assert!((c.lattice[2][2] - 4.0).abs() < 1e-12);
    }

    #[test]
    fn bad_loop_is_located() {
        let text = "data_x\n_cell_length_a 4\n_cell_length_b 4\n_cell_length_c 4\n_cell_angle_alpha 90\n_cell_angle_beta 90\n_cell_angle_gamma 90\nloop_\n_atom_site_label\n_atom_site_fract_x\n_atom_site_fract_y\n_atom_site_fract_z\nLi1 0 0 zero\n";
        let e = parse(text, Path::new("t.cif")).unwrap_err().to_string();
        assert!(e.contains("t.cif:13"), "{e}");
        assert!(e.contains("not a number"), "{e}");
    }
}

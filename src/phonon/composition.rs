//! Chemical compositions: reduced formulas written as pymatgen and the Materials
//! Project write them (elements by increasing Pauling electronegativity), and formula
//! parsing so that "LiTi2(PO4)3", "Li1Ti2P3O12" and a structure's species all compare
//! equal as reduced compositions.

use std::collections::BTreeMap;

/// Pauling electronegativities (pymatgen's values; noble gases and unknowns high, so
/// they sort last). Indexed by symbol through [`electronegativity`].
const PAULING: &[(&str, f64)] = &[
    ("H", 2.20),
    ("He", 4.5),
    ("Li", 0.98),
    ("Be", 1.57),
    ("B", 2.04),
    ("C", 2.55),
    ("N", 3.04),
    ("O", 3.44),
    ("F", 3.98),
    ("Ne", 4.5),
    ("Na", 0.93),
    ("Mg", 1.31),
    ("Al", 1.61),
    ("Si", 1.90),
    ("P", 2.19),
    ("S", 2.58),
    ("Cl", 3.16),
    ("Ar", 4.5),
    ("K", 0.82),
    ("Ca", 1.00),
    ("Sc", 1.36),
    ("Ti", 1.54),
    ("V", 1.63),
    ("Cr", 1.66),
    ("Mn", 1.55),
    ("Fe", 1.83),
    ("Co", 1.88),
    ("Ni", 1.91),
    ("Cu", 1.90),
    ("Zn", 1.65),
    ("Ga", 1.81),
    ("Ge", 2.01),
    ("As", 2.18),
    ("Se", 2.55),
    ("Br", 2.96),
    ("Kr", 3.00),
    ("Rb", 0.82),
    ("Sr", 0.95),
    ("Y", 1.22),
    ("Zr", 1.33),
    ("Nb", 1.6),
    ("Mo", 2.16),
    ("Tc", 1.9),
    ("Ru", 2.2),
    ("Rh", 2.28),
    ("Pd", 2.20),
    ("Ag", 1.93),
    ("Cd", 1.69),
    ("In", 1.78),
    ("Sn", 1.96),
    ("Sb", 2.05),
    ("Te", 2.1),
    ("I", 2.66),
    ("Xe", 2.6),
    ("Cs", 0.79),
    ("Ba", 0.89),
    ("La", 1.10),
    ("Ce", 1.12),
    ("Pr", 1.13),
    ("Nd", 1.14),
    ("Pm", 1.13),
    ("Sm", 1.17),
    ("Eu", 1.2),
    ("Gd", 1.20),
    ("Tb", 1.1),
    ("Dy", 1.22),
    ("Ho", 1.23),
    ("Er", 1.24),
    ("Tm", 1.25),
    ("Yb", 1.1),
    ("Lu", 1.27),
    ("Hf", 1.3),
    ("Ta", 1.5),
    ("W", 2.36),
    ("Re", 1.9),
    ("Os", 2.2),
    ("Ir", 2.20),
    ("Pt", 2.28),
    ("Au", 2.54),
    ("Hg", 2.00),
    ("Tl", 1.62),
    ("Pb", 2.33),
    ("Bi", 2.02),
    ("Po", 2.0),
    ("At", 2.2),
    ("Rn", 2.2),
    ("Fr", 0.7),
    ("Ra", 0.9),
    ("Ac", 1.1),
    ("Th", 1.3),
    ("Pa", 1.5),
    ("U", 1.38),
    ("Np", 1.36),
    ("Pu", 1.28),
    ("Am", 1.13),
    ("Cm", 1.28),
];

/// The Pauling electronegativity of `symbol`, if it is a known element.
pub(crate) fn electronegativity(symbol: &str) -> Option<f64> {
    PAULING.iter().find(|(s, _)| *s == symbol).map(|(_, x)| *x)
}

/// The symbol of the element with atomic number `z` (1 = H ... 96 = Cm).
pub(crate) fn symbol_of_number(z: i64) -> Option<&'static str> {
    usize::try_from(z)
        .ok()
        .and_then(|z| z.checked_sub(1))
        .and_then(|i| PAULING.get(i))
        .map(|(s, _)| *s)
}

/// Whether `symbol` names a chemical element.
pub fn is_element(symbol: &str) -> bool {
    electronegativity(symbol).is_some()
}

/// An element symbol written in any case ("li", "LI") as the symbol ("Li"); `None`
/// when it is not an element.
pub fn element_symbol(text: &str) -> Option<String> {
    let t = text.trim();
    let mut c = t.chars();
    let first = c.next()?.to_ascii_uppercase();
    let s: String = std::iter::once(first)
        .chain(c.map(|x| x.to_ascii_lowercase()))
        .collect();
    is_element(&s).then_some(s)
}

/// Element -> amount.
pub type Composition = BTreeMap<String, f64>;

/// The composition of a list of site species.
pub(crate) fn composition_of(species: &[String]) -> Composition {
    let mut c = Composition::new();
    for s in species {
        *c.entry(s.clone()).or_insert(0.0) += 1.0;
    }
    c
}

fn gcd(a: u64, b: u64) -> u64 {
    if b == 0 { a } else { gcd(b, a % b) }
}

/// The composition divided by the greatest common divisor of its (integer) amounts.
pub(crate) fn reduce(c: &Composition) -> Composition {
    let ints: Vec<u64> = c.values().map(|v| v.round() as u64).collect();
    let integral = c.values().all(|v| (v - v.round()).abs() < 1e-6);
    let g = if integral {
        ints.iter().copied().fold(0, gcd).max(1)
    } else {
        1
    };
    c.iter().map(|(k, v)| (k.clone(), v / g as f64)).collect()
}

/// Reduced formula, elements by increasing electronegativity then symbol ("Li2O",
/// "LiYS2", "Li3PS4").
pub fn reduced_formula(c: &Composition) -> String {
    let r = reduce(c);
    let mut els: Vec<(&String, &f64)> = r.iter().collect();
    els.sort_by(|a, b| {
        let xa = electronegativity(a.0).unwrap_or(5.0);
        let xb = electronegativity(b.0).unwrap_or(5.0);
        xa.total_cmp(&xb).then(a.0.cmp(b.0))
    });
    let mut out = String::new();
    for (el, n) in els {
        out.push_str(el);
        if (n - 1.0).abs() > 1e-9 {
            if (n - n.round()).abs() < 1e-9 {
                out.push_str(&format!("{}", n.round() as u64));
            } else {
                out.push_str(&format!("{n}"));
            }
        }
    }
    out
}

/// Parse a formula such as "Li7La3Zr2O12", "LiTi2(PO4)3" or "Li2 O1" into a
/// composition. Returns None when it is not a formula (unknown symbols, bad brackets).
pub fn parse_formula(text: &str) -> Option<Composition> {
    fn group(chars: &[char], pos: &mut usize, depth: usize) -> Option<Composition> {
        let mut out = Composition::new();
        while *pos < chars.len() {
            let c = chars[*pos];
            if c == ' ' {
                *pos += 1;
                continue;
            }
            let mut part = if c == '(' || c == '[' {
                *pos += 1;
                let inner = group(chars, pos, depth + 1)?;
                if *pos >= chars.len() || !matches!(chars[*pos], ')' | ']') {
                    return None;
                }
                *pos += 1;
                inner
            } else if c == ')' || c == ']' {
                return (depth > 0).then_some(out);
            } else if c.is_ascii_uppercase() {
                let mut sym = c.to_string();
                *pos += 1;
                while *pos < chars.len() && chars[*pos].is_ascii_lowercase() {
                    sym.push(chars[*pos]);
                    *pos += 1;
                }
                if !is_element(&sym) {
                    return None;
                }
                Composition::from([(sym, 1.0)])
            } else {
                return None;
            };
            let start = *pos;
            while *pos < chars.len() && (chars[*pos].is_ascii_digit() || chars[*pos] == '.') {
                *pos += 1;
            }
            let mult: f64 = if *pos > start {
                chars[start..*pos].iter().collect::<String>().parse().ok()?
            } else {
                1.0
            };
            for v in part.values_mut() {
                *v *= mult;
            }
            for (k, v) in part {
                *out.entry(k).or_insert(0.0) += v;
            }
        }
        (depth == 0).then_some(out)
    }
    let chars: Vec<char> = text.trim().chars().collect();
    let mut pos = 0;
    let c = group(&chars, &mut pos, 0)?;
    (!c.is_empty() && pos == chars.len()).then_some(c)
}

/// Whether two compositions are the same once reduced.
pub(crate) fn same_reduced(a: &Composition, b: &Composition) -> bool {
    let (ra, rb) = (reduce(a), reduce(b));
    ra.len() == rb.len()
        && ra
            .iter()
            .all(|(k, v)| rb.get(k).is_some_and(|w| (v - w).abs() < 1e-6))
}

/// Standard atomic weights (u), IUPAC 2021 abridged values; for radioactive elements
/// the mass number of the longest-lived isotope.
const MASSES: &[(&str, f64)] = &[
    ("H", 1.008),
    ("He", 4.0026),
    ("Li", 6.94),
    ("Be", 9.0122),
    ("B", 10.81),
    ("C", 12.011),
    ("N", 14.007),
    ("O", 15.999),
    ("F", 18.998),
    ("Ne", 20.180),
    ("Na", 22.990),
    ("Mg", 24.305),
    ("Al", 26.982),
    ("Si", 28.085),
    ("P", 30.974),
    ("S", 32.06),
    ("Cl", 35.45),
    ("Ar", 39.95),
    ("K", 39.098),
    ("Ca", 40.078),
    ("Sc", 44.956),
    ("Ti", 47.867),
    ("V", 50.942),
    ("Cr", 51.996),
    ("Mn", 54.938),
    ("Fe", 55.845),
    ("Co", 58.933),
    ("Ni", 58.693),
    ("Cu", 63.546),
    ("Zn", 65.38),
    ("Ga", 69.723),
    ("Ge", 72.630),
    ("As", 74.922),
    ("Se", 78.971),
    ("Br", 79.904),
    ("Kr", 83.798),
    ("Rb", 85.468),
    ("Sr", 87.62),
    ("Y", 88.906),
    ("Zr", 91.224),
    ("Nb", 92.906),
    ("Mo", 95.95),
    ("Tc", 97.0),
    ("Ru", 101.07),
    ("Rh", 102.91),
    ("Pd", 106.42),
    ("Ag", 107.87),
    ("Cd", 112.41),
    ("In", 114.82),
    ("Sn", 118.71),
    ("Sb", 121.76),
    ("Te", 127.60),
    ("I", 126.90),
    ("Xe", 131.29),
    ("Cs", 132.91),
    ("Ba", 137.33),
    ("La", 138.91),
    ("Ce", 140.12),
    ("Pr", 140.91),
    ("Nd", 144.24),
    ("Pm", 145.0),
    ("Sm", 150.36),
    ("Eu", 151.96),
    ("Gd", 157.25),
    ("Tb", 158.93),
    ("Dy", 162.50),
    ("Ho", 164.93),
    ("Er", 167.26),
    ("Tm", 168.93),
    ("Yb", 173.05),
    ("Lu", 174.97),
    ("Hf", 178.49),
    ("Ta", 180.95),
    ("W", 183.84),
    ("Re", 186.21),
    ("Os", 190.23),
    ("Ir", 192.22),
    ("Pt", 195.08),
    ("Au", 196.97),
    ("Hg", 200.59),
    ("Tl", 204.38),
    ("Pb", 207.2),
    ("Bi", 208.98),
    ("Po", 209.0),
    ("At", 210.0),
    ("Rn", 222.0),
    ("Fr", 223.0),
    ("Ra", 226.0),
    ("Ac", 227.0),
    ("Th", 232.04),
    ("Pa", 231.04),
    ("U", 238.03),
    ("Np", 237.0),
    ("Pu", 244.0),
    ("Am", 243.0),
    ("Cm", 247.0),
];

/// The standard atomic weight of `symbol` (u).
pub(crate) fn atomic_mass(symbol: &str) -> Option<f64> {
    MASSES.iter().find(|(s, _)| *s == symbol).map(|(_, m)| *m)
}

/// The element whose standard atomic weight is within `tol` u of `mass`, when exactly
/// one is (for naming LAMMPS atom types by their masses).
pub(crate) fn element_of_mass(mass: f64, tol: f64) -> Option<&'static str> {
    let mut near = MASSES.iter().filter(|(_, m)| (m - mass).abs() <= tol);
    match (near.next(), near.next()) {
        (Some((s, _)), None) => Some(s),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atomic_numbers_name_their_elements() {
        for (z, s) in [
            (1, "H"),
            (3, "Li"),
            (8, "O"),
            (15, "P"),
            (16, "S"),
            (17, "Cl"),
            (26, "Fe"),
            (40, "Zr"),
            (57, "La"),
            (82, "Pb"),
            (92, "U"),
            (96, "Cm"),
        ] {
            assert_eq!(symbol_of_number(z), Some(s), "Z = {z}");
        }
        assert_eq!(symbol_of_number(0), None);
        assert_eq!(symbol_of_number(97), None);
        assert_eq!(symbol_of_number(-3), None);
    }

    #[test]
    fn formulas_reduce_and_order_like_pymatgen() {
        let sp: Vec<String> = ["O", "Li", "Li", "O", "Li", "Li"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(reduced_formula(&composition_of(&sp)), "Li2O");
        assert_eq!(
            reduced_formula(&parse_formula("Li4P4S16").unwrap()),
            "LiPS4"
        );
        assert_eq!(reduced_formula(&parse_formula("S2YLi").unwrap()), "LiYS2");
        assert_eq!(
            reduced_formula(&parse_formula("Li2 Yb2 Al2 F12").unwrap()),
            "LiYbAlF6"
        );
    }

    #[test]
    fn brackets_and_spaces_parse() {
        let a = parse_formula("LiTi2(PO4)3").unwrap();
        let b = parse_formula("Li1Ti2P3O12").unwrap();
        assert!(same_reduced(&a, &b));
        assert!(same_reduced(
            &parse_formula("Li6PS5Cl").unwrap(),
            &parse_formula("Li12P2S10Cl2").unwrap()
        ));
        assert!(!same_reduced(
            &parse_formula("Li3PS4").unwrap(),
            &parse_formula("Li7P3S11").unwrap()
        ));
        assert!(parse_formula("Xy2").is_none());
        assert!(parse_formula("Li(PO4").is_none());
        assert!(parse_formula("").is_none());
    }
}

//! Oxidation states by charge balance, one state per element.
//!
//! The rule (also in `benches/peers/bvlain_bvse.py`, so the peer starts from the same
//! charges): amounts are the occupancy-weighted counts of the disordered structure (a
//! randomised OBELiX CIF need not balance exactly); each element may take the
//! oxidation states seen in the ICSD (pymatgen's table, with how often each occurs:
//! `data/bvse/elements.csv`); Li is +1 and the most electronegative element takes a
//! negative state. Among the combinations whose net charge is within 5 % of the total
//! cation charge, the most probable one wins (the largest sum of the log occurrence
//! fractions); when none is, the one with the smallest net charge is taken and the
//! assignment is flagged as unbalanced. States given by the file (a decorated pymatgen
//! structure) are used as they are.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use crate::error::{Error, Result};

/// One element of `data/bvse/elements.csv`.
#[derive(Debug, Clone)]
pub struct ElementData {
    pub z: u32,
    /// Principal quantum number of the valence shell (softBV's n).
    pub principal_n: u32,
    /// Covalent radius (Å; ASE's table, which bvlain uses by default).
    pub covalent_radius_a: f64,
    /// (state, occurrence fraction in the ICSD), most frequent first.
    pub states: Vec<(i32, f64)>,
}

const ELEMENTS_CSV: &str = include_str!("../../data/bvse/elements.csv");

/// The element table, read once.
pub fn elements() -> &'static BTreeMap<String, ElementData> {
    static TABLE: OnceLock<BTreeMap<String, ElementData>> = OnceLock::new();
    TABLE.get_or_init(|| {
        let mut t = BTreeMap::new();
        for line in ELEMENTS_CSV.lines().skip(1) {
            let f: Vec<&str> = line.split(',').collect();
            let pairs: Vec<(i32, f64)> = f[4]
                .split_whitespace()
                .filter_map(|p| {
                    let (q, c) = p.split_once(':')?;
                    Some((q.parse().ok()?, c.parse().ok()?))
                })
                .collect();
            let total: f64 = pairs.iter().map(|p| p.1).sum::<f64>().max(1e-300);
            t.insert(
                f[0].to_string(),
                ElementData {
                    z: f[1].parse().expect("elements.csv: z"),
                    principal_n: f[2].parse().expect("elements.csv: n"),
                    covalent_radius_a: f[3].parse().expect("elements.csv: radius"),
                    states: pairs.into_iter().map(|(q, c)| (q, c / total)).collect(),
                },
            );
        }
        t
    })
}

/// The states chosen and how well they balance.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Assignment {
    pub states: BTreeMap<String, i32>,
    /// Net charge per cell (e) with the occupancy-weighted amounts.
    pub net_charge: f64,
    /// |net| within 5 % of the cation charge.
    pub balanced: bool,
    /// "file" or "charge balance".
    pub source: String,
}

impl Assignment {
    /// `Li+1;O-2;Zr+4`, sorted by element.
    pub fn label(&self) -> String {
        self.states
            .iter()
            .map(|(e, q)| format!("{e}{q:+}"))
            .collect::<Vec<_>>()
            .join(";")
    }
}

/// Combinations tried before each element is cut to its three most frequent states.
const MAX_COMBINATIONS: usize = 1_000_000;

/// Assign oxidation states to the elements of `amounts` (see the module documentation).
pub fn assign(amounts: &BTreeMap<String, f64>) -> Result<Assignment> {
    let table = elements();
    let en = |e: &str| crate::phonon::composition::electronegativity(e).unwrap_or(0.0);
    let mut els: Vec<&String> = amounts.keys().collect();
    // Most electronegative first (a stable sort: ties keep alphabetical order).
    els.sort_by(|a, b| en(b).total_cmp(&en(a)));
    let mut cands: Vec<Vec<(i32, f64)>> = Vec::with_capacity(els.len());
    for (i, e) in els.iter().enumerate() {
        let data = table
            .get(e.as_str())
            .ok_or_else(|| Error::InvalidInput(format!("no oxidation states known for {e}")))?;
        let mut c = data.states.clone();
        if e.as_str() == "Li" {
            c = vec![(1, 1.0)];
        } else if i == 0 && c.iter().any(|s| s.0 < 0) {
            c.retain(|s| s.0 < 0);
        }
        if c.is_empty() {
            return Err(Error::InvalidInput(format!(
                "no oxidation states known for {e}"
            )));
        }
        cands.push(c);
    }
    let total = cands
        .iter()
        .map(Vec::len)
        .try_fold(1usize, |a, n| a.checked_mul(n));
    if total.is_none_or(|t| t > MAX_COMBINATIONS) {
        for c in &mut cands {
            c.truncate(3);
        }
    }
    let amount: Vec<f64> = els.iter().map(|e| amounts[e.as_str()]).collect();
    // Odometer over the candidates, in the table's order (most frequent first).
    let mut idx = vec![0usize; cands.len()];
    let mut best: Option<((bool, f64, f64), Vec<i32>, f64)> = None;
    loop {
        let (mut net, mut pos, mut cost) = (0.0, 0.0, 0.0);
        for (k, c) in cands.iter().enumerate() {
            let (q, p) = c[idx[k]];
            net += amount[k] * q as f64;
            if q > 0 {
                pos += amount[k] * q as f64;
            }
            cost -= p.max(1e-12).ln();
        }
        let balanced = net.abs() <= 0.05 * pos;
        let key = (!balanced, if balanced { 0.0 } else { net.abs() }, cost);
        let better = best.as_ref().is_none_or(|(b, _, _)| key < *b);
        if better {
            best = Some((
                key,
                idx.iter().zip(&cands).map(|(&i, c)| c[i].0).collect(),
                net,
            ));
        }
        // Next combination (the last element fastest).
        let mut k = cands.len();
        loop {
            if k == 0 {
                let (key, states, net) = best.expect("at least one combination");
                return Ok(Assignment {
                    states: els.iter().map(|e| e.to_string()).zip(states).collect(),
                    net_charge: net,
                    balanced: !key.0,
                    source: "charge balance".into(),
                });
            }
            k -= 1;
            idx[k] += 1;
            if idx[k] < cands[k].len() {
                break;
            }
            idx[k] = 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn amounts(pairs: &[(&str, f64)]) -> BTreeMap<String, f64> {
        pairs.iter().map(|(e, n)| (e.to_string(), *n)).collect()
    }

    #[test]
    fn common_electrolytes_balance_as_chemists_write_them() {
        let a = assign(&amounts(&[("Li", 3.0), ("P", 1.0), ("S", 4.0)])).unwrap();
        assert_eq!(a.label(), "Li+1;P+5;S-2");
        assert!(a.balanced && a.net_charge.abs() < 1e-12);
        // LiVPO4F: V+3 with phosphate P+5 (not P+3 with V+5, which also balances).
        let a = assign(&amounts(&[
            ("Li", 1.0),
            ("V", 1.0),
            ("P", 1.0),
            ("O", 4.0),
            ("F", 1.0),
        ]))
        .unwrap();
        assert_eq!(a.label(), "F-1;Li+1;O-2;P+5;V+3");
        // Garnet with partial Li occupancy: balanced within tolerance.
        let a = assign(&amounts(&[
            ("Li", 6.4 * 8.0),
            ("La", 24.0),
            ("Zr", 1.4 * 8.0),
            ("Ta", 0.6 * 8.0),
            ("O", 96.0),
        ]))
        .unwrap();
        assert_eq!(a.label(), "La+3;Li+1;O-2;Ta+5;Zr+4");
        assert!(a.balanced);
        // Li3N and Li3OCl: two anions.
        assert_eq!(
            assign(&amounts(&[("Li", 3.0), ("N", 1.0)]))
                .unwrap()
                .label(),
            "Li+1;N-3"
        );
        assert_eq!(
            assign(&amounts(&[("Li", 3.0), ("O", 1.0), ("Cl", 1.0)]))
                .unwrap()
                .label(),
            "Cl-1;Li+1;O-2"
        );
    }

    #[test]
    fn an_impossible_balance_is_flagged_not_hidden() {
        let a = assign(&amounts(&[("Li", 5.0), ("O", 1.0)])).unwrap();
        assert!(!a.balanced);
        assert!((a.net_charge - 3.0).abs() < 1e-12);
        assert!(assign(&amounts(&[("Xx", 1.0)])).is_err());
    }
}

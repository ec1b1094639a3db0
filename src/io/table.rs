//! Feature tables: CSV with a header, an id column and numeric feature columns (what
//! `phonon features` writes, or the original study's tables).

use std::path::Path;

use ndarray::Array2;

use super::{parse_err, read_bytes};
use crate::error::Result;

/// The ids and the selected numeric columns of a table.
#[derive(Debug, Clone)]
pub struct Table {
    pub ids: Vec<String>,
    pub columns: Vec<String>,
    pub values: Array2<f64>,
}

/// Read `path`; `id` names the id column (default: the first); `columns` the feature
/// columns (default: every other column that is numeric in every row). A selected
/// cell that is empty or not a finite number is an error naming its line and column.
pub fn read_table(path: &Path, id: Option<&str>, columns: Option<&[String]>) -> Result<Table> {
    let bytes = read_bytes(path)?;
    let mut rdr = csv::ReaderBuilder::new()
        .has_headers(true)
        .from_reader(&bytes[..]);
    let header: Vec<String> = rdr
        .headers()
        .map_err(|e| parse_err(path, 1, format!("not a CSV header: {e}")))?
        .iter()
        .map(str::to_string)
        .collect();
    let records: Vec<csv::StringRecord> = rdr
        .records()
        .enumerate()
        .map(|(i, r)| r.map_err(|e| parse_err(path, i + 2, format!("not a CSV row: {e}"))))
        .collect::<Result<_>>()?;
    if records.is_empty() {
        return Err(parse_err(path, 2, "no data rows".into()));
    }
    let find = |name: &str| -> Result<usize> {
        header.iter().position(|h| h == name).ok_or_else(|| {
            parse_err(
                path,
                1,
                format!("no column {name:?} (columns: {})", header.join(", ")),
            )
        })
    };
    let id_col = match id {
        Some(name) => find(name)?,
        None => 0,
    };
    let chosen: Vec<usize> = match columns {
        Some(names) => names.iter().map(|n| find(n)).collect::<Result<_>>()?,
        None => (0..header.len())
            .filter(|&c| {
                c != id_col
                    && records.iter().all(|r| {
                        r.get(c)
                            .is_some_and(|v| v.trim().parse::<f64>().is_ok_and(f64::is_finite))
                    })
            })
            .collect(),
    };
    if chosen.is_empty() {
        return Err(parse_err(
            path,
            1,
            "no numeric feature columns (choose them with --columns)".into(),
        ));
    }
    let mut values = Array2::<f64>::zeros((records.len(), chosen.len()));
    let mut ids = Vec::with_capacity(records.len());
    for (i, r) in records.iter().enumerate() {
        ids.push(r.get(id_col).unwrap_or("").to_string());
        for (j, &c) in chosen.iter().enumerate() {
            let cell = r.get(c).unwrap_or("").trim();
            values[[i, j]] = match cell.parse::<f64>() {
                Ok(v) if v.is_finite() => v,
                _ => {
                    return Err(parse_err(
                        path,
                        i + 2,
                        format!(
                            "column {:?}: expected a finite number, found {cell:?}",
                            header[c]
                        ),
                    ));
                }
            };
        }
    }
    Ok(Table {
        ids,
        columns: chosen.iter().map(|&c| header[c].clone()).collect(),
        values,
    })
}

impl Table {
    /// Standardised copy (zero mean, unit population variance per column, as
    /// scikit-learn's StandardScaler; constant columns are only centred), in f32.
    pub fn standardised(&self) -> Array2<f32> {
        crate::screen::standardise(self.values.view())
    }
}

/// The text of column `name` for every row, if the table has that column.
pub fn read_text_column(path: &Path, name: &str) -> Result<Option<Vec<String>>> {
    let bytes = read_bytes(path)?;
    let mut rdr = csv::ReaderBuilder::new()
        .has_headers(true)
        .from_reader(&bytes[..]);
    let header = rdr
        .headers()
        .map_err(|e| parse_err(path, 1, format!("not a CSV header: {e}")))?
        .clone();
    let Some(col) = header.iter().position(|h| h == name) else {
        return Ok(None);
    };
    let mut out = Vec::new();
    for (i, r) in rdr.records().enumerate() {
        let r = r.map_err(|e| parse_err(path, i + 2, format!("not a CSV row: {e}")))?;
        out.push(r.get(col).unwrap_or("").to_string());
    }
    Ok(Some(out))
}

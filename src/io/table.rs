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
    /// Text columns asked for with [`read_table_with_text`] that the table has.
    pub text: std::collections::BTreeMap<String, Vec<String>>,
}

/// Read `path`; `id` names the id column (default: the first); `columns` the feature
/// columns (default: every other column that is numeric in every row). A selected
/// cell that is empty or not a finite number is an error naming its line and column.
pub fn read_table(path: &Path, id: Option<&str>, columns: Option<&[String]>) -> Result<Table> {
    read_table_with_text(path, id, columns, &[])
}

/// [`read_table`], also keeping the text of `text_columns` (those present) from the
/// same single parse.
pub fn read_table_with_text(
    path: &Path,
    id: Option<&str>,
    columns: Option<&[String]>,
    text_columns: &[&str],
) -> Result<Table> {
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
            "no numeric feature columns (choose them with option columns)".into(),
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
    let text = text_columns
        .iter()
        .filter_map(|name| {
            header
                .iter()
                .position(|h| h == name)
                .map(|c| (name.to_string(), c))
        })
        .map(|(name, c)| {
            (
                name,
                records
                    .iter()
                    .map(|r| r.get(c).unwrap_or("").to_string())
                    .collect(),
            )
        })
        .collect();
    Ok(Table {
        ids,
        columns: chosen.iter().map(|&c| header[c].clone()).collect(),
        values,
        text,
    })
}

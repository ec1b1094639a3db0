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
    /// Text columns asked for with `read_table_with_text` that the table has.
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
pub(crate) fn read_table_with_text(
    path: &Path,
    id: Option<&str>,
    columns: Option<&[String]>,
    text_columns: &[&str],
) -> Result<Table> {
    let (header, records) = read_records(path)?;
    let find = |name: &str| find_column(path, &header, name);
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

/// What to do with empty cells in the feature columns.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Missing {
    /// Leave out the rows (materials) with an empty cell (the default).
    DropRows,
    /// Fill an empty cell with its column's mean over the rows that have it.
    ImputeMean,
    /// Leave out the columns with an empty cell.
    DropColumns,
}

/// How [`read_features`] chooses its columns and rows.
#[derive(Clone, Debug)]
pub struct FeatureTableOptions {
    /// The id column (default: the first).
    pub id: Option<String>,
    /// The feature columns (default: every numeric column but bookkeeping ones).
    pub columns: Option<Vec<String>>,
    pub missing: Missing,
    /// Also use bookkeeping columns (counts, integrals, indices) by default.
    pub bookkeeping: bool,
}

impl Default for FeatureTableOptions {
    fn default() -> Self {
        FeatureTableOptions {
            id: None,
            columns: None,
            missing: Missing::DropRows,
            bookkeeping: false,
        }
    }
}

/// A feature table and what was left out of it, and why.
#[derive(Debug, Clone, serde::Serialize)]
pub struct FeatureTable {
    pub ids: Vec<String>,
    pub columns: Vec<String>,
    #[serde(skip)]
    pub values: Array2<f64>,
    /// (column, why) for every column not used.
    pub dropped_columns: Vec<(String, String)>,
    /// (id, why) for every row not used.
    pub dropped_rows: Vec<(String, String)>,
    /// (column, number of cells filled with its mean).
    pub imputed: Vec<(String, usize)>,
    pub missing: Missing,
}

/// Bookkeeping rather than a descriptor: a count, an integral, an index or an id.
pub(crate) fn is_bookkeeping(column: &str) -> bool {
    let c = column.to_ascii_lowercase();
    c.starts_with("n_")
        || c.ends_with("_count")
        || c.contains("integral")
        || c == "index"
        || c == "id"
        || c.ends_with("_id")
}

/// Read a feature table for clustering. Every non-empty cell of a used column must be
/// a finite number (an error names its line); empty cells are handled as `missing`
/// says; every column and row left out is listed with the reason.
pub fn read_features(path: &Path, o: &FeatureTableOptions) -> Result<FeatureTable> {
    let (header, records) = read_records(path)?;
    let find = |name: &str| find_column(path, &header, name);
    let id_col = match &o.id {
        Some(name) => find(name)?,
        None => 0,
    };
    let cell = |r: &csv::StringRecord, c: usize| r.get(c).unwrap_or("").trim().to_string();
    let number = |v: &str| v.parse::<f64>().ok().filter(|x| x.is_finite());
    let mut dropped_columns = Vec::new();
    let chosen: Vec<usize> = match &o.columns {
        Some(names) => {
            let cols: Vec<usize> = names.iter().map(|n| find(n)).collect::<Result<_>>()?;
            for &c in &cols {
                if let Some((i, r)) = records
                    .iter()
                    .enumerate()
                    .find(|(_, r)| !cell(r, c).is_empty() && number(&cell(r, c)).is_none())
                {
                    return Err(parse_err(
                        path,
                        i + 2,
                        format!(
                            "column {:?}: expected a finite number, found {:?}",
                            header[c],
                            cell(r, c)
                        ),
                    ));
                }
            }
            cols
        }
        None => {
            let mut cols = Vec::new();
            for c in (0..header.len()).filter(|&c| c != id_col) {
                let text = records
                    .iter()
                    .map(|r| cell(r, c))
                    .find(|v| !v.is_empty() && number(v).is_none());
                if let Some(t) = text {
                    dropped_columns.push((header[c].clone(), format!("not numeric ({t:?})")));
                } else if records.iter().all(|r| cell(r, c).is_empty()) {
                    dropped_columns.push((header[c].clone(), "empty".into()));
                } else if !o.bookkeeping && is_bookkeeping(&header[c]) {
                    dropped_columns.push((
                        header[c].clone(),
                        "bookkeeping (a count, integral or index), not a descriptor; name it in the columns to use it".into(),
                    ));
                } else {
                    cols.push(c);
                }
            }
            cols
        }
    };
    // Empty cells.
    let gaps = |c: usize| records.iter().filter(|r| cell(r, c).is_empty()).count();
    let chosen: Vec<usize> = if o.missing == Missing::DropColumns {
        chosen
            .into_iter()
            .filter(|&c| {
                let n = gaps(c);
                if n > 0 {
                    dropped_columns.push((header[c].clone(), format!("{n} empty cell(s)")));
                }
                n == 0
            })
            .collect()
    } else {
        chosen
    };
    if chosen.is_empty() {
        return Err(parse_err(
            path,
            1,
            "no numeric feature columns (choose them with option columns)".into(),
        ));
    }
    let mut dropped_rows = Vec::new();
    let mut keep = Vec::new();
    for (i, r) in records.iter().enumerate() {
        let empty: Vec<&str> = chosen
            .iter()
            .filter(|&&c| cell(r, c).is_empty())
            .map(|&c| header[c].as_str())
            .collect();
        if !empty.is_empty() && o.missing == Missing::DropRows {
            dropped_rows.push((
                cell(r, id_col),
                format!("no value for {}", empty.join(", ")),
            ));
        } else {
            keep.push(i);
        }
    }
    if keep.is_empty() {
        return Err(parse_err(
            path,
            2,
            "every row has an empty feature cell: choose the columns, or fill the gaps (option missing impute-mean)".into(),
        ));
    }
    let mut values = Array2::<f64>::from_elem((keep.len(), chosen.len()), f64::NAN);
    let mut imputed = Vec::new();
    for (j, &c) in chosen.iter().enumerate() {
        let present: Vec<f64> = keep
            .iter()
            .filter_map(|&i| number(&cell(&records[i], c)))
            .collect();
        let mean = present.iter().sum::<f64>() / present.len().max(1) as f64;
        let mut filled = 0;
        for (k, &i) in keep.iter().enumerate() {
            values[[k, j]] = match number(&cell(&records[i], c)) {
                Some(v) => v,
                None => {
                    filled += 1;
                    mean
                }
            };
        }
        if filled > 0 {
            if present.is_empty() {
                return Err(parse_err(
                    path,
                    1,
                    format!("column {:?} has no values to impute from", header[c]),
                ));
            }
            imputed.push((header[c].clone(), filled));
        }
    }
    Ok(FeatureTable {
        ids: keep.iter().map(|&i| cell(&records[i], id_col)).collect(),
        columns: chosen.iter().map(|&c| header[c].clone()).collect(),
        values,
        dropped_columns,
        dropped_rows,
        imputed,
        missing: o.missing,
    })
}

/// The most columns a table may have (a descriptor table has tens; a table of 10^6
/// columns is a mistake or an attack and would cost minutes and GBs downstream).
pub(crate) const MAX_COLUMNS: usize = 10_000;

/// Refuse a header of more than [`MAX_COLUMNS`] columns, naming the file.
pub(crate) fn check_width(path: &Path, columns: usize) -> Result<()> {
    if columns > MAX_COLUMNS {
        return Err(parse_err(
            path,
            1,
            format!("{columns} columns: a table may have at most {MAX_COLUMNS}"),
        ));
    }
    Ok(())
}

/// A list of names for a message: the first 20, then how many more.
pub fn list_names(names: &[String]) -> String {
    let mut s = names
        .iter()
        .take(20)
        .cloned()
        .collect::<Vec<_>>()
        .join(", ");
    if names.len() > 20 {
        s += &format!(", ... ({} more)", names.len() - 20);
    }
    s
}

/// The header (names trimmed) and the rows of a CSV file: the one CSV reader of every
/// table superion reads (feature tables, conductivity tables, labels, rankings, batch
/// results). The file is read through [`read_bytes`] (size-checked, decompressed), the
/// number of columns bounded ([`check_width`]), a malformed row named by its line;
/// `flexible`: rows may have other lengths than the header (tables made by hand).
pub(crate) fn read_csv(
    path: &Path,
    flexible: bool,
) -> Result<(Vec<String>, Vec<csv::StringRecord>)> {
    let bytes = read_bytes(path)?;
    let mut rdr = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(flexible)
        .from_reader(&bytes[..]);
    let raw = rdr
        .headers()
        .map_err(|e| parse_err(path, 1, format!("not a CSV header: {e}")))?;
    check_width(path, raw.len())?;
    let header: Vec<String> = raw.iter().map(|s| s.trim().to_string()).collect();
    let records: Vec<csv::StringRecord> = rdr
        .records()
        .enumerate()
        .map(|(i, r)| r.map_err(|e| parse_err(path, i + 2, format!("not a CSV row: {e}"))))
        .collect::<Result<_>>()?;
    Ok((header, records))
}

/// The header and the data rows of a CSV file (at least one row).
fn read_records(path: &Path) -> Result<(Vec<String>, Vec<csv::StringRecord>)> {
    let (header, records) = read_csv(path, false)?;
    if records.is_empty() {
        return Err(parse_err(path, 2, "no data rows".into()));
    }
    Ok((header, records))
}

/// The index of column `name`, or an error listing the columns there are.
fn find_column(path: &Path, header: &[String], name: &str) -> Result<usize> {
    header.iter().position(|h| h == name).ok_or_else(|| {
        parse_err(
            path,
            1,
            format!("no column {name:?} (columns: {})", list_names(header)),
        )
    })
}

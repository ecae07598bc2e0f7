//! Pre-processing fitted on training data and stored with the model, so that scoring applies
//! exactly the transform training saw. Owns [`Encoder`] (column types, category vocabularies,
//! medians, outlier bounds, scaling) and [`Dataset`] (the encoded column-major matrix).
//! Depends on [`super::csv`] for tables.
//!
//! Decisions, each documented because scoring depends on it:
//! - A column is numeric when every non-missing training cell parses as a finite number;
//!   otherwise categorical with one level per distinct training value (most frequent first).
//! - Missing cells are empty, `NA`, `NaN`, `null`, `none` or `?` (any case). In the tree
//!   dataset they stay missing (NaN) and the trees learn where to send them; in the one-hot
//!   design for linear models a numeric gap takes the training median and a categorical gap
//!   sets no level.
//! - Outliers: numeric values are clipped to the training 0.5 %–99.5 % quantiles.
//! - Scaling (linear models and k-means only): standardised with training mean and deviation.
//! - Columns with a single distinct value (or none) are dropped at fit time and reported.
//! - Unseen categories at scoring time are treated as missing and reported per column, never
//!   an error: a new job title must not stop the dialer.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use super::csv::Table;
use super::{ProfileError, Result};

/// How one input column is encoded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum ColumnKind {
    Numeric {
        median: f64,
        clip_lo: f64,
        clip_hi: f64,
        mean: f64,
        std: f64,
    },
    Categorical {
        /// Level names; a cell's code is its index here.
        levels: Vec<String>,
    },
}

/// One encoded feature (an input column that survived fitting).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Feature {
    pub name: String,
    pub kind: ColumnKind,
}

impl Feature {
    pub fn is_categorical(&self) -> bool {
        matches!(self.kind, ColumnKind::Categorical { .. })
    }
}

/// A column left out at fit time and why (shown in the training report).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Dropped {
    pub name: String,
    pub reason: String,
}

/// The fitted pre-processing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Encoder {
    pub features: Vec<Feature>,
    pub dropped: Vec<Dropped>,
}

/// Encoded data, column-major: `columns[f][row]`, NaN = missing; categorical cells hold codes.
#[derive(Debug, Clone, PartialEq)]
pub struct Dataset {
    pub n_rows: usize,
    pub names: Vec<String>,
    pub categorical: Vec<bool>,
    pub columns: Vec<Vec<f64>>,
}

impl Dataset {
    pub fn n_features(&self) -> usize {
        self.columns.len()
    }

    /// One row as a vector of feature values.
    pub fn row(&self, r: usize) -> Vec<f64> {
        self.columns.iter().map(|c| c[r]).collect()
    }

    /// The rows at `indices`, in that order.
    pub fn subset(&self, indices: &[usize]) -> Dataset {
        Dataset {
            n_rows: indices.len(),
            names: self.names.clone(),
            categorical: self.categorical.clone(),
            columns: self
                .columns
                .iter()
                .map(|c| indices.iter().map(|&i| c[i]).collect())
                .collect(),
        }
    }

    /// Only the features at `keep` (in that order).
    pub fn select(&self, keep: &[usize]) -> Dataset {
        Dataset {
            n_rows: self.n_rows,
            names: keep.iter().map(|&f| self.names[f].clone()).collect(),
            categorical: keep.iter().map(|&f| self.categorical[f]).collect(),
            columns: keep.iter().map(|&f| self.columns[f].clone()).collect(),
        }
    }
}

/// Cells that could not be encoded as trained, per column (reported, never fatal).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Unseen {
    /// Column name → (count, up to three example values).
    pub by_column: Vec<(String, usize, Vec<String>)>,
}

impl Unseen {
    fn add(&mut self, column: &str, value: &str) {
        if let Some(entry) = self.by_column.iter_mut().find(|e| e.0 == column) {
            entry.1 += 1;
            if entry.2.len() < 3 && !entry.2.iter().any(|v| v == value) {
                entry.2.push(value.to_string());
            }
        } else {
            self.by_column
                .push((column.to_string(), 1, vec![value.to_string()]));
        }
    }

    pub fn is_empty(&self) -> bool {
        self.by_column.is_empty()
    }
}

/// Whether a raw cell counts as missing.
pub fn is_missing(cell: &str) -> bool {
    let t = cell.trim();
    t.is_empty()
        || ["na", "nan", "null", "none", "?", "n/a"]
            .iter()
            .any(|m| t.eq_ignore_ascii_case(m))
}

fn parse_number(cell: &str) -> Option<f64> {
    cell.trim().parse::<f64>().ok().filter(|v| v.is_finite())
}

/// Quantile of sorted data by linear interpolation; `sorted` must be non-empty.
pub fn quantile(sorted: &[f64], q: f64) -> f64 {
    let pos = q.clamp(0.0, 1.0) * (sorted.len() - 1) as f64;
    let lo = pos.floor() as usize;
    let hi = pos.ceil() as usize;
    let w = pos - lo as f64;
    sorted[lo] * (1.0 - w) + sorted[hi] * w
}

/// A text column with at least this share of distinct values (over at least [`ID_MIN_ROWS`]
/// rows) is an identifier (names, ids, addresses), not a feature.
const ID_DISTINCT_SHARE: f64 = 0.95;
const ID_MIN_ROWS: usize = 20;

/// Column names that hold identifiers or phone numbers, whatever their values look like: a
/// model must neither learn from them nor carry them in its reasons.
pub fn identifier_name(name: &str) -> bool {
    let n = name.trim().to_lowercase();
    let words: Vec<&str> = n.split(|c: char| !c.is_alphanumeric()).collect();
    ["id", "uuid", "phone", "mobile", "tel", "msisdn", "email"]
        .iter()
        .any(|w| words.contains(w))
        || n.ends_with("_id")
        || ["手机", "电话", "号码", "编号", "身份证", "邮箱"]
            .iter()
            .any(|w| n.contains(w))
}

/// Column names that record how the call went (`outcome_source`, `outcome_...`, as aicall's
/// label export writes them): known only once the call is over, so a model that learnt from
/// them would read the label back instead of predicting it.
pub fn after_call_name(name: &str) -> bool {
    name.trim().to_lowercase().starts_with("outcome_")
}

/// Target values read as "converted" (compared after trimming, ASCII case ignored).
const POSITIVE_LABELS: &[&str] = &[
    "yes",
    "y",
    "true",
    "t",
    "1",
    "1.0",
    "是",
    "成交",
    "已成交",
    "成功",
    "真",
];
/// Target values read as "not converted".
const NEGATIVE_LABELS: &[&str] = &[
    "no",
    "n",
    "false",
    "f",
    "0",
    "0.0",
    "否",
    "未成交",
    "失败",
    "假",
];

/// Parses a yes/no style target column into 0/1 labels (English and Chinese words, 1/0).
pub fn parse_target(table: &Table, name: &str) -> Result<Vec<f64>> {
    parse_labels(table, name, &[])
}

/// Parses a target column into 0/1 labels. With `positive` values given, a cell equal to one of
/// them (trimmed, ASCII case ignored) is 1 and any other non-empty cell 0; without, the
/// built-in yes/no vocabulary applies and anything else is an error naming its line. Empty
/// cells are an error: drop them first with [`drop_unlabelled`].
pub fn parse_labels(table: &Table, name: &str, positive: &[String]) -> Result<Vec<f64>> {
    let col = table
        .column(name)
        .ok_or_else(|| ProfileError::MissingTarget {
            name: name.to_string(),
            available: table.headers.join(", "),
        })?;
    fn matches<'a>(v: &str, mut set: impl Iterator<Item = &'a str>) -> bool {
        set.any(|p| p.trim().eq_ignore_ascii_case(v))
    }
    let mut labels = Vec::with_capacity(table.rows.len());
    for (i, row) in table.rows.iter().enumerate() {
        let v = row[col].trim();
        let label = if !positive.is_empty() && !is_missing(v) {
            f64::from(u8::from(matches(v, positive.iter().map(String::as_str))))
        } else if matches(v, POSITIVE_LABELS.iter().copied()) {
            1.0
        } else if matches(v, NEGATIVE_LABELS.iter().copied()) {
            0.0
        } else {
            return Err(ProfileError::BadTarget {
                name: name.to_string(),
                line: table.lines.get(i).copied().unwrap_or(i + 2),
                value: row[col].clone(),
            });
        };
        labels.push(label);
    }
    if labels.is_empty() {
        return Err(ProfileError::TooFewRows {
            detail: "the file has a header but no rows with a label".into(),
        });
    }
    let positives = labels.iter().filter(|&&y| y > 0.5).count();
    if positives == 0 || positives == labels.len() {
        return Err(ProfileError::OneClassTarget {
            name: name.to_string(),
            class: if positives == 0 { "no" } else { "yes" }.to_string(),
        });
    }
    Ok(labels)
}

/// Removes the rows whose `target` cell is empty (or NA/null/…), returning their source
/// lines; a missing target column is left for [`parse_labels`] to report.
pub fn drop_unlabelled(table: &mut Table, target: &str) -> Vec<usize> {
    let Some(col) = table.column(target) else {
        return Vec::new();
    };
    let (keep, drop): (Vec<usize>, Vec<usize>) =
        (0..table.rows.len()).partition(|&r| !is_missing(&table.rows[r][col]));
    if drop.is_empty() {
        return Vec::new();
    }
    let dropped = drop
        .into_iter()
        .map(|r| table.lines.get(r).copied().unwrap_or(r + 2))
        .collect();
    let skipped = std::mem::take(&mut table.skipped);
    *table = Table {
        skipped,
        ..table.subset(&keep)
    };
    dropped
}

impl Encoder {
    /// Fits the encoding on `table`, leaving out `target` and the `exclude` columns.
    pub fn fit(table: &Table, target: Option<&str>, exclude: &[String]) -> Result<Encoder> {
        if table.rows.is_empty() {
            return Err(ProfileError::TooFewRows {
                detail: "the file has a header but no rows".into(),
            });
        }
        let mut features = Vec::new();
        let mut dropped = Vec::new();
        for (c, name) in table.headers.iter().enumerate() {
            if Some(name.as_str()) == target {
                continue;
            }
            if exclude.iter().any(|e| e == name) {
                dropped.push(Dropped {
                    name: name.clone(),
                    reason: "excluded on request".into(),
                });
                continue;
            }
            if identifier_name(name) {
                dropped.push(Dropped {
                    name: name.clone(),
                    reason: "an identifier or phone number by its name (never a feature)".into(),
                });
                continue;
            }
            if after_call_name(name) {
                dropped.push(Dropped {
                    name: name.clone(),
                    reason: "how the call went, by its name (`outcome_*`): known only after \
                             the call, it would leak the label"
                        .into(),
                });
                continue;
            }
            let present: Vec<&str> = table
                .rows
                .iter()
                .map(|r| r[c].as_str())
                .filter(|v| !is_missing(v))
                .collect();
            if present.is_empty() {
                dropped.push(Dropped {
                    name: name.clone(),
                    reason: "every cell is empty".into(),
                });
                continue;
            }
            let numbers: Option<Vec<f64>> = present.iter().map(|v| parse_number(v)).collect();
            let kind = match numbers {
                Some(mut nums) => {
                    nums.sort_by(f64::total_cmp);
                    let clip_lo = quantile(&nums, 0.005);
                    let clip_hi = quantile(&nums, 0.995);
                    let clipped: Vec<f64> =
                        nums.iter().map(|v| v.clamp(clip_lo, clip_hi)).collect();
                    let n = clipped.len() as f64;
                    let mean = clipped.iter().sum::<f64>() / n;
                    let var = clipped.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n;
                    if nums[0] == nums[nums.len() - 1] {
                        dropped.push(Dropped {
                            name: name.clone(),
                            reason: format!("constant ({})", nums[0]),
                        });
                        continue;
                    }
                    ColumnKind::Numeric {
                        median: quantile(&nums, 0.5),
                        clip_lo,
                        clip_hi,
                        mean,
                        std: if var > 0.0 { var.sqrt() } else { 1.0 },
                    }
                }
                None => {
                    let mut counts: HashMap<&str, usize> = HashMap::new();
                    for v in &present {
                        *counts.entry(v.trim()).or_default() += 1;
                    }
                    if counts.len() == 1 {
                        dropped.push(Dropped {
                            name: name.clone(),
                            reason: format!("constant (`{}`)", present[0].trim()),
                        });
                        continue;
                    }
                    if present.len() >= ID_MIN_ROWS
                        && counts.len() as f64 >= ID_DISTINCT_SHARE * present.len() as f64
                    {
                        dropped.push(Dropped {
                            name: name.clone(),
                            reason: format!(
                                "looks like an identifier ({} distinct values in {} rows): \
                                 nothing to learn that carries over to new contacts",
                                counts.len(),
                                present.len()
                            ),
                        });
                        continue;
                    }
                    let mut levels: Vec<(&str, usize)> = counts.into_iter().collect();
                    levels.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
                    ColumnKind::Categorical {
                        levels: levels.into_iter().map(|(l, _)| l.to_string()).collect(),
                    }
                }
            };
            features.push(Feature {
                name: name.clone(),
                kind,
            });
        }
        if features.is_empty() {
            let detail = dropped
                .iter()
                .map(|d| format!("{}: {}", d.name, d.reason))
                .collect::<Vec<_>>()
                .join("; ");
            return Err(ProfileError::NoFeatures { detail });
        }
        Ok(Encoder { features, dropped })
    }

    /// Encodes one cell of feature `f` (NaN when missing or unseen; `None` flags unseen).
    pub fn encode_cell(&self, f: usize, cell: &str) -> (f64, bool) {
        if is_missing(cell) {
            return (f64::NAN, false);
        }
        match &self.features[f].kind {
            ColumnKind::Numeric {
                clip_lo, clip_hi, ..
            } => match parse_number(cell) {
                Some(v) => (v.clamp(*clip_lo, *clip_hi), false),
                None => (f64::NAN, true),
            },
            ColumnKind::Categorical { levels } => {
                let t = cell.trim();
                match levels.iter().position(|l| l == t) {
                    Some(code) => (code as f64, false),
                    None => (f64::NAN, true),
                }
            }
        }
    }

    /// Turns an encoded value back into its cell text (categorical level or number).
    pub fn decode_value(&self, f: usize, value: f64) -> String {
        if value.is_nan() {
            return String::new();
        }
        match &self.features[f].kind {
            ColumnKind::Numeric { .. } => format!("{value}"),
            ColumnKind::Categorical { levels } => {
                levels.get(value as usize).cloned().unwrap_or_default()
            }
        }
    }

    /// Encodes a whole table; every model column must be present.
    pub fn transform(&self, table: &Table) -> Result<(Dataset, Unseen)> {
        let mut unseen = Unseen::default();
        let mut columns = Vec::with_capacity(self.features.len());
        for (f, feat) in self.features.iter().enumerate() {
            let c = table
                .column(&feat.name)
                .ok_or_else(|| ProfileError::MissingColumn {
                    name: feat.name.clone(),
                })?;
            let col = table
                .rows
                .iter()
                .map(|r| {
                    let (v, bad) = self.encode_cell(f, &r[c]);
                    if bad {
                        unseen.add(&feat.name, r[c].trim());
                    }
                    v
                })
                .collect();
            columns.push(col);
        }
        Ok((
            Dataset {
                n_rows: table.rows.len(),
                names: self.features.iter().map(|f| f.name.clone()).collect(),
                categorical: self.features.iter().map(Feature::is_categorical).collect(),
                columns,
            },
            unseen,
        ))
    }

    /// Encodes one contact given as field name → cell text. Absent fields count as missing.
    pub fn encode_record(&self, fields: &HashMap<String, String>) -> (Vec<f64>, Unseen) {
        let mut unseen = Unseen::default();
        let values = self
            .features
            .iter()
            .enumerate()
            .map(|(f, feat)| match fields.get(&feat.name) {
                Some(cell) => {
                    let (v, bad) = self.encode_cell(f, cell);
                    if bad {
                        unseen.add(&feat.name, cell.trim());
                    }
                    v
                }
                None => f64::NAN,
            })
            .collect();
        (values, unseen)
    }

    /// Width of the one-hot design for the features at `keep`.
    pub fn design_names(&self, keep: &[usize]) -> Vec<(usize, String)> {
        let mut names = Vec::new();
        for &f in keep {
            match &self.features[f].kind {
                ColumnKind::Numeric { .. } => names.push((f, self.features[f].name.clone())),
                ColumnKind::Categorical { levels } => {
                    for l in levels {
                        names.push((f, format!("{}={}", self.features[f].name, l)));
                    }
                }
            }
        }
        names
    }

    /// One row of the standardised one-hot design for linear models and k-means: numeric
    /// values imputed with the median and standardised, categorical levels as 0/1 indicators.
    pub fn design_row(&self, keep: &[usize], values: &[f64], out: &mut Vec<f64>) {
        out.clear();
        for &f in keep {
            let v = values[f];
            match &self.features[f].kind {
                ColumnKind::Numeric {
                    median, mean, std, ..
                } => {
                    let x = if v.is_nan() { *median } else { v };
                    out.push((x - mean) / std);
                }
                ColumnKind::Categorical { levels } => {
                    for code in 0..levels.len() {
                        out.push(if !v.is_nan() && v as usize == code {
                            1.0
                        } else {
                            0.0
                        });
                    }
                }
            }
        }
    }

    /// The full design matrix (row-major) for the features at `keep`.
    pub fn design(&self, data: &Dataset, keep: &[usize]) -> Vec<Vec<f64>> {
        let mut out = Vec::with_capacity(data.n_rows);
        let mut buf = Vec::new();
        for r in 0..data.n_rows {
            let row = data.row(r);
            self.design_row(keep, &row, &mut buf);
            out.push(buf.clone());
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::profile::csv::parse;

    fn table() -> Table {
        parse("age;job;c;y\n30;admin.;1;yes\n40;\"blue-collar\";1;no\n;admin.;1;no\n50;NA;1;no\n")
            .expect("valid CSV")
    }

    #[test]
    fn fit_detects_types_and_drops_constants() {
        let enc = Encoder::fit(&table(), Some("y"), &[]).expect("fits");
        assert_eq!(enc.features.len(), 2);
        assert!(!enc.features[0].is_categorical());
        assert!(enc.features[1].is_categorical());
        assert_eq!(enc.dropped[0].name, "c");
    }

    #[test]
    fn categorical_round_trip() {
        let t = table();
        let enc = Encoder::fit(&t, Some("y"), &[]).expect("fits");
        let (ds, unseen) = enc.transform(&t).expect("transforms");
        assert!(unseen.is_empty());
        for (r, row) in t.rows.iter().enumerate() {
            let decoded = enc.decode_value(1, ds.columns[1][r]);
            let expected = if is_missing(&row[1]) {
                ""
            } else {
                row[1].as_str()
            };
            assert_eq!(decoded, expected);
        }
        assert!(ds.columns[0][2].is_nan());
    }

    #[test]
    fn unseen_category_is_missing_and_reported() {
        let enc = Encoder::fit(&table(), Some("y"), &[]).expect("fits");
        let fields: HashMap<String, String> = [("job".to_string(), "astronaut".to_string())]
            .into_iter()
            .collect();
        let (values, unseen) = enc.encode_record(&fields);
        assert!(values[1].is_nan() && values[0].is_nan());
        assert_eq!(unseen.by_column[0].0, "job");
    }

    #[test]
    fn targets_are_checked() {
        let t = table();
        assert!(matches!(
            parse_target(&t, "nope"),
            Err(ProfileError::MissingTarget { .. })
        ));
        assert!(matches!(
            parse_target(&t, "c"),
            Err(ProfileError::OneClassTarget { .. })
        ));
        assert!(matches!(
            parse_target(&t, "job"),
            Err(ProfileError::BadTarget { .. })
        ));
        assert_eq!(
            parse_target(&t, "y").expect("labels"),
            vec![1.0, 0.0, 0.0, 0.0]
        );
    }

    #[test]
    fn identifiers_and_phone_numbers_are_never_features() {
        let mut csv = String::from("customer_id;手机号;name;city;outcome_source;y\n");
        for i in 0..40 {
            let city = ["北京", "上海"][i % 2];
            let y = ["yes", "no"][i % 3 % 2];
            let source = ["agent", "bot"][i % 3 % 2];
            csv.push_str(&format!("{i};1380013{i:04};客户{i};{city};{source};{y}\n"));
        }
        let t = parse(&csv).expect("valid CSV");
        let enc = Encoder::fit(&t, Some("y"), &[]).expect("fits");
        let kept: Vec<&str> = enc.features.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(kept, vec!["city"]);
        let why: Vec<&str> = enc.dropped.iter().map(|d| d.reason.as_str()).collect();
        assert!(why[0].contains("by its name"), "{why:?}");
        assert!(why[1].contains("by its name"), "{why:?}");
        assert!(why[2].contains("looks like an identifier"), "{why:?}");
        // The label's own source would predict it perfectly here: never a feature.
        assert!(why[3].contains("leak the label"), "{why:?}");
    }

    #[test]
    fn chinese_labels_named_positives_and_unlabelled_rows() {
        let mut t = parse(
            "客户;是否成交;结果\n1;是;意向\n2;否;拒绝\n3;;\n4;成交;意向\n5;未成交;无人接听\n",
        )
        .expect("valid CSV");
        assert_eq!(drop_unlabelled(&mut t, "是否成交"), vec![4]);
        assert_eq!(t.lines, vec![2, 3, 5, 6]);
        assert_eq!(
            parse_target(&t, "是否成交").expect("Chinese yes/no"),
            vec![1.0, 0.0, 1.0, 0.0]
        );
        let err = parse_target(&t, "结果").expect_err("not yes/no");
        assert!(
            matches!(err, ProfileError::BadTarget { line: 2, .. }),
            "{err}"
        );
        assert_eq!(
            parse_labels(&t, "结果", &["意向".to_string()]).expect("named positive"),
            vec![1.0, 0.0, 1.0, 0.0]
        );
    }
}

//! Contact lists into a campaign: CSV (any delimiter; UTF-8 with or without BOM, UTF-16 with
//! BOM, GBK) and XLSX (every sheet with a phone column; merged cells filled from their top-left
//! cell). Numbers go to E.164 ([`super::phone`]); duplicates are merged (in the file and with
//! contacts already in the campaign); every other column is kept as a contact field. Every
//! rejected row is reported with its line number and reason, in the returned report and in a
//! `*.rejects.csv` file next to the input; the rest is imported.
//!
//! The file is read whole (a 1M-row list is ~50 MB); numbers are normalised in parallel
//! (rayon) and contacts written in batches.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use phonenumber::country::Id;
use rayon::prelude::*;

use super::phone::{self, Normalised, PhoneError};
use crate::store::{Contact, ContactPii, ContactState, PhoneKey, Store, StoreError};

/// Column names recognised as the phone number when no `--map phone=…` is given.
const PHONE_ALIASES: &[&str] = &[
    "phone",
    "mobile",
    "tel",
    "telephone",
    "number",
    "phone_number",
    "phonenumber",
    "msisdn",
    "手机号",
    "手机",
    "手机号码",
    "电话",
    "电话号码",
    "联系电话",
    "号码",
];
const NAME_ALIASES: &[&str] = &["name", "full_name", "姓名", "名字", "客户名称", "客户姓名"];
const BATCH: usize = 20_000;

/// Errors that stop an import (row-level problems are rejects, not errors).
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path} is empty (0 bytes): nothing to import")]
    Empty { path: PathBuf },
    #[error("{path} {source} or XLSX")]
    Text {
        path: PathBuf,
        #[source]
        source: crate::textfile::TextError,
    },
    #[error(
        "{path}: no phone column (looked for {wanted}); columns are: {columns}. \
         Use --map phone=COLUMN"
    )]
    NoPhoneColumn {
        path: PathBuf,
        wanted: String,
        columns: String,
    },
    #[error("{path}: --map names column `{column}` for `{target}`, which is not in the header ({columns})")]
    MappedColumnMissing {
        path: PathBuf,
        target: String,
        column: String,
        columns: String,
    },
    #[error("{path}: not a readable XLSX workbook: {reason}")]
    Xlsx { path: PathBuf, reason: String },
    #[error("{path}: the header row is missing")]
    NoHeader { path: PathBuf },
    #[error("lead scoring after the import: {0}")]
    Leads(#[from] crate::profile::ProfileError),
    #[error("--map `{0}` is not TARGET=COLUMN")]
    BadMap(String),
    #[error(transparent)]
    Phone(#[from] PhoneError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Import options.
#[derive(Clone, Debug)]
pub struct ImportOptions {
    pub campaign: String,
    pub default_region: Id,
    /// Target (`phone`, `name`) → column name in the file.
    pub map: HashMap<String, String>,
    /// Where to write rejected rows; default `<input>.rejects.csv`.
    pub report_path: Option<PathBuf>,
    /// Show a progress bar on stderr.
    pub progress: bool,
    /// Lead model: rescore the campaign's pending contacts once the import is written.
    pub leads: Option<std::sync::Arc<crate::profile::dialer::LeadScorer>>,
}

impl ImportOptions {
    pub fn new(campaign: &str, default_region: Id) -> Self {
        Self {
            campaign: campaign.to_owned(),
            default_region,
            map: HashMap::new(),
            report_path: None,
            progress: false,
            leads: None,
        }
    }

    /// Parses `phone=手机号,name=姓名`.
    pub fn parse_map(spec: &str) -> Result<HashMap<String, String>, ImportError> {
        let mut map = HashMap::new();
        for pair in spec.split(',').filter(|p| !p.trim().is_empty()) {
            let (k, v) = pair
                .split_once('=')
                .ok_or_else(|| ImportError::BadMap(pair.to_owned()))?;
            map.insert(k.trim().to_lowercase(), v.trim().to_owned());
        }
        Ok(map)
    }
}

/// A rejected row.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct Rejected {
    /// `line 12` for CSV, `Sheet1 row 12` for XLSX (1-based, the header is row 1).
    pub location: String,
    pub line: u64,
    pub reason: String,
}

/// What an import did.
#[derive(
    Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema,
)]
pub struct ImportReport {
    pub rows: u64,
    pub imported: u64,
    /// Rows merged into a contact seen earlier in the file or already in the campaign.
    pub merged: u64,
    pub rejected: Vec<Rejected>,
    #[schema(value_type = Option<String>)]
    pub report_file: Option<PathBuf>,
    /// Lead rescoring after the import, when a model was given.
    #[schema(value_type = Option<Object>)]
    pub leads: Option<crate::profile::dialer::RescoreReport>,
    /// How the file was read: a non-UTF-8 encoding, columns renamed to keep them apart.
    pub notes: Vec<String>,
}

/// One data row, before normalisation.
struct RawRow {
    /// Where the row is, for the rejects report; empty means `line {line}` (CSV: built only
    /// for rejected rows).
    location: String,
    line: u64,
    cells: Vec<String>,
    /// Why the row is broken before looking at its content (e.g. wrong field count).
    broken: Option<String>,
}

/// A table read from a file or sheet.
struct Table {
    header: Vec<String>,
    rows: Vec<RawRow>,
    /// What the user should know about how it was read (e.g. its encoding).
    notes: Vec<String>,
}

fn io(path: &Path) -> impl Fn(std::io::Error) -> ImportError + '_ {
    move |source| ImportError::Io {
        path: path.to_owned(),
        source,
    }
}

/// Imports a file into a campaign's contacts.
pub fn import_file(
    store: &dyn Store,
    path: &Path,
    opts: &ImportOptions,
) -> Result<ImportReport, ImportError> {
    let bytes = std::fs::read(path).map_err(io(path))?;
    let mut report = import_bytes(store, path, bytes, opts)?;
    if !report.rejected.is_empty() {
        let out = opts.report_path.clone().unwrap_or_else(|| {
            let mut p = path.as_os_str().to_owned();
            p.push(".rejects.csv");
            PathBuf::from(p)
        });
        let mut text = String::from("line,location,reason\n");
        for r in &report.rejected {
            text.push_str(&format!(
                "{},\"{}\",\"{}\"\n",
                r.line,
                r.location.replace('"', "\"\""),
                r.reason.replace('"', "\"\"")
            ));
        }
        std::fs::write(&out, text).map_err(io(&out))?;
        report.report_file = Some(out);
    }
    Ok(report)
}

/// Imports a contact list received as bytes (an upload); `name` is the file's name, for
/// messages and to tell XLSX from CSV. The rejected rows are in the report only.
pub fn import_bytes(
    store: &dyn Store,
    name: &Path,
    bytes: Vec<u8>,
    opts: &ImportOptions,
) -> Result<ImportReport, ImportError> {
    let path = name;
    if bytes.is_empty() {
        return Err(ImportError::Empty {
            path: path.to_owned(),
        });
    }
    let tables = if crate::workbook::is_xlsx(path, &bytes) {
        read_xlsx(path, bytes)?
    } else {
        vec![read_csv(path, &bytes)?]
    };
    import_tables(store, path, tables, opts)
}

/// Imports contacts pushed in as JSON (`POST /api/v1/campaigns/{name}/contacts/json`, one
/// value per contact: `{"phone": "…", "name": "…", "fields": {"k": "v"}}`) through the same
/// path as a file: numbers normalised, duplicates merged, every bad element reported as
/// `contact N` (1-based) with its reason, the rest imported.
pub fn import_json(
    store: &dyn Store,
    items: Vec<serde_json::Value>,
    opts: &ImportOptions,
) -> Result<ImportReport, ImportError> {
    let path = Path::new("contacts.json");
    if items.is_empty() {
        return Err(ImportError::Empty {
            path: path.to_owned(),
        });
    }
    let parsed: Vec<Result<JsonContact, String>> = items.into_iter().map(json_contact).collect();
    let mut keys: Vec<String> = parsed
        .iter()
        .flatten()
        .flat_map(|c| c.fields.keys().cloned())
        .collect();
    keys.sort_unstable();
    keys.dedup();
    let mut header = vec!["phone".to_owned(), "name".to_owned()];
    header.extend(keys.iter().cloned());
    let rows = parsed
        .into_iter()
        .enumerate()
        .map(|(i, c)| {
            let line = i as u64 + 1;
            let location = format!("contact {line}");
            match c {
                Ok(c) => {
                    let mut cells = vec![c.phone, c.name.unwrap_or_default()];
                    cells.extend(
                        keys.iter()
                            .map(|k| c.fields.get(k).cloned().unwrap_or_default()),
                    );
                    RawRow {
                        location,
                        line,
                        cells,
                        broken: None,
                    }
                }
                Err(why) => RawRow {
                    location,
                    line,
                    cells: Vec::new(),
                    broken: Some(why),
                },
            }
        })
        .collect();
    let table = Table {
        header,
        rows,
        notes: Vec::new(),
    };
    let mut opts = opts.clone();
    // The header is ours: phone and name are its first two columns, whatever the fields are
    // called.
    opts.map = HashMap::from([
        ("phone".to_owned(), "phone".to_owned()),
        ("name".to_owned(), "name".to_owned()),
    ]);
    import_tables(store, path, vec![table], &opts)
}

/// One contact of a JSON import.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct JsonContact {
    pub phone: String,
    #[serde(default)]
    pub name: Option<String>,
    /// Any other data, kept as the contact's fields (as a file's other columns are).
    #[serde(default)]
    pub fields: BTreeMap<String, String>,
}

/// Reads one element of a JSON import; numbers and booleans are taken as their text
/// (CRMs send phone numbers and ids as numbers), nested values are refused.
fn json_contact(v: serde_json::Value) -> Result<JsonContact, String> {
    use serde_json::Value;
    let scalar = |what: &str, v: Value| -> Result<Option<String>, String> {
        match v {
            Value::Null => Ok(None),
            Value::String(s) => Ok(Some(s)),
            Value::Number(n) => Ok(Some(n.to_string())),
            Value::Bool(b) => Ok(Some(b.to_string())),
            Value::Array(_) | Value::Object(_) => {
                Err(format!("{what}: a list or object; give text or a number"))
            }
        }
    };
    let Value::Object(map) = v else {
        return Err(
            "not an object: give {\"phone\": \"…\", \"name\": \"…\", \"fields\": {…}}".into(),
        );
    };
    let mut c = JsonContact::default();
    let mut phone = None;
    for (k, v) in map {
        match k.as_str() {
            "phone" => phone = scalar("phone", v)?,
            "name" => c.name = scalar("name", v)?.filter(|s| !s.trim().is_empty()),
            "fields" => match v {
                Value::Null => {}
                Value::Object(fields) => {
                    for (fk, fv) in fields {
                        if let Some(text) = scalar(&format!("fields.{fk}"), fv)? {
                            c.fields.insert(fk, text);
                        }
                    }
                }
                _ => return Err("fields: not an object of text values".into()),
            },
            other => {
                return Err(format!(
                    "unknown key `{other}`: a contact has phone, name and fields"
                ))
            }
        }
    }
    c.phone = phone
        .filter(|p| !p.trim().is_empty())
        .ok_or_else(|| "no phone".to_owned())?;
    Ok(c)
}

/// Imports tables read from a file or built from JSON.
fn import_tables(
    store: &dyn Store,
    path: &Path,
    tables: Vec<Table>,
    opts: &ImportOptions,
) -> Result<ImportReport, ImportError> {
    let mut report = ImportReport::default();
    let mut imported_any_table = false;
    let mut first_error = None;
    let mut sink = Sink {
        store,
        existing: store.phone_index(&opts.campaign)?,
        by_phone: HashMap::new(),
        buffer: Vec::with_capacity(BATCH),
        buffer_index: HashMap::new(),
    };
    for table in tables {
        let cols = match Columns::find(path, &table.header, &opts.map) {
            Ok(c) => c,
            Err(e) => {
                first_error.get_or_insert(e);
                continue;
            }
        };
        imported_any_table = true;
        report.notes.extend(table.notes.iter().cloned());
        report.notes.extend(cols.notes.iter().cloned());
        ingest(opts, table, &cols, &mut report, &mut sink)?;
    }
    sink.flush()?;
    if !imported_any_table {
        if let Some(e) = first_error {
            return Err(e);
        }
        return Err(ImportError::NoHeader {
            path: path.to_owned(),
        });
    }
    if let Some(leads) = &opts.leads {
        // Lead model hand-off: score, segment and best hour of every pending contact.
        report.leads = Some(leads.rescore_campaign(store, &opts.campaign)?);
    }
    Ok(report)
}

fn progress_bar(show: bool, len: u64) -> indicatif::ProgressBar {
    if !show || len < 10_000 {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new(len);
    if let Ok(style) =
        indicatif::ProgressStyle::with_template("{msg} [{bar:40}] {pos}/{len} ({eta})")
    {
        bar.set_style(style);
    }
    bar.set_message("importing");
    bar
}

/// Where the phone and name are, and which columns become fields.
struct Columns {
    phone: usize,
    name: Option<usize>,
    /// Field name of each column: unique, so that no cell overwrites another.
    header: Vec<String>,
    /// Columns renamed to keep them apart, for the report.
    notes: Vec<String>,
}

impl Columns {
    fn find(
        path: &Path,
        header: &[String],
        map: &HashMap<String, String>,
    ) -> Result<Self, ImportError> {
        let norm = |s: &str| s.trim().trim_start_matches('\u{feff}').to_lowercase();
        let names: Vec<String> = header.iter().map(|h| norm(h)).collect();
        let listed = || header.join(", ");
        let find_mapped = |target: &str| -> Result<Option<usize>, ImportError> {
            match map.get(target) {
                None => Ok(None),
                Some(col) => names
                    .iter()
                    .position(|n| *n == norm(col))
                    .map(Some)
                    .ok_or_else(|| ImportError::MappedColumnMissing {
                        path: path.to_owned(),
                        target: target.to_owned(),
                        column: col.clone(),
                        columns: listed(),
                    }),
            }
        };
        let by_alias = |aliases: &[&str]| names.iter().position(|n| aliases.contains(&n.as_str()));
        let phone = match find_mapped("phone")? {
            Some(i) => i,
            None => by_alias(PHONE_ALIASES).ok_or_else(|| ImportError::NoPhoneColumn {
                path: path.to_owned(),
                wanted: PHONE_ALIASES.join("/"),
                columns: listed(),
            })?,
        };
        let name = match find_mapped("name")? {
            Some(i) => Some(i),
            None => by_alias(NAME_ALIASES),
        };
        // A field per column: an unnamed column is named by its position, a repeated name
        // gets its position added, so every cell of the file is kept.
        let mut fields: Vec<String> = Vec::with_capacity(header.len());
        let mut notes = Vec::new();
        for (i, h) in header.iter().enumerate() {
            let h = h.trim().trim_start_matches('\u{feff}');
            let field = if h.is_empty() {
                format!("column{}", i + 1)
            } else if fields.iter().any(|f| f == h) {
                let renamed = format!("{h} ({})", i + 1);
                notes.push(format!(
                    "column {} repeats the name `{h}`: its cells are kept as `{renamed}`",
                    i + 1
                ));
                renamed
            } else {
                h.to_owned()
            };
            fields.push(field);
        }
        Ok(Self {
            phone,
            name,
            header: fields,
            notes,
        })
    }
}

/// Where accepted rows go: merged with earlier rows and existing contacts, written in batches
/// so that memory stays bounded on large files.
struct Sink<'a> {
    store: &'a dyn Store,
    /// Contacts of the campaign before this import.
    existing: HashMap<PhoneKey, u64>,
    /// Number → id of contacts created or touched by this import.
    by_phone: HashMap<PhoneKey, u64>,
    buffer: Vec<Contact>,
    /// Contact id → index in `buffer`.
    buffer_index: HashMap<u64, usize>,
}

impl Sink<'_> {
    fn flush(&mut self) -> Result<(), ImportError> {
        if !self.buffer.is_empty() {
            self.store.put_contacts(&self.buffer)?;
            self.buffer.clear();
            self.buffer_index.clear();
        }
        Ok(())
    }

    fn push(&mut self, c: Contact) -> Result<(), ImportError> {
        self.buffer_index.insert(c.id, self.buffer.len());
        self.by_phone.insert(c.phone_key, c.id);
        self.buffer.push(c);
        if self.buffer.len() >= BATCH {
            self.flush()?;
        }
        Ok(())
    }

    /// Merges into contact `id`, wherever it is.
    fn merge_into(
        &mut self,
        id: u64,
        name: Option<String>,
        fields: BTreeMap<String, String>,
    ) -> Result<(), ImportError> {
        if let Some(&i) = self.buffer_index.get(&id) {
            merge(&mut self.buffer[i], name, fields);
            return Ok(());
        }
        let mut c = self.store.contact(id)?;
        merge(&mut c, name, fields);
        self.push(c)
    }
}

/// A row that passed: its number and what else it carries.
struct Accepted {
    n: Normalised,
    key: PhoneKey,
    name: Option<String>,
    fields: BTreeMap<String, String>,
}

/// The per-row work that needs no shared state (normalisation, the keyed number hash, the
/// name and fields): done in parallel.
fn accept(
    store: &dyn Store,
    row: &mut RawRow,
    cols: &Columns,
    region: Id,
) -> Result<Accepted, String> {
    if let Some(why) = &row.broken {
        return Err(why.clone());
    }
    let raw = row.cells.get(cols.phone).map(String::as_str).unwrap_or("");
    let n = phone::normalise(raw, region).map_err(|e| e.to_string())?;
    let key = store.phone_key(&n.e164);
    let cells = std::mem::take(&mut row.cells);
    let name = cols
        .name
        .and_then(|i| cells.get(i))
        .map(|s| s.trim())
        .filter(|s| !s.is_empty())
        .map(str::to_owned);
    let mut fields = BTreeMap::new();
    for (i, v) in cells.into_iter().enumerate() {
        if i == cols.phone || Some(i) == cols.name {
            continue;
        }
        // Every column has a field name (see `Columns::find`); cells past the header
        // belong to rows rejected as broken before this point.
        let Some(h) = cols.header.get(i) else {
            continue;
        };
        let t = v.trim();
        if t.is_empty() {
            continue;
        }
        // Reuse the cell's allocation when there is nothing to trim.
        let v = if t.len() == v.len() { v } else { t.to_owned() };
        fields.insert(h.clone(), v);
    }
    Ok(Accepted {
        n,
        key,
        name,
        fields,
    })
}

fn ingest(
    opts: &ImportOptions,
    mut table: Table,
    cols: &Columns,
    report: &mut ImportReport,
    sink: &mut Sink<'_>,
) -> Result<(), ImportError> {
    report.rows += table.rows.len() as u64;
    let progress = progress_bar(opts.progress, table.rows.len() as u64);
    let region = opts.default_region;
    let first_id = sink.store.reserve_ids(table.rows.len() as u64)?;
    let mut next_id = first_id;
    let store = sink.store;
    for chunk in table.rows.chunks_mut(BATCH) {
        let parsed: Vec<Result<Accepted, String>> = chunk
            .par_iter_mut()
            .map(|row| accept(store, row, cols, region))
            .collect();
        for (row, parsed) in chunk.iter_mut().zip(parsed) {
            let a = match parsed {
                Ok(a) => a,
                Err(reason) => {
                    let location = match std::mem::take(&mut row.location) {
                        l if l.is_empty() => format!("line {}", row.line),
                        l => l,
                    };
                    report.rejected.push(Rejected {
                        location,
                        line: row.line,
                        reason,
                    });
                    continue;
                }
            };
            if let Some(&id) = sink
                .by_phone
                .get(&a.key)
                .or_else(|| sink.existing.get(&a.key))
            {
                report.merged += 1;
                sink.merge_into(id, a.name, a.fields)?;
                continue;
            }
            let id = next_id;
            next_id += 1;
            report.imported += 1;
            sink.push(Contact {
                id,
                campaign: opts.campaign.clone(),
                phone_key: a.key,
                pii: ContactPii {
                    phone: a.n.e164,
                    name: a.name,
                    fields: a.fields,
                },
                line_type: a.n.line_type,
                region: a.n.region,
                utc_offset_min: a.n.utc_offset_min,
                seq: id,
                score: None,
                best_hour: None,
                state: ContactState::Pending,
                attempts: 0,
                next_at: 0,
                note: String::new(),
            })?;
        }
        progress.inc(chunk.len() as u64);
    }
    progress.finish_and_clear();
    Ok(())
}

fn merge(c: &mut Contact, name: Option<String>, fields: BTreeMap<String, String>) {
    if c.pii.name.is_none() {
        c.pii.name = name;
    }
    for (k, v) in fields {
        c.pii.fields.entry(k).or_insert(v);
    }
}

fn read_csv(path: &Path, bytes: &[u8]) -> Result<Table, ImportError> {
    let decoded = crate::textfile::decode(bytes).map_err(|source| ImportError::Text {
        path: path.to_owned(),
        source,
    })?;
    let mut notes = Vec::new();
    if !matches!(
        decoded.encoding,
        crate::textfile::Encoding::Utf8 | crate::textfile::Encoding::Utf8Bom
    ) {
        notes.push(format!("read as {}", decoded.encoding.name()));
    }
    let text = decoded.text;
    let delimiter = crate::textfile::sniff_delimiter(&text, b",;\t|");
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .flexible(true)
        .has_headers(false)
        .from_reader(text.as_bytes());
    // Line numbers for the rejects report from byte offsets: the reader's own counter is one
    // behind on CRLF files, which is how Windows saves them.
    let lines = crate::textfile::LineIndex::new(&text);
    let mut records = reader.records();
    let header: Vec<String> = match records.next() {
        Some(Ok(h)) => h.iter().map(str::to_owned).collect(),
        _ => {
            return Err(ImportError::NoHeader {
                path: path.to_owned(),
            })
        }
    };
    let mut rows = Vec::new();
    for rec in records {
        match rec {
            Ok(r) => {
                let line = r
                    .position()
                    .map_or(0, |p| lines.record_line(p.byte() as usize))
                    as u64;
                if r.iter().all(|c| c.trim().is_empty()) {
                    continue;
                }
                let broken = if r.len() != header.len() {
                    Some(if r.iter().any(|c| c.contains('\n')) {
                        format!(
                            "broken quoting: a quoted field runs over {} fields and several lines",
                            r.len()
                        )
                    } else {
                        format!("{} fields, the header has {}", r.len(), header.len())
                    })
                } else if r.iter().any(|c| {
                    // A quoted field that swallowed following rows: an unclosed quote.
                    c.split_once('\n')
                        .is_some_and(|(_, after)| after.as_bytes().contains(&delimiter))
                }) {
                    Some("broken quoting: an unclosed quote swallows the following lines".into())
                } else {
                    None
                };
                rows.push(RawRow {
                    location: String::new(),
                    line,
                    cells: r.iter().map(str::to_owned).collect(),
                    broken,
                });
            }
            Err(e) => {
                let line = e
                    .position()
                    .map_or(0, |p| lines.record_line(p.byte() as usize))
                    as u64;
                rows.push(RawRow {
                    location: String::new(),
                    line,
                    cells: Vec::new(),
                    broken: Some(format!("unreadable row: {e}")),
                });
            }
        }
    }
    Ok(Table {
        header,
        rows,
        notes,
    })
}

fn read_xlsx(path: &Path, bytes: Vec<u8>) -> Result<Vec<Table>, ImportError> {
    let tables: Vec<Table> = crate::workbook::read(bytes)
        .map_err(|reason| ImportError::Xlsx {
            path: path.to_owned(),
            reason,
        })?
        .into_iter()
        .map(|sheet| Table {
            header: sheet.header,
            rows: sheet
                .rows
                .into_iter()
                .map(|r| RawRow {
                    location: format!("{} row {}", sheet.name, r.row),
                    line: r.row,
                    cells: r.cells,
                    broken: None,
                })
                .collect(),
            notes: Vec::new(),
        })
        .collect();
    if tables.is_empty() {
        return Err(ImportError::Xlsx {
            path: path.to_owned(),
            reason: "every sheet is empty".into(),
        });
    }
    Ok(tables)
}

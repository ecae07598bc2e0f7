//! XLSX workbooks as contact lists: every non-empty sheet as a header row and data rows of cell
//! text, numbered as Excel shows them. Shared by the contact import (`campaign`) and the
//! lead-model reader (`profile`); depends on `calamine` only.
//!
//! Numbers typed into Excel come back as floats: a whole number is written without the `.0`
//! (13800138000.0 → "13800138000", so phone numbers survive). Merged cells hold their value in
//! every cell of the region. Blank rows are left out.

use std::io::Cursor;
use std::path::Path;

use calamine::{Data, Reader, Xlsx};

/// One sheet: its header row and data rows.
#[derive(Debug, Clone, PartialEq)]
pub struct Sheet {
    pub name: String,
    /// 1-based row number of the header row.
    pub header_row: u64,
    pub header: Vec<String>,
    pub rows: Vec<SheetRow>,
}

/// A data row and its 1-based row number in the sheet.
#[derive(Debug, Clone, PartialEq)]
pub struct SheetRow {
    pub row: u64,
    pub cells: Vec<String>,
}

/// Whether a file is an XLSX workbook, by its ZIP signature or its extension.
pub fn is_xlsx(path: &Path, bytes: &[u8]) -> bool {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or("")
        .to_ascii_lowercase();
    bytes.starts_with(b"PK\x03\x04") || ext == "xlsx" || ext == "xlsm"
}

/// Reads every sheet that has cells; the error says what is wrong with the workbook.
pub fn read(bytes: Vec<u8>) -> Result<Vec<Sheet>, String> {
    let mut book: Xlsx<_> = calamine::open_workbook_from_rs(Cursor::new(bytes))
        .map_err(|e: calamine::XlsxError| e.to_string())?;
    let mut sheets = Vec::new();
    for name in book.sheet_names() {
        let range = book
            .worksheet_range(&name)
            .map_err(|e| format!("sheet `{name}`: {e}"))?;
        let Some((row0, col0)) = range.start() else {
            continue;
        };
        let mut grid: Vec<Vec<String>> = range
            .rows()
            .map(|r| r.iter().map(cell_text).collect())
            .collect();
        // Merged cells: calamine gives the value in the top-left cell only; fill the region.
        if let Ok(merged) = book.merge_cells_by_sheet_name(&name) {
            for m in merged {
                let (r0, c0) = (
                    m.start.0.saturating_sub(row0),
                    m.start.1.saturating_sub(col0),
                );
                let (r1, c1) = (m.end.0.saturating_sub(row0), m.end.1.saturating_sub(col0));
                let value = grid
                    .get(r0 as usize)
                    .and_then(|r| r.get(c0 as usize))
                    .cloned()
                    .unwrap_or_default();
                for r in r0..=r1 {
                    for c in c0..=c1 {
                        if let Some(cell) = grid
                            .get_mut(r as usize)
                            .and_then(|row| row.get_mut(c as usize))
                        {
                            *cell = value.clone();
                        }
                    }
                }
            }
        }
        let mut it = grid.into_iter().enumerate();
        let Some((_, header)) = it.next() else {
            continue;
        };
        let rows = it
            .filter(|(_, cells)| cells.iter().any(|c| !c.trim().is_empty()))
            .map(|(i, cells)| SheetRow {
                row: u64::from(row0) + i as u64 + 1,
                cells,
            })
            .collect();
        sheets.push(Sheet {
            name,
            header_row: u64::from(row0) + 1,
            header,
            rows,
        });
    }
    Ok(sheets)
}

fn cell_text(d: &Data) -> String {
    match d {
        Data::Empty => String::new(),
        Data::String(s) => s.clone(),
        // Phone numbers typed into Excel become numbers: 13800138000.0 → "13800138000".
        Data::Float(f) if f.fract() == 0.0 && f.abs() < 1e17 => format!("{}", *f as i64),
        Data::Float(f) => f.to_string(),
        Data::Int(i) => i.to_string(),
        Data::Bool(b) => b.to_string(),
        Data::DateTime(dt) => dt.to_string(),
        Data::DateTimeIso(s) | Data::DurationIso(s) => s.clone(),
        Data::Error(e) => format!("#{e:?}"),
    }
}

//! `parley import`: bulk loads from files. The CLI reads the file and prints; what a row means and
//! how it is written is `parley_engine::import`.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::Subcommand;
use indicatif::{ProgressBar, ProgressStyle};
use parley_core::SystemClock;
use parley_engine::import::{
    COLUMN_HELP, ImportFile, ImportRecord, RejectedRow, import_messaging_users,
};
use parley_store::Store;

#[derive(Debug, Subcommand)]
pub enum ImportCommand {
    /// Create or update messaging users and their consent from a CSV file (one row per person per
    /// channel). Bad rows are reported with their line numbers and the others imported; the exit
    /// status is non-zero if any row was rejected. Importing the same file again changes nothing.
    #[command(after_help = COLUMN_HELP)]
    MessagingUsers {
        /// The CSV file, UTF-8 with a header row.
        file: PathBuf,
        /// Also write the rejected rows to this CSV file, with an `error` column added.
        #[arg(long, value_name = "FILE")]
        errors: Option<PathBuf>,
    },
}

pub async fn run(command: ImportCommand, store: &Store) -> Result<()> {
    match command {
        ImportCommand::MessagingUsers { file, errors } => {
            let input = read_csv(&file)?;
            let bar = progress_bar();
            let report = import_messaging_users(store, &SystemClock, &input, |p| {
                bar.set_length(p.total);
                bar.set_position(p.done);
            })
            .await;
            bar.finish_and_clear();
            let report = report.with_context(|| format!("importing {}", file.display()))?;
            for r in &report.rejected {
                eprintln!("{}:{}: {}", file.display(), r.line, r.reason);
            }
            if let Some(path) = &errors {
                write_errors(path, &input.header, &report.rejected)?;
            }
            println!("{}", report.summary());
            if !report.rejected.is_empty() {
                bail!(
                    "{} row(s) rejected{}",
                    report.rejected.len(),
                    errors
                        .map(|p| format!("; written to {}", p.display()))
                        .unwrap_or_default()
                );
            }
            Ok(())
        }
    }
}

/// A bar on stderr while rows are written, only when stderr is a terminal.
fn progress_bar() -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(0);
    bar.set_style(
        ProgressStyle::with_template("{bar:40} {human_pos}/{human_len} rows, {eta} left")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar
}

/// Reads a CSV file with its header. Rows may be shorter or longer than the header (a short row
/// is missing values, which the import reports); a row that is not UTF-8 is kept, marked
/// unreadable, so it is reported with its line like any other bad row.
fn read_csv(path: &Path) -> Result<ImportFile> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(true)
        .from_reader(bytes.as_slice());
    let header = reader
        .byte_headers()
        .with_context(|| format!("reading the header of {}", path.display()))?
        .iter()
        .map(|f| String::from_utf8(f.to_vec()))
        .collect::<Result<Vec<String>, _>>()
        .with_context(|| format!("{}: the header is not UTF-8", path.display()))?;
    if header.iter().all(|h| h.trim().is_empty()) {
        bail!("{}: the file is empty or has no header row", path.display());
    }
    let mut records = Vec::new();
    for row in reader.byte_records() {
        let row = row.with_context(|| format!("reading {}", path.display()))?;
        let line = row.position().map_or(0, |p| start_line(&bytes, p));
        let mut unreadable = None;
        let fields = row
            .iter()
            .map(|f| match std::str::from_utf8(f) {
                Ok(s) => s.to_owned(),
                Err(_) => {
                    unreadable = Some("the row is not valid UTF-8 (save the file as UTF-8)".into());
                    String::from_utf8_lossy(f).into_owned()
                }
            })
            .collect();
        records.push(ImportRecord {
            line,
            fields,
            unreadable,
        });
    }
    Ok(ImportFile {
        name: path.display().to_string(),
        header,
        records,
    })
}

/// The line a record starts on. The reader gives the position where it started looking, which is
/// before any blank lines it skipped; count those too.
fn start_line(bytes: &[u8], at: &csv::Position) -> u64 {
    let from = usize::try_from(at.byte()).unwrap_or(usize::MAX);
    let skipped = bytes
        .get(from..)
        .unwrap_or_default()
        .iter()
        .take_while(|b| matches!(b, b'\r' | b'\n'))
        .filter(|b| **b == b'\n')
        .count();
    at.line() + skipped as u64
}

/// Writes the rejected rows as CSV: the file's own columns, then `error`. Rows are cut or padded
/// to the header so every row has its reason in the last column; fixed, the file can be imported
/// again as it is (unknown columns are ignored).
fn write_errors(path: &Path, header: &[String], rejected: &[RejectedRow]) -> Result<()> {
    let mut w =
        csv::Writer::from_path(path).with_context(|| format!("creating {}", path.display()))?;
    let write = |w: &mut csv::Writer<std::fs::File>| -> csv::Result<()> {
        w.write_record(header.iter().map(String::as_str).chain(["error"]))?;
        for r in rejected {
            let fields = (0..header.len()).map(|i| r.fields.get(i).map_or("", String::as_str));
            w.write_record(fields.chain([r.reason.as_str()]))?;
        }
        w.flush()?;
        Ok(())
    };
    write(&mut w).with_context(|| format!("writing {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_quoted_fields_and_keeps_line_numbers() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("users.csv");
        let mut bytes = b"\xEF\xBB\xBFchannel,platform_key,consent_status,first_name\n".to_vec();
        bytes.extend_from_slice(b"Main SMS,\"+1 (415) 555-2671\",OptedOut,\"Ada, Countess\"\n");
        bytes.extend_from_slice(b"\n\r\n");
        bytes.extend_from_slice(b"Main SMS,+14155552672,OptedOut,\"two\nlines\"\r\n");
        bytes.extend_from_slice(b"Main SMS,+14155552673,OptedOut,Fran\xE7ois\n");
        bytes.extend_from_slice(b"Main SMS,+14155552674\n");
        std::fs::write(&path, bytes).unwrap();

        let file = read_csv(&path).unwrap();
        assert_eq!(file.header[0].trim_start_matches('\u{feff}'), "channel");
        let lines: Vec<u64> = file.records.iter().map(|r| r.line).collect();
        assert_eq!(lines, [2, 5, 7, 8]);
        assert_eq!(file.records[0].fields[1], "+1 (415) 555-2671");
        assert_eq!(file.records[0].fields[3], "Ada, Countess");
        assert_eq!(file.records[1].fields[3], "two\nlines");
        assert!(file.records[2].unreadable.is_some());
        assert!(file.records[0].unreadable.is_none());
        assert_eq!(file.records[3].fields.len(), 2);
        assert!(file.name.ends_with("users.csv"));
    }

    #[test]
    fn error_file_has_the_rows_and_their_reasons() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("errors.csv");
        let header = vec!["channel".to_owned(), "platform_key".to_owned()];
        let rejected = vec![
            RejectedRow {
                line: 3,
                fields: vec!["Nowhere".into(), "+1, 2".into()],
                reason: "unknown channel 'Nowhere'".into(),
            },
            RejectedRow {
                line: 5,
                fields: vec!["Main SMS".into()],
                reason: "missing platform_key".into(),
            },
        ];
        write_errors(&path, &header, &rejected).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(
            text,
            "channel,platform_key,error\n\
             Nowhere,\"+1, 2\",unknown channel 'Nowhere'\n\
             Main SMS,,missing platform_key\n"
        );
    }

    #[test]
    fn an_empty_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("empty.csv");
        std::fs::write(&path, "").unwrap();
        assert!(read_csv(&path).is_err());
    }
}

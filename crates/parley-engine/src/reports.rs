//! Reports (issue 15): answers each [`ReportKind`] from the aggregates the pipelines keep.

use parley_core::reports::{Report, ReportFilter, ReportKind};
use parley_store::{Store, StoreError};

/// Runs one report. Seam: s15-reports fills in the aggregates; until then every report is
/// empty with its columns.
pub async fn run(
    store: &Store,
    kind: ReportKind,
    filter: ReportFilter,
) -> Result<Report, StoreError> {
    let _ = store;
    Ok(Report {
        kind,
        filter,
        columns: Vec::new(),
        rows: Vec::new(),
        chart: None,
    })
}

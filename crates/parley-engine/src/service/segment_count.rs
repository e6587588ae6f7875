//! A segment's size while it is written (issue 11): the console's segment builder counts as its
//! conditions change, before anything is saved. A read only, over the same audience pages and the
//! same `SegmentFilter::matches` the expansion uses, so the builder's count and a campaign's
//! audience cannot disagree.

use std::collections::BTreeMap;

use parley_core::Timestamp;
use parley_core::campaign::audience::SegmentFilter;
use parley_store::Store;
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use super::ServiceError;

/// Messaging users read per page.
const PAGE: u32 = 1_000;

/// How many messaging users on the channels match a filter, by consent status.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, ToSchema)]
pub struct FilterCount {
    pub members: u64,
    /// By consent status (`ExplicitlyOptedIn`, ...; `none` when never asked).
    pub consent: BTreeMap<String, u64>,
}

/// Counts the messaging users on `channels` that `filter` matches now.
pub async fn count_filter(
    store: &Store,
    filter: &SegmentFilter,
    channels: &[Uuid],
    now: Timestamp,
) -> Result<FilterCount, ServiceError> {
    filter
        .validate()
        .map_err(|e| ServiceError::Invalid(format!("filter: {e}")))?;
    let mut count = FilterCount::default();
    let mut after = None;
    loop {
        let page = store.audience_page(channels, after, PAGE).await?;
        after = page.last().map(|m| m.messaging_user_id);
        for m in page.iter().filter(|m| filter.matches(m, now)) {
            count.members += 1;
            let status = m.consent.map_or("none", |c| c.as_str());
            *count.consent.entry(status.to_owned()).or_insert(0) += 1;
        }
        if page.len() < PAGE as usize {
            return Ok(count);
        }
    }
}

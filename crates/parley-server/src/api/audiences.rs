//! Audiences of campaigns (issue 11, item 1): segments (a saved filter over messaging users and
//! their contacts) and lists (a static set imported from CSV or picked in the console). Only the
//! roles that send one-to-many (admin, broadcaster) see them; what a filter means and how an
//! import row is read are `parley_engine::service::campaigns`'s.

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use parley_core::campaign::audience::SegmentFilter;
use parley_core::model::ChannelKind;
use parley_engine::service::campaigns::{self, ListImportReport, SegmentInput};
use parley_engine::service::segment_count::{self, FilterCount};
use parley_store::{AudienceList, ListMember, Segment};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::time;
use crate::AppState;
use crate::error::{ApiError, ApiErrorCode, ApiJson, ApiPath, ApiQuery, ErrorBody};

/// The largest CSV a list import takes: about a million phone numbers.
pub const IMPORT_LIMIT: usize = 20 * 1024 * 1024;

#[derive(Debug, Serialize, ToSchema)]
pub struct SegmentView {
    pub id: Uuid,
    pub name: String,
    pub description: String,
    /// `{"all": [conditions]}`.
    #[schema(value_type = Object)]
    pub filter: serde_json::Value,
    pub created_at: String,
    pub updated_at: String,
}

impl From<Segment> for SegmentView {
    fn from(s: Segment) -> Self {
        Self {
            id: s.id,
            name: s.name,
            description: s.description,
            filter: serde_json::to_value(&s.filter).unwrap_or_default(),
            created_at: time(s.created_at),
            updated_at: time(s.updated_at),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SegmentList {
    pub items: Vec<SegmentView>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ListView {
    pub id: Uuid,
    pub name: String,
    pub description: String,
    /// Entries on the list.
    pub members: i64,
    pub created_at: String,
    pub updated_at: String,
}

impl From<AudienceList> for ListView {
    fn from(l: AudienceList) -> Self {
        Self {
            id: l.id,
            name: l.name,
            description: l.description,
            members: l.members,
            created_at: time(l.created_at),
            updated_at: time(l.updated_at),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ListList {
    pub items: Vec<ListView>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ListInput {
    pub name: String,
    #[serde(default)]
    pub description: String,
}

/// One entry of a list: a phone number (E.164) or a contact.
#[derive(Debug, Serialize, ToSchema)]
pub struct ListMemberView {
    pub id: Uuid,
    pub phone: Option<String>,
    pub contact_id: Option<Uuid>,
}

impl From<ListMember> for ListMemberView {
    fn from(m: ListMember) -> Self {
        Self {
            id: m.id,
            phone: m.phone,
            contact_id: m.contact_id,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ListMemberPage {
    pub items: Vec<ListMemberView>,
    /// The cursor of the next page, absent on the last page.
    pub next: Option<Uuid>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct MemberParams {
    /// Start after this entry (the `next` of the previous page).
    pub after: Option<Uuid>,
    /// Entries per page, 1 to 500 (default 50).
    #[param(minimum = 1, maximum = 500)]
    #[serde(default, deserialize_with = "crate::api::page_limit")]
    pub limit: Option<u32>,
}

/// People picked in the console.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MembersInput {
    /// Phone numbers, E.164.
    #[serde(default)]
    pub phones: Vec<String>,
    #[serde(default)]
    pub contact_ids: Vec<Uuid>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MembersAdded {
    /// Entries added (those already on the list are not counted).
    pub added: u64,
}

// Segments.

#[utoipa::path(get, path = "/api/v1/segments",
    extensions(("x-permission" = json!("manage_campaigns"))), tag = "campaigns",
    responses((status = 200, body = SegmentList), (status = 403, body = ErrorBody)))]
pub async fn list_segments(State(state): State<AppState>) -> Result<Json<SegmentList>, ApiError> {
    let items = state.store.segments().await?;
    Ok(Json(SegmentList {
        items: items.into_iter().map(SegmentView::from).collect(),
    }))
}

#[utoipa::path(post, path = "/api/v1/segments",
    extensions(("x-permission" = json!("manage_campaigns"))), tag = "campaigns", request_body = SegmentInput,
    responses((status = 201, body = SegmentView), (status = 403, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn create_segment(
    State(state): State<AppState>,
    ApiJson(input): ApiJson<SegmentInput>,
) -> Result<(StatusCode, Json<SegmentView>), ApiError> {
    let s = campaigns::create_segment(&state.store, &input, state.clock.now()).await?;
    Ok((StatusCode::CREATED, Json(s.into())))
}

#[utoipa::path(get, path = "/api/v1/segments/{id}",
    extensions(("x-permission" = json!("manage_campaigns"))), tag = "campaigns", params(("id" = Uuid, Path)),
    responses((status = 200, body = SegmentView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn get_segment(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<Json<SegmentView>, ApiError> {
    Ok(Json(state.store.segment(id).await?.into()))
}

#[utoipa::path(put, path = "/api/v1/segments/{id}",
    extensions(("x-permission" = json!("manage_campaigns"))), tag = "campaigns", params(("id" = Uuid, Path)),
    request_body = SegmentInput,
    responses((status = 200, body = SegmentView), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn update_segment(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(input): ApiJson<SegmentInput>,
) -> Result<Json<SegmentView>, ApiError> {
    let s = campaigns::update_segment(&state.store, id, &input, state.clock.now()).await?;
    Ok(Json(s.into()))
}

/// Refused (422) while a campaign that is not finished uses the segment.
#[utoipa::path(delete, path = "/api/v1/segments/{id}",
    extensions(("x-permission" = json!("manage_campaigns"))), tag = "campaigns", params(("id" = Uuid, Path)),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
pub async fn delete_segment(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<StatusCode, ApiError> {
    campaigns::delete_segment(&state.store, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A filter to count before it is saved.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FilterCountInput {
    /// As a segment takes it.
    #[schema(value_type = parley_engine::service::campaigns::SegmentFilterDoc)]
    pub filter: SegmentFilter,
    /// Count on these channels; every SMS and WhatsApp channel when absent or empty.
    #[serde(default)]
    pub channels: Vec<Uuid>,
}

/// How many messaging users a filter matches now, by consent status: the segment builder's live
/// count, before the segment is saved.
#[utoipa::path(post, path = "/api/v1/segments/count",
    extensions(("x-permission" = json!("manage_campaigns"))), tag = "campaigns", request_body = FilterCountInput,
    responses((status = 200, body = FilterCount), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn count_segment(
    State(state): State<AppState>,
    ApiJson(input): ApiJson<FilterCountInput>,
) -> Result<Json<FilterCount>, ApiError> {
    let channels = if input.channels.is_empty() {
        super::campaigns::all_channels(&state.store)
            .await?
            .into_iter()
            .filter(|c| matches!(c.kind, ChannelKind::Sms | ChannelKind::Whatsapp))
            .map(|c| c.id)
            .collect()
    } else {
        input.channels
    };
    Ok(Json(
        segment_count::count_filter(&state.store, &input.filter, &channels, state.clock.now())
            .await?,
    ))
}

// Lists.

#[utoipa::path(get, path = "/api/v1/lists",
    extensions(("x-permission" = json!("manage_campaigns"))), tag = "campaigns",
    responses((status = 200, body = ListList), (status = 403, body = ErrorBody)))]
pub async fn list_lists(State(state): State<AppState>) -> Result<Json<ListList>, ApiError> {
    let items = state.store.audience_lists().await?;
    Ok(Json(ListList {
        items: items.into_iter().map(ListView::from).collect(),
    }))
}

#[utoipa::path(post, path = "/api/v1/lists",
    extensions(("x-permission" = json!("manage_campaigns"))), tag = "campaigns", request_body = ListInput,
    responses((status = 201, body = ListView), (status = 403, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn create_list(
    State(state): State<AppState>,
    ApiJson(input): ApiJson<ListInput>,
) -> Result<(StatusCode, Json<ListView>), ApiError> {
    let l = campaigns::create_list(
        &state.store,
        &input.name,
        &input.description,
        state.clock.now(),
    )
    .await?;
    Ok((StatusCode::CREATED, Json(l.into())))
}

#[utoipa::path(get, path = "/api/v1/lists/{id}",
    extensions(("x-permission" = json!("manage_campaigns"))), tag = "campaigns", params(("id" = Uuid, Path)),
    responses((status = 200, body = ListView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn get_list(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<Json<ListView>, ApiError> {
    Ok(Json(state.store.audience_list(id).await?.into()))
}

/// Refused (422) while a campaign that is not finished uses the list.
#[utoipa::path(delete, path = "/api/v1/lists/{id}",
    extensions(("x-permission" = json!("manage_campaigns"))), tag = "campaigns", params(("id" = Uuid, Path)),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
pub async fn delete_list(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<StatusCode, ApiError> {
    campaigns::delete_list(&state.store, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(get, path = "/api/v1/lists/{id}/members",
    extensions(("x-permission" = json!("manage_campaigns"))), tag = "campaigns",
    params(("id" = Uuid, Path), MemberParams),
    responses((status = 200, body = ListMemberPage), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn list_members(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
    ApiQuery(p): ApiQuery<MemberParams>,
) -> Result<Json<ListMemberPage>, ApiError> {
    let limit = p.limit.unwrap_or(50);
    if !(1..=500).contains(&limit) {
        return Err(ApiError::malformed("limit must be between 1 and 500"));
    }
    // The list in the path must exist: an empty page would not tell a typo from an empty list.
    state.store.audience_list(id).await?;
    let found = campaigns::list_members(&state.store, id, p.after, limit).await?;
    // A full page may be the last one; the following request then answers an empty page.
    let next = if found.len() == limit as usize {
        found.last().map(|m| m.id)
    } else {
        None
    };
    Ok(Json(ListMemberPage {
        items: found.into_iter().map(ListMemberView::from).collect(),
        next,
    }))
}

#[utoipa::path(post, path = "/api/v1/lists/{id}/members",
    extensions(("x-permission" = json!("manage_campaigns"))), tag = "campaigns",
    params(("id" = Uuid, Path)), request_body = MembersInput,
    responses((status = 200, body = MembersAdded), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn add_members(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(input): ApiJson<MembersInput>,
) -> Result<Json<MembersAdded>, ApiError> {
    state.store.audience_list(id).await?;
    let added = campaigns::add_to_list(
        &state.store,
        id,
        &input.phones,
        &input.contact_ids,
        state.clock.now(),
    )
    .await?;
    Ok(Json(MembersAdded { added }))
}

/// Imports a CSV file (UTF-8, header row first) into the list: a `phone` column (E.164, or
/// national with a `country` column) or a `contact_id` column. Bad rows are reported with their
/// line numbers and the others added all the same.
#[utoipa::path(post, path = "/api/v1/lists/{id}/import",
    extensions(("x-permission" = json!("manage_campaigns"))), tag = "campaigns",
    params(("id" = Uuid, Path)),
    request_body(content = String, content_type = "text/csv", description = "The CSV file, up to 20 MB."),
    responses((status = 200, body = ListImportReport), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 413, body = ErrorBody),
        (status = 415, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn import_list(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
    headers: HeaderMap,
    body: Result<Bytes, axum::extract::rejection::BytesRejection>,
) -> Result<Json<ListImportReport>, ApiError> {
    let body = body.map_err(|e| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            crate::error::payload_too_large()
        } else {
            ApiError::malformed(e.body_text())
        }
    })?;
    let csv_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|t| {
            let t = t.trim();
            t.eq_ignore_ascii_case("text/csv") || t.eq_ignore_ascii_case("text/plain")
        });
    if !csv_type {
        return Err(ApiError::coded(
            ApiErrorCode::UnsupportedMediaType,
            "send the file as CSV with 'Content-Type: text/csv'",
        ));
    }
    state.store.audience_list(id).await?;
    let (rows, lines) = read_csv(&body)?;
    let mut report =
        campaigns::import_list(&state.store, id, &rows, state.clock.now(), |_| {}).await?;
    // The import numbers rows as if each took one line; blank lines and quoted line breaks make
    // the file's own line numbers differ, and those are the ones a person can find.
    for e in &mut report.errors {
        if let Some(line) = usize::try_from(e.line)
            .ok()
            .and_then(|l| l.checked_sub(1))
            .and_then(|i| lines.get(i))
        {
            e.line = *line;
        }
    }
    Ok(Json(report))
}

/// The CSV's rows, header first, and the file's line number each row starts on. Rows may be
/// shorter or longer than the header (the import reports what is missing); a row that is not
/// UTF-8 is read lossily so it is still reported with its line number rather than failing the
/// whole file.
fn read_csv(body: &[u8]) -> Result<(Vec<Vec<String>>, Vec<u64>), ApiError> {
    let body = body.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(body);
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(body);
    let mut rows = Vec::new();
    let mut lines = Vec::new();
    let (mut counted, mut line) = (0usize, 1u64);
    for record in reader.byte_records() {
        let record = record.map_err(|e| {
            let line = e.position().map(|p| p.line()).unwrap_or(0);
            ApiError::invalid(format!("the file is not readable as CSV at line {line}"))
        })?;
        // The reader's own line count skips blank lines; counting line breaks up to the
        // record's first byte gives the line an editor shows.
        let start = record
            .position()
            .and_then(|p| usize::try_from(p.byte()).ok())
            .unwrap_or(counted);
        // A record after blank lines is said to start on the first of them.
        let start = start
            + body.get(start..).map_or(0, |b| {
                b.iter().take_while(|&&c| c == b'\n' || c == b'\r').count()
            });
        line += body
            .get(counted..start)
            .map_or(0, |b| b.iter().filter(|&&c| c == b'\n').count() as u64);
        counted = start.max(counted);
        lines.push(line);
        rows.push(
            record
                .iter()
                .map(|f| String::from_utf8_lossy(f).trim().to_owned())
                .collect(),
        );
    }
    if rows.is_empty() {
        return Err(ApiError::invalid(
            "the file is empty: a header row (phone or contact_id) is expected",
        ));
    }
    Ok((rows, lines))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_rows_keep_their_shape() {
        let (rows, lines) =
            read_csv(b"\xEF\xBB\xBFphone,country\n+447700900001\n\n\"07700 900002\",GB,x\n")
                .unwrap();
        assert_eq!(rows.len(), 3);
        assert_eq!(lines, vec![1, 2, 4]);
        assert_eq!(rows[0], vec!["phone", "country"]);
        assert_eq!(rows[1], vec!["+447700900001"]);
        assert_eq!(rows[2], vec!["07700 900002", "GB", "x"]);
        assert!(read_csv(b"").is_err());
    }
}

//! The composer's live counter: characters, encoding and segments of a draft and whether it fits
//! its channel, computed by `parley_core::sms` (the same rules the outbound dispatcher applies), so
//! the console never re-implements them. The console calls it on every (debounced) keystroke, so it
//! reads the channel from the engine's cache and touches no other table.

use axum::Extension;
use axum::Json;
use axum::extract::State;
use parley_core::model::ChannelKind;
use parley_core::sms::{self, SmsAnalysis};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::AppState;
use crate::auth::Caller;
use crate::error::{ApiError, ApiJson, ErrorBody};

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AnalyzeInput {
    pub channel_id: Uuid,
    /// The draft as typed.
    pub body: String,
}

/// Why a draft cannot be sent as it is.
#[derive(Debug, Serialize, ToSchema, PartialEq, Eq)]
pub struct ComposeProblem {
    /// From the error catalogue: "3004" when the body is too long.
    pub code: &'static str,
    pub message: String,
}

#[derive(Debug, Serialize, ToSchema, PartialEq, Eq)]
pub struct Analysis {
    /// Unicode scalar values (what JavaScript's `[...text].length` counts).
    pub characters: usize,
    /// The channel's character limit (SMS 840, WhatsApp 4,096, Messenger 2,000, web 4,096).
    pub limit: usize,
    /// "GSM-7" or "UCS-2" for SMS; null for other channels.
    #[schema(nullable)]
    pub encoding: Option<&'static str>,
    /// How many SMS the body is sent as (at most 6); null for other channels.
    #[schema(nullable)]
    pub segments: Option<usize>,
    /// SMS: the units the body takes, septets for GSM-7 (an extension character such as `{`,
    /// `[` or `€` takes two) and UTF-16 code units for UCS-2; null for other channels.
    #[schema(nullable)]
    pub units: Option<usize>,
    /// SMS: units still free in the current (last) segment before another one is needed
    /// (160 or 153 septets, 70 or 67 units per segment); null for other channels.
    #[schema(nullable)]
    pub units_remaining: Option<usize>,
    /// Whether the body fits the channel.
    pub ok: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<ComposeProblem>,
}

/// The figures for `body` on a channel of `kind`. Core's `check_length` decides; on a refusal the
/// SMS figures are still shown, so the agent sees how far over they are.
fn analyze(kind: ChannelKind, body: &str) -> Analysis {
    let limit = sms::max_characters(kind);
    let (characters, sms_figures, error) = match sms::check_length(kind, body) {
        Ok(fit) => (fit.characters, fit.sms, None),
        Err(e) => {
            let figures = (kind == ChannelKind::Sms).then(|| sms::analyze(body));
            let characters = figures.map_or_else(|| body.chars().count(), |a| a.characters);
            let problem = ComposeProblem {
                code: e.error_code().code(),
                message: e.to_string(),
            };
            (characters, figures, Some(problem))
        }
    };
    Analysis {
        characters,
        limit,
        encoding: sms_figures.map(|a: SmsAnalysis| a.encoding.label()),
        segments: sms_figures.map(|a| a.segments),
        units: sms_figures.map(|a| a.units),
        units_remaining: sms_figures.map(|a| a.units_remaining),
        ok: error.is_none(),
        error,
    }
}

/// Open to every signed-in role: agents compose replies and broadcasters compose broadcasts, and
/// the answer reveals nothing about customers.
#[utoipa::path(post, path = "/api/v1/compose/analyze",
    extensions(("x-permission" = json!(["send_receive", "agent_outbound", "send_one_to_many"]))), tag = "conversations", request_body = AnalyzeInput,
    responses((status = 200, body = Analysis), (status = 422, body = ErrorBody)))]
pub async fn analyze_draft(
    State(state): State<AppState>,
    Extension(_caller): Extension<Caller>,
    ApiJson(input): ApiJson<AnalyzeInput>,
) -> Result<Json<Analysis>, ApiError> {
    let channel = state
        .engine
        .channels
        .get(&state.store, input.channel_id)
        .await?
        .ok_or_else(|| ApiError::invalid(format!("channel {} does not exist", input.channel_id)))?;
    Ok(Json(analyze(channel.kind, &input.body)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn other_channels_count_characters_only() {
        let a = analyze(ChannelKind::Messenger, &"é".repeat(2001));
        assert_eq!((a.characters, a.limit, a.ok), (2001, 2000, false));
        assert_eq!((a.encoding, a.segments), (None, None));
        assert_eq!(a.error.unwrap().code, "3004");
    }

    #[test]
    fn sms_over_six_segments_keeps_its_figures() {
        let a = analyze(ChannelKind::Sms, &"😀".repeat(300));
        assert!(!a.ok);
        assert_eq!(a.encoding, Some("UCS-2"));
        assert_eq!(a.characters, 300);
        assert_eq!(a.segments, Some(10), "33 emoji per segment");
    }

    #[test]
    fn sms_counts_septets_and_what_is_left() {
        // 159 letters and a euro sign: 161 septets, so two segments of 153.
        let a = analyze(ChannelKind::Sms, &format!("{}€", "a".repeat(159)));
        assert_eq!(
            (a.characters, a.units, a.segments),
            (160, Some(161), Some(2))
        );
        assert_eq!(a.units_remaining, Some(153 * 2 - 161));
        assert_eq!(a.encoding, Some("GSM-7"));
        let a = analyze(ChannelKind::Sms, &"a".repeat(160));
        assert_eq!((a.segments, a.units_remaining), (Some(1), Some(0)));
        let a = analyze(ChannelKind::Sms, "héllo 😀");
        assert_eq!((a.encoding, a.units), (Some("UCS-2"), Some(8)));
        assert_eq!(a.units_remaining, Some(62));
        let web = analyze(ChannelKind::Web, "{[€]}");
        assert_eq!((web.units, web.units_remaining), (None, None));
    }
}

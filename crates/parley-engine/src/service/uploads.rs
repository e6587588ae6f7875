//! An agent's file from the console's composer (issue 15, AG-06): checked against the session's
//! channel media rules before it is stored (the composer checked them too, before uploading), kept
//! as a media row with an [`AgentUpload`] naming the session and the agent, and sent later by
//! its media id through the ordinary compose path, with a public link the provider fetches.

use parley_core::media::{
    MediaRefused, OutboundFile, check_outbound, files_unavailable, normalize_content_type,
    outbound_types, sniff_web_file,
};
use parley_core::{Clock, ErrorCode};
use parley_store::{AgentUpload, Channel, Session, Store, StoreError, StoredMedia};
use uuid::Uuid;

use crate::compose::{media_channel, provider_carries_files};
use crate::media::{MediaError, MediaStore};

/// What the composer may attach on a channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadRules {
    /// Each type the channel sends, with its largest size in bytes.
    pub accepts: Vec<(&'static str, u64)>,
    /// Why no file can be sent on this channel, or `None`.
    pub unavailable: Option<String>,
    /// The same as a stable code: "provider" (its provider carries no files) or "country" (MMS
    /// outside the US and Canada).
    pub unavailable_code: Option<&'static str>,
}

/// The channel's media rules as the composer checks them.
pub fn rules_for(channel: &Channel) -> UploadRules {
    let media = media_channel(channel);
    let (unavailable, unavailable_code) = if !provider_carries_files(&channel.provider) {
        (
            Some(format!(
                "this channel's provider ({}) carries no files",
                channel.provider
            )),
            Some("provider"),
        )
    } else {
        match files_unavailable(media) {
            Some(e) => (Some(e.to_string()), Some("country")),
            None => (None, None),
        }
    };
    UploadRules {
        accepts: if unavailable.is_some() {
            Vec::new()
        } else {
            outbound_types(media)
        },
        unavailable,
        unavailable_code,
    }
}

/// Records that the uploads went out with `entry_id` (their media rows follow the entry).
pub async fn mark_sent(
    store: &Store,
    media_ids: &[Uuid],
    entry_id: Uuid,
) -> Result<(), StoreError> {
    for id in media_ids {
        store.set_upload_sent(*id, entry_id).await?;
    }
    Ok(())
}

/// The largest file any channel accepts: the upload route's body limit.
pub const MAX_UPLOAD_BYTES: usize = 25_000_000;

#[derive(Debug, thiserror::Error)]
pub enum UploadError {
    /// The channel's rules refuse the file; the words name the limit.
    #[error("{reason}")]
    Refused { code: ErrorCode, reason: String },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Media(#[from] MediaError),
}

fn refused(e: MediaRefused) -> UploadError {
    UploadError::Refused {
        code: e.error_code(),
        reason: e.to_string(),
    }
}

/// Checks `bytes` against `channel`'s rules and stores them as an upload of `agent_id` for
/// `session`. The declared type must agree with the file's first bytes when they say what it is.
#[allow(clippy::too_many_arguments)]
pub async fn upload(
    store: &Store,
    media: &MediaStore,
    clock: &dyn Clock,
    session: &Session,
    channel: &Channel,
    agent_id: Option<Uuid>,
    content_type: &str,
    bytes: Vec<u8>,
) -> Result<(AgentUpload, StoredMedia), UploadError> {
    let rules = rules_for(channel);
    if let Some(reason) = rules.unavailable {
        return Err(UploadError::Refused {
            code: ErrorCode::AttachmentTypeUnsupported,
            reason,
        });
    }
    let mut declared = normalize_content_type(content_type);
    if declared == "image/jpg" {
        declared = "image/jpeg".to_owned();
    }
    if let Some(sniffed) = sniff_web_file(&bytes)
        && sniffed != declared
    {
        return Err(UploadError::Refused {
            code: ErrorCode::AttachmentTypeUnsupported,
            reason: format!("the file is {sniffed}, not {declared} as it says"),
        });
    }
    if bytes.is_empty() {
        return Err(UploadError::Refused {
            code: ErrorCode::ContentRejected,
            reason: "the file is empty".to_owned(),
        });
    }
    check_outbound(
        media_channel(channel),
        "",
        &[OutboundFile {
            content_type: &declared,
            size: Some(u64::try_from(bytes.len()).unwrap_or(u64::MAX)),
        }],
    )
    .map_err(refused)?;
    let stored = media.save(None, &declared, bytes).await?;
    let token: [u8; 24] = rand::random();
    let upload = AgentUpload {
        media_id: stored.id,
        session_id: session.id,
        agent_id,
        token: hex::encode(token),
        entry_id: None,
        created_at: clock.now().millis(),
    };
    store.create_agent_upload(&upload).await?;
    Ok((upload, stored))
}

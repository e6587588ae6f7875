//! Attachments: which files a channel carries, how large, how many, and whether text may ride
//! along (CH-30, CH-32, ERR 3002/3005/3006). Pure functions; the compose path and the dispatcher
//! both ask them, so a message refused here is refused the same way wherever it comes from.
//!
//! Outbound, per channel kind (MIME types as the providers name them; "MB" is 1,000,000 bytes):
//!
//! | kind | types | largest file |
//! |---|---|---|
//! | sms (MMS) | image/jpeg, image/png, image/gif | 1 MB (long and short codes: AT&T and T-Mobile's limit); 525 KB toll-free |
//! | whatsapp | image/jpeg, image/png | 5 MB |
//! | whatsapp | audio/aac, audio/amr | 16 MB |
//! | whatsapp | video/mp4, video/3gpp | 16 MB |
//! | whatsapp | application/pdf, text/plain, text/csv, Word, Excel, PowerPoint | 25 MB |
//! | messenger | image/jpeg, png, gif, bmp, tiff, x-xbitmap, x-xpixmap, audio/mpeg, video/mp4, application/pdf | 25 MB |
//! | web | image/jpeg, png, gif, bmp, tiff, application/pdf | 5 MB |
//!
//! Decisions where the inventory is silent or has two answers:
//!
//! - Parley has no Standard/Enhanced tiers (DESIGN.md 5): WhatsApp takes the Enhanced type list
//!   without its "sent as a link" fallback (we never degrade a file into a link), so the
//!   per-class limits are the ones Meta's Cloud API enforces on a media link. Messenger takes
//!   Meta's 25 MB (the FB Std row), not the Enhanced 10 MB.
//! - SMS: the carrier is unknown when a message is composed, so the limit is that of the two
//!   largest US carriers (1 MB), and toll-free numbers get their 525 KB. MMS exists only for US
//!   and Canadian numbers (CH-32): a channel whose country is known and is neither refuses media.
//! - One file per message on every channel (CH-32 "one file at a time"; WhatsApp and Messenger
//!   carry one attachment per message anyway). More is error 3006.
//! - Text with a file (CH-32): allowed where the provider carries both in one message (MMS body,
//!   WhatsApp caption on images, videos and documents up to 1,024 characters, web chat); refused
//!   with 3001 on Messenger (an attachment message has no text) and with WhatsApp audio (no
//!   caption). A caption too long is 3004.
//! - A file of unknown size is let through: the provider refuses it (Twilio 30019, Meta 131052
//!   map to 3005) and the entry fails with the code then.
//!
//! Inbound, the largest file Parley stores ([`inbound_max_bytes`]) is the "in" column of CH-30:
//! WhatsApp 5 MB images, 16 MB audio and video, 30 MB documents; Messenger 25 MB; web 5 MB; SMS
//! 5 MB (Twilio's own MMS limit).

use crate::error_code::ErrorCode;
use crate::model::{ChannelKind, NumberType};

const MB: u64 = 1_000_000;

/// The longest WhatsApp media caption, in characters.
pub const WHATSAPP_CAPTION_CHARS: usize = 1024;

/// The most files one outbound message may carry (CH-32).
pub const MAX_FILES: usize = 1;

/// What a file is, as far as the providers care.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MediaClass {
    Image,
    Audio,
    Video,
    Document,
}

/// The channel a file is sent on, as far as media rules care.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MediaChannel<'a> {
    pub kind: ChannelKind,
    pub number_type: Option<NumberType>,
    /// ISO 3166 alpha-2, when the channel says.
    pub country: Option<&'a str>,
}

/// One file of an outbound message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutboundFile<'a> {
    pub content_type: &'a str,
    /// Bytes, when the sender knows.
    pub size: Option<u64>,
}

/// Why a message's attachments cannot go.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MediaRefused {
    #[error("{given} files attached; a {kind} message carries at most {max}")]
    TooMany {
        kind: ChannelKind,
        given: usize,
        max: usize,
    },
    #[error("{kind} channels cannot send files of type '{content_type}'")]
    UnsupportedType {
        kind: ChannelKind,
        content_type: String,
    },
    #[error("MMS is available only for US and Canadian numbers; this channel is in {country}")]
    NotInCountry { country: String },
    #[error(
        "the file is {size} bytes; a {kind} channel sends at most {max} bytes of {content_type}"
    )]
    TooLarge {
        kind: ChannelKind,
        content_type: String,
        size: u64,
        max: u64,
    },
    #[error(
        "a {kind} message cannot carry text with a file of type '{content_type}'; send them separately"
    )]
    TextWithFile {
        kind: ChannelKind,
        content_type: String,
    },
    #[error("a caption is {chars} characters; at most {max} go with a file")]
    CaptionTooLong { chars: usize, max: usize },
}

impl MediaRefused {
    /// The catalogue code: 3002 type, 3005 size, 3006 count, 3001 text with a file, 3004 caption.
    pub const fn error_code(&self) -> ErrorCode {
        match self {
            Self::TooMany { .. } => ErrorCode::TooManyAttachments,
            Self::UnsupportedType { .. } | Self::NotInCountry { .. } => {
                ErrorCode::AttachmentTypeUnsupported
            }
            Self::TooLarge { .. } => ErrorCode::AttachmentTooLarge,
            Self::TextWithFile { .. } => ErrorCode::ContentRejected,
            Self::CaptionTooLong { .. } => ErrorCode::BodyTooLarge,
        }
    }
}

/// `Image/PNG; charset=x` -> `image/png`.
pub fn normalize_content_type(content_type: &str) -> String {
    content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase()
}

/// What class a MIME type is, when Parley knows it at all.
pub fn class_of(content_type: &str) -> Option<MediaClass> {
    let ct = normalize_content_type(content_type);
    let (top, _) = ct.split_once('/')?;
    Some(match top {
        "image" => MediaClass::Image,
        "audio" => MediaClass::Audio,
        "video" => MediaClass::Video,
        "application" | "text" => MediaClass::Document,
        _ => return None,
    })
}

/// Whether a browser may show this type inline: raster images only. SVG is left out on purpose
/// (it can carry script), so it is served as a download like any other file.
pub fn is_inline_image(content_type: &str) -> bool {
    matches!(
        normalize_content_type(content_type).as_str(),
        "image/jpeg" | "image/png" | "image/gif" | "image/bmp" | "image/webp" | "image/tiff"
    )
}

/// The type a fetched file is stored under: [`normalize_content_type`], and
/// `application/octet-stream` unless the result is a well-formed `type/subtype` (RFC 6838 names:
/// letters, digits and `!#$&-^_.+`). A provider's or customer's type never reaches a response
/// header unchecked: control characters, spaces, wildcards (`image/*`) and empty types all end
/// here.
pub fn stored_content_type(content_type: &str) -> String {
    let ct = normalize_content_type(content_type);
    let name = |s: &str| {
        (1..=127).contains(&s.len())
            && s.bytes().next().is_some_and(|b| b.is_ascii_alphanumeric())
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"!#$&-^_.+".contains(&b))
    };
    match ct.split_once('/') {
        Some((top, sub)) if name(top) && name(sub) => ct,
        _ => OCTET_STREAM.to_owned(),
    }
}

pub const OCTET_STREAM: &str = "application/octet-stream";

/// How Parley's copy of a customer's file is served from the product's own origin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServedAs {
    /// The `Content-Type` header.
    pub content_type: String,
    /// `Content-Disposition: inline`; otherwise an attachment.
    pub inline: bool,
    /// The file name's extension for an attachment, when the type is an inert document.
    pub extension: Option<&'static str>,
}

/// Files shown inline with their own type: raster images, audio and video a browser plays.
/// Nothing a browser could run or render as a page (HTML, SVG, XML, scripts) is here.
const INLINE: &[&str] = &[
    "image/jpeg",
    "image/png",
    "image/gif",
    "image/bmp",
    "image/webp",
    "image/tiff",
    "audio/mpeg",
    "audio/mp4",
    "audio/aac",
    "audio/ogg",
    "audio/amr",
    "audio/wav",
    "audio/webm",
    "video/mp4",
    "video/3gpp",
    "video/webm",
    "video/quicktime",
];

/// Document types whose downloads keep a telling extension (the type itself is not sent).
const DOCUMENT_EXTENSIONS: &[(&str, &str)] = &[
    ("application/pdf", "pdf"),
    ("text/plain", "txt"),
    ("text/csv", "csv"),
    ("application/msword", "doc"),
    (
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        "docx",
    ),
    ("application/vnd.ms-excel", "xls"),
    (
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        "xlsx",
    ),
    ("application/vnd.ms-powerpoint", "ppt"),
    (
        "application/vnd.openxmlformats-officedocument.presentationml.presentation",
        "pptx",
    ),
    ("application/zip", "zip"),
];

/// How a stored file of `content_type` is served: inline with its own type when it is on the
/// safe list, otherwise as an `application/octet-stream` attachment, so no customer's file is
/// ever interpreted by the browser as HTML, SVG or script from Parley's origin.
pub fn served_as(content_type: &str) -> ServedAs {
    let ct = stored_content_type(content_type);
    if INLINE.contains(&ct.as_str()) {
        return ServedAs {
            content_type: ct,
            inline: true,
            extension: None,
        };
    }
    ServedAs {
        content_type: OCTET_STREAM.to_owned(),
        inline: false,
        extension: DOCUMENT_EXTENSIONS
            .iter()
            .find(|(t, _)| *t == ct)
            .map(|(_, e)| *e),
    }
}

const WHATSAPP_DOCUMENTS: &[&str] = &[
    "application/pdf",
    "text/plain",
    "text/csv",
    "application/msword",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "application/vnd.ms-excel",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "application/vnd.ms-powerpoint",
    "application/vnd.openxmlformats-officedocument.presentationml.presentation",
    "application/vnd.openxmlformats-officedocument.presentationml.slideshow",
];

/// The largest outbound file of `content_type` on `channel`, or `None` when the channel cannot
/// send that type at all.
pub fn outbound_max_bytes(channel: MediaChannel<'_>, content_type: &str) -> Option<u64> {
    let ct = normalize_content_type(content_type);
    let ct = ct.as_str();
    match channel.kind {
        ChannelKind::Sms => matches!(ct, "image/jpeg" | "image/png" | "image/gif").then(|| {
            if channel.number_type == Some(NumberType::TollFree) {
                525_000
            } else {
                MB
            }
        }),
        ChannelKind::Whatsapp => match ct {
            "image/jpeg" | "image/png" => Some(5 * MB),
            "audio/aac" | "audio/amr" | "video/mp4" | "video/3gpp" => Some(16 * MB),
            _ if WHATSAPP_DOCUMENTS.contains(&ct) => Some(25 * MB),
            _ => None,
        },
        ChannelKind::Messenger => matches!(
            ct,
            "image/jpeg"
                | "image/png"
                | "image/gif"
                | "image/bmp"
                | "image/tiff"
                | "image/x-xbitmap"
                | "image/x-xpixmap"
                | "audio/mpeg"
                | "video/mp4"
                | "application/pdf"
        )
        .then_some(25 * MB),
        ChannelKind::Web => matches!(
            ct,
            "image/jpeg"
                | "image/png"
                | "image/gif"
                | "image/bmp"
                | "image/tiff"
                | "application/pdf"
        )
        .then_some(5 * MB),
    }
}

/// Every type some channel sends, the candidates of [`outbound_types`].
const OUTBOUND_CANDIDATES: &[&str] = &[
    "image/jpeg",
    "image/png",
    "image/gif",
    "image/bmp",
    "image/tiff",
    "image/x-xbitmap",
    "image/x-xpixmap",
    "audio/aac",
    "audio/amr",
    "audio/mpeg",
    "video/mp4",
    "video/3gpp",
];

/// The types `channel` sends with the largest size of each, for a composer to check a file
/// before it is uploaded (the server checks again with [`check_outbound`]).
pub fn outbound_types(channel: MediaChannel<'_>) -> Vec<(&'static str, u64)> {
    OUTBOUND_CANDIDATES
        .iter()
        .chain(WHATSAPP_DOCUMENTS)
        .filter_map(|ct| outbound_max_bytes(channel, ct).map(|max| (*ct, max)))
        .collect()
}

/// Why `channel` cannot send files at all (MMS outside the US and Canada), or `None`.
pub fn files_unavailable(channel: MediaChannel<'_>) -> Option<MediaRefused> {
    match check_outbound(
        channel,
        "",
        &[OutboundFile {
            content_type: "image/jpeg",
            size: None,
        }],
    ) {
        Err(e @ MediaRefused::NotInCountry { .. }) => Some(e),
        _ => None,
    }
}

/// The largest inbound file Parley keeps from a channel of `kind` (see the module docs).
pub fn inbound_max_bytes(kind: ChannelKind, content_type: &str) -> u64 {
    match kind {
        ChannelKind::Sms | ChannelKind::Web => 5 * MB,
        ChannelKind::Messenger => 25 * MB,
        ChannelKind::Whatsapp => match class_of(content_type) {
            Some(MediaClass::Image) => 5 * MB,
            Some(MediaClass::Audio | MediaClass::Video) => 16 * MB,
            Some(MediaClass::Document) | None => 30 * MB,
        },
    }
}

/// Whether a file of this type may carry the message's text with it on `kind`.
fn carries_text(kind: ChannelKind, content_type: &str) -> bool {
    match kind {
        ChannelKind::Sms | ChannelKind::Web => true,
        ChannelKind::Messenger => false,
        ChannelKind::Whatsapp => !matches!(class_of(content_type), Some(MediaClass::Audio)),
    }
}

/// Checks an outbound message's files (and its text next to them) against the channel's rules.
/// A message without files always passes here; its text is the length rule's business.
pub fn check_outbound(
    channel: MediaChannel<'_>,
    body: &str,
    files: &[OutboundFile<'_>],
) -> Result<(), MediaRefused> {
    if files.is_empty() {
        return Ok(());
    }
    if files.len() > MAX_FILES {
        return Err(MediaRefused::TooMany {
            kind: channel.kind,
            given: files.len(),
            max: MAX_FILES,
        });
    }
    if channel.kind == ChannelKind::Sms
        && let Some(country) = channel.country
        && !country.eq_ignore_ascii_case("US")
        && !country.eq_ignore_ascii_case("CA")
    {
        return Err(MediaRefused::NotInCountry {
            country: country.to_owned(),
        });
    }
    let has_text = !body.trim().is_empty();
    for f in files {
        let content_type = normalize_content_type(f.content_type);
        let Some(max) = outbound_max_bytes(channel, &content_type) else {
            return Err(MediaRefused::UnsupportedType {
                kind: channel.kind,
                content_type,
            });
        };
        if let Some(size) = f.size
            && size > max
        {
            return Err(MediaRefused::TooLarge {
                kind: channel.kind,
                content_type,
                size,
                max,
            });
        }
        if has_text && !carries_text(channel.kind, &content_type) {
            return Err(MediaRefused::TextWithFile {
                kind: channel.kind,
                content_type,
            });
        }
    }
    if has_text && channel.kind == ChannelKind::Whatsapp {
        let chars = body.chars().count();
        if chars > WHATSAPP_CAPTION_CHARS {
            return Err(MediaRefused::CaptionTooLong {
                chars,
                max: WHATSAPP_CAPTION_CHARS,
            });
        }
    }
    Ok(())
}

/// The web chat's file types (WEB-22: PDF, PNG, JPEG, BMP, GIF, TIFF), told by the file's first
/// bytes rather than by the type the browser claims: a renamed HTML page is none of them.
pub fn sniff_web_file(bytes: &[u8]) -> Option<&'static str> {
    const SIGNATURES: [(&[u8], &str); 8] = [
        (b"%PDF-", "application/pdf"),
        (b"\x89PNG\r\n\x1a\n", "image/png"),
        (b"\xff\xd8\xff", "image/jpeg"),
        (b"GIF87a", "image/gif"),
        (b"GIF89a", "image/gif"),
        (b"BM", "image/bmp"),
        (b"II*\0", "image/tiff"),
        (b"MM\0*", "image/tiff"),
    ];
    SIGNATURES
        .iter()
        .find(|(magic, _)| bytes.starts_with(magic))
        .map(|(_, ct)| *ct)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outbound_types_follow_the_channel_rules() {
        let ch = |kind, country| MediaChannel {
            kind,
            number_type: None,
            country,
        };
        let sms = outbound_types(ch(ChannelKind::Sms, Some("US")));
        assert_eq!(
            sms,
            vec![("image/jpeg", MB), ("image/png", MB), ("image/gif", MB)]
        );
        let wa = outbound_types(ch(ChannelKind::Whatsapp, None));
        assert!(wa.contains(&("image/png", 5 * MB)));
        assert!(wa.contains(&("application/pdf", 25 * MB)));
        assert!(!wa.iter().any(|(ct, _)| *ct == "image/gif"));
        assert!(files_unavailable(ch(ChannelKind::Sms, Some("US"))).is_none());
        assert!(matches!(
            files_unavailable(ch(ChannelKind::Sms, Some("GB"))),
            Some(MediaRefused::NotInCountry { .. })
        ));
        assert!(files_unavailable(ch(ChannelKind::Whatsapp, Some("GB"))).is_none());
    }

    #[test]
    fn web_files_are_told_by_their_first_bytes() {
        assert_eq!(sniff_web_file(b"%PDF-1.7\n"), Some("application/pdf"));
        assert_eq!(sniff_web_file(b"\x89PNG\r\n\x1a\n\0\0"), Some("image/png"));
        assert_eq!(sniff_web_file(b"\xff\xd8\xff\xe0"), Some("image/jpeg"));
        assert_eq!(sniff_web_file(b"GIF89a..."), Some("image/gif"));
        assert_eq!(sniff_web_file(b"BM...."), Some("image/bmp"));
        assert_eq!(sniff_web_file(b"II*\0...."), Some("image/tiff"));
        assert_eq!(sniff_web_file(b"MM\0*...."), Some("image/tiff"));
        assert_eq!(sniff_web_file(b"<html><script>"), None);
        assert_eq!(sniff_web_file(b""), None);
    }
    use proptest::prelude::*;

    fn ch(kind: ChannelKind) -> MediaChannel<'static> {
        MediaChannel {
            kind,
            number_type: None,
            country: None,
        }
    }

    fn file(content_type: &str, size: Option<u64>) -> OutboundFile<'_> {
        OutboundFile { content_type, size }
    }

    #[test]
    fn no_files_always_pass() {
        for kind in ChannelKind::ALL {
            assert_eq!(check_outbound(ch(*kind), "hello", &[]), Ok(()));
        }
    }

    #[test]
    fn one_file_per_message() {
        let two = [file("image/png", None), file("image/png", None)];
        let e = check_outbound(ch(ChannelKind::Sms), "", &two).unwrap_err();
        assert_eq!(e.error_code().code(), "3006");
    }

    #[test]
    fn sms_takes_images_only_within_the_carrier_limit() {
        let sms = MediaChannel {
            number_type: Some(NumberType::LongCode),
            country: Some("US"),
            ..ch(ChannelKind::Sms)
        };
        assert_eq!(
            check_outbound(sms, "look", &[file("image/jpeg", Some(MB))]),
            Ok(())
        );
        let big = check_outbound(sms, "", &[file("image/jpeg", Some(MB + 1))]).unwrap_err();
        assert_eq!(big.error_code().code(), "3005");
        let pdf = check_outbound(sms, "", &[file("application/pdf", Some(10))]).unwrap_err();
        assert_eq!(pdf.error_code().code(), "3002");
        let toll_free = MediaChannel {
            number_type: Some(NumberType::TollFree),
            ..sms
        };
        assert_eq!(
            check_outbound(toll_free, "", &[file("image/png", Some(600_000))])
                .unwrap_err()
                .error_code(),
            ErrorCode::AttachmentTooLarge
        );
        assert_eq!(
            check_outbound(toll_free, "", &[file("image/png", Some(525_000))]),
            Ok(())
        );
    }

    #[test]
    fn mms_only_in_us_and_canada() {
        for (country, ok) in [
            (Some("US"), true),
            (Some("ca"), true),
            (None, true),
            (Some("GB"), false),
        ] {
            let c = MediaChannel {
                country,
                ..ch(ChannelKind::Sms)
            };
            let r = check_outbound(c, "", &[file("image/png", None)]);
            assert_eq!(r.is_ok(), ok, "{country:?}");
            if let Err(e) = r {
                assert_eq!(e.error_code(), ErrorCode::AttachmentTypeUnsupported);
            }
        }
    }

    #[test]
    fn whatsapp_limits_by_class_and_captions() {
        let wa = ch(ChannelKind::Whatsapp);
        assert_eq!(
            check_outbound(wa, "caption", &[file("image/png", Some(5 * MB))]),
            Ok(())
        );
        assert_eq!(
            check_outbound(wa, "", &[file("image/png", Some(5 * MB + 1))])
                .unwrap_err()
                .error_code(),
            ErrorCode::AttachmentTooLarge
        );
        assert_eq!(
            check_outbound(wa, "", &[file("application/pdf", Some(25 * MB))]),
            Ok(())
        );
        assert_eq!(
            check_outbound(wa, "", &[file("image/gif", None)])
                .unwrap_err()
                .error_code(),
            ErrorCode::AttachmentTypeUnsupported
        );
        assert_eq!(
            check_outbound(wa, "hi", &[file("audio/aac", None)])
                .unwrap_err()
                .error_code(),
            ErrorCode::ContentRejected
        );
        assert_eq!(check_outbound(wa, "  ", &[file("audio/aac", None)]), Ok(()));
        let long = "x".repeat(WHATSAPP_CAPTION_CHARS + 1);
        assert_eq!(
            check_outbound(wa, &long, &[file("image/jpeg", None)])
                .unwrap_err()
                .error_code(),
            ErrorCode::BodyTooLarge
        );
    }

    #[test]
    fn messenger_attachments_carry_no_text() {
        let fb = ch(ChannelKind::Messenger);
        assert_eq!(check_outbound(fb, "", &[file("video/mp4", None)]), Ok(()));
        assert_eq!(
            check_outbound(fb, "and text", &[file("video/mp4", None)])
                .unwrap_err()
                .error_code(),
            ErrorCode::ContentRejected
        );
    }

    #[test]
    fn content_types_are_normalized() {
        assert_eq!(normalize_content_type(" Image/PNG ; q=1"), "image/png");
        assert_eq!(
            check_outbound(ch(ChannelKind::Web), "", &[file("IMAGE/GIF", None)]),
            Ok(())
        );
        assert_eq!(class_of("application/pdf"), Some(MediaClass::Document));
        assert_eq!(class_of("nonsense"), None);
        assert!(is_inline_image("image/jpeg"));
        assert!(!is_inline_image("image/svg+xml"));
        assert!(!is_inline_image("text/html"));
    }

    #[test]
    fn stored_types_are_well_formed() {
        assert_eq!(stored_content_type("Image/PNG; charset=x"), "image/png");
        assert_eq!(
            stored_content_type("application/vnd.ms-excel"),
            "application/vnd.ms-excel"
        );
        assert_eq!(stored_content_type("image/svg+xml"), "image/svg+xml");
        for bad in [
            "",
            "image",
            "image/*",
            "text/html\u{1}",
            "text/ht ml",
            "image/png\r\nSet-Cookie: a=b",
            "/png",
            "image/",
            "ïmage/png",
        ] {
            assert_eq!(stored_content_type(bad), OCTET_STREAM, "{bad:?}");
        }
    }

    #[test]
    fn only_safe_types_are_served_inline() {
        let png = served_as("image/png");
        assert!(png.inline);
        assert_eq!(png.content_type, "image/png");
        assert!(served_as("video/mp4").inline);
        assert!(served_as("audio/mpeg").inline);
        for risky in [
            "text/html",
            "image/svg+xml",
            "application/xhtml+xml",
            "text/xml",
            "application/xml",
            "application/javascript",
            "text/javascript",
            "application/x-shockwave-flash",
            "text/html\u{7}",
            "application/pdf",
            "something/unknown",
        ] {
            let s = served_as(risky);
            assert!(!s.inline, "{risky}");
            assert_eq!(s.content_type, OCTET_STREAM, "{risky}");
        }
        assert_eq!(served_as("application/pdf").extension, Some("pdf"));
        assert_eq!(served_as("text/html").extension, None);
        assert_eq!(served_as("image/svg+xml").extension, None);
    }

    #[test]
    fn inbound_limits() {
        assert_eq!(
            inbound_max_bytes(ChannelKind::Whatsapp, "image/jpeg"),
            5 * MB
        );
        assert_eq!(
            inbound_max_bytes(ChannelKind::Whatsapp, "video/mp4"),
            16 * MB
        );
        assert_eq!(
            inbound_max_bytes(ChannelKind::Whatsapp, "application/zip"),
            30 * MB
        );
        assert_eq!(
            inbound_max_bytes(ChannelKind::Messenger, "image/png"),
            25 * MB
        );
        assert_eq!(inbound_max_bytes(ChannelKind::Sms, "image/png"), 5 * MB);
    }

    fn any_kind() -> impl Strategy<Value = ChannelKind> {
        prop_oneof![
            Just(ChannelKind::Sms),
            Just(ChannelKind::Whatsapp),
            Just(ChannelKind::Messenger),
            Just(ChannelKind::Web)
        ]
    }

    proptest! {
        #[test]
        fn a_smaller_file_passes_when_a_larger_one_does(
            kind in any_kind(),
            ct in prop_oneof![Just("image/png"), Just("image/jpeg"), Just("application/pdf"), Just("video/mp4")],
            size in 0u64..40 * MB,
            smaller_by in 0u64..40 * MB,
        ) {
            let c = ch(kind);
            if check_outbound(c, "", &[file(ct, Some(size))]).is_ok() {
                prop_assert!(check_outbound(c, "", &[file(ct, Some(size.saturating_sub(smaller_by)))]).is_ok());
            }
        }

        #[test]
        fn refusals_carry_a_content_code(
            kind in any_kind(),
            ct in "[a-z]{1,8}/[a-z0-9.+-]{1,12}",
            size in proptest::option::of(0u64..100 * MB),
            n in 0usize..4,
            body in ".{0,40}",
        ) {
            let files: Vec<_> = (0..n).map(|_| file(&ct, size)).collect();
            if let Err(e) = check_outbound(ch(kind), &body, &files) {
                prop_assert!(e.error_code().code().starts_with('3'));
            }
        }
    }
}

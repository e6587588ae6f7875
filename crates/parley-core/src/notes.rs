//! Internal notes and tags (issue 15): what a note's text and a set of tags may be, and who may
//! read a whisper. Notes are for agents only; these rules never see a customer.

use uuid::Uuid;

/// Longest note, in characters.
pub const MAX_NOTE_CHARS: usize = 4000;
/// Longest tag, in characters (after trimming).
pub const MAX_TAG_CHARS: usize = 40;
/// Most tags on one session or contact.
pub const MAX_TAGS: usize = 20;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NoteRuleError {
    #[error("body: write the note (at most {MAX_NOTE_CHARS} characters)")]
    EmptyBody,
    #[error("body: at most {MAX_NOTE_CHARS} characters ({0} given)")]
    LongBody(usize),
    #[error("tags: at most {MAX_TAGS} tags ({0} given)")]
    TooManyTags(usize),
    #[error("tags: a tag has 1 to {MAX_TAG_CHARS} characters (“{0}” has {1})")]
    BadTag(String, usize),
}

/// The note's text as stored: as written, refused when blank or too long. Leading and trailing
/// blank lines go; the agent's own layout inside stays.
pub fn note_body(text: &str) -> Result<String, NoteRuleError> {
    let t = text
        .trim_matches(|c: char| c == '\n' || c == '\r')
        .trim_end();
    if t.trim().is_empty() {
        return Err(NoteRuleError::EmptyBody);
    }
    let n = t.chars().count();
    if n > MAX_NOTE_CHARS {
        return Err(NoteRuleError::LongBody(n));
    }
    Ok(t.to_owned())
}

/// One tag as stored: trimmed, inner whitespace runs as one space, lower case.
pub fn normalize_tag(tag: &str) -> String {
    tag.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase()
}

/// A set of tags as stored: each normalized, duplicates once, in the order first given.
pub fn normalize_tags(tags: &[String]) -> Result<Vec<String>, NoteRuleError> {
    let mut out: Vec<String> = Vec::with_capacity(tags.len());
    for raw in tags {
        let tag = normalize_tag(raw);
        let n = tag.chars().count();
        if n == 0 || n > MAX_TAG_CHARS {
            return Err(NoteRuleError::BadTag(raw.clone(), n));
        }
        if !out.contains(&tag) {
            out.push(tag);
        }
    }
    if out.len() > MAX_TAGS {
        return Err(NoteRuleError::TooManyTags(out.len()));
    }
    Ok(out)
}

/// Who reads a person's notes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NoteReader {
    /// The agent reading, if an agent is.
    pub agent_id: Option<Uuid>,
    /// Holds `supervise` (supervisors and admins): reads every whisper.
    pub supervises: bool,
}

/// Whether `reader` may read a note whispered to `whisper_to` (`None`: a plain note, which every
/// reader of the conversation reads).
pub fn may_read(reader: NoteReader, whisper_to: Option<Uuid>) -> bool {
    match whisper_to {
        None => true,
        Some(to) => reader.supervises || reader.agent_id == Some(to),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn a_note_is_one_to_four_thousand_characters() {
        assert_eq!(note_body("  \n "), Err(NoteRuleError::EmptyBody));
        assert_eq!(
            note_body("\nCalled back, no answer\n").unwrap(),
            "Called back, no answer"
        );
        assert!(note_body(&"é".repeat(4000)).is_ok());
        assert_eq!(
            note_body(&"é".repeat(4001)),
            Err(NoteRuleError::LongBody(4001))
        );
    }

    #[test]
    fn tags_are_trimmed_lowered_and_once() {
        let got =
            normalize_tags(&["  VIP ".into(), "vip".into(), "Billing  Issue".into()]).unwrap();
        assert_eq!(got, vec!["vip", "billing issue"]);
        assert!(matches!(
            normalize_tags(&["  ".into()]),
            Err(NoteRuleError::BadTag(..))
        ));
        assert!(matches!(
            normalize_tags(&["x".repeat(41)]),
            Err(NoteRuleError::BadTag(_, 41))
        ));
        let many: Vec<String> = (0..21).map(|i| format!("t{i}")).collect();
        assert_eq!(normalize_tags(&many), Err(NoteRuleError::TooManyTags(21)));
        assert!(normalize_tags(&many[..20]).is_ok());
    }

    #[test]
    fn a_whisper_reaches_its_agent_and_supervisors_only() {
        let ana = Uuid::from_u128(1);
        let ben = Uuid::from_u128(2);
        let agent = |id| NoteReader {
            agent_id: Some(id),
            supervises: false,
        };
        assert!(may_read(agent(ben), None));
        assert!(may_read(agent(ana), Some(ana)));
        assert!(!may_read(agent(ben), Some(ana)));
        assert!(!may_read(
            NoteReader {
                agent_id: None,
                supervises: false
            },
            Some(ana)
        ));
        assert!(may_read(
            NoteReader {
                agent_id: Some(ben),
                supervises: true
            },
            Some(ana)
        ));
    }

    proptest! {
        #[test]
        fn normalizing_is_idempotent(tags in proptest::collection::vec("[ a-zA-Z0-9À-ÿ]{0,50}", 0..25)) {
            if let Ok(once) = normalize_tags(&tags) {
                prop_assert_eq!(normalize_tags(&once).unwrap(), once.clone());
                for t in &once {
                    prop_assert_eq!(t.trim(), t.as_str());
                    prop_assert!(!t.is_empty() && t.chars().count() <= MAX_TAG_CHARS);
                }
                prop_assert!(once.len() <= MAX_TAGS);
            }
        }
    }
}

use thiserror::Error;

/// What can go wrong in storage, in terms a caller can act on.
///
/// Constraint failures never carry the database's own text: SQLite and PostgreSQL word them
/// differently, and they name tables and indexes that are no business of a client. They are
/// turned here into one sentence per rule, the same on both backends.
#[derive(Debug, Error)]
pub enum StoreError {
    #[error("{entity} not found")]
    NotFound { entity: &'static str },
    /// A uniqueness rule was broken (a name or address already in use). The text is a sentence
    /// for people naming the resource, e.g. "a queue with this name already exists".
    #[error("conflict: {0}")]
    Conflict(String),
    /// A row changed since it was read (a flow run another worker advanced): read it again and
    /// decide again. Not a refusal: the same write can pass on the next try.
    #[error("changed since read: {0}")]
    Stale(String),
    /// A reference points at something that does not exist, or a check failed.
    #[error("invalid reference or value: {0}")]
    Invalid(String),
    /// A stored value that this version cannot read (for example an unknown enum name).
    #[error("stored data is unreadable: {0}")]
    Corrupt(String),
    #[error("database error: {0}")]
    Database(#[source] sqlx::Error),
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// Encryption keys: a sealed value that no configured key opens, a key missing or not the
    /// one the database was sealed with. The text tells an operator what to configure.
    #[error("{0}")]
    Keys(String),
    #[error("unsupported database URL '{0}': expected sqlite:// or postgres://")]
    UnsupportedUrl(String),
}

impl StoreError {
    /// Whether the database refused the values themselves (a constraint, a character or value it
    /// does not take), so sending the same rows again fails the same way; anything else
    /// (unreachable, timed out, busy, a deadlock) may pass on a retry.
    pub fn is_refusal(&self) -> bool {
        match self {
            Self::Conflict(_) | Self::Invalid(_) | Self::Corrupt(_) => true,
            Self::Database(sqlx::Error::Database(db)) => {
                db.code().is_some_and(|c| refusal_code(&c))
            }
            Self::Database(sqlx::Error::Encode(_)) => true,
            _ => false,
        }
    }

    pub(crate) fn not_found(entity: &'static str) -> Self {
        Self::NotFound { entity }
    }
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        use sqlx::error::ErrorKind;
        match &e {
            sqlx::Error::Database(db) => {
                // Both the constraint name (PostgreSQL) and the message (SQLite names the
                // columns or the index there) are searched for the rule that was broken.
                let hint = format!(
                    "{} {} {}",
                    db.table().unwrap_or_default(),
                    db.constraint().unwrap_or_default(),
                    db.message()
                );
                match db.kind() {
                    ErrorKind::UniqueViolation => {
                        tracing::debug!(error = %db.message(), "unique violation");
                        Self::Conflict(unique_rule(&hint).to_owned())
                    }
                    ErrorKind::ForeignKeyViolation => {
                        tracing::debug!(error = %db.message(), "foreign key violation");
                        Self::Invalid(
                            "a referenced item does not exist, or the item is still in use"
                                .to_owned(),
                        )
                    }
                    ErrorKind::NotNullViolation => {
                        Self::Invalid("a required value is missing".to_owned())
                    }
                    ErrorKind::CheckViolation => {
                        Self::Invalid("a value is outside what is allowed".to_owned())
                    }
                    _ => Self::Database(e),
                }
            }
            sqlx::Error::ColumnDecode { .. } | sqlx::Error::Decode(_) => {
                Self::Corrupt(e.to_string())
            }
            _ => Self::Database(e),
        }
    }
}

/// Whether a database error code is a refusal of the data: PostgreSQL's SQLSTATE classes 22
/// (data exception, such as 22021 for a NUL in text) and 23 (integrity constraint); SQLite's
/// primary result codes 18 (too big), 19 (constraint, including a trigger's RAISE) and 20
/// (datatype mismatch), which it reports as extended codes whose low byte is the primary one.
/// A SQLSTATE always has five characters; SQLite's codes have at most four digits.
fn refusal_code(code: &str) -> bool {
    if code.len() == 5 {
        return code.starts_with("22") || code.starts_with("23");
    }
    code.parse::<u32>()
        .is_ok_and(|n| matches!(n & 0xff, 18..=20))
}

/// The sentence for a broken uniqueness rule, from the table and constraint named in the
/// database's report. Each entry is (words that identify the rule, sentence); the first match
/// wins, so rules of one table with more specific words come first.
fn unique_rule(hint: &str) -> &'static str {
    const RULES: &[(&[&str], &str)] = &[
        (
            &["web_deployments"],
            "a web deployment with this name already exists",
        ),
        (
            &["web_keyset_keys"],
            "this keyset already has a key with this kid",
        ),
        (&["web_keysets"], "a keyset with this name already exists"),
        (
            &["channels_address"],
            "a channel with this kind, address and provider keyword already exists",
        ),
        (&["channels"], "a channel with this name already exists"),
        (&["queues"], "a queue with this name already exists"),
        (&["skills"], "a skill with this name already exists"),
        (&["agents"], "an agent with this email already exists"),
        (
            &["templates"],
            "a template with this name and language already exists on this channel",
        ),
        (
            &["keyword_sets"],
            "this channel already has a keyword set for this language",
        ),
        (
            &["messaging_users"],
            "a messaging user with this platform key already exists on this channel",
        ),
        (
            &["sessions_one_open", "sessions"],
            "this messaging user already has an open session",
        ),
        (
            &["sms_processes"],
            "an SMS process of this type already exists for this number and provider keyword",
        ),
        (&["api_tokens"], "this token already exists"),
        (&["segments"], "a segment with this name already exists"),
        (&["audience_lists"], "a list with this name already exists"),
        (
            &["campaign_messages"],
            "this recipient already has a message of this campaign",
        ),
        (&["jobs"], "this job is already queued"),
    ];
    RULES
        .iter()
        .find(|(words, _)| words.iter().any(|w| hint.contains(w)))
        .map_or(
            "an item with the same unique values already exists",
            |(_, s)| s,
        )
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::{refusal_code, unique_rule};

    #[test]
    fn refusals_are_told_from_failures_on_both_dialects() {
        for code in [
            "22021", "22P05", "23514", "23505", "19", "1811", "2067", "787", "20", "18",
        ] {
            assert!(refusal_code(code), "{code}");
        }
        for code in [
            "40001", "57P01", "08006", "53300", "5", "517", "10", "3338", "13",
        ] {
            assert!(!refusal_code(code), "{code}");
        }
    }

    #[test]
    fn both_dialects_name_the_same_rule() {
        // SQLite names columns or the index; PostgreSQL gives the table and constraint.
        let sqlite = "  UNIQUE constraint failed: queues.name";
        let pg = "queues queues_name_key duplicate key value violates unique constraint \"queues_name_key\"";
        assert_eq!(unique_rule(sqlite), unique_rule(pg));
        let sqlite = "  UNIQUE constraint failed: index 'channels_address'";
        let pg = "channels channels_address duplicate key value violates unique constraint \"channels_address\"";
        assert_eq!(unique_rule(sqlite), unique_rule(pg));
        assert_ne!(
            unique_rule("  UNIQUE constraint failed: channels.name"),
            unique_rule(sqlite)
        );
    }
}

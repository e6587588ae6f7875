//! Importing messaging users from a table (MU-04 path 2, `parley import messaging-users`): one
//! row per person per channel with their consent. Every row is checked before anything is written;
//! bad rows are reported with their line numbers and the good ones are imported all the same, in
//! transactions of [`BATCH_ROWS`] rows. A new user is created with its consent and a consent
//! history row; an existing one (same channel and platform key) is updated only where the file
//! differs, so importing the same file twice changes nothing the second time.
//!
//! The table arrives already split into fields (the CLI reads CSV); this module knows the columns,
//! the rules for each value come from `parley-core`.

use std::collections::HashMap;

use parley_core::model::{ChannelKind, ConsentSource, ConsentStatus};
use parley_core::{Clock, new_id};
use parley_store::{
    Channel, ConsentChange, ConsentOrigin, MessagingUser, PageRequest, ProfileMerge, Store,
    StoreError, UserImportBatch, UserInsert, UserUpdate,
};
use uuid::Uuid;

/// Rows written per transaction.
pub const BATCH_ROWS: usize = 1_000;

/// Times a batch is read and decided again when a user changed under it before it is given up.
const ATTEMPTS: usize = 3;

/// The columns of an import file, by header name (case, spaces, `_` and `-` do not matter).
pub const COLUMN_HELP: &str = "\
Columns (a header row names them; case does not matter; other columns are ignored):
  channel         the channel's name or id (required)
  platform_key    the person's key on that channel: an E.164 phone number on SMS and WhatsApp
                  channels (\"+1 (415) 555-2671\" is read as +14155552671), the page-scoped or
                  web user id on Messenger and web channels (required)
  consent_status  DoublyOptedIn, ExplicitlyOptedIn, ImplicitlyOptedIn or OptedOut (required)
  first_name      optional
  last_name       optional; with first_name it makes the messaging user's name
  locale          optional, e.g. en or fr-CA
  tags            optional: the person's tags, separated by ; (replace the ones they had)
  attr:<name>     optional, any number: custom attribute <name> (letters, digits, _), which
                  segments filter on and campaigns merge as {{ attributes.<name> }}; an empty
                  cell leaves the attribute as it was";

const MAX_NAME_CHARS: usize = 200;
const MAX_LOCALE_CHARS: usize = 35;

/// Why a file cannot be imported at all (as opposed to a bad row, which is only reported).
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("{0}")]
    Header(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Where each column is in a row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Columns {
    channel: usize,
    platform_key: usize,
    consent_status: usize,
    first_name: Option<usize>,
    last_name: Option<usize>,
    locale: Option<usize>,
    tags: Option<usize>,
    /// Custom attribute columns (`attr:<name>`): where, and the attribute's name.
    attributes: Vec<(usize, String)>,
}

/// Tags a person may have, and the longest tag.
const MAX_TAGS: usize = 50;
const MAX_TAG_CHARS: usize = 64;

/// The attribute a header names (`attr:tier`, `attribute:tier`, `attributes.tier`), if any.
fn attribute_column(header: &str) -> Option<Result<String, String>> {
    let h = header.trim_start_matches('\u{feff}').trim();
    let lower = h.to_ascii_lowercase();
    let rest = ["attr:", "attribute:", "attributes."]
        .iter()
        .find_map(|p| {
            lower
                .starts_with(p)
                .then(|| h.get(p.len()..).unwrap_or("").trim())
        })?;
    let ok = !rest.is_empty()
        && rest.len() <= 64
        && rest.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    Some(if ok {
        Ok(rest.to_owned())
    } else {
        Err(format!(
            "column '{h}': an attribute's name is 1 to 64 letters, digits or _"
        ))
    })
}

fn column_key(name: &str) -> String {
    name.trim_start_matches('\u{feff}')
        .chars()
        .filter(|c| !matches!(c, ' ' | '_' | '-'))
        .flat_map(char::to_lowercase)
        .collect()
}

impl Columns {
    /// Finds the columns in a header row. A required column missing, or any known column named
    /// twice, makes the whole file unusable.
    pub fn from_header<S: AsRef<str>>(header: &[S]) -> Result<Self, ImportError> {
        let mut found: HashMap<&'static str, usize> = HashMap::new();
        let known = [
            ("channel", "channel"),
            ("platformkey", "platform_key"),
            ("consentstatus", "consent_status"),
            ("firstname", "first_name"),
            ("lastname", "last_name"),
            ("locale", "locale"),
            ("tags", "tags"),
        ];
        let mut attributes: Vec<(usize, String)> = Vec::new();
        for (i, h) in header.iter().enumerate() {
            if let Some(name) = attribute_column(h.as_ref()) {
                let name = name.map_err(ImportError::Header)?;
                if attributes.iter().any(|(_, n)| *n == name) {
                    return Err(ImportError::Header(format!(
                        "the header names attribute {name} twice"
                    )));
                }
                attributes.push((i, name));
                continue;
            }
            let key = column_key(h.as_ref());
            if let Some((_, name)) = known.iter().find(|(k, _)| *k == key)
                && found.insert(name, i).is_some()
            {
                return Err(ImportError::Header(format!(
                    "the header names column {name} twice"
                )));
            }
        }
        let required = ["channel", "platform_key", "consent_status"];
        let missing: Vec<&str> = required
            .iter()
            .copied()
            .filter(|n| !found.contains_key(n))
            .collect();
        let (Some(&channel), Some(&platform_key), Some(&consent_status)) = (
            found.get("channel"),
            found.get("platform_key"),
            found.get("consent_status"),
        ) else {
            let have: Vec<&str> = header.iter().map(AsRef::as_ref).collect();
            return Err(ImportError::Header(format!(
                "missing required column(s) {} (the header has: {})",
                missing.join(", "),
                have.join(", ")
            )));
        };
        Ok(Self {
            channel,
            platform_key,
            consent_status,
            first_name: found.get("first_name").copied(),
            last_name: found.get("last_name").copied(),
            locale: found.get("locale").copied(),
            tags: found.get("tags").copied(),
            attributes,
        })
    }
}

/// One row of the file as read, with the line it starts on (the header is line 1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportRecord {
    pub line: u64,
    pub fields: Vec<String>,
    /// Set when the reader could not read the row as it should (for example not UTF-8); the row
    /// is rejected with this reason.
    pub unreadable: Option<String>,
}

impl ImportRecord {
    pub fn new(line: u64, fields: Vec<String>) -> Self {
        Self {
            line,
            fields,
            unreadable: None,
        }
    }
}

/// A whole file: its name (named in each consent history row), header and rows.
#[derive(Debug, Clone)]
pub struct ImportFile {
    pub name: String,
    pub header: Vec<String>,
    pub records: Vec<ImportRecord>,
}

/// A row that was not imported, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RejectedRow {
    pub line: u64,
    pub fields: Vec<String>,
    pub reason: String,
}

/// What an import did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImportReport {
    pub created: u64,
    pub updated: u64,
    pub unchanged: u64,
    /// In line order.
    pub rejected: Vec<RejectedRow>,
}

impl ImportReport {
    /// `created 3, updated 1, unchanged 0, rejected 2`
    pub fn summary(&self) -> String {
        format!(
            "created {}, updated {}, unchanged {}, rejected {}",
            self.created,
            self.updated,
            self.unchanged,
            self.rejected.len()
        )
    }
}

/// How far an import is: `done` of `total` good rows written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    pub done: u64,
    pub total: u64,
}

/// A row that passed every check.
#[derive(Debug, Clone, PartialEq, Eq)]
struct ValidRow {
    line: u64,
    channel_id: Uuid,
    platform_key: String,
    consent: ConsentStatus,
    name: Option<String>,
    locale: Option<String>,
    /// The tags, when the file has a tags column and this row fills it.
    tags: Option<Vec<String>>,
    /// The attributes this row sets.
    attributes: serde_json::Map<String, serde_json::Value>,
}

/// The channels a row may name, by id and by name.
struct ChannelIndex {
    by_id: HashMap<Uuid, Channel>,
    by_name: HashMap<String, Uuid>,
}

impl ChannelIndex {
    async fn load(store: &Store) -> Result<Self, StoreError> {
        let mut by_id = HashMap::new();
        let mut by_name = HashMap::new();
        let mut after = None;
        loop {
            let page = store
                .list_channels(PageRequest::new(after, PageRequest::MAX_LIMIT))
                .await?;
            for c in page.items {
                by_name.insert(c.name.clone(), c.id);
                by_id.insert(c.id, c);
            }
            match page.next {
                Some(next) => after = Some(next),
                None => break,
            }
        }
        Ok(Self { by_id, by_name })
    }

    fn find(&self, value: &str) -> Option<&Channel> {
        let id = match value.parse::<Uuid>() {
            Ok(id) if self.by_id.contains_key(&id) => Some(id),
            _ => self.by_name.get(value).copied(),
        };
        id.and_then(|id| self.by_id.get(&id))
    }
}

fn field(record: &ImportRecord, column: Option<usize>) -> Option<&str> {
    column
        .and_then(|i| record.fields.get(i))
        .map(|s| s.trim())
        .filter(|s| !s.is_empty())
}

/// The platform key as stored: E.164 on phone channels, the trimmed id elsewhere.
fn platform_key(kind: ChannelKind, value: &str) -> Result<String, String> {
    parley_core::channel::platform_key(kind, value, parley_core::channel::KeySource::Person)
        .map_err(|e| format!("platform_key: {e}"))
}

/// Checks one row, naming every problem it has.
fn validate(
    record: &ImportRecord,
    cols: &Columns,
    channels: &ChannelIndex,
) -> Result<ValidRow, String> {
    if let Some(why) = &record.unreadable {
        return Err(why.clone());
    }
    let mut problems = Vec::new();
    let channel = match field(record, Some(cols.channel)) {
        None => {
            problems.push("missing channel".to_owned());
            None
        }
        Some(v) => {
            let c = channels.find(v);
            if c.is_none() {
                problems.push(format!("unknown channel '{v}'"));
            }
            c
        }
    };
    let key = match (field(record, Some(cols.platform_key)), channel) {
        (None, _) => {
            problems.push("missing platform_key".to_owned());
            None
        }
        (Some(_), None) => None,
        (Some(v), Some(c)) => platform_key(c.kind, v).map_err(|e| problems.push(e)).ok(),
    };
    let consent = match field(record, Some(cols.consent_status)) {
        None => {
            problems.push("missing consent_status".to_owned());
            None
        }
        Some(v) => v
            .parse::<ConsentStatus>()
            .map_err(|e| problems.push(format!("consent_status: {}", e.to_string().trim_end())))
            .ok(),
    };
    let first = field(record, cols.first_name);
    let last = field(record, cols.last_name);
    let name = match (first, last) {
        (None, None) => None,
        (Some(f), None) => Some(f.to_owned()),
        (None, Some(l)) => Some(l.to_owned()),
        (Some(f), Some(l)) => Some(format!("{f} {l}")),
    };
    if name
        .as_ref()
        .is_some_and(|n| n.chars().count() > MAX_NAME_CHARS)
    {
        problems.push(format!("name: at most {MAX_NAME_CHARS} characters"));
    }
    let locale = field(record, cols.locale);
    if let Some(l) = locale {
        let ok = l.chars().count() <= MAX_LOCALE_CHARS
            && l.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        if !ok {
            problems.push(format!(
                "locale '{l}': expected a language tag such as en or fr-CA"
            ));
        }
    }
    let tags = field(record, cols.tags).map(|v| {
        let mut tags: Vec<String> = Vec::new();
        for t in v.split(';').map(str::trim).filter(|t| !t.is_empty()) {
            if !tags.iter().any(|have| have == t) {
                tags.push(t.to_owned());
            }
        }
        tags
    });
    if let Some(t) = &tags {
        if t.len() > MAX_TAGS {
            problems.push(format!("tags: at most {MAX_TAGS}"));
        }
        if let Some(long) = t.iter().find(|t| t.chars().count() > MAX_TAG_CHARS) {
            problems.push(format!("tag '{long}': at most {MAX_TAG_CHARS} characters"));
        }
    }
    let attributes: serde_json::Map<String, serde_json::Value> = cols
        .attributes
        .iter()
        .filter_map(|(i, name)| {
            field(record, Some(*i)).map(|v| (name.clone(), serde_json::Value::from(v)))
        })
        .collect();
    match (channel, key, consent) {
        (Some(c), Some(platform_key), Some(consent)) if problems.is_empty() => Ok(ValidRow {
            line: record.line,
            channel_id: c.id,
            platform_key,
            consent,
            name,
            locale: locale.map(str::to_owned),
            tags,
            attributes,
        }),
        _ => Err(problems.join("; ")),
    }
}

/// What to do with one valid row given the user that has its key, if any.
#[derive(Debug, Clone, PartialEq)]
enum Change {
    Create(UserInsert),
    Update(UserUpdate, Option<ConsentChange>),
    Unchanged,
}

fn plan_row(row: &ValidRow, existing: Option<&MessagingUser>) -> Change {
    let Some(u) = existing else {
        return Change::Create(UserInsert {
            id: new_id(),
            channel_id: row.channel_id,
            platform_key: row.platform_key.clone(),
            name: row.name.clone().unwrap_or_default(),
            locale: row.locale.clone(),
            consent_status: Some(row.consent),
            contact_id: None,
        });
    };
    let name = row.name.as_ref().unwrap_or(&u.name);
    let locale = row.locale.as_ref().or(u.locale.as_ref());
    let consent_changed = u.consent_status != Some(row.consent);
    if !consent_changed && *name == u.name && locale == u.locale.as_ref() {
        return Change::Unchanged;
    }
    let history = consent_changed.then_some(ConsentChange {
        messaging_user_id: u.id,
        from: u.consent_status,
        to: row.consent,
    });
    Change::Update(
        UserUpdate {
            id: u.id,
            seen_updated_at: u.updated_at,
            name: name.clone(),
            locale: locale.cloned(),
            consent_status: Some(row.consent),
        },
        history,
    )
}

#[derive(Debug, Default, Clone, Copy)]
struct Counts {
    created: u64,
    updated: u64,
    unchanged: u64,
}

/// Reads the users one batch names, decides, writes; again from the read if a user changed in
/// between (someone messaged, an agent changed a consent).
async fn import_batch(
    store: &Store,
    clock: &dyn Clock,
    rows: &[ValidRow],
    origin: &ConsentOrigin,
) -> Result<Counts, StoreError> {
    let mut attempt = 1;
    loop {
        let mut keys: HashMap<Uuid, Vec<String>> = HashMap::new();
        for r in rows {
            keys.entry(r.channel_id)
                .or_default()
                .push(r.platform_key.clone());
        }
        let mut existing: HashMap<(Uuid, String), MessagingUser> = HashMap::new();
        for (channel_id, keys) in &keys {
            for u in store.messaging_users_by_keys(*channel_id, keys).await? {
                existing.insert((u.channel_id, u.platform_key.clone()), u);
            }
        }
        let mut batch = UserImportBatch {
            creates: Vec::new(),
            updates: Vec::new(),
            consent: Vec::new(),
            profiles: Vec::new(),
            origin: origin.clone(),
        };
        let mut counts = Counts::default();
        for r in rows {
            let found = existing.get(&(r.channel_id, r.platform_key.clone()));
            let change = plan_row(r, found);
            let id = match &change {
                Change::Create(u) => Some(u.id),
                _ => found.map(|u| u.id),
            };
            if let Some(id) = id
                && (r.tags.is_some() || !r.attributes.is_empty())
            {
                batch.profiles.push(ProfileMerge {
                    messaging_user_id: id,
                    attributes: r.attributes.clone(),
                    tags: r.tags.clone(),
                });
            }
            match change {
                Change::Create(u) => {
                    batch.consent.push(ConsentChange {
                        messaging_user_id: u.id,
                        from: None,
                        to: r.consent,
                    });
                    batch.creates.push(u);
                    counts.created += 1;
                }
                Change::Update(u, history) => {
                    batch.updates.push(u);
                    batch.consent.extend(history);
                    counts.updated += 1;
                }
                Change::Unchanged => counts.unchanged += 1,
            }
        }
        match store.import_messaging_users(&batch, clock.now()).await {
            Ok(_) => {
                // Imported people are found by name and number like everyone else. After the
                // commit: a failure here leaves them to `parley search reindex`, never the
                // import undone.
                let people: Vec<Uuid> = batch
                    .creates
                    .iter()
                    .map(|u| u.id)
                    .chain(batch.updates.iter().map(|u| u.id))
                    .collect();
                if let Err(e) = store.write_people_terms(&people, clock.now()).await {
                    tracing::warn!(error = %e, n = people.len(), "indexing imported people for search");
                }
                return Ok(counts);
            }
            Err(StoreError::Conflict(why)) if attempt < ATTEMPTS => {
                tracing::debug!(%why, attempt, "import batch raced another writer; reading again");
                attempt += 1;
            }
            Err(e) => return Err(e),
        }
    }
}

/// Checks every row of `file`, then imports the good ones in batches, calling `progress` after
/// each. Bad rows are in the report, not an error: the error is for a file that cannot be read at
/// all (a required column missing) or a database failure, in which case the batches already
/// committed stay and running the import again finishes the job.
pub async fn import_messaging_users(
    store: &Store,
    clock: &dyn Clock,
    file: &ImportFile,
    mut progress: impl FnMut(Progress),
) -> Result<ImportReport, ImportError> {
    let cols = Columns::from_header(&file.header)?;
    let channels = ChannelIndex::load(store).await?;

    let mut report = ImportReport::default();
    let mut valid: Vec<ValidRow> = Vec::with_capacity(file.records.len());
    for record in &file.records {
        match validate(record, &cols, &channels) {
            Ok(row) => valid.push(row),
            Err(reason) => report.rejected.push(RejectedRow {
                line: record.line,
                fields: record.fields.clone(),
                reason,
            }),
        }
    }

    // One row per messaging user: when a key appears on several lines, none of them is taken,
    // because which one is meant cannot be known.
    let mut lines_of: HashMap<(Uuid, &str), Vec<u64>> = HashMap::new();
    for r in &valid {
        lines_of
            .entry((r.channel_id, r.platform_key.as_str()))
            .or_default()
            .push(r.line);
    }
    let mut duplicate_reasons: HashMap<u64, String> = HashMap::new();
    for ((channel_id, key), lines) in &lines_of {
        if lines.len() > 1 {
            let channel = channels
                .by_id
                .get(channel_id)
                .map_or_else(|| channel_id.to_string(), |c| c.name.clone());
            let all: Vec<String> = lines.iter().map(u64::to_string).collect();
            for line in lines {
                duplicate_reasons.insert(
                    *line,
                    format!(
                        "duplicate: channel '{channel}' and platform_key {key} are on lines {}; \
                         keep one row per messaging user",
                        all.join(", ")
                    ),
                );
            }
        }
    }
    if !duplicate_reasons.is_empty() {
        let by_line: HashMap<u64, &ImportRecord> =
            file.records.iter().map(|r| (r.line, r)).collect();
        valid.retain(|r| match duplicate_reasons.remove(&r.line) {
            None => true,
            Some(reason) => {
                report.rejected.push(RejectedRow {
                    line: r.line,
                    fields: by_line
                        .get(&r.line)
                        .map(|rec| rec.fields.clone())
                        .unwrap_or_default(),
                    reason,
                });
                false
            }
        });
    }
    report.rejected.sort_by_key(|r| r.line);

    let origin = ConsentOrigin {
        source: ConsentSource::Import,
        reason: format!("imported from {}", file.name),
        entry_id: None,
    };
    let total = valid.len() as u64;
    let mut done = 0;
    progress(Progress { done, total });
    for rows in valid.chunks(BATCH_ROWS) {
        let counts = import_batch(store, clock, rows, &origin).await?;
        report.created += counts.created;
        report.updated += counts.updated;
        report.unchanged += counts.unchanged;
        done += rows.len() as u64;
        progress(Progress { done, total });
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use parley_core::Timestamp;

    #[test]
    fn header_names_are_forgiving_and_required_ones_are_checked() {
        let cols = Columns::from_header(&[
            "\u{feff}Channel",
            "Platform Key",
            "CONSENT_STATUS",
            "notes",
            "first-name",
        ])
        .unwrap();
        assert_eq!(cols.channel, 0);
        assert_eq!(cols.platform_key, 1);
        assert_eq!(cols.consent_status, 2);
        assert_eq!(cols.first_name, Some(4));
        assert_eq!(cols.last_name, None);

        let err = Columns::from_header(&["channel", "first_name"])
            .unwrap_err()
            .to_string();
        assert!(err.contains("platform_key, consent_status"), "{err}");
        let err = Columns::from_header(&["channel", "platform_key", "consent_status", "Channel"])
            .unwrap_err()
            .to_string();
        assert!(err.contains("twice"), "{err}");
    }

    #[test]
    fn phone_keys_are_normalised_and_other_keys_trimmed() {
        assert_eq!(
            platform_key(ChannelKind::Sms, "+1 (415) 555-2671").unwrap(),
            "+14155552671"
        );
        assert!(platform_key(ChannelKind::Whatsapp, "4155552671").is_err());
        assert!(platform_key(ChannelKind::Sms, "+1 555 0100").is_err());
        assert_eq!(
            platform_key(ChannelKind::Messenger, "2468013579").unwrap(),
            "2468013579"
        );
        assert!(platform_key(ChannelKind::Web, &"x".repeat(129)).is_err());
    }

    fn row(consent: ConsentStatus, name: Option<&str>, locale: Option<&str>) -> ValidRow {
        ValidRow {
            line: 2,
            channel_id: Uuid::nil(),
            platform_key: "+14155552671".into(),
            consent,
            name: name.map(str::to_owned),
            locale: locale.map(str::to_owned),
            tags: None,
            attributes: serde_json::Map::new(),
        }
    }

    fn user() -> MessagingUser {
        MessagingUser {
            id: Uuid::from_u128(7),
            channel_id: Uuid::nil(),
            platform_key: "+14155552671".into(),
            name: "Ada Lovelace".into(),
            locale: Some("en".into()),
            consent_status: Some(ConsentStatus::ExplicitlyOptedIn),
            contact_id: None,
            created_at: Timestamp(1),
            updated_at: Timestamp(2),
            restricted_at: None,
        }
    }

    #[test]
    fn only_what_differs_is_an_update_and_only_consent_makes_history() {
        let u = user();
        assert_eq!(
            plan_row(&row(ConsentStatus::ExplicitlyOptedIn, None, None), Some(&u)),
            Change::Unchanged,
            "absent name and locale keep the stored ones"
        );
        assert_eq!(
            plan_row(
                &row(
                    ConsentStatus::ExplicitlyOptedIn,
                    Some("Ada Lovelace"),
                    Some("en")
                ),
                Some(&u)
            ),
            Change::Unchanged
        );
        let Change::Update(up, None) = plan_row(
            &row(ConsentStatus::ExplicitlyOptedIn, Some("Ada King"), None),
            Some(&u),
        ) else {
            panic!("a new name is an update without history");
        };
        assert_eq!(up.name, "Ada King");
        assert_eq!(up.locale.as_deref(), Some("en"));
        assert_eq!(up.seen_updated_at, Timestamp(2));
        let Change::Update(up, Some(h)) =
            plan_row(&row(ConsentStatus::OptedOut, None, None), Some(&u))
        else {
            panic!("a new consent is an update with history");
        };
        assert_eq!(up.consent_status, Some(ConsentStatus::OptedOut));
        assert_eq!(h.from, Some(ConsentStatus::ExplicitlyOptedIn));
        assert_eq!(h.to, ConsentStatus::OptedOut);

        let never = MessagingUser {
            consent_status: None,
            ..user()
        };
        assert!(matches!(
            plan_row(
                &row(ConsentStatus::ExplicitlyOptedIn, None, None),
                Some(&never)
            ),
            Change::Update(_, Some(ConsentChange { from: None, .. }))
        ));
        let Change::Create(new) = plan_row(&row(ConsentStatus::DoublyOptedIn, None, None), None)
        else {
            panic!("an unknown key is created");
        };
        assert_eq!(new.name, "");
        assert_eq!(new.consent_status, Some(ConsentStatus::DoublyOptedIn));
    }
}

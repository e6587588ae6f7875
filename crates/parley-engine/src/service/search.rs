//! Search across conversations and the agent's closed conversations (issue 15): the blind index's
//! rows (parley-store `search`) turned into what the console lists, narrowed to what the reader
//! may open (`parley_core::access`: an agent the sessions they take part in, a supervisor all).

use std::collections::HashSet;

use parley_core::Timestamp;
use parley_core::access::SessionScope;
use parley_core::search::query_terms;
use parley_store::{SearchHit, Session, Store};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use super::ServiceError;

/// Results per page.
pub const PAGE: usize = 20;
/// Candidate rows read per round; rows the reader may not open are skipped, so a page may take a
/// few rounds, never more than [`MAX_ROUNDS`].
const ROUND: i64 = 60;
const MAX_ROUNDS: usize = 5;
/// Words' rows are counted up to this many to find the rarest word of a query.
const COUNT_CAP: i64 = 100_000;
/// People whose name or number holds the leading word and whose messages are searched for the
/// other words ("rosa refund": Rosa's messages with "refund").
const PEOPLE_CAP: i64 = 200;
/// The longest query taken.
pub const MAX_QUERY_CHARS: usize = 200;

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SearchPerson {
    pub id: Uuid,
    pub name: String,
    pub platform_key: String,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SearchChannel {
    pub id: Uuid,
    /// The channel kind's wire name (`sms`, `whatsapp`, `messenger`, `web`, ...).
    pub kind: String,
    pub name: String,
}

/// One conversation found.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SearchItem {
    pub session_id: Uuid,
    pub messaging_user: SearchPerson,
    /// The linked contact's full name, if any.
    pub contact_name: Option<String>,
    pub channel: SearchChannel,
    /// The message that matched; null when the words matched the person (name, number).
    pub entry_id: Option<Uuid>,
    /// The matching message's text; null for a match on the person.
    pub snippet: Option<String>,
    /// RFC 3339: when the message was written (or the person indexed).
    pub created_at: String,
    /// The session's status wire name (`active`, `ended`, ...).
    pub session_status: String,
}

/// One page of results, newest first. `next`: pass as `after` for the next page; null at the end.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SearchPage {
    pub items: Vec<SearchItem>,
    pub next: Option<String>,
}

/// One of the agent's ended conversations.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ClosedItem {
    pub session_id: Uuid,
    pub messaging_user: SearchPerson,
    pub contact_name: Option<String>,
    pub channel: SearchChannel,
    /// RFC 3339.
    pub ended_at: String,
    pub last_message: Option<String>,
    /// RFC 3339.
    pub last_message_at: Option<String>,
    pub case_id: Option<Uuid>,
    pub case_subject: Option<String>,
    pub case_number: Option<i64>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ClosedPage {
    pub items: Vec<ClosedItem>,
    pub next: Option<String>,
}

fn parse_cursor(after: Option<&str>) -> Result<Option<i64>, ServiceError> {
    match after.map(str::trim).filter(|a| !a.is_empty()) {
        None => Ok(None),
        Some(a) => a.parse::<i64>().map(Some).map_err(|_| {
            ServiceError::Invalid(
                "after: not a cursor of this list (pass the `next` of the previous page)"
                    .to_owned(),
            )
        }),
    }
}

async fn visible(
    store: &Store,
    scope: SessionScope,
    session_id: Uuid,
) -> Result<bool, ServiceError> {
    Ok(match scope {
        SessionScope::All => true,
        SessionScope::Agent(agent) => store.session_visible_to(agent, session_id).await?,
        SessionScope::Nothing => false,
    })
}

async fn person(store: &Store, id: Uuid) -> Result<(SearchPerson, Option<String>), ServiceError> {
    let user = store.messaging_user(id).await?;
    let contact_name = match user.contact_id {
        Some(c) => store
            .contact(c)
            .await
            .ok()
            .map(|c| {
                format!("{} {}", c.first_name, c.last_name)
                    .trim()
                    .to_owned()
            })
            .filter(|n| !n.is_empty()),
        None => None,
    };
    Ok((
        SearchPerson {
            id: user.id,
            name: user.name,
            platform_key: user.platform_key,
        },
        contact_name,
    ))
}

async fn channel(store: &Store, id: Uuid) -> Result<SearchChannel, ServiceError> {
    let ch = store.channel(id).await?;
    Ok(SearchChannel {
        id: ch.id,
        kind: ch.kind.as_str().to_owned(),
        name: ch.name,
    })
}

/// The conversations whose messages or people have every word of `query`, newest first, that the
/// reader may open.
pub async fn search_conversations(
    store: &Store,
    scope: SessionScope,
    query: &str,
    after: Option<&str>,
) -> Result<SearchPage, ServiceError> {
    if query.chars().count() > MAX_QUERY_CHARS {
        return Err(ServiceError::Invalid(format!(
            "q: at most {MAX_QUERY_CHARS} characters"
        )));
    }
    let mut before = parse_cursor(after)?;
    let terms = query_terms(query);
    if terms.is_empty() || matches!(scope, SessionScope::Nothing) {
        return Ok(SearchPage {
            items: Vec::new(),
            next: None,
        });
    }
    let key = store.search_key().await?;
    let hashes: Vec<Vec<u8>> = terms.iter().map(|t| key.hash(t)).collect();
    // Every match holds every word, so the rarest word leads: a query costs what its rarest word's
    // rows cost, however common the others ("message 500000" reads the one row of "500000").
    let mut counts = Vec::with_capacity(hashes.len());
    for h in &hashes {
        counts.push(store.search_term_count(h, COUNT_CAP).await?);
    }
    if counts.contains(&0) {
        // A word found nowhere: nothing can match.
        return Ok(SearchPage {
            items: Vec::new(),
            next: None,
        });
    }
    let lead = counts
        .iter()
        .enumerate()
        .min_by_key(|(_, n)| **n)
        .map_or(0, |(i, _)| i);
    // When the leading word is in a person's name or number, the other words may be in any of
    // their messages: those people's own rows are searched too (each person's history is small).
    let people = match hashes.get(lead) {
        Some(h) if hashes.len() > 1 => store.search_term_people(h, PEOPLE_CAP).await?,
        _ => Vec::new(),
    };
    let mut items = Vec::new();
    let mut seen: HashSet<(Uuid, Option<Uuid>)> = HashSet::new();
    let mut next = None;
    for _ in 0..MAX_ROUNDS {
        let mut hits = store
            .search_hits(&hashes, lead, None, before, ROUND)
            .await?;
        // The newest time down to which every source was read completely this round.
        let mut complete_to = (hits.len() as i64 >= ROUND)
            .then(|| hits.last().map(|h| h.created_at))
            .flatten();
        for &person in &people {
            for other in (0..hashes.len()).filter(|&i| i != lead) {
                let rows = store
                    .search_hits(&hashes, other, Some(person), before, ROUND)
                    .await?;
                if rows.len() as i64 >= ROUND
                    && let Some(last) = rows.last()
                {
                    complete_to =
                        Some(complete_to.map_or(last.created_at, |c: i64| c.max(last.created_at)));
                }
                hits.extend(rows);
            }
        }
        hits.sort_by_key(|h| std::cmp::Reverse(h.created_at));
        if let Some(c) = complete_to {
            hits.retain(|h| h.created_at >= c);
        }
        let mut filled_at = None;
        for hit in hits {
            if items.len() >= PAGE {
                filled_at = Some(hit.created_at + 1);
                break;
            }
            if !seen.insert((hit.messaging_user_id, hit.entry_id)) {
                continue;
            }
            if let Some(item) = item_of(store, scope, &hit).await? {
                items.push(item);
            }
            filled_at = Some(hit.created_at);
        }
        if items.len() >= PAGE {
            // The next page starts below the last row looked at (rows of the same millisecond as
            // it are read again and skipped as seen within this request only).
            next = filled_at.map(|b| b.to_string());
            break;
        }
        match complete_to {
            // Every source was read to its end: nothing older.
            None => {
                next = None;
                break;
            }
            // Rows of the millisecond `c` past a source's limit are read again next round (those
            // already taken are skipped as seen): a boundary may repeat a hit, never skip one.
            Some(c) => {
                before = Some(c + 1);
                next = Some((c + 1).to_string());
            }
        }
    }
    Ok(SearchPage { items, next })
}

async fn item_of(
    store: &Store,
    scope: SessionScope,
    hit: &SearchHit,
) -> Result<Option<SearchItem>, ServiceError> {
    let session: Session = match hit.session_id {
        Some(id) => match store.session(id).await {
            Ok(s) => s,
            Err(parley_store::StoreError::NotFound { .. }) => return Ok(None),
            Err(e) => return Err(e.into()),
        },
        None => match store.latest_session_of(hit.messaging_user_id).await? {
            Some(s) => s,
            None => return Ok(None),
        },
    };
    if !visible(store, scope, session.id).await? {
        return Ok(None);
    }
    let snippet = match hit.entry_id {
        Some(id) => Some(store.entry(id).await?.body),
        None => None,
    };
    let (messaging_user, contact_name) = person(store, session.messaging_user_id).await?;
    Ok(Some(SearchItem {
        session_id: session.id,
        messaging_user,
        contact_name,
        channel: channel(store, session.channel_id).await?,
        entry_id: hit.entry_id,
        snippet,
        created_at: Timestamp(hit.created_at).to_rfc3339(),
        session_status: session.status.as_str().to_owned(),
    }))
}

/// The sessions the agent owned that have ended, newest first.
pub async fn closed_sessions(
    store: &Store,
    agent_id: Uuid,
    after: Option<&str>,
) -> Result<ClosedPage, ServiceError> {
    let before = parse_cursor(after)?;
    let rows = store
        .closed_sessions_of(agent_id, before, PAGE as i64 + 1)
        .await?;
    let more = rows.len() > PAGE;
    let mut items = Vec::with_capacity(PAGE);
    let mut last_ended = None;
    for row in rows.into_iter().take(PAGE) {
        let s = row.session;
        last_ended = s.ended_at.map(Timestamp::millis);
        let (messaging_user, contact_name) = person(store, s.messaging_user_id).await?;
        let case = match s.case_id {
            Some(id) => store.case(id).await.ok(),
            None => None,
        };
        items.push(ClosedItem {
            session_id: s.id,
            messaging_user,
            contact_name,
            channel: channel(store, s.channel_id).await?,
            ended_at: s.ended_at.unwrap_or(s.status_since).to_rfc3339(),
            last_message: row.last_message,
            last_message_at: row.last_message_at.map(Timestamp::to_rfc3339),
            case_id: s.case_id,
            case_subject: case.as_ref().map(|c| c.subject.clone()),
            case_number: case.as_ref().and_then(|c| c.number),
        });
    }
    let next = if more {
        last_ended.map(|m| m.to_string())
    } else {
        None
    };
    Ok(ClosedPage { items, next })
}

/// One batch of `parley search reindex` (see [`Store::reindex_search_step`]).
pub async fn reindex_step(
    store: &Store,
    batch: i64,
    now: Timestamp,
) -> Result<parley_store::ReindexStep, ServiceError> {
    Ok(store.reindex_search_step(batch, now).await?)
}

//! `parley bench search`: search across conversations over a large history. A fresh database gets
//! `--users` customers (each with a contact and an ended session) and `--entries` messages written
//! in bulk (`parley_store::bulk`: bodies "Bulk message <n>"), then `parley search reindex`'s pass
//! indexes them all (its throughput is printed). Then, `--runs` times each, as a supervisor would
//! (`parley_engine::service::search`, the API handler's whole work but HTTP):
//! a rare word, a common and a rare word together, a common word alone (the first page of a
//! million matches), a number by its last digits, a word found nowhere, two common words;
//! next to a baseline: one session read by id, the least a console request does.
//!
//! The cost added to ingest: `append_entry` of a 12-word message timed with the index write and
//! without it (an event entry, which is not indexed, of the same length), `--runs` times each.

use std::time::Instant;

use anyhow::{Context, Result};
use parley_core::access::SessionScope;
use parley_core::model::*;
use parley_core::{Clock, SystemClock, Timestamp};
use parley_store::bulk::{BulkLoad, bulk_phone};
use parley_store::*;
use serde_json::json;

use crate::bench::{micros, print_latencies};

#[derive(Debug, Clone)]
pub struct Options {
    pub users: u64,
    pub entries: u64,
    pub runs: usize,
    pub database_url: Option<String>,
    pub chunk: u64,
}

pub async fn run(o: Options) -> Result<()> {
    let clock = SystemClock;
    let (store, _dir) =
        crate::bench::fresh_store(o.database_url.as_deref(), "bench_search").await?;
    let now = clock.now();
    println!(
        "bench search on {:?}: {} customers, {} messages",
        store.kind(),
        o.users,
        o.entries
    );
    let channel = store
        .create_channel(
            &ChannelSpec {
                name: "Search SMS".into(),
                kind: ChannelKind::Sms,
                provider: Provider::Simulator,
                address: "+14155550100".into(),
                number_type: Some(NumberType::TollFree),
                provider_keyword: None,
                country: None,
                consent_level: ConsentLevel::Implicit,
                queue_id: None,
                throughput_mps: None,
                settings: json!({}),
                secrets: json!({}),
            },
            now,
        )
        .await?;
    let since = Timestamp(now.millis() - 30 * 86_400_000);
    let t = Instant::now();
    let loaded = store
        .bulk_load(
            &BulkLoad::new(channel.id, o.users, o.entries, since, o.chunk),
            |_, _| {},
        )
        .await?;
    println!(
        "  generated {} customers, {} messages in {:.1} s",
        loaded.users,
        loaded.entries,
        t.elapsed().as_secs_f64()
    );
    let t = Instant::now();
    let (mut entries, mut people) = (0_u64, 0_u64);
    loop {
        let step = parley_engine::service::search::reindex_step(&store, 5_000, clock.now()).await?;
        entries += step.entries;
        people += step.people;
        if step.done {
            break;
        }
    }
    let took = t.elapsed().as_secs_f64();
    println!(
        "  reindex: {entries} messages, {people} people in {took:.1} s ({:.0} messages/s)",
        entries as f64 / took.max(1e-9)
    );

    let session = store
        .list_sessions(SessionFilter::default(), PageRequest::new(None, 1))
        .await?
        .items
        .into_iter()
        .next()
        .context("no session")?;
    let rare = o.entries / 2;
    let tail: String = bulk_phone(o.users / 3)
        .chars()
        .rev()
        .take(6)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    let cases: Vec<(String, Option<String>)> = vec![
        ("baseline: one session by id".to_owned(), None),
        (format!("a rare word ({rare})"), Some(rare.to_string())),
        (
            format!("a common and a rare word (message {rare})"),
            Some(format!("message {rare}")),
        ),
        (
            "a common word alone (bulk), first page".to_owned(),
            Some("bulk".into()),
        ),
        (
            "two common words (bulk message)".to_owned(),
            Some("bulk message".into()),
        ),
        (
            format!("a number's last 6 digits ({tail})"),
            Some(tail.clone()),
        ),
        (
            "a word found nowhere (zebra)".to_owned(),
            Some("zebra".into()),
        ),
        (
            "a common word and one found nowhere (bulk zebra)".to_owned(),
            Some("bulk zebra".into()),
        ),
    ];
    println!("  query latency, {} runs each:", o.runs);
    for (label, q) in &cases {
        let mut lat = Vec::with_capacity(o.runs);
        let mut found = 0;
        for _ in 0..o.runs {
            let t = Instant::now();
            match q {
                None => {
                    store.session(session.id).await?;
                }
                Some(q) => {
                    let page = parley_engine::service::search::search_conversations(
                        &store,
                        SessionScope::All,
                        q,
                        None,
                    )
                    .await?;
                    found = page.items.len();
                }
            }
            lat.push(micros(t.elapsed()));
        }
        print_latencies(&format!("{label} [{found}]"), lat);
    }

    // Ingest: a message with 12 words, indexed, against the same write of an event entry (not
    // indexed), on one open session.
    let user = store
        .create_messaging_user(
            &NewMessagingUser {
                channel_id: channel.id,
                platform_key: "+14155550999".into(),
                name: "Bench Ingest".into(),
                locale: None,
                consent_status: None,
                contact_id: None,
            },
            &ConsentOrigin {
                source: ConsentSource::Api,
                reason: String::new(),
                entry_id: None,
            },
            clock.now(),
        )
        .await?;
    let open = store
        .create_session(
            &NewSession {
                conversation_id: parley_core::new_id(),
                channel_id: channel.id,
                messaging_user_id: user.id,
                status: SessionStatus::Active,
                context: SessionContext::Service,
                queue_id: None,
                case_id: None,
            },
            clock.now(),
        )
        .await?;
    println!("  ingest (append_entry), {} runs each:", o.runs);
    for (label, direction) in [
        ("message, 12 words, indexed", Direction::Inbound),
        ("event entry, same text, not indexed", Direction::Event),
    ] {
        let mut lat = Vec::with_capacity(o.runs);
        for i in 0..o.runs {
            let body =
                format!("hello I would like to change the delivery address of order {i} please");
            let t = Instant::now();
            store
                .append_entry(
                    &NewEntry {
                        session_id: open.id,
                        direction,
                        actor: if direction == Direction::Inbound {
                            Actor::Customer
                        } else {
                            Actor::System
                        },
                        actor_id: None,
                        body,
                        media: Vec::new(),
                        provider_message_id: None,
                        status: EntryStatus::Received,
                    },
                    clock.now(),
                )
                .await?;
            lat.push(micros(t.elapsed()));
        }
        print_latencies(label, lat);
    }
    store.close().await;
    Ok(())
}

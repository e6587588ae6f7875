//! Search across conversations and the agent's closed conversations (issue 15), end to end on
//! both databases (and with `PARLEY_TEST_ENCRYPTION_KEY`, encrypted at rest): name prefixes,
//! numbers whole and by their last digits, words of messages with accents folded, AND of words,
//! an agent seeing only what they may open, a supervisor seeing all, no plaintext in the index,
//! the reindex, and erasure leaving no row.

use parley_core::model::*;
use parley_core::{Clock, SystemClock};
use parley_store::testing::TestBackend;
use parley_testkit::build;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::console::{Console, Desk};
use crate::eventually;

const NUMBER: &str = "+447400111222";

async fn search(d: &Desk, c: &Console, q: &str) -> Value {
    let path = format!("/api/v1/search/conversations?q={}", url_escape(q));
    d.get(c, &path).await
}

fn url_escape(q: &str) -> String {
    q.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn items(v: &Value) -> &Vec<Value> {
    v["items"].as_array().unwrap()
}

async fn search_finds_names_numbers_and_words(b: TestBackend) {
    let d = Desk::new(b).await;
    let ada = d.agent("Ada", 2, AgentRole::Agent).await;
    let sue = d.agent("Sue", 2, AgentRole::Supervisor).await;
    // Carol is in no queue: she may open none of Ada's conversations.
    let carol = d
        .app
        .agent_with_password(
            &build::agent_spec("Carol", AgentRole::Agent, 2, vec![]),
            crate::console::PASSWORD,
        )
        .await;
    let (a, s, c) = (
        d.sign_in(&ada).await,
        d.sign_in(&sue).await,
        d.sign_in(&carol).await,
    );
    d.go(&a, "available").await;
    d.customer_says(NUMBER, "I want a refund for the crème brûlée")
        .await;
    let session = d.offered(&a).await;
    assert_eq!(d.act(&a, session, "accept").await.status(), StatusCode::OK);
    let store = &d.app.db.store;
    let user = store.session(session).await.unwrap().messaging_user_id;
    store
        .update_user_profile(user, Some("Annabelle Lee"), None, SystemClock.now())
        .await
        .unwrap();
    d.customer_says(NUMBER, "Also my parcel is late").await;
    eventually(&d.app.events, "the second message", || async {
        let v = search(&d, &a, "parcel").await;
        (!items(&v).is_empty()).then_some(())
    })
    .await;

    // Words of a message, accents folded, case ignored.
    let v = search(&d, &a, "REFUND creme").await;
    assert_eq!(items(&v).len(), 1, "{v}");
    let hit = &items(&v)[0];
    assert_eq!(hit["session_id"], session.to_string());
    assert_eq!(hit["snippet"], "I want a refund for the crème brûlée");
    assert_eq!(hit["messaging_user"]["name"], "Annabelle Lee");
    assert_eq!(hit["channel"]["name"], "Desk SMS");
    assert_eq!(hit["session_status"], "active");
    assert!(hit["entry_id"].is_string());
    // AND: every word must match.
    assert!(items(&search(&d, &a, "refund parcel").await).is_empty());
    assert!(items(&search(&d, &a, "refund nowhere").await).is_empty());
    // Message text is whole words: a prefix of one finds nothing.
    assert!(items(&search(&d, &a, "refu").await).is_empty());
    // A name by the first 3+ letters of a word; the person hit opens the latest session.
    let v = search(&d, &a, "ann").await;
    assert_eq!(items(&v).len(), 1, "{v}");
    assert!(items(&v)[0]["entry_id"].is_null());
    assert_eq!(items(&v)[0]["session_id"], session.to_string());
    // A word of the person and a word of a message together.
    let v = search(&d, &a, "lee parcel").await;
    assert_eq!(items(&v).len(), 1, "{v}");
    assert_eq!(items(&v)[0]["snippet"], "Also my parcel is late");
    // A number, whole (however it is written) or by its last digits.
    for q in [NUMBER, "+44 7400 111 222", "1222", "111222"] {
        let v = search(&d, &a, q).await;
        assert_eq!(items(&v).len(), 1, "{q}: {v}");
    }
    assert!(items(&search(&d, &a, "222").await).is_empty());
    // Newest first.
    let v = search(&d, &s, "lee").await;
    assert_eq!(items(&v).len(), 1, "{v}");

    // Carol may open none of it; the supervisor sees it all.
    assert!(items(&search(&d, &c, "refund").await).is_empty());
    assert!(items(&search(&d, &c, "ann").await).is_empty());
    assert_eq!(items(&search(&d, &s, "refund").await).len(), 1);

    // Bad input: a clear 422.
    let r = d
        .call(
            &a,
            Method::GET,
            &format!("/api/v1/search/conversations?q={}", "x".repeat(201)),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let r = d
        .call(
            &a,
            Method::GET,
            "/api/v1/search/conversations?q=refund&after=yesterday",
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    // An empty query finds nothing (no scan).
    assert!(items(&search(&d, &a, "  ").await).is_empty());

    // The index holds 16-byte hashes only, never the words.
    let rows = store.search_index_rows().await.unwrap();
    assert!(rows.len() > 10, "{}", rows.len());
    for (hash, _, _) in &rows {
        assert_eq!(hash.len(), 16);
        for word in [
            "refund",
            "annabelle",
            "ann",
            "parcel",
            "447400111222",
            "1222",
        ] {
            assert!(
                !hash.windows(word.len()).any(|w| w == word.as_bytes()),
                "{word} in the index"
            );
        }
    }

    // Reindex: same rows again, search still finds.
    let before = rows.len();
    loop {
        let step = parley_engine::service::search::reindex_step(store, 2, SystemClock.now())
            .await
            .unwrap();
        if step.done {
            break;
        }
    }
    assert_eq!(store.search_index_rows().await.unwrap().len(), before);
    assert_eq!(items(&search(&d, &a, "refund creme").await).len(), 1);

    // The rarest word leads: an old message with a rare word is found behind many newer ones
    // holding the common word (more than a round's worth), and two common words page on.
    let rare = store
        .append_entry(
            &build::new_entry(
                session,
                Direction::Inbound,
                Actor::Customer,
                "message about zx81",
                EntryStatus::Received,
            ),
            SystemClock.now(),
        )
        .await
        .unwrap();
    for k in 0..70 {
        store
            .append_entry(
                &build::new_entry(
                    session,
                    Direction::Inbound,
                    Actor::Customer,
                    &format!("filler message {k}"),
                    EntryStatus::Received,
                ),
                SystemClock.now(),
            )
            .await
            .unwrap();
    }
    let v = search(&d, &a, "message zx81").await;
    assert_eq!(items(&v).len(), 1, "{v}");
    assert_eq!(items(&v)[0]["entry_id"], rare.id.to_string());
    let v = search(&d, &a, "filler message").await;
    assert_eq!(items(&v).len(), 20, "{v}");
    let next = v["next"].as_str().expect("a next page").to_owned();
    let mut seen: std::collections::HashSet<String> = items(&v)
        .iter()
        .map(|i| i["entry_id"].to_string())
        .collect();
    let mut after = Some(next);
    let mut pages = 1;
    while let Some(cursor) = after {
        let v = d
            .get(
                &a,
                &format!("/api/v1/search/conversations?q=filler%20message&after={cursor}"),
            )
            .await;
        seen.extend(items(&v).iter().map(|i| i["entry_id"].to_string()));
        after = v["next"].as_str().map(str::to_owned);
        pages += 1;
        assert!(pages < 20, "paging does not end");
    }
    // Every one found: a page boundary inside one millisecond may repeat a hit, never skip one.
    assert_eq!(seen.len(), 70);

    // Closed conversations: empty, then the ended one with its last message.
    let closed = d.get(&a, "/api/v1/me/closed-sessions").await;
    assert!(items(&closed).is_empty(), "{closed}");
    assert_eq!(d.act(&a, session, "end").await.status(), StatusCode::OK);
    let closed = d.get(&a, "/api/v1/me/closed-sessions").await;
    assert_eq!(items(&closed).len(), 1, "{closed}");
    assert_eq!(items(&closed)[0]["session_id"], session.to_string());
    assert_eq!(items(&closed)[0]["messaging_user"]["name"], "Annabelle Lee");
    assert!(items(&closed)[0]["last_message"].is_string(), "{closed}");
    assert!(closed["next"].is_null());
    assert!(items(&d.get(&c, "/api/v1/me/closed-sessions").await).is_empty());
    // A search hit now says the session ended.
    assert_eq!(
        items(&search(&d, &a, "refund").await)[0]["session_status"],
        "ended"
    );

    // Erasure leaves no row of the person in the index.
    let r = d
        .app
        .req(Method::POST, "/api/v1/privacy/erasures")
        .json(&json!({"phone": NUMBER, "confirm": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status(),
        StatusCode::ACCEPTED,
        "{}",
        r.text().await.unwrap()
    );
    eventually(
        &d.app.events,
        "the erasure removed the index rows",
        || async {
            let rows = store.search_index_rows().await.unwrap();
            rows.iter().all(|(_, u, _)| *u != user).then_some(())
        },
    )
    .await;
    assert!(items(&search(&d, &s, "refund").await).is_empty());
    assert!(items(&search(&d, &s, "ann").await).is_empty());
}

parley_store::on_both_backends!(search_finds_names_numbers_and_words);

//! The console's event stream (`GET /api/v1/events`): what the signed-in agent may see, live, and
//! after a reconnect everything since the `Last-Event-ID` the browser sends back. Events come from
//! the engine's [`Feed`](parley_engine::feed::Feed), which reads them from the database, so a
//! stream on one node sees what happened on any node.

use std::collections::{BTreeSet, VecDeque};
use std::convert::Infallible;
use std::time::Duration;

use axum::Extension;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures_util::stream;
use parley_engine::feed::{ConnectionGuard, StreamHandle};
use parley_store::ConsoleEvent;
use uuid::Uuid;

use crate::AppState;
use crate::console::session::ConsoleSession;
use crate::error::ApiError;

/// Events replayed at most after a reconnect; a console further behind reloads its state.
const REPLAY_LIMIT: i64 = 2_000;
/// Ids of sent events remembered to skip a second copy. On PostgreSQL ids are taken before
/// commit, so the feed may hand over id 6 after id 7 (see `parley_engine::feed`): a stream must
/// not take "lower than the last sent" for "already sent". Gaps close within seconds, far inside
/// this many events.
const SENT_MEMORY: usize = 4_096;

struct Stream {
    rx: StreamHandle,
    stopping: Option<tokio::sync::watch::Receiver<bool>>,
    replay: VecDeque<ConsoleEvent>,
    sent: SentIds,
    agent_id: Uuid,
    sees_all: bool,
    /// The pick-from-queue queues the agent belongs to, as they were when the stream opened.
    pick_queues: Vec<Uuid>,
    _guard: ConnectionGuard,
}

impl Stream {
    fn visible(&self, e: &ConsoleEvent) -> bool {
        e.agent_id == Some(self.agent_id) || self.sees_all || self.picks_from(e)
    }

    /// A queue's event for a pick-from-queue queue of this agent: their list of what they may
    /// take changed. It names the queue only.
    fn picks_from(&self, e: &ConsoleEvent) -> bool {
        if self.pick_queues.is_empty()
            || e.agent_id.is_some()
            || e.kind != parley_store::ConsoleEventKind::Queue.as_str()
        {
            return false;
        }
        serde_json::from_str::<serde_json::Value>(&e.data)
            .ok()
            .and_then(|v| v.get("queue_id")?.as_str()?.parse::<Uuid>().ok())
            .is_some_and(|q| self.pick_queues.contains(&q))
    }

    /// The event with the highest id sent so far as its SSE id, so the `Last-Event-ID` a
    /// reconnecting browser sends never goes back when an event arrives after a higher one.
    fn to_event(&self, e: &ConsoleEvent) -> Event {
        Event::default()
            .id(self.sent.cursor().to_string())
            .event(e.kind.clone())
            .data(e.data.clone())
    }
}

/// The ids one stream has sent lately, and below them a floor: everything at or under it counts
/// as sent (the `Last-Event-ID` the console came back with, then what the set forgot).
#[derive(Debug)]
struct SentIds {
    sent: BTreeSet<i64>,
    floor: i64,
}

impl SentIds {
    fn new(floor: i64) -> Self {
        Self {
            sent: BTreeSet::new(),
            floor,
        }
    }

    /// Records `id` as sent; false when it already was.
    fn first(&mut self, id: i64) -> bool {
        if id <= self.floor || !self.sent.insert(id) {
            return false;
        }
        while self.sent.len() > SENT_MEMORY {
            if let Some(forgotten) = self.sent.pop_first() {
                self.floor = forgotten;
            }
        }
        true
    }

    /// The highest id sent (or the floor).
    fn cursor(&self) -> i64 {
        self.sent.last().copied().unwrap_or(self.floor)
    }
}

#[utoipa::path(get, path = "/api/v1/events",
    extensions(("x-permission" = json!("signed_in"))), tag = "console",
    responses((status = 200, description = "text/event-stream of console events (see docs/console-api.md)",
        content_type = "text/event-stream")))]
pub async fn events(
    State(state): State<AppState>,
    session: Option<Extension<ConsoleSession>>,
    Extension(caller): Extension<crate::auth::Caller>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let Some(Extension(session)) = session else {
        return Err(ApiError::coded(
            crate::error::ApiErrorCode::Forbidden,
            "the event stream is an agent's: sign in to the console",
        ));
    };
    let agent = session.agent;
    let last_event_id = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<i64>().ok())
        .filter(|v| *v >= 0);
    let feed = &state.engine.feed;
    // Subscribe before reading the replay, so nothing falls between the two.
    // Every session's events for whoever reads every conversation; else the agent's own.
    let sees_all = caller.session_scope() == parley_core::access::SessionScope::All;
    let pick_queues = if sees_all {
        Vec::new()
    } else {
        let memberships = state.store.agent(agent.id).await?.queue_ids;
        parley_engine::board::pick_queues_of(&state.store, &memberships).await?
    };
    let rx = feed.stream(agent.id, sees_all);
    let guard = feed.connect(agent.id).await;
    let mut s = Stream {
        rx,
        stopping: state.stopping.clone(),
        replay: VecDeque::new(),
        sent: SentIds::new(last_event_id.unwrap_or(0)),
        agent_id: agent.id,
        sees_all,
        pick_queues,
        _guard: guard,
    };
    if let Some(last) = last_event_id {
        let replay = feed.replay(last, REPLAY_LIMIT).await?;
        if replay.len() as i64 == REPLAY_LIMIT {
            // Too far behind to replay: tell the console to reload instead.
            s.replay.push_back(ConsoleEvent {
                id: last,
                agent_id: Some(agent.id),
                kind: "resync".to_owned(),
                data: "{}".to_owned(),
                created_at: state.clock.now(),
            });
        } else {
            let visible: Vec<ConsoleEvent> = replay.into_iter().filter(|e| s.visible(e)).collect();
            s.replay.extend(visible);
        }
    }
    let body = stream::unfold(s, |mut s| async move {
        while let Some(e) = s.replay.pop_front() {
            // The resync marker carries the console's own Last-Event-ID.
            if e.kind == "resync" || s.sent.first(e.id) {
                let ev = s.to_event(&e);
                return Some((Ok::<_, Infallible>(ev), s));
            }
        }
        loop {
            let e = match s.stopping.as_mut() {
                Some(stopping) => tokio::select! {
                    // The server is shutting down: end the stream (the browser reconnects to
                    // another node, or to this one when it is back, with its Last-Event-ID).
                    _ = stopping.wait_for(|stop| *stop) => return None,
                    e = s.rx.rx.recv() => e?,
                },
                None => s.rx.rx.recv().await?,
            };
            if s.rx.take_lagged() {
                // This stream fell behind the node's feed: the console reloads its state.
                let ev = Event::default().event("resync").data("{}");
                return Some((Ok(ev), s));
            }
            if !s.visible(&e) || !s.sent.first(e.id) {
                continue;
            }
            let ev = s.to_event(&e);
            return Some((Ok(ev), s));
        }
    });
    let mut response = Sse::new(body)
        .keep_alive(
            KeepAlive::new()
                // Well inside the idle timeout, which would otherwise cut a quiet stream.
                .interval(
                    (state.config.connections.idle_timeout / 2)
                        .clamp(Duration::from_millis(100), Duration::from_secs(15)),
                )
                .text("keep-alive"),
        )
        .into_response();
    response.headers_mut().insert(
        "x-accel-buffering",
        axum::http::HeaderValue::from_static("no"),
    );
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_event_committed_after_a_higher_id_is_still_sent_once() {
        let mut sent = SentIds::new(0);
        assert!(sent.first(7));
        // Id 6 committed after 7 (PostgreSQL takes ids before commit): new, not "old".
        assert!(sent.first(6));
        assert_eq!(sent.cursor(), 7, "the resume cursor never goes back");
        assert!(!sent.first(6));
        assert!(!sent.first(7));
    }

    #[test]
    fn the_last_event_id_and_what_is_forgotten_count_as_sent() {
        let mut sent = SentIds::new(100);
        assert!(!sent.first(100));
        assert!(!sent.first(42));
        assert_eq!(sent.cursor(), 100);
        for id in 101..=(101 + SENT_MEMORY as i64) {
            assert!(sent.first(id));
        }
        assert_eq!(sent.sent.len(), SENT_MEMORY);
        assert!(!sent.first(101), "forgotten ids are under the floor");
        assert!(sent.first(102 + SENT_MEMORY as i64));
    }
}

//! Engine tests against real databases: each case runs on SQLite and PostgreSQL.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod campaigns;
mod config_changes;
mod dispatch;
mod feed;
mod flows;
mod import;
mod inbound;
mod keyword_precedence;
mod leases;
mod module_graph;
mod notify_apply;
mod outreach;
mod permission_apply;
mod plans;
mod processes;
mod provision;
mod provision_rules;
mod retention;
mod runner;
mod sensitive_rules;
mod smpp;
mod unknown;
mod web_identity;

/// Waits until `f` gives a value, trying again whenever the engine publishes an event (the
/// signal that something was committed), for at most thirty seconds (a bound for a loaded
/// machine, never a speed check). The test kit's `eventually` does the same for the server
/// suites; it cannot be used here, where its engine would be a second copy of the crate under
/// test.
pub(crate) async fn until_event<T, F, Fut>(bus: &parley_engine::EventBus, what: &str, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let mut events = bus.subscribe();
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        // Bounded, so a condition met without an event (another task's write) is still seen.
        let _ = tokio::time::timeout(std::time::Duration::from_millis(50), events.recv()).await;
    }
}

//! Fixtures shared by every Parley test suite, written once: fresh stores on either backend
//! ([`db`]), the workspace a test needs built in the store ([`build`]), form encoding as the
//! providers do it ([`form`]), local fakes of the Twilio and Meta Graph APIs ([`fake`], feature
//! `fakes`) and a running server with its workers ([`TestApp`], feature `server`).
//!
//! The store suite uses the default features only, so `cargo test -p parley-store` builds neither
//! the engine nor the server.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

pub mod build;
pub mod form;
pub mod sse;

#[cfg(feature = "fakes")]
pub mod fake;

#[cfg(feature = "server")]
mod app;

#[cfg(feature = "server")]
pub use app::{TestApp, eventually, status_and_json};

/// Fresh, migrated stores on SQLite or PostgreSQL, and the macro that runs a case on both.
pub mod db {
    pub use parley_store::on_both_backends;
    pub use parley_store::testing::{TestBackend, TestDb, fresh, fresh_url, pg_url};
}

pub use db::{TestBackend, TestDb, fresh};

/// A loopback port free at the time of asking, for a process the test starts itself (one that
/// cannot be handed a bound listener).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Writes a test's figures to the process's real standard error, one line each. libtest keeps
/// what `println!` and `eprintln!` print in a passing test, and the figures of the chaos,
/// schemathesis, sign-in and connection tests are what a reader of the test command's output
/// looks for.
#[macro_export]
macro_rules! figures {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), $($arg)*);
    }};
}

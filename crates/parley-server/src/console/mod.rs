//! The agent console: sign-in (argon2, cookie sessions, CSRF), the server-rendered pages, and the
//! SSE stream they live on. The pages only render shells; everything dynamic goes through the JSON
//! API (see `docs/console-api.md`).

pub mod api;
pub mod auth;
#[cfg(test)]
mod catalogue_keys;
pub mod charts;
pub mod funnel;
pub mod limiter;
pub mod pages;
pub mod reports;
pub mod session;
pub mod sse;
pub mod visitor;

//! The storage conformance suite: every case runs on SQLite and on PostgreSQL.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod admin;
mod bulk;
mod campaigns;
mod config;
mod conversations;
mod dead_letters;
mod import;
mod jobs;
mod notifications;
mod processes;
mod schema;
mod web;
mod webhooks;

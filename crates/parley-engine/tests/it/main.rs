//! Engine tests against real databases: each case runs on SQLite and PostgreSQL.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod config_changes;
mod dispatch;
mod feed;
mod import;
mod inbound;
mod keyword_precedence;
mod leases;
mod module_graph;
mod plans;
mod processes;
mod provision;
mod provision_rules;
mod runner;
mod smpp;
mod unknown;

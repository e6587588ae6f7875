//! API tests against the real server on a random port, on SQLite and PostgreSQL.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod admin_api;
mod api;
mod audit_log;
mod bad_input;
mod board;
mod browser;
mod campaigns;
mod channel_settings;
mod close_conversation;
mod composer;
mod connections;
mod console;
mod crm;
mod dead_letters;
mod encryption;
mod flows;
mod help_content;
mod inbound;
mod keyword_sets;
mod languages;
mod layers;
mod log_hygiene;
mod media_security;
mod messages;
mod meta;
mod notes;
mod notifications;
mod openapi_truth;
mod ops;
mod pages;
mod permission_walk;
mod permissions;
mod privacy;
mod processes;
mod reports;
mod reports_page;
mod search;
mod sender_limits;
mod sensitive_data;
mod services;
mod sign_in_limits;
mod subscriptions;
mod template_browser;
mod template_review;
mod tokens;
mod twilio_api;
mod vonage;
mod web_agent;
mod web_deployments;
mod widget;
mod widget_browser;
mod words;

// The fixtures live in the shared test kit; these names stay here so every module reaches them as
// `crate::TestApp` and `crate::eventually`.
pub use parley_testkit::{TestApp, eventually};

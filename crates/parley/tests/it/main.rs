//! The `parley` binary as an operator runs it: separate processes, killed and restarted.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod campaign_crash;
mod chaos;
mod crash;
mod flow_crash;
mod fuzz;
mod keys_cli;
mod process;
mod schemathesis;
mod sign_in_flood;
mod smpp_crash;
mod tokens_cli;
mod twilio_cli;

//! Flows (BOT-01..08, CMP-12..15, MC, CO-20): one automation runtime for bots, marketing journeys
//! and automatic replies. A flow is a versioned, declarative [`FlowDefinition`]; [`validate`]
//! checks one at save with errors that name the step; [`advance`] is the whole runtime as a pure
//! function of (flow, state, event, facts). The engine keeps each run's [`RunState`] durable and
//! carries out the [`Action`]s.

mod definition;
mod run;

pub use definition::*;
pub use run::*;

/// Placeholder until the validator lands.
pub fn validate(_flow: &FlowDefinition) -> Result<(), Vec<String>> {
    Ok(())
}

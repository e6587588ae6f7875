//! Flows (BOT-01..08, CMP-12..15, MC, CO-20): one automation runtime for bots, marketing journeys
//! and automatic replies. A flow is a versioned, declarative [`FlowDefinition`]; [`validate`]
//! checks one at save with errors that name the step; [`advance`] is the whole runtime as a pure
//! function of (flow, state, event, facts). The engine keeps each run's [`RunState`] durable and
//! carries out the [`Action`]s. [`matches()`] is how an `ask` reads a reply, and [`text`] how merge
//! fields are filled in.

mod definition;
mod matchers;
mod run;
pub mod text;
mod trigger;
mod validate;

pub use definition::*;
pub use matchers::*;
pub use run::*;
pub use trigger::*;
pub use validate::*;

#[cfg(test)]
mod advance_tests;

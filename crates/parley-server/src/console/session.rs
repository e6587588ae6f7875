//! Console sessions: who is signed in, attached to every console request.

use parley_store::Agent;

/// The signed-in agent of a console request, with the CSRF token its pages must send back.
#[derive(Debug, Clone)]
pub struct ConsoleSession {
    pub agent: Agent,
    pub csrf_token: String,
}

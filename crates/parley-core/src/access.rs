//! Who may read and write which conversations (issue 17, PERM "object access"). One rule for the
//! console and API tokens alike:
//!
//! - admins and supervisors read and write every session;
//! - an agent reads the sessions of the queues they are a member of, and the sessions they own,
//!   are offered, transferred away, accepted or read before, or wrote into; they write only into
//!   the sessions they own;
//! - an agent-role API token acts as the agent it was issued for; one issued for no agent (made
//!   before tokens named their agent) reads and writes no session;
//! - broadcasters read no conversation at all.

use std::time::Duration;

use uuid::Uuid;

use crate::model::TokenRole;

/// Which sessions a caller may read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionScope {
    /// Every session.
    All,
    /// The sessions this agent takes part in (see the module's rule).
    Agent(Uuid),
    /// None.
    Nothing,
}

/// The sessions a caller with this role, acting as this agent (if any), may read.
pub const fn session_scope(role: TokenRole, agent: Option<Uuid>) -> SessionScope {
    match (role, agent) {
        (TokenRole::Admin | TokenRole::Supervisor, _) => SessionScope::All,
        (TokenRole::Agent, Some(a)) => SessionScope::Agent(a),
        (TokenRole::Agent | TokenRole::Broadcaster, _) => SessionScope::Nothing,
    }
}

/// Reads a lifetime such as `30d`, `12h`, `90m` or `3600s` (a bare number is seconds).
pub fn parse_lifetime(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    let (digits, unit) = match t.find(|c: char| !c.is_ascii_digit()) {
        Some(at) => t.split_at(at),
        None => (t, "s"),
    };
    let n: u64 = digits
        .parse()
        .map_err(|_| format!("{text:?} is not a lifetime like 30d, 12h, 90m or 3600s"))?;
    let unit_secs = match unit.trim() {
        "s" => 1,
        "m" => 60,
        "h" => 3_600,
        "d" => 86_400,
        "w" => 7 * 86_400,
        _ => return Err(format!("{text:?}: the unit is one of s, m, h, d and w")),
    };
    let secs = n
        .checked_mul(unit_secs)
        .filter(|s| (1..=10 * 365 * 86_400).contains(s))
        .ok_or_else(|| format!("{text:?}: a lifetime is between 1 second and 10 years"))?;
    Ok(Duration::from_secs(secs))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_scope_sessions() {
        let a = Uuid::from_u128(7);
        assert_eq!(session_scope(TokenRole::Admin, None), SessionScope::All);
        assert_eq!(
            session_scope(TokenRole::Supervisor, Some(a)),
            SessionScope::All
        );
        assert_eq!(
            session_scope(TokenRole::Agent, Some(a)),
            SessionScope::Agent(a)
        );
        assert_eq!(session_scope(TokenRole::Agent, None), SessionScope::Nothing);
        assert_eq!(
            session_scope(TokenRole::Broadcaster, Some(a)),
            SessionScope::Nothing
        );
    }

    #[test]
    fn lifetimes() {
        assert_eq!(parse_lifetime("30d"), Ok(Duration::from_secs(30 * 86_400)));
        assert_eq!(parse_lifetime("90m"), Ok(Duration::from_secs(5_400)));
        assert_eq!(parse_lifetime("3600"), Ok(Duration::from_secs(3_600)));
        for bad in [
            "",
            "d",
            "0d",
            "-1d",
            "3x",
            "99999999999999999999d",
            "11000d",
        ] {
            assert!(parse_lifetime(bad).is_err(), "{bad}");
        }
    }
}

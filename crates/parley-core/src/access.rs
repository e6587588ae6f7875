//! Who may read and write which conversations (issues 17 and 18, PERM). One rule for the console
//! and API tokens alike, by permission (a role is only a default set of them):
//!
//! - with `view_all_conversations`, every session is read; with `supervise`, every one is written;
//! - with `view_queue_conversations`, an agent reads the sessions of the queues they are a member
//!   of, and the sessions they own, are offered, transferred away, accepted or read before, or
//!   wrote into; they write only into the sessions they own;
//! - an API token acting as an agent holds no more than that agent; a token of no agent reads no
//!   queue's sessions (only `view_all_conversations` reads without an agent).

use std::time::Duration;

use uuid::Uuid;

use crate::model::TokenRole;

crate::wire_enum! {
    /// What a person or token may do (PERM). Every API route, console page and CLI command checks
    /// one of these, never a role name. A role is only a default set of them
    /// ([`PermissionSet::for_role`]); issue 18 stores the sets and lets admins grant them.
    pub enum Permission: "permission" {
        /// Take, send and receive in conversations (Messaging Agent).
        SendReceive = "send_receive",
        /// End sessions, and close a customer's conversation (End Messaging Session, SE-20).
        EndSessions = "end_sessions",
        /// Start a conversation with a customer (Agent Initiated Outbound Messaging).
        AgentOutbound = "agent_outbound",
        /// Send one message to many: start, pause and cancel campaigns and broadcasts
        /// (Send One-to-Many Messages).
        SendOneToMany = "send_one_to_many",
        /// Set one's own presence status (Service Presence Statuses Access).
        PresenceStatus = "presence_status",
        /// Read every conversation and customer record.
        ViewAllConversations = "view_all_conversations",
        /// Read the conversations of one's own queues and sessions (`access` module rule).
        ViewQueueConversations = "view_queue_conversations",
        /// The supervisor's board: watch agents, assign and transfer others' sessions, whisper.
        Supervise = "supervise",
        /// Channels, queues, skills, routing, keyword processes, templates, deployments, keysets,
        /// webhooks, the error log and dead letters (Configure Messaging).
        ConfigureMessaging = "configure_messaging",
        /// Agents, roles, permission sets and API tokens.
        ManageUsers = "manage_users",
        /// Flows and bots (Manage Flow).
        ManageFlows = "manage_flows",
        /// Campaigns, broadcasts, segments, lists and notifications' setup.
        ManageCampaigns = "manage_campaigns",
        /// Access, export, erasure and restriction requests (issue 16).
        PrivacyRequests = "privacy_requests",
        /// Edit per-language texts (keyword responses, automatic replies, widget labels) without
        /// configuration rights (Translator).
        Translate = "translate",
    }
}

/// A set of [`Permission`]s, one bit each: `Copy`, so a `Caller` carries it for free.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct PermissionSet(u32);

impl PermissionSet {
    pub const EMPTY: Self = Self(0);

    const fn bit(p: Permission) -> u32 {
        1 << (p as u32)
    }

    pub fn all() -> Self {
        Self::from_slice(Permission::ALL)
    }

    pub fn from_slice(ps: &[Permission]) -> Self {
        ps.iter().fold(Self::EMPTY, |s, p| s.with(*p))
    }

    #[must_use]
    pub const fn with(self, p: Permission) -> Self {
        Self(self.0 | Self::bit(p))
    }

    pub const fn contains(self, p: Permission) -> bool {
        self.0 & Self::bit(p) != 0
    }

    #[must_use]
    pub const fn union(self, other: Self) -> Self {
        Self(self.0 | other.0)
    }

    #[must_use]
    pub const fn intersection(self, other: Self) -> Self {
        Self(self.0 & other.0)
    }

    #[must_use]
    pub const fn difference(self, other: Self) -> Self {
        Self(self.0 & !other.0)
    }

    /// Whether every permission of `self` is in `other`.
    pub const fn is_subset(self, other: Self) -> bool {
        self.0 & !other.0 == 0
    }

    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The stored form: names separated by single spaces, in the catalogue's order.
    pub fn to_names(self) -> String {
        self.iter()
            .map(Permission::as_str)
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// Reads the stored form. A name this version does not know (a permission removed since) is
    /// skipped: it grants nothing, and must not make the whole set unreadable.
    pub fn from_names(text: &str) -> Self {
        text.split_whitespace()
            .filter_map(|n| n.parse::<Permission>().ok())
            .fold(Self::EMPTY, Self::with)
    }

    /// Reads names given by a person: every one must be a permission.
    pub fn parse_list<S: AsRef<str>>(names: &[S]) -> Result<Self, crate::model::UnknownVariant> {
        names
            .iter()
            .map(|n| n.as_ref().trim().parse::<Permission>())
            .try_fold(Self::EMPTY, |s, p| p.map(|p| s.with(p)))
    }

    pub fn iter(self) -> impl Iterator<Item = Permission> {
        Permission::ALL
            .iter()
            .copied()
            .filter(move |p| self.contains(*p))
    }

    /// The default set of one of the four built-in roles: exactly what the role could do before
    /// permissions were grantable, so nothing changes for an existing workspace.
    pub fn for_role(role: TokenRole) -> Self {
        use Permission::*;
        match role {
            TokenRole::Admin => Self::all(),
            TokenRole::Supervisor => Self::from_slice(&[
                SendReceive,
                EndSessions,
                AgentOutbound,
                PresenceStatus,
                ViewAllConversations,
                ViewQueueConversations,
                Supervise,
            ]),
            TokenRole::Agent => Self::from_slice(&[
                SendReceive,
                EndSessions,
                AgentOutbound,
                PresenceStatus,
                ViewQueueConversations,
            ]),
            TokenRole::Broadcaster => Self::from_slice(&[
                SendOneToMany,
                ManageCampaigns,
                AgentOutbound,
                PresenceStatus,
            ]),
        }
    }
}

impl Permission {
    /// One line on what the permission grants, for the console's catalogue and the API.
    pub const fn description(self) -> &'static str {
        match self {
            Self::SendReceive => {
                "Take offered conversations, send and receive in them, transfer them"
            }
            Self::EndSessions => "End sessions and close a customer's conversation",
            Self::AgentOutbound => "Start a conversation with a customer",
            Self::SendOneToMany => "Send one message to many: start, pause and cancel campaigns",
            Self::PresenceStatus => "Set one's own presence status (available, busy, on break)",
            Self::ViewAllConversations => "Read every conversation and customer record",
            Self::ViewQueueConversations => {
                "Read the conversations of one's own queues and sessions, and customer records"
            }
            Self::Supervise => {
                "Watch agents and queues, act on other agents' sessions (assign, transfer, end)"
            }
            Self::ConfigureMessaging => {
                "Channels, queues, skills, routing, keywords, templates, deployments, webhooks, errors"
            }
            Self::ManageUsers => "Agents, permission sets and their grants, API tokens",
            Self::ManageFlows => "Flows and bots",
            Self::ManageCampaigns => "Campaigns, segments, lists, subscriptions and notifications",
            Self::PrivacyRequests => "Access, export, erasure and restriction requests",
            Self::Translate => "Edit per-language texts without configuration rights",
        }
    }
}

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

/// The sessions a caller with these permissions, acting as this agent (if any), may read: every
/// one with `view_all_conversations`; with `view_queue_conversations`, those of the agent; else
/// none (a token of no agent reads no queue's sessions).
pub const fn session_scope(permissions: PermissionSet, agent: Option<Uuid>) -> SessionScope {
    if permissions.contains(Permission::ViewAllConversations) {
        return SessionScope::All;
    }
    match agent {
        Some(a) if permissions.contains(Permission::ViewQueueConversations) => {
            SessionScope::Agent(a)
        }
        _ => SessionScope::Nothing,
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
    fn permission_sets() {
        let all = PermissionSet::all();
        assert_eq!(all.iter().count(), Permission::ALL.len());
        let agent = PermissionSet::for_role(TokenRole::Agent);
        assert!(agent.contains(Permission::SendReceive));
        assert!(!agent.contains(Permission::ConfigureMessaging));
        assert_eq!(agent.intersection(all), agent);
        assert_eq!(PermissionSet::EMPTY.union(agent), agent);
        assert_eq!(PermissionSet::for_role(TokenRole::Admin), all);
    }

    #[test]
    fn roles_scope_sessions() {
        let a = Uuid::from_u128(7);
        let scope = |r, agent| session_scope(PermissionSet::for_role(r), agent);
        assert_eq!(scope(TokenRole::Admin, None), SessionScope::All);
        assert_eq!(scope(TokenRole::Supervisor, Some(a)), SessionScope::All);
        assert_eq!(scope(TokenRole::Agent, Some(a)), SessionScope::Agent(a));
        assert_eq!(scope(TokenRole::Agent, None), SessionScope::Nothing);
        assert_eq!(
            scope(TokenRole::Broadcaster, Some(a)),
            SessionScope::Nothing
        );
    }

    #[test]
    fn stored_names_round_trip() {
        for role in TokenRole::ALL {
            let set = PermissionSet::for_role(*role);
            assert_eq!(PermissionSet::from_names(&set.to_names()), set);
        }
        assert_eq!(
            PermissionSet::from_names("  supervise  retired_permission send_receive"),
            PermissionSet::from_slice(&[Permission::Supervise, Permission::SendReceive])
        );
        assert!(PermissionSet::parse_list(&["supervise", "root"]).is_err());
        let agent = PermissionSet::for_role(TokenRole::Agent);
        let admin = PermissionSet::for_role(TokenRole::Admin);
        assert!(agent.is_subset(admin));
        assert!(!admin.is_subset(agent));
        assert!(agent.difference(admin).is_empty());
    }

    proptest::proptest! {
        #[test]
        fn set_algebra(a in 0u32..(1 << 14), b in 0u32..(1 << 14)) {
            let (a, b) = (PermissionSet(a), PermissionSet(b));
            proptest::prop_assert!(a.intersection(b).is_subset(a));
            proptest::prop_assert!(a.is_subset(a.union(b)));
            proptest::prop_assert_eq!(a.difference(b).intersection(b), PermissionSet::EMPTY);
            proptest::prop_assert_eq!(PermissionSet::from_names(&a.to_names()), a);
        }
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

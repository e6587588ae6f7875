//! The vocabulary of DESIGN.md section 4. Each enum has one stable lowercase wire name used in the
//! database, the API and the console alike.

/// A value that is not one of an enum's wire names.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("'{value}' is not a valid {kind}; expected one of: {expected}")]
pub struct UnknownVariant {
    pub kind: &'static str,
    pub value: String,
    pub expected: &'static str,
}

/// Declares an enum whose variants have fixed wire names, with `as_str`, `FromStr`, `Display` and
/// serde in one place so the names cannot drift between layers.
#[macro_export]
macro_rules! wire_enum {
    ($(#[$meta:meta])* $vis:vis enum $name:ident : $kind:literal { $($(#[$vmeta:meta])* $variant:ident = $wire:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
        $vis enum $name {
            $($(#[$vmeta])* #[serde(rename = $wire)] $variant),+
        }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];
            pub const NAMES: &'static [&'static str] = &[$($wire),+];
            pub const fn as_str(self) -> &'static str {
                match self { $($name::$variant => $wire),+ }
            }
        }

        impl std::str::FromStr for $name {
            type Err = $crate::model::UnknownVariant;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $($wire => Ok($name::$variant),)+
                    _ => Err($crate::model::UnknownVariant {
                        kind: $kind,
                        value: s.to_owned(),
                        expected: concat!($($wire, " "),+),
                    }),
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        // Lets the store decode a TEXT column straight into the enum.
        impl TryFrom<String> for $name {
            type Error = $crate::model::UnknownVariant;
            fn try_from(s: String) -> Result<Self, $crate::model::UnknownVariant> {
                s.parse()
            }
        }
    };
}

wire_enum! {
    /// What network a channel speaks on.
    pub enum ChannelKind: "channel kind" {
        Sms = "sms",
        Whatsapp = "whatsapp",
        Messenger = "messenger",
        Web = "web",
    }
}

/// Who carries a channel's traffic: an open identifier (`twilio`, `meta`, `vonage`...), one
/// lowercase word of ASCII letters, digits and `_`. Which names exist is the adapter registry's
/// business (`parley_channels::registry`), not core's, so adding a provider touches no enum here;
/// the built-in names below are only spellings kept for code and tests that name one.
/// `simulator` plays the phone network inside Parley, so a workspace works with no credentials.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Provider(std::borrow::Cow<'static, str>);

// The built-in providers keep the spelling of the enum they replace (`Provider::Twilio`), so the
// code and tests that name one read as before.
#[allow(non_upper_case_globals)]
impl Provider {
    pub const Simulator: Provider = Provider::from_static("simulator");
    pub const Twilio: Provider = Provider::from_static("twilio");
    pub const Smpp: Provider = Provider::from_static("smpp");
    pub const Meta: Provider = Provider::from_static("meta");
    pub const Web: Provider = Provider::from_static("web");
}

/// Longest provider name accepted.
pub const MAX_PROVIDER_NAME: usize = 32;

impl Provider {
    /// A provider name known at compile time (an adapter's own id). The name is not checked here:
    /// adapters are written by us, and the registry's tests check every registered id with
    /// [`Provider::parse`].
    pub const fn from_static(name: &'static str) -> Self {
        Self(std::borrow::Cow::Borrowed(name))
    }

    /// Reads a provider name as written by a person or stored in a row: 1 to 32 lowercase ASCII
    /// letters, digits or `_`, starting with a letter. Whether such a provider exists is a
    /// question for the registry.
    pub fn parse(name: &str) -> Result<Self, UnknownVariant> {
        let ok = name.len() <= MAX_PROVIDER_NAME
            && name.bytes().next().is_some_and(|b| b.is_ascii_lowercase())
            && name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
        if ok {
            Ok(Self(std::borrow::Cow::Owned(name.to_owned())))
        } else {
            Err(UnknownVariant {
                kind: "provider",
                value: name.to_owned(),
                expected: "a provider name of lowercase letters, digits or '_'",
            })
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::str::FromStr for Provider {
    type Err = UnknownVariant;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl std::fmt::Display for Provider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl TryFrom<String> for Provider {
    type Error = UnknownVariant;
    fn try_from(s: String) -> Result<Self, UnknownVariant> {
        s.parse()
    }
}

impl PartialEq<str> for Provider {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl serde::Serialize for Provider {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> serde::Deserialize<'de> for Provider {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let name = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        Self::parse(&name).map_err(serde::de::Error::custom)
    }
}

wire_enum! {
    /// The kind of number an SMS channel sends from (CH-04); it sets the default throughput.
    pub enum NumberType: "number type" {
        LongCode = "long_code",
        TollFree = "toll_free",
        ShortCode = "short_code",
        SharedShortCode = "shared_short_code",
    }
}

impl NumberType {
    /// Default messages per second per sender (issue 4): long code 1, toll-free 25, short code 100.
    pub const fn default_throughput(self) -> u32 {
        match self {
            Self::LongCode => 1,
            Self::TollFree => 25,
            Self::ShortCode | Self::SharedShortCode => 100,
        }
    }

    pub const fn is_short_code(self) -> bool {
        matches!(self, Self::ShortCode | Self::SharedShortCode)
    }
}

impl ChannelKind {
    /// Default messages per second for channels that have no number type.
    pub const fn default_throughput(self) -> u32 {
        match self {
            Self::Sms => 1,
            Self::Whatsapp => 80,
            Self::Messenger => 250,
            Self::Web => 1000,
        }
    }
}

wire_enum! {
    /// The consent level a channel requires before it may message someone (CO-01).
    pub enum ConsentLevel: "consent level" {
        Implicit = "implicit",
        Explicit = "explicit",
        Double = "double",
    }
}

wire_enum! {
    /// A messaging user's consent on one channel, ordered lowest to highest (CO-01). The wire names
    /// are the import vocabulary of MU-04.
    pub enum ConsentStatus: "consent status" {
        OptedOut = "OptedOut",
        ImplicitlyOptedIn = "ImplicitlyOptedIn",
        ExplicitlyOptedIn = "ExplicitlyOptedIn",
        DoublyOptedIn = "DoublyOptedIn",
    }
}

impl ConsentStatus {
    const fn rank(self) -> u8 {
        match self {
            Self::OptedOut => 0,
            Self::ImplicitlyOptedIn => 1,
            Self::ExplicitlyOptedIn => 2,
            Self::DoublyOptedIn => 3,
        }
    }

    /// Whether this status meets a channel's required level.
    pub const fn meets(self, level: ConsentLevel) -> bool {
        let needed = match level {
            ConsentLevel::Implicit => 1,
            ConsentLevel::Explicit => 2,
            ConsentLevel::Double => 3,
        };
        self.rank() >= needed
    }
}

wire_enum! {
    /// What caused a consent change, recorded in the consent history.
    pub enum ConsentSource: "consent source" {
        Keyword = "keyword",
        Agent = "agent",
        Import = "import",
        Api = "api",
        Provider = "provider",
        Inbound = "inbound",
        /// A sign-up form on the business's website.
        WebForm = "web_form",
        /// Created for a key an erasure kept an opt-out proof of (issue 16): it starts opted out.
        ErasureProof = "erasure_proof",
    }
}

wire_enum! {
    /// Lifecycle status of a messaging session (DESIGN.md section 5).
    pub enum SessionStatus: "session status" {
        New = "new",
        Waiting = "waiting",
        Active = "active",
        Consent = "consent",
        Inactive = "inactive",
        Error = "error",
        Ended = "ended",
    }
}

impl SessionStatus {
    /// Ended and Error are final; every other status is open.
    pub const fn is_open(self) -> bool {
        !matches!(self, Self::Ended | Self::Error)
    }
}

wire_enum! {
    /// Whether a session serves a support conversation or a marketing journey.
    pub enum SessionContext: "session context" {
        Service = "service",
        Marketing = "marketing",
    }
}

wire_enum! {
    pub enum OwnerKind: "owner kind" {
        Agent = "agent",
        Bot = "bot",
        Queue = "queue",
    }
}

wire_enum! {
    pub enum Direction: "direction" {
        Inbound = "inbound",
        Outbound = "outbound",
        /// Something that happened in the session, for the transcript, never sent to anyone:
        /// the reason a conversation was closed (SE-20).
        Event = "event",
    }
}

wire_enum! {
    /// Who produced an entry.
    pub enum Actor: "actor" {
        Customer = "customer",
        Agent = "agent",
        Bot = "bot",
        System = "system",
    }
}

wire_enum! {
    /// Delivery status of one entry. Outbound moves queued -> sent -> delivered/read, or to
    /// failed/undelivered; inbound entries are `received`.
    pub enum EntryStatus: "entry status" {
        Received = "received",
        Queued = "queued",
        Sent = "sent",
        Delivered = "delivered",
        Read = "read",
        Undelivered = "undelivered",
        Failed = "failed",
        /// The message was handed to the provider but its answer never came (a connection
        /// dropped or timed out after the request was written): it may or may not have left.
        /// Not resent automatically; a later receipt or status callback settles it, an operator
        /// may resend it or mark it failed, and the expiry sweep fails it after a while.
        Unknown = "unknown",
    }
}

impl EntryStatus {
    /// How far along delivery a status is. Failures rank with delivery: both are outcomes. An
    /// unknown outcome is past queued (the provider may have it) but before any provider news,
    /// so every report moves it forward.
    const fn rank(self) -> u8 {
        match self {
            Self::Received | Self::Queued => 0,
            Self::Unknown => 1,
            Self::Sent => 2,
            Self::Delivered | Self::Undelivered | Self::Failed => 3,
            Self::Read => 4,
        }
    }

    /// Whether a status report may replace this status. Reports arrive in any order (a provider's
    /// "sent" callback can come after its "delivered" one), so only a step forward is taken; a
    /// message that failed is never later shown as read.
    pub const fn may_become(self, next: EntryStatus) -> bool {
        let failed = matches!(self, Self::Failed | Self::Undelivered);
        next.rank() > self.rank() && !(failed && matches!(next, Self::Read))
    }
}

wire_enum! {
    pub enum AgentRole: "agent role" {
        Admin = "admin",
        Supervisor = "supervisor",
        Agent = "agent",
        Broadcaster = "broadcaster",
    }
}

impl AgentRole {
    /// The gates an API call made by an agent of this role passes: the same as a token's.
    pub const fn token_role(self) -> TokenRole {
        match self {
            Self::Admin => TokenRole::Admin,
            Self::Supervisor => TokenRole::Supervisor,
            Self::Agent => TokenRole::Agent,
            Self::Broadcaster => TokenRole::Broadcaster,
        }
    }
}

wire_enum! {
    pub enum Presence: "presence" {
        Available = "available",
        OnBreak = "on_break",
        Busy = "busy",
        Offline = "offline",
    }
}

impl Presence {
    /// Whether an agent in this presence is offered new work.
    pub const fn accepts_work(self) -> bool {
        matches!(self, Self::Available)
    }
}

wire_enum! {
    /// How a queue picks among eligible agents (RT).
    pub enum RoutingModel: "routing model" {
        MostAvailable = "most_available",
        LeastActive = "least_active",
        RoundRobin = "round_robin",
    }
}

wire_enum! {
    /// How a queue's waiting sessions reach agents (RT-13): routing offers them (`push`), or the
    /// queue's members see them waiting and take one themselves (`pick`).
    pub enum QueueAssignment: "queue assignment" {
        Push = "push",
        Pick = "pick",
    }
}

wire_enum! {
    pub enum CaseStatus: "case status" {
        New = "new",
        Working = "working",
        Closed = "closed",
    }
}

wire_enum! {
    pub enum TemplateStatus: "template status" {
        Draft = "draft",
        Pending = "pending",
        Approved = "approved",
        Rejected = "rejected",
    }
}

wire_enum! {
    pub enum TemplateCategory: "template category" {
        Marketing = "marketing",
        Utility = "utility",
        Authentication = "authentication",
    }
}

wire_enum! {
    /// The lists a keyword set holds (CO, KP).
    pub enum KeywordList: "keyword list" {
        OptOut = "opt_out",
        OptIn = "opt_in",
        DoubleOptIn = "double_opt_in",
        Help = "help",
        Custom = "custom",
    }
}

wire_enum! {
    /// Role of an API token: the same names as agent roles, so one permission table serves both.
    pub enum TokenRole: "token role" {
        Admin = "admin",
        Supervisor = "supervisor",
        Agent = "agent",
        Broadcaster = "broadcaster",
    }
}

wire_enum! {
    pub enum JobState: "job state" {
        Ready = "ready",
        Running = "running",
        Done = "done",
        Dead = "dead",
        /// Set aside while its group (a paused campaign) waits: never claimed, not pending.
        Held = "held",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn provider_names_are_open_but_well_formed() {
        let p: Provider = serde_json::from_str("\"vonage\"").unwrap();
        assert_eq!(p.as_str(), "vonage");
        assert_eq!(
            serde_json::to_string(&Provider::Twilio).unwrap(),
            "\"twilio\""
        );
        assert_eq!("twilio".parse::<Provider>().unwrap(), Provider::Twilio);
        for bad in ["", "Twilio", "1sms", "a b", "x-y", &"a".repeat(33)] {
            assert!(Provider::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn wire_names_round_trip() {
        for s in SessionStatus::ALL {
            assert_eq!(s.as_str().parse::<SessionStatus>().unwrap(), *s);
        }
        for s in ConsentStatus::ALL {
            assert_eq!(s.as_str().parse::<ConsentStatus>().unwrap(), *s);
        }
        let err = "nope".parse::<ChannelKind>().unwrap_err();
        assert!(err.to_string().contains("sms"), "{err}");
    }

    #[test]
    fn entry_status_only_moves_forward() {
        use EntryStatus::*;
        assert!(Queued.may_become(Sent));
        assert!(Sent.may_become(Delivered));
        assert!(Delivered.may_become(Read));
        assert!(Queued.may_become(Failed));
        assert!(
            !Delivered.may_become(Sent),
            "a late 'sent' never overwrites 'delivered'"
        );
        assert!(!Read.may_become(Delivered));
        assert!(!Failed.may_become(Read));
        assert!(!Failed.may_become(Delivered));
        assert!(!Sent.may_become(Sent));
    }

    #[test]
    fn consent_meets_levels_in_order() {
        use ConsentLevel::*;
        use ConsentStatus::*;
        assert!(!OptedOut.meets(Implicit));
        assert!(ImplicitlyOptedIn.meets(Implicit));
        assert!(!ImplicitlyOptedIn.meets(Explicit));
        assert!(ExplicitlyOptedIn.meets(Explicit));
        assert!(!ExplicitlyOptedIn.meets(Double));
        assert!(DoublyOptedIn.meets(Double));
    }
}

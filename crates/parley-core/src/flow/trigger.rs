//! Which flow takes a new conversation, and what started a run. The precedence is a rule of its
//! own (compliance keywords are decided before any of this, in `consent`): a marketing keyword,
//! then the flow of the campaign the customer answers, then the after-hours flow, then the
//! journey of a marketing conversation, then the channel's bot.

use std::collections::BTreeMap;

use crate::keywords::normalize;
use crate::model::SessionContext;

/// What started a run (stored with it, shown to agents and in reports).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger {
    /// The channel's bot for new service conversations.
    Channel,
    /// A marketing keyword.
    Keyword,
    /// The channel's flow for messages outside business hours.
    AfterHours,
    /// The channel's marketing journey (default context marketing).
    Journey,
    /// The reply flow of the campaign the customer answers.
    Campaign,
    /// A routing rule's `route_to_bot`.
    RoutingRule,
    /// An agent's transfer.
    Transfer,
    /// Another flow's `start_flow`.
    Flow,
    /// The console's test panel or the API.
    Api,
}

impl Trigger {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Channel => "channel",
            Self::Keyword => "keyword",
            Self::AfterHours => "after_hours",
            Self::Journey => "journey",
            Self::Campaign => "campaign",
            Self::RoutingRule => "routing_rule",
            Self::Transfer => "transfer",
            Self::Flow => "flow",
            Self::Api => "api",
        }
    }
}

/// A channel's flows for new conversations, by name (`settings.flows`).
#[derive(Debug, Clone, Copy)]
pub struct ChannelFlows<'a> {
    /// Marketing keyword to flow.
    pub keywords: &'a BTreeMap<String, String>,
    /// CMP-15 a: on a service channel a marketing keyword starts its journey only where reserved
    /// keywords are allowed.
    pub allow_reserved_keywords: bool,
    pub default_context: SessionContext,
    pub after_hours: Option<&'a str>,
    pub journey: Option<&'a str>,
    pub bot: Option<&'a str>,
}

impl<'a> ChannelFlows<'a> {
    /// The flow of a marketing keyword the whole message is (folded like every keyword), where
    /// the channel lets keywords start journeys.
    pub fn keyword(&self, text: &str) -> Option<&'a str> {
        if !self.allow_reserved_keywords && self.default_context != SessionContext::Marketing {
            return None;
        }
        let said = normalize(text);
        self.keywords
            .iter()
            .find(|(k, _)| normalize(k) == said)
            .map(|(_, f)| f.as_str())
    }

    /// The flow that takes a new conversation and why, given the keyword's flow, the answered
    /// campaign's reply flow, whether the business is open and the conversation's context.
    pub fn choose(
        &self,
        keyword: Option<&'a str>,
        campaign: Option<&'a str>,
        open: bool,
        context: SessionContext,
    ) -> Option<(&'a str, Trigger)> {
        if let Some(f) = keyword {
            return Some((f, Trigger::Keyword));
        }
        if let Some(f) = campaign {
            return Some((f, Trigger::Campaign));
        }
        if let (false, Some(f)) = (open, self.after_hours) {
            return Some((f, Trigger::AfterHours));
        }
        match context {
            SessionContext::Marketing => self.journey.map(|f| (f, Trigger::Journey)),
            SessionContext::Service => self.bot.map(|f| (f, Trigger::Channel)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flows(
        keywords: &BTreeMap<String, String>,
        allow: bool,
        context: SessionContext,
    ) -> ChannelFlows<'_> {
        ChannelFlows {
            keywords,
            allow_reserved_keywords: allow,
            default_context: context,
            after_hours: Some("closed"),
            journey: Some("journey"),
            bot: Some("bot"),
        }
    }

    #[test]
    fn keywords_need_the_setting_on_a_service_channel() {
        let k = BTreeMap::from([("Coupon".to_owned(), "coupon".to_owned())]);
        assert_eq!(
            flows(&k, true, SessionContext::Service).keyword(" coupon! "),
            Some("coupon")
        );
        assert_eq!(
            flows(&k, false, SessionContext::Service).keyword("coupon"),
            None
        );
        assert_eq!(
            flows(&k, false, SessionContext::Marketing).keyword("COUPON"),
            Some("coupon")
        );
        assert_eq!(
            flows(&k, true, SessionContext::Service).keyword("a coupon please"),
            None
        );
    }

    #[test]
    fn precedence_keyword_campaign_after_hours_journey_bot() {
        let k = BTreeMap::new();
        let f = flows(&k, true, SessionContext::Service);
        let svc = SessionContext::Service;
        assert_eq!(
            f.choose(Some("kw"), Some("c"), false, svc),
            Some(("kw", Trigger::Keyword))
        );
        assert_eq!(
            f.choose(None, Some("c"), false, svc),
            Some(("c", Trigger::Campaign))
        );
        assert_eq!(
            f.choose(None, None, false, svc),
            Some(("closed", Trigger::AfterHours))
        );
        assert_eq!(
            f.choose(None, None, true, SessionContext::Marketing),
            Some(("journey", Trigger::Journey))
        );
        assert_eq!(
            f.choose(None, None, true, svc),
            Some(("bot", Trigger::Channel))
        );
        let none = ChannelFlows { bot: None, ..f };
        assert_eq!(none.choose(None, None, true, svc), None);
    }
}

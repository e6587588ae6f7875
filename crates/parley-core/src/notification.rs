//! Who may receive a message a program sends outside a conversation: a triggered notification
//! (TM-06..10), or a message sent through the Twilio-compatible API. Both are the same send to
//! one person, so they share these rules.
//!
//! Decisions where the documents leave it open (DESIGN.md section 5, AMB-14, AMB-35):
//! - A recipient with no messaging user on the channel is created on send only where the
//!   channel's consent level is implicit, and then as implicitly opted in (TM-08). Elsewhere they
//!   are excluded as `no_messaging_user` (TM-09: "they have a Messaging User record"): nobody
//!   is written for a message that cannot go.
//! - Consent, the SMS in-country rule (TM-10) and the care windows are the campaign rules
//!   ([`crate::campaign::eligibility::exclusion_for`]) with [`SendPurpose::Notification`].

use crate::Timestamp;
use crate::campaign::eligibility::{Exclusion, Recipient, Sender, exclusion_for};
use crate::consent::SendPurpose;
use crate::model::{ConsentLevel, ConsentStatus};

/// What to do about a recipient who has no messaging user on the channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnknownRecipient {
    /// Create one with this consent (an implicit channel).
    Create(ConsentStatus),
    /// Send nothing.
    Exclude(Exclusion),
}

/// The rule for a recipient the channel has never seen.
pub const fn unknown_recipient(level: ConsentLevel) -> UnknownRecipient {
    match level {
        ConsentLevel::Implicit => UnknownRecipient::Create(ConsentStatus::ImplicitlyOptedIn),
        _ => UnknownRecipient::Exclude(Exclusion::NoMessagingUser),
    }
}

/// Why `recipient` may not receive a notification from `sender` now, or `None`. `template`:
/// the message is an approved template (which WhatsApp allows outside the care window).
pub fn exclusion(
    template: bool,
    sender: &Sender<'_>,
    recipient: &Recipient<'_>,
    now: Timestamp,
) -> Option<Exclusion> {
    exclusion_for(SendPurpose::Notification, template, sender, recipient, now)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorCode;
    use crate::model::ChannelKind;

    const NOW: Timestamp = Timestamp::from_millis(1_763_719_200_000);

    fn sender(kind: ChannelKind, level: ConsentLevel) -> Sender<'static> {
        Sender {
            kind,
            consent_level: level,
            address: "+14155550000",
        }
    }

    fn to(consent: Option<ConsentStatus>, address: &'static str) -> Recipient<'static> {
        Recipient {
            consent,
            address,
            last_customer_at: None,
        }
    }

    #[test]
    fn unknown_recipients_are_created_only_on_implicit_channels() {
        assert_eq!(
            unknown_recipient(ConsentLevel::Implicit),
            UnknownRecipient::Create(ConsentStatus::ImplicitlyOptedIn)
        );
        for level in [ConsentLevel::Explicit, ConsentLevel::Double] {
            assert_eq!(
                unknown_recipient(level),
                UnknownRecipient::Exclude(Exclusion::NoMessagingUser)
            );
        }
    }

    #[test]
    fn sms_notifications_stay_in_the_channel_s_country() {
        let sms = sender(ChannelKind::Sms, ConsentLevel::Implicit);
        let opted = Some(ConsentStatus::ImplicitlyOptedIn);
        assert_eq!(
            exclusion(false, &sms, &to(opted, "+12125550100"), NOW),
            None
        );
        let uk = exclusion(false, &sms, &to(opted, "+447400123456"), NOW);
        assert_eq!(uk, Some(Exclusion::OutOfCountry));
        assert_eq!(
            uk.map(Exclusion::error_code),
            Some(ErrorCode::DestinationInvalid)
        );
    }

    #[test]
    fn consent_must_meet_the_channel_s_level() {
        let sms = sender(ChannelKind::Sms, ConsentLevel::Explicit);
        let out = exclusion(
            false,
            &sms,
            &to(Some(ConsentStatus::OptedOut), "+12125550100"),
            NOW,
        );
        assert_eq!(out, Some(Exclusion::OptedOut));
        let low = Some(ConsentStatus::ImplicitlyOptedIn);
        assert_eq!(
            exclusion(false, &sms, &to(low, "+12125550100"), NOW),
            Some(Exclusion::ConsentTooLow)
        );
        assert_eq!(
            exclusion(false, &sms, &to(None, "+12125550100"), NOW),
            Some(Exclusion::NoConsent)
        );
        assert_eq!(
            Exclusion::ConsentTooLow.error_code(),
            ErrorCode::RecipientBlockedUs
        );
    }

    #[test]
    fn whatsapp_outside_the_window_needs_a_template() {
        let wa = sender(ChannelKind::Whatsapp, ConsentLevel::Implicit);
        let r = to(Some(ConsentStatus::ExplicitlyOptedIn), "+447400123456");
        assert_eq!(
            exclusion(false, &wa, &r, NOW),
            Some(Exclusion::OutsideCareWindow)
        );
        // WhatsApp has no in-country rule; a template goes anytime.
        assert_eq!(exclusion(true, &wa, &r, NOW), None);
    }
}

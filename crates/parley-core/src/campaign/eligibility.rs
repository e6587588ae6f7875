//! Who may receive a campaign (issue 11, item 3): every rule that leaves a recipient out, applied
//! when the campaign is expanded and again when each message is dispatched. Every exclusion has a
//! reason, and the campaign counts them by reason.
//!
//! Decisions the doc comments leave open:
//! - Consent is [`crate::consent::may_send`] with `Campaign` or `Broadcast`, so a broadcast on a
//!   double opt-in channel needs double opt-in, and a never-consented recipient is `no_consent`
//!   for both kinds.
//! - The country rule applies to SMS senders whose address is an E.164 number. A short code or
//!   an alphanumeric sender has no calling code to compare, so the rule cannot say anything and
//!   lets the message through (such senders only work in the country they were provisioned for,
//!   which the carrier enforces). A recipient whose address has no known calling code is out of
//!   country.
//! - The messaging window is [`crate::window::decide`] for an automated sender, on every kind:
//!   WhatsApp free text needs the 24-hour care window (a template goes anytime), Messenger allows
//!   no automated message past 24 hours even as a template, SMS and web have no window.

use std::sync::OnceLock;

use crate::Timestamp;
use crate::campaign::CampaignKind;
use crate::consent::{SendPurpose, SendRefused, may_send};
use crate::model::{ChannelKind, ConsentLevel, ConsentStatus};
use crate::window::{Composer, MessageForm, WindowQuery};

crate::wire_enum! {
    /// Why a member of the audience gets no message.
    pub enum Exclusion: "exclusion reason" {
        /// Opted out on the sender channel (CO, CMP-17).
        OptedOut = "opted_out",
        /// Never consented on a channel that requires consent.
        NoConsent = "no_consent",
        /// Consent below the channel's level (marketing).
        ConsentTooLow = "consent_too_low",
        /// A broadcast needs explicit or double opt-in (BC-02).
        NotExplicitlyOptedIn = "not_explicitly_opted_in",
        /// SMS only to numbers of the sender's country (SMS-10, TM-10).
        OutOfCountry = "out_of_country",
        /// WhatsApp free text outside the 24-hour care window (a template would be needed).
        OutsideCareWindow = "outside_care_window",
        /// A merge field had no value and the campaign excludes such recipients.
        MissingField = "missing_field",
        /// Already has this campaign's message (another sender, or the list twice).
        Duplicate = "duplicate",
        /// A list entry with no messaging user on any of the campaign's senders (BC-04).
        NotOnSender = "not_on_sender",
        /// A list entry whose number is not a valid phone number.
        InvalidNumber = "invalid_number",
        /// A notification to someone with no messaging user on a channel that needs consent
        /// first (TM-09: only implicit channels create one on send).
        NoMessagingUser = "no_messaging_user",
    }
}

/// The sender as the rules see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sender<'a> {
    pub kind: ChannelKind,
    pub consent_level: ConsentLevel,
    /// The channel's own number (E.164) for SMS and WhatsApp.
    pub address: &'a str,
}

/// The recipient as the rules see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Recipient<'a> {
    pub consent: Option<ConsentStatus>,
    /// The platform key (E.164 on SMS and WhatsApp).
    pub address: &'a str,
    /// When the customer last wrote on this channel (for WhatsApp's care window).
    pub last_customer_at: Option<Timestamp>,
}

/// The reason `recipient` may not receive a campaign of `kind` from `sender` now, or `None`.
/// `template` says the message is an approved template (which WhatsApp allows outside the care
/// window). Order of the checks: opt-out, consent (broadcast: explicit), country, window.
pub fn exclusion(
    kind: CampaignKind,
    template: bool,
    sender: &Sender<'_>,
    recipient: &Recipient<'_>,
    now: Timestamp,
) -> Option<Exclusion> {
    let purpose = match kind {
        CampaignKind::Marketing => SendPurpose::Campaign,
        CampaignKind::Broadcast => SendPurpose::Broadcast,
    };
    exclusion_for(purpose, template, sender, recipient, now)
}

/// [`exclusion`] for any automated send to a person outside a conversation: a campaign, a
/// broadcast, or a notification ([`crate::notification`]).
pub fn exclusion_for(
    purpose: SendPurpose,
    template: bool,
    sender: &Sender<'_>,
    recipient: &Recipient<'_>,
    now: Timestamp,
) -> Option<Exclusion> {
    if let Err(refused) = may_send(recipient.consent, sender.consent_level, purpose) {
        return Some(match refused {
            SendRefused::OptedOut => Exclusion::OptedOut,
            SendRefused::NoConsent { .. } => Exclusion::NoConsent,
            SendRefused::InsufficientConsent { .. } => match purpose {
                SendPurpose::Broadcast => Exclusion::NotExplicitlyOptedIn,
                _ => Exclusion::ConsentTooLow,
            },
        });
    }
    if sender.kind == ChannelKind::Sms
        && calling_code(sender.address).is_some()
        && !same_country(sender.address, recipient.address)
    {
        return Some(Exclusion::OutOfCountry);
    }
    let window = crate::window::decide(WindowQuery {
        kind: sender.kind,
        last_customer_message_at: recipient.last_customer_at,
        now,
        composer: Composer::Automated,
        form: if template {
            MessageForm::ApprovedTemplate
        } else {
            MessageForm::FreeForm
        },
    });
    if window.is_err() {
        return Some(Exclusion::OutsideCareWindow);
    }
    None
}

impl Exclusion {
    /// The catalogue code a refused single send reports (a campaign counts reasons instead).
    pub const fn error_code(self) -> crate::ErrorCode {
        use crate::ErrorCode;
        match self {
            Self::OptedOut | Self::NoConsent | Self::ConsentTooLow | Self::NotExplicitlyOptedIn => {
                ErrorCode::RecipientBlockedUs
            }
            Self::OutOfCountry | Self::InvalidNumber | Self::NoMessagingUser => {
                ErrorCode::DestinationInvalid
            }
            Self::OutsideCareWindow => ErrorCode::WindowClosed,
            Self::MissingField => ErrorCode::ContentRejected,
            Self::Duplicate | Self::NotOnSender => ErrorCode::DestinationInvalid,
        }
    }
}

/// Whether two E.164 numbers share a country calling code (`+1` US and `+1` CA do: NANP is one
/// plan). Cheap: no number plan metadata per call.
pub fn same_country(a: &str, b: &str) -> bool {
    match (calling_code(a), calling_code(b)) {
        (Some(x), Some(y)) => x == y,
        _ => false,
    }
}

/// The country calling code of an E.164 number (`+447400123456` -> 44), or `None` when it does
/// not start with `+` and an assigned code. Calling codes are prefix-free (ITU-T E.164), so the
/// first of 1, 2 or 3 digits that is assigned is the code.
pub fn calling_code(e164: &str) -> Option<u16> {
    let digits = e164.strip_prefix('+')?.as_bytes();
    if digits.first() == Some(&b'0') {
        return None;
    }
    let assigned = assigned_codes();
    let mut code: u16 = 0;
    for d in digits.iter().take(3) {
        if !d.is_ascii_digit() {
            return None;
        }
        code = code * 10 + u16::from(d - b'0');
        if assigned.get(usize::from(code)).copied().unwrap_or(false) {
            return Some(code);
        }
    }
    None
}

/// Which numbers 0..1000 are assigned calling codes, read once from the number plan metadata.
fn assigned_codes() -> &'static [bool; 1000] {
    static CODES: OnceLock<[bool; 1000]> = OnceLock::new();
    CODES.get_or_init(|| {
        let mut codes = [false; 1000];
        // Probed by code rather than read by region: the non-geographic codes (800, 882...)
        // share one region id, so a walk over regions would see only one of them.
        for (code, slot) in (0u16..).zip(codes.iter_mut()) {
            *slot = phonenumber::metadata::DATABASE.by_code(&code).is_some();
        }
        codes
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use ConsentStatus::*;
    use proptest::prelude::*;

    const NOW: Timestamp = Timestamp::from_millis(1_763_719_200_000);
    const HOUR: i64 = 3_600_000;

    fn sms(level: ConsentLevel) -> Sender<'static> {
        Sender {
            kind: ChannelKind::Sms,
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

    const US: &str = "+12125550100";

    #[test]
    fn calling_codes() {
        assert_eq!(calling_code("+14155550100"), Some(1));
        assert_eq!(calling_code("+447400123456"), Some(44));
        assert_eq!(calling_code("+353861234567"), Some(353));
        assert_eq!(calling_code("+79161234567"), Some(7));
        assert_eq!(calling_code("+8613800138000"), Some(86));
        assert_eq!(calling_code("+80012345678"), Some(800));
        assert_eq!(calling_code("14155550100"), None);
        assert_eq!(calling_code("+"), None);
        assert_eq!(calling_code("+0123"), None);
        assert_eq!(calling_code("+28"), None, "28 is not assigned");
        assert_eq!(calling_code("+4a"), None);
        assert_eq!(calling_code("ACME"), None);
    }

    #[test]
    fn same_country_compares_calling_codes() {
        assert!(
            same_country("+14155550100", "+16135550100"),
            "US and CA share +1"
        );
        assert!(same_country("+447400123456", "+447700900123"));
        assert!(!same_country("+447400123456", "+353861234567"));
        assert!(same_country("+33612345678", "+3361234"));
        assert!(!same_country("ACME", "ACME"));
        assert!(!same_country("+14155550100", "garbage"));
    }

    #[test]
    fn opt_out_comes_first() {
        for kind in [CampaignKind::Marketing, CampaignKind::Broadcast] {
            for level in ConsentLevel::ALL {
                assert_eq!(
                    exclusion(
                        kind,
                        true,
                        &sms(*level),
                        &to(Some(OptedOut), "+447400123456"),
                        NOW
                    ),
                    Some(Exclusion::OptedOut)
                );
            }
        }
    }

    #[test]
    fn marketing_needs_the_channels_level() {
        let m = CampaignKind::Marketing;
        let ex = |level, consent| exclusion(m, false, &sms(level), &to(consent, US), NOW);
        assert_eq!(ex(ConsentLevel::Implicit, None), Some(Exclusion::NoConsent));
        assert_eq!(ex(ConsentLevel::Implicit, Some(ImplicitlyOptedIn)), None);
        assert_eq!(
            ex(ConsentLevel::Explicit, Some(ImplicitlyOptedIn)),
            Some(Exclusion::ConsentTooLow)
        );
        assert_eq!(ex(ConsentLevel::Explicit, Some(ExplicitlyOptedIn)), None);
        assert_eq!(
            ex(ConsentLevel::Double, Some(ExplicitlyOptedIn)),
            Some(Exclusion::ConsentTooLow)
        );
        assert_eq!(ex(ConsentLevel::Double, Some(DoublyOptedIn)), None);
    }

    #[test]
    fn broadcasts_need_explicit_opt_in_whatever_the_level() {
        let b = CampaignKind::Broadcast;
        let ex = |level, consent| exclusion(b, true, &sms(level), &to(consent, US), NOW);
        assert_eq!(ex(ConsentLevel::Implicit, None), Some(Exclusion::NoConsent));
        assert_eq!(
            ex(ConsentLevel::Implicit, Some(ImplicitlyOptedIn)),
            Some(Exclusion::NotExplicitlyOptedIn)
        );
        assert_eq!(ex(ConsentLevel::Implicit, Some(ExplicitlyOptedIn)), None);
        assert_eq!(ex(ConsentLevel::Implicit, Some(DoublyOptedIn)), None);
        assert_eq!(
            ex(ConsentLevel::Double, Some(ExplicitlyOptedIn)),
            Some(Exclusion::NotExplicitlyOptedIn)
        );
    }

    #[test]
    fn sms_only_to_the_senders_country() {
        let m = CampaignKind::Marketing;
        let s = sms(ConsentLevel::Implicit);
        let ok = Some(ImplicitlyOptedIn);
        assert_eq!(exclusion(m, false, &s, &to(ok, "+16135550100"), NOW), None);
        assert_eq!(
            exclusion(m, false, &s, &to(ok, "+447400123456"), NOW),
            Some(Exclusion::OutOfCountry)
        );
        assert_eq!(
            exclusion(m, false, &s, &to(ok, "not a number"), NOW),
            Some(Exclusion::OutOfCountry)
        );
        // Consent is checked before country.
        assert_eq!(
            exclusion(m, false, &s, &to(None, "+447400123456"), NOW),
            Some(Exclusion::NoConsent)
        );
        // A short code has no calling code to compare.
        let short = Sender {
            address: "12345",
            ..s
        };
        assert_eq!(
            exclusion(m, false, &short, &to(ok, "+16135550100"), NOW),
            None
        );
        // WhatsApp reaches every country.
        let wa = Sender {
            kind: ChannelKind::Whatsapp,
            ..s
        };
        assert_eq!(exclusion(m, true, &wa, &to(ok, "+447400123456"), NOW), None);
    }

    #[test]
    fn whatsapp_free_text_only_inside_the_care_window() {
        let m = CampaignKind::Marketing;
        let wa = Sender {
            kind: ChannelKind::Whatsapp,
            consent_level: ConsentLevel::Implicit,
            address: "+14155550000",
        };
        let at = |hours_ago: i64| Recipient {
            consent: Some(ExplicitlyOptedIn),
            address: "+447400123456",
            last_customer_at: Some(Timestamp::from_millis(NOW.millis() - hours_ago * HOUR)),
        };
        assert_eq!(exclusion(m, false, &wa, &at(23), NOW), None);
        assert_eq!(
            exclusion(m, false, &wa, &at(24), NOW),
            Some(Exclusion::OutsideCareWindow)
        );
        assert_eq!(
            exclusion(m, false, &wa, &to(Some(ExplicitlyOptedIn), US), NOW),
            Some(Exclusion::OutsideCareWindow),
            "never wrote"
        );
        assert_eq!(exclusion(m, true, &wa, &at(500), NOW), None);
        assert_eq!(
            exclusion(m, true, &wa, &to(Some(ExplicitlyOptedIn), US), NOW),
            None
        );
        // SMS has no window.
        assert_eq!(
            exclusion(m, false, &sms(ConsentLevel::Explicit), &at(500), NOW).map(|_| ()),
            Some(())
        );
        let r = Recipient {
            address: US,
            ..at(500)
        };
        assert_eq!(
            exclusion(m, false, &sms(ConsentLevel::Explicit), &r, NOW),
            None
        );
    }

    #[test]
    fn same_country_cost() {
        // A rough figure, printed only: it runs twice per recipient of a million.
        let n = 200_000u32;
        // The number plan loads on first use; that is paid once per process, not per call.
        assert!(same_country("+1", "+1"));
        let start = std::time::Instant::now();
        let mut hits = 0;
        for _ in 0..n {
            hits += usize::from(same_country(
                std::hint::black_box("+14155550100"),
                std::hint::black_box("+16135550100"),
            ));
        }
        assert_eq!(hits, n as usize);
        println!("same_country: {:?} per call", start.elapsed() / n);
    }

    fn any_consent() -> impl Strategy<Value = Option<ConsentStatus>> {
        proptest::option::of(proptest::sample::select(ConsentStatus::ALL.to_vec()))
    }

    proptest! {
        #[test]
        fn an_excluded_marketing_recipient_is_excluded_from_a_broadcast(
            level in proptest::sample::select(ConsentLevel::ALL.to_vec()),
            consent in any_consent(),
            kind in proptest::sample::select(vec![ChannelKind::Sms, ChannelKind::Whatsapp]),
            hours in proptest::option::of(0i64..100),
            template in any::<bool>(),
        ) {
            let sender = Sender { kind, consent_level: level, address: "+14155550000" };
            let r = Recipient {
                consent,
                address: US,
                last_customer_at: hours.map(|h| Timestamp::from_millis(NOW.millis() - h * HOUR)),
            };
            if exclusion(CampaignKind::Marketing, template, &sender, &r, NOW).is_some() {
                prop_assert!(exclusion(CampaignKind::Broadcast, template, &sender, &r, NOW).is_some());
            }
            if consent == Some(OptedOut) {
                prop_assert_eq!(exclusion(CampaignKind::Marketing, template, &sender, &r, NOW), Some(Exclusion::OptedOut));
            }
        }

        #[test]
        fn same_country_is_symmetric_and_never_panics(a in "\\+?[0-9a]{0,6}", b in "\\+?[0-9]{0,6}") {
            prop_assert_eq!(same_country(&a, &b), same_country(&b, &a));
            if same_country(&a, &b) {
                prop_assert!(same_country(&a, &a));
            }
        }
    }
}

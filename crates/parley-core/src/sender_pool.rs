//! Which channel of a pool sends a message (issue 13: a Twilio `MessagingServiceSid`).
//!
//! Twilio's messaging services pick the sender with Sticky Sender (the number that already
//! messaged this recipient through the service keeps doing so) and Country Code Geomatch (a
//! number of the recipient's country), and Twilio breaks a sticky mapping when a sender local to
//! the destination is in the pool. Parley keeps those two rules and, when neither applies, takes
//! the first channel in the pool's own order, so the choice is reproducible (Twilio then tries a
//! US number, then a random one). The caller narrows the pool to the recipient's channel kind
//! (SMS or WhatsApp) first.

use uuid::Uuid;

/// A channel of the pool, in the pool's order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoolSender {
    pub channel_id: Uuid,
    /// ISO 3166 alpha-2 of the channel's number, if known.
    pub country: Option<String>,
}

/// The sender for a recipient whose country is `to_country`, given `sticky`: the channel that
/// sent this service's last message to the same recipient, if any. `None` only for an empty pool.
pub fn choose_sender(
    pool: &[PoolSender],
    sticky: Option<Uuid>,
    to_country: Option<&str>,
) -> Option<Uuid> {
    let matches = |s: &PoolSender| matches!((s.country.as_deref(), to_country), (Some(a), Some(b)) if a.eq_ignore_ascii_case(b));
    let sticky = sticky.and_then(|id| pool.iter().find(|s| s.channel_id == id));
    let local = pool.iter().find(|s| matches(s));
    match (sticky, local) {
        // A local sender wins over a sticky one from abroad, as Twilio breaks such a mapping.
        (Some(s), Some(l)) if !matches(s) => Some(l.channel_id),
        (Some(s), _) => Some(s.channel_id),
        (None, Some(l)) => Some(l.channel_id),
        (None, None) => pool.first().map(|s| s.channel_id),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn sender(n: u128, country: Option<&str>) -> PoolSender {
        PoolSender {
            channel_id: Uuid::from_u128(n),
            country: country.map(str::to_owned),
        }
    }

    #[test]
    fn sticky_then_country_then_pool_order() {
        let pool = [
            sender(1, Some("US")),
            sender(2, Some("GB")),
            sender(3, Some("GB")),
        ];
        // No history: the first of the recipient's country.
        assert_eq!(
            choose_sender(&pool, None, Some("GB")),
            Some(Uuid::from_u128(2))
        );
        // The sender that already wrote to this person keeps doing so.
        assert_eq!(
            choose_sender(&pool, Some(Uuid::from_u128(3)), Some("GB")),
            Some(Uuid::from_u128(3))
        );
        // A sticky sender from abroad gives way to a local one.
        assert_eq!(
            choose_sender(&pool, Some(Uuid::from_u128(1)), Some("GB")),
            Some(Uuid::from_u128(2))
        );
        // ...but stays when no sender is local.
        assert_eq!(
            choose_sender(&pool, Some(Uuid::from_u128(2)), Some("FR")),
            Some(Uuid::from_u128(2))
        );
        // No country match, no history: pool order.
        assert_eq!(
            choose_sender(&pool, None, Some("FR")),
            Some(Uuid::from_u128(1))
        );
        assert_eq!(choose_sender(&pool, None, None), Some(Uuid::from_u128(1)));
        // A sticky channel no longer in the pool is ignored.
        assert_eq!(
            choose_sender(&pool, Some(Uuid::from_u128(9)), Some("GB")),
            Some(Uuid::from_u128(2))
        );
        assert_eq!(choose_sender(&[], None, Some("US")), None);
    }

    proptest! {
        #[test]
        fn the_choice_is_in_the_pool(
            countries in proptest::collection::vec(proptest::option::of("(US|GB|FR)"), 0..6),
            sticky in proptest::option::of(0u128..8),
            to in proptest::option::of("(US|GB|FR|DE)"),
        ) {
            let pool: Vec<PoolSender> = countries
                .iter()
                .enumerate()
                .map(|(i, c)| sender(i as u128, c.as_deref()))
                .collect();
            let chosen = choose_sender(&pool, sticky.map(Uuid::from_u128), to.as_deref());
            prop_assert_eq!(chosen.is_some(), !pool.is_empty());
            if let Some(id) = chosen {
                let s = pool.iter().find(|s| s.channel_id == id);
                prop_assert!(s.is_some());
                // Whenever a local sender exists, a local sender is chosen.
                let any_local = pool.iter().any(|s| s.country.is_some() && s.country == to);
                if any_local {
                    prop_assert!(s.is_some_and(|s| s.country == to));
                }
            }
        }
    }
}

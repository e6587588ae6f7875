//! The one message catalogue (WEB-06, CO-18): every text Parley writes itself — the console, the
//! simulator, automatic replies — is a key looked up here in the reader's language. Each area of
//! the product keeps its texts in its own file, `locales/<lang>/<area>.json` (a flat object of
//! `"area.key": "text"`, `{name}` for a value filled in), listed once in [`FILES`] below; every
//! language has the same keys (a test checks).

use std::collections::HashMap;
use std::sync::OnceLock;

crate::wire_enum! {
    /// A language of the catalogue, chosen per agent.
    pub enum Locale: "locale" {
        En = "en",
        Fr = "fr",
    }
}

/// One area's texts in each language, in `Locale::ALL`'s order.
macro_rules! area {
    ($name:literal) => {
        (
            $name,
            [
                include_str!(concat!("../locales/en/", $name, ".json")),
                include_str!(concat!("../locales/fr/", $name, ".json")),
            ],
        )
    };
}

/// Every area's file. Add a line for a new area (one line each, so parallel work merges cleanly).
const FILES: &[(&str, [&str; 2])] = &[
    area!("common"),
    area!("admin"),
    area!("campaigns"),
    area!("flows"),
    area!("webhooks"),
    area!("tokens"),
    area!("twilio"),
    area!("notification_errors"),
    area!("web_deployments"),
    area!("keysets"),
    area!("widget"),
    area!("login"),
    area!("console"),
    area!("supervisor"),
    area!("simulator"),
    area!("auto"),
    area!("translations"),
    area!("conversation"),
    area!("permissions"),
    area!("limits"),
    area!("privacy"),
    area!("sensitive_data"),
    area!("erasure"),
    area!("reports"),
    area!("retention"),
    area!("audit"),
    area!("notes"),
    area!("tags"),
    area!("search"),
    area!("composer"),
    area!("queue_pick"),
    area!("templates"),
    area!("channel_settings"),
];

type Table = HashMap<&'static str, &'static str>;

struct Tables {
    en: Table,
    fr: Table,
}

fn tables() -> &'static Tables {
    static TABLES: OnceLock<Tables> = OnceLock::new();
    TABLES.get_or_init(|| {
        let mut out = Tables {
            en: Table::new(),
            fr: Table::new(),
        };
        for (area, [en, fr]) in FILES {
            for (table, json) in [(&mut out.en, en), (&mut out.fr, fr)] {
                // Compiled-in files, checked by the tests below: a broken one is a build defect.
                let map: HashMap<String, String> = serde_json::from_str(json)
                    .unwrap_or_else(|e| panic!("locales/*/{area}.json: {e}"));
                for (k, v) in map {
                    table.insert(Box::leak(k.into_boxed_str()), Box::leak(v.into_boxed_str()));
                }
            }
        }
        out
    })
}

/// The whole catalogue of one language, for the console's script.
pub fn catalogue(locale: Locale) -> &'static HashMap<&'static str, &'static str> {
    let t = tables();
    match locale {
        Locale::En => &t.en,
        Locale::Fr => &t.fr,
    }
}

/// The text of `key` in `locale`; the English text if the key is missing there, and the key
/// itself if it is missing everywhere (a test keeps both from happening).
pub fn text(locale: Locale, key: &str) -> &str {
    catalogue(locale)
        .get(key)
        .or_else(|| tables().en.get(key))
        .copied()
        .unwrap_or(key)
}

/// [`text`] with each `{name}` replaced by its value.
pub fn format(locale: Locale, key: &str, values: &[(&str, &str)]) -> String {
    let mut out = text(locale, key).to_owned();
    for (name, value) in values {
        out = out.replace(&format!("{{{name}}}"), value);
    }
    out
}

/// The first language of an `Accept-Language` header the catalogue has (`fr-CA;q=0.9` is French),
/// by the header's weights; English when none is.
pub fn from_accept_language(header: &str) -> Locale {
    let mut best: Option<(f32, Locale)> = None;
    for part in header.split(',') {
        let mut fields = part.split(';');
        let tag = fields
            .next()
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase();
        let q = fields
            .filter_map(|f| f.trim().strip_prefix("q="))
            .find_map(|v| v.trim().parse::<f32>().ok())
            .unwrap_or(1.0);
        let primary = tag.split(['-', '_']).next().unwrap_or_default();
        let Ok(locale) = primary.parse::<Locale>() else {
            continue;
        };
        if q > 0.0 && best.is_none_or(|(b, _)| q > b) {
            best = Some((q, locale));
        }
    }
    best.map_or(Locale::En, |(_, l)| l)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_language_has_every_key() {
        let en = catalogue(Locale::En);
        for locale in Locale::ALL {
            let other = catalogue(*locale);
            for k in en.keys() {
                assert!(other.contains_key(k), "{k} missing in {locale}");
            }
            for k in other.keys() {
                assert!(en.contains_key(k), "{k} in {locale} but not in en");
            }
        }
    }

    #[test]
    fn accept_language_picks_the_best_known_language() {
        assert_eq!(from_accept_language("fr-CA,fr;q=0.9,en;q=0.8"), Locale::Fr);
        assert_eq!(
            from_accept_language("de-DE, en;q=0.5, fr;q=0.7"),
            Locale::Fr
        );
        assert_eq!(from_accept_language("de, es"), Locale::En);
        assert_eq!(from_accept_language("fr;q=0, en"), Locale::En);
        assert_eq!(from_accept_language(""), Locale::En);
    }

    #[test]
    fn lookups_fall_back() {
        assert_eq!(text(Locale::Fr, "common.save"), "Enregistrer");
        assert_eq!(text(Locale::En, "no.such.key"), "no.such.key");
        assert_eq!(format(Locale::En, "no.{x}", &[("x", "y")]), "no.y");
    }
}

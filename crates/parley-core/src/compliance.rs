//! The content rules of a short code's help response (CO-12, CO-16), checked when a help text is
//! saved so that an admin learns what is missing before a carrier audit does.
//!
//! CO-16 asks for five things, and the short-code guide's closing example adds a sixth: the program
//! name, what the program sends (its description), a help contact (a toll-free number or a support
//! email, a web address beside them), the disclaimer "Msg&data rates may apply", the message
//! frequency, and how to opt out ("Text STOP to cancel"); CO-12 caps the text at 160 characters.
//! A checker cannot understand prose, so each element is recognised by the shape the guide's
//! example gives it (`[Campaign Name] [Description] Alerts: Help at [source of help] ...`):
//!
//! - the name and description are the label before the first colon, at least two words of it
//!   ("Acme Account Alerts:"); a one-word label is a name without a description;
//! - a help contact is an email address, a web address, or a phone number of at least seven digits
//!   (a five-digit short code is where the customer already is, not a help source);
//! - the disclaimer is "Msg&data rates may apply", with "message" for "msg" and "and" for "&"
//!   accepted;
//! - the frequency is a count of messages per period ("1 msg/day", "2 messages per month") or the
//!   word "frequency" ("Msg frequency varies", which CO-16 accepts);
//! - the opt-out is the word STOP, or another default opt-out keyword written in capitals.
//!
//! The phrases are English, with the French forms a Canadian short code's AIDE answer uses (CO-18:
//! "Des frais de messagerie texte et de données peuvent s'appliquer", "fréquence", ARRET). In any
//! other language only the language-neutral elements are checked (name and description label, help
//! contact, length): Parley cannot tell whether a Polish sentence states a frequency.
//!
//! The rules are the short-code guide's, so the services refuse a short code's help text that fails
//! them ([`applies_to`]); other number types may use the checker as advice.

use crate::keywords::{
    CANADA_FRENCH_OPT_OUT, DEFAULT_OPT_OUT, Language, SHORT_CODE_RESPONSE_MAX, normalize,
};
use crate::model::NumberType;

/// One element CO-16 asks of a help response.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HelpElement {
    ProgramName,
    Description,
    HelpContact,
    Disclaimer,
    Frequency,
    OptOut,
}

impl HelpElement {
    pub const ALL: [Self; 6] = [
        Self::ProgramName,
        Self::Description,
        Self::HelpContact,
        Self::Disclaimer,
        Self::Frequency,
        Self::OptOut,
    ];

    /// What the element is, with an example, for an admin reading a refusal.
    pub const fn describe(self) -> &'static str {
        match self {
            Self::ProgramName => {
                "the program name at the start, followed by a colon (\"Acme Account Alerts: ...\")"
            }
            Self::Description => {
                "what the program sends, after its name and before the colon (\"Acme Account Alerts: ...\")"
            }
            Self::HelpContact => {
                "a help contact: a toll-free number, a support email or a web address"
            }
            Self::Disclaimer => "the disclaimer \"Msg&data rates may apply.\"",
            Self::Frequency => {
                "the message frequency (\"1 msg/day\", \"2 msgs per month\" or \"Msg frequency varies\")"
            }
            Self::OptOut => "how to opt out (\"Text STOP to cancel\")",
        }
    }
}

/// One way a help response falls short of CO-12 and CO-16.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
pub enum HelpProblem {
    #[error("it lacks {}", .0.describe())]
    Missing(HelpElement),
    #[error(
        "it is {length} characters long; short code auto-responses may have at most {SHORT_CODE_RESPONSE_MAX}"
    )]
    TooLong { length: usize },
}

/// Whether CO-12 and CO-16 bind a help response sent from this number type: they are the
/// short-code guide's rules.
pub fn applies_to(number_type: Option<NumberType>) -> bool {
    number_type.is_some_and(NumberType::is_short_code)
}

/// Everything `text`, a help response in `language`, lacks by CO-16, and its excess length when it
/// is sent from a short code (CO-12). Empty when the text is compliant.
pub fn help_message_problems(
    text: &str,
    number_type: Option<NumberType>,
    language: &Language,
) -> Vec<HelpProblem> {
    let phrases = Phrases::of(language);
    let label = label_words(text);
    let mut found = vec![
        (HelpElement::ProgramName, label >= 1),
        (HelpElement::Description, label >= 2),
        (HelpElement::HelpContact, has_contact(text)),
    ];
    if let Some(p) = phrases {
        let folded = normalize(text);
        found.push((HelpElement::Disclaimer, (p.disclaimer)(&folded)));
        found.push((HelpElement::Frequency, has_frequency(&folded, p)));
        found.push((HelpElement::OptOut, has_opt_out(text)));
    }
    let mut problems: Vec<HelpProblem> = found
        .into_iter()
        .filter(|(_, ok)| !ok)
        .map(|(element, _)| HelpProblem::Missing(element))
        .collect();
    let length = text.chars().count();
    if applies_to(number_type) && length > SHORT_CODE_RESPONSE_MAX {
        problems.push(HelpProblem::TooLong { length });
    }
    problems
}

/// The problems in words, one sentence, for a refusal naming the text they are about.
pub fn describe_problems(problems: &[HelpProblem]) -> String {
    problems
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

/// The help response a channel gets when its admin has written none: the guide's example with the
/// channel's name as the program, "Alerts" as what it sends, "Msg frequency varies" (which CO-16
/// accepts), and the help contact the channel's settings give. Without a contact it cannot pass
/// CO-16, so a short code without one is refused at save time and the admin told to add it.
pub fn default_help_response(program: &str, help_contact: Option<&str>) -> String {
    let program = program.trim();
    let en = crate::i18n::Locale::En;
    match help_contact.map(str::trim).filter(|c| !c.is_empty()) {
        Some(contact) => crate::i18n::format(
            en,
            "auto.help_with_contact",
            &[("program", program), ("contact", contact)],
        ),
        None => crate::i18n::format(en, "auto.help", &[("program", program)]),
    }
}

/// The words of a language the content checks look for.
struct Phrases {
    disclaimer: fn(&str) -> bool,
    /// Words a frequency counts ("2 msgs ...").
    units: &'static [&'static str],
    /// Words between the count and the period ("... per month").
    per: &'static [&'static str],
    frequency_word: &'static str,
}

impl Phrases {
    fn of(language: &Language) -> Option<&'static Phrases> {
        match language.primary() {
            "en" => Some(&ENGLISH),
            "fr" => Some(&FRENCH),
            _ => None,
        }
    }
}

static ENGLISH: Phrases = Phrases {
    disclaimer: english_disclaimer,
    units: &[
        "msg", "msgs", "message", "messages", "text", "texts", "alert", "alerts",
    ],
    per: &["per", "a", "an", "each", "every"],
    frequency_word: "frequency",
};

static FRENCH: Phrases = Phrases {
    disclaimer: french_disclaimer,
    units: &[
        "msg", "msgs", "message", "messages", "texto", "textos", "sms", "alerte", "alertes",
    ],
    per: &["par", "chaque"],
    frequency_word: "frequence",
};

/// "Msg&data rates may apply", however spaced, with "message(s)" and "and" spelled out.
fn english_disclaimer(folded: &str) -> bool {
    let squeezed: String = folded
        .replace(" and ", "&")
        .replace("messages", "msg")
        .replace("message", "msg")
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    squeezed.find("msg&datarates").is_some_and(|at| {
        squeezed
            .get(at..)
            .is_some_and(|rest| rest.contains("mayapply"))
    })
}

/// "Des frais ... peuvent s'appliquer" (or "... s'appliquent"): charges may apply.
fn french_disclaimer(folded: &str) -> bool {
    folded.find("frais").is_some_and(|at| {
        folded
            .get(at..)
            .is_some_and(|rest| rest.contains("appliqu"))
    })
}

/// How many words the label before the first colon has: 0 when there is no label. A colon counts
/// only when a space or the end follows it, so `https://` and `9:00` are not labels, and a label
/// holding an address is not a name.
fn label_words(text: &str) -> usize {
    let mut chars = text.char_indices().peekable();
    while let Some((at, c)) = chars.next() {
        if c != ':' {
            continue;
        }
        let ends = chars.peek().is_none_or(|(_, next)| next.is_whitespace());
        if !ends {
            continue;
        }
        let label = text.get(..at).unwrap_or_default();
        if label.contains(['@', '/']) || !label.chars().any(char::is_alphabetic) {
            return 0;
        }
        return label.split_whitespace().count();
    }
    0
}

/// Trailing and leading punctuation that is sentence, not address.
fn trim_token(token: &str) -> &str {
    token.trim_matches(|c: char| {
        matches!(
            c,
            '.' | ',' | ';' | ':' | '!' | '?' | '(' | ')' | '"' | '\''
        )
    })
}

fn is_email(token: &str) -> bool {
    let Some((local, domain)) = token.split_once('@') else {
        return false;
    };
    !local.is_empty() && is_domain(domain)
}

/// `acme.example`, `help.acme.com`: labels of letters, digits and hyphens, the last all letters.
fn is_domain(domain: &str) -> bool {
    let parts: Vec<&str> = domain.split('.').collect();
    parts.len() >= 2
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.chars().all(|c| c.is_alphanumeric() || c == '-'))
        && parts
            .last()
            .is_some_and(|tld| tld.chars().count() >= 2 && tld.chars().all(char::is_alphabetic))
}

/// `https://acme.example/help`, `www.acme.example`, or a bare `acme.example/help`.
fn is_url(token: &str) -> bool {
    let lower = token.to_lowercase();
    let rest = lower
        .strip_prefix("https://")
        .or_else(|| lower.strip_prefix("http://"))
        .unwrap_or(&lower);
    is_domain(rest.split('/').next().unwrap_or_default())
}

/// A run of at least seven digits, possibly broken by spaces, dashes, dots or brackets.
fn has_phone(text: &str) -> bool {
    let mut digits = 0;
    for c in text.chars() {
        if c.is_ascii_digit() {
            digits += 1;
            if digits >= 7 {
                return true;
            }
        } else if !matches!(c, ' ' | '-' | '.' | '(' | ')' | '+') {
            digits = 0;
        }
    }
    false
}

fn has_contact(text: &str) -> bool {
    has_phone(text)
        || text
            .split_whitespace()
            .map(trim_token)
            .any(|t| is_email(t) || is_url(t))
}

fn is_count(word: &str) -> bool {
    (!word.is_empty() && word.chars().all(|c| c.is_ascii_digit()))
        || matches!(
            word,
            "one"
                | "two"
                | "three"
                | "four"
                | "five"
                | "six"
                | "seven"
                | "eight"
                | "nine"
                | "ten"
                | "un"
                | "une"
                | "deux"
                | "trois"
                | "quatre"
                | "cinq"
        )
}

/// "Msg frequency varies", or a count of messages per period: `2 msgs/month`, `1 message per day`,
/// `4 msgs / wk`.
fn has_frequency(folded: &str, phrases: &Phrases) -> bool {
    if folded.contains(phrases.frequency_word) {
        return true;
    }
    let words: Vec<&str> = folded
        .split(|c: char| c.is_whitespace())
        .map(|w| w.trim_matches(|c: char| matches!(c, '.' | ',' | ';' | ':' | '(' | ')')))
        .collect();
    words.windows(3).any(|w| {
        let [count, unit, next] = w else {
            return false;
        };
        if !is_count(count) {
            return false;
        }
        let (unit, period) = match unit.split_once('/') {
            Some((u, p)) => (u, Some(p)),
            None => (*unit, None),
        };
        phrases.units.contains(&unit)
            && match period {
                Some(p) => !p.is_empty() || !next.is_empty(),
                None => next.starts_with('/') || phrases.per.contains(next),
            }
    }) || words.windows(2).any(|w| {
        // "2 msgs/mo" at the very end of the text.
        let [count, unit] = w else {
            return false;
        };
        is_count(count)
            && unit
                .split_once('/')
                .is_some_and(|(u, p)| phrases.units.contains(&u) && !p.is_empty())
    })
}

/// The word STOP in any case, or another default opt-out keyword (English or Canadian French) in
/// capitals, as customers are told to text it.
fn has_opt_out(text: &str) -> bool {
    text.split(|c: char| !c.is_alphanumeric() && c != '\u{302}')
        .filter(|w| !w.is_empty())
        .any(|word| {
            let folded = normalize(word);
            folded == "stop"
                || (word.chars().all(|c| !c.is_lowercase())
                    && DEFAULT_OPT_OUT
                        .iter()
                        .chain(CANADA_FRENCH_OPT_OUT)
                        .any(|k| normalize(k) == folded))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = "Acme Account Alerts: Help at help@acme.example or 1-800-555-0100. Msg&data rates may apply. 1 msg/day. Text STOP to cancel.";
    const GOOD_FR: &str = "Alertes Acme : aide à aide@acme.example ou 1-800-555-0100. Des frais de messagerie peuvent s'appliquer. 1 msg/jour. Textez ARRET pour annuler.";

    fn en() -> Language {
        Language::english()
    }

    fn missing(text: &str) -> Vec<HelpElement> {
        help_message_problems(text, Some(NumberType::ShortCode), &en())
            .into_iter()
            .filter_map(|p| match p {
                HelpProblem::Missing(e) => Some(e),
                HelpProblem::TooLong { .. } => None,
            })
            .collect()
    }

    #[test]
    fn the_guides_example_passes() {
        assert_eq!(
            help_message_problems(GOOD, Some(NumberType::ShortCode), &en()),
            vec![]
        );
        assert_eq!(
            help_message_problems(GOOD_FR, Some(NumberType::ShortCode), &Language::french()),
            vec![]
        );
    }

    #[test]
    fn each_element_is_required() {
        let cases = [
            (
                "Help at help@acme.example. Msg&data rates may apply. 1 msg/day. Text STOP to cancel.",
                vec![HelpElement::ProgramName, HelpElement::Description],
            ),
            (
                "Acme: Help at help@acme.example. Msg&data rates may apply. 1 msg/day. Text STOP to cancel.",
                vec![HelpElement::Description],
            ),
            (
                "Acme Alerts: Help at our website. Msg&data rates may apply. 1 msg/day. Text STOP to cancel.",
                vec![HelpElement::HelpContact],
            ),
            (
                "Acme Alerts: Help at help@acme.example. 1 msg/day. Text STOP to cancel.",
                vec![HelpElement::Disclaimer],
            ),
            (
                "Acme Alerts: Help at help@acme.example. Msg&data rates may apply. Text STOP to cancel.",
                vec![HelpElement::Frequency],
            ),
            (
                "Acme Alerts: Help at help@acme.example. Msg&data rates may apply. 1 msg/day.",
                vec![HelpElement::OptOut],
            ),
            (
                "Acme: reply STOP to unsubscribe. Msg&data rates may apply.",
                vec![
                    HelpElement::Description,
                    HelpElement::HelpContact,
                    HelpElement::Frequency,
                ],
            ),
        ];
        for (text, expected) in cases {
            assert_eq!(missing(text), expected, "{text}");
        }
        assert_eq!(missing("Help in English."), HelpElement::ALL.to_vec());
    }

    #[test]
    fn the_usual_ways_of_writing_each_element_are_recognised() {
        let base = |contact: &str, disclaimer: &str, frequency: &str, stop: &str| {
            format!("Acme Alerts: Help at {contact}. {disclaimer}. {frequency}. {stop}")
        };
        for contact in [
            "help@acme.example",
            "(415) 555-0100",
            "+1 800 555 0100",
            "https://acme.example/help",
            "www.acme.example",
            "acme.example/help",
        ] {
            assert_eq!(
                missing(&base(
                    contact,
                    "Msg&data rates may apply",
                    "1 msg/day",
                    "Reply STOP to cancel"
                )),
                vec![],
                "{contact}"
            );
        }
        for disclaimer in [
            "Msg & data rates may apply",
            "Message and data rates may apply",
            "Std msg&data rates may apply",
            "MSG&DATA RATES MAY APPLY",
        ] {
            assert_eq!(
                missing(&base(
                    "help@acme.example",
                    disclaimer,
                    "1 msg/day",
                    "STOP to end"
                )),
                vec![],
                "{disclaimer}"
            );
        }
        for frequency in [
            "Msg frequency varies",
            "1 message per day",
            "2 msgs per month",
            "1 message per transaction",
            "Up to 4 msgs/mo",
            "4 msgs / week",
            "one alert a week",
        ] {
            assert_eq!(
                missing(&base(
                    "help@acme.example",
                    "Msg&data rates may apply",
                    frequency,
                    "Text STOP to quit"
                )),
                vec![],
                "{frequency}"
            );
        }
        for stop in [
            "Text stop to cancel",
            "Reply QUIT to end",
            "Reply UNSUBSCRIBE",
        ] {
            assert_eq!(
                missing(&base(
                    "help@acme.example",
                    "Msg&data rates may apply",
                    "1 msg/day",
                    stop
                )),
                vec![],
                "{stop}"
            );
        }
    }

    #[test]
    fn look_alikes_are_not_elements() {
        // A URL's colon is not a label; "1 message" with no period is not a frequency; "end" in a
        // sentence is not an opt-out instruction.
        assert_eq!(
            missing(
                "Visit https://acme.example. Msg&data rates may apply. You get 1 message. Until the end."
            ),
            vec![
                HelpElement::ProgramName,
                HelpElement::Description,
                HelpElement::Frequency,
                HelpElement::OptOut,
            ]
        );
        // The short code is where the customer already is, not a help source.
        assert_eq!(
            missing(
                "Acme Alerts: Help at 11221. Msg&data rates may apply. 1 msg/day. Text STOP to cancel."
            ),
            vec![HelpElement::HelpContact]
        );
        assert_eq!(
            missing("Rates may apply to msg&data."),
            HelpElement::ALL.to_vec()
        );
    }

    #[test]
    fn length_counts_on_short_codes_only() {
        let long = format!("{GOOD} {}", "More words here.".repeat(3));
        assert!(long.chars().count() > SHORT_CODE_RESPONSE_MAX);
        for number_type in [NumberType::ShortCode, NumberType::SharedShortCode] {
            assert_eq!(
                help_message_problems(&long, Some(number_type), &en()),
                vec![HelpProblem::TooLong {
                    length: long.chars().count()
                }]
            );
        }
        assert_eq!(
            help_message_problems(&long, Some(NumberType::LongCode), &en()),
            vec![]
        );
        assert_eq!(help_message_problems(&long, None, &en()), vec![]);
        assert!(applies_to(Some(NumberType::SharedShortCode)));
        assert!(!applies_to(Some(NumberType::TollFree)));
        assert!(!applies_to(None));
    }

    #[test]
    fn other_languages_get_the_language_neutral_checks() {
        let de = Language::new("de");
        assert_eq!(
            help_message_problems(
                "Acme Konto Alarme: Hilfe unter hilfe@acme.example.",
                None,
                &de
            ),
            vec![]
        );
        assert_eq!(
            help_message_problems("Hilfe unter hilfe@acme.example.", None, &de),
            vec![
                HelpProblem::Missing(HelpElement::ProgramName),
                HelpProblem::Missing(HelpElement::Description)
            ]
        );
        // French wording is checked in French.
        assert_eq!(
            help_message_problems("Aide en français.", None, &Language::new("fr-CA")).len(),
            HelpElement::ALL.len()
        );
    }

    #[test]
    fn the_default_help_response_passes_with_a_contact() {
        let text = default_help_response("Parley Demo", Some("help@demo.parley.test"));
        assert_eq!(
            help_message_problems(&text, Some(NumberType::ShortCode), &en()),
            vec![]
        );
        assert_eq!(
            help_message_problems(
                &default_help_response("Acme", Some("1-800-555-0100")),
                Some(NumberType::ShortCode),
                &en()
            ),
            vec![]
        );
        assert_eq!(
            missing(&default_help_response("Acme", None)),
            vec![HelpElement::HelpContact]
        );
        assert_eq!(
            missing(&default_help_response("Acme", Some("  "))),
            vec![HelpElement::HelpContact]
        );
    }

    #[test]
    fn problems_read_as_sentences() {
        let problems =
            help_message_problems("Help in English.", Some(NumberType::ShortCode), &en());
        let text = describe_problems(&problems);
        assert!(
            text.contains("it lacks a help contact: a toll-free number"),
            "{text}"
        );
        assert!(text.contains("\"Msg&data rates may apply.\""), "{text}");
        assert_eq!(
            HelpProblem::TooLong { length: 170 }.to_string(),
            "it is 170 characters long; short code auto-responses may have at most 160"
        );
    }
}

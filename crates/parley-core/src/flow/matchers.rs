//! How an `ask` step understands a reply: each [`Matcher`] either refuses it or gives the value
//! saved as `flow.<save_as>`. Texts are read trimmed; words and titles are compared in
//! [`keywords::normalize`]'s form (case and accents folded, edge punctuation dropped), so
//! "ARRÊT !" is the keyword `arret`.
//!
//! What each matcher saves:
//! - `keyword`, `any_word`, `any`: the reply trimmed (for `any`, the tapped option's id when the
//!   reply has a tap and no text);
//! - `option`: the option's id;
//! - `number`, `number_between`: the number as written, `+` dropped and a decimal comma read as a
//!   point (`1,5` -> `1.5`);
//! - `date`: `YYYY-MM-DD`; `email`: lower-cased; `phone`: E.164;
//! - `regex`: the first capture group when it took part in the match, else the whole match.

use regex::RegexBuilder;

use super::definition::Matcher;
use super::run::{ChoiceOption, Reply};
use crate::keywords::normalize;
use crate::phone::E164;

/// Largest compiled regular expression a flow may use (bytes of the compiled program), so a
/// pattern such as `\w{1000}{1000}` is refused instead of taking the worker's memory.
pub const REGEX_SIZE_LIMIT: usize = 1 << 20;

/// What a reply is read against besides itself.
#[derive(Debug, Clone, Copy, Default)]
pub struct MatchContext<'a> {
    /// The options of the last question sent ([`super::RunState::options`]), in their order:
    /// "2" is the second.
    pub options: &'a [ChoiceOption],
    /// The channel's country, for a phone number written without `+`: a calling code (`44`,
    /// `+1`) or an ISO 3166 region (`GB`). With a calling code shared by several regions (`1`),
    /// the region the numbering plan names as the code's main one reads it.
    pub country: Option<&'a str>,
}

/// The value saved when `matcher` accepts `reply`, `None` when it refuses it.
pub fn matches(matcher: &Matcher, reply: &Reply, ctx: &MatchContext<'_>) -> Option<String> {
    let text = reply.text.trim();
    match matcher {
        Matcher::Keyword { words } => {
            let folded = normalize(text);
            (!folded.is_empty() && words.iter().any(|w| normalize(w) == folded))
                .then(|| text.to_owned())
        }
        Matcher::AnyWord { words } => {
            let folded = normalize(text);
            let reply_words = split_words(&folded);
            words
                .iter()
                .any(|w| has_phrase(&reply_words, &split_words(&normalize(w))))
                .then(|| text.to_owned())
        }
        Matcher::Option { option } => option_matches(option, reply, ctx.options),
        Matcher::Number => parse_number(text).map(|(written, _)| written),
        Matcher::NumberBetween { min, max } => parse_number(text)
            .filter(|(_, n)| *min <= *n && *n <= *max)
            .map(|(written, _)| written),
        Matcher::Date => parse_date(text),
        Matcher::Email => parse_email(text),
        Matcher::Phone => parse_phone(text, ctx.country),
        Matcher::Regex { pattern } => regex_match(pattern, text),
        Matcher::Any => Some(match (&reply.choice, text.is_empty()) {
            (Some(choice), true) => choice.clone(),
            _ => text.to_owned(),
        }),
    }
}

/// Splits folded text into words at anything that is not a letter or a digit.
fn split_words(folded: &str) -> Vec<&str> {
    folded
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .collect()
}

fn has_phrase(words: &[&str], phrase: &[&str]) -> bool {
    !phrase.is_empty() && words.windows(phrase.len()).any(|w| w == phrase)
}

fn option_matches(wanted: &str, reply: &Reply, options: &[ChoiceOption]) -> Option<String> {
    if reply.choice.as_deref() == Some(wanted) {
        return Some(wanted.to_owned());
    }
    let text = reply.text.trim();
    if let Some(n) = option_number(text) {
        let picked = n.checked_sub(1).and_then(|i| options.get(i));
        return picked.filter(|o| o.id == wanted).map(|o| o.id.clone());
    }
    let folded = normalize(text);
    options
        .iter()
        .find(|o| o.id == wanted && !folded.is_empty() && normalize(&o.title) == folded)
        .map(|o| o.id.clone())
}

/// "2", "2.", "2)" and " 2 " are the second option of a numbered list.
fn option_number(text: &str) -> Option<usize> {
    let digits = text
        .strip_suffix('.')
        .or_else(|| text.strip_suffix(')'))
        .unwrap_or(text)
        .trim_end();
    if digits.is_empty() || digits.len() > 3 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// A number written as an optional sign, digits, and at most one decimal point or comma with
/// digits after it: its normalised form and its value. Thousands separators are refused, since
/// "1,500" would be one and a half in much of the world and fifteen hundred in the rest.
pub fn parse_number(text: &str) -> Option<(String, f64)> {
    let text = text.trim();
    let (sign, unsigned) = match text.as_bytes().first() {
        Some(b'-') => ("-", text.get(1..)?),
        Some(b'+') => ("", text.get(1..)?),
        _ => ("", text),
    };
    let (int, frac) = match unsigned.find(['.', ',']) {
        Some(at) => (unsigned.get(..at)?, Some(unsigned.get(at + 1..)?)),
        None => (unsigned, None),
    };
    let all_digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !all_digits(int) || frac.is_some_and(|f| !all_digits(f)) {
        return None;
    }
    let written = match frac {
        Some(f) => format!("{sign}{int}.{f}"),
        None => format!("{sign}{int}"),
    };
    let value: f64 = written.parse().ok()?;
    value.is_finite().then_some((written, value))
}

/// A calendar date as `YYYY-MM-DD`, or `DD/MM/YYYY` or `DD.MM.YYYY` (day and month may have one
/// digit); saved as `YYYY-MM-DD`. February 31st is not a date.
pub fn parse_date(text: &str) -> Option<String> {
    let text = text.trim();
    let (year, month, day) = if let Some((y, rest)) = text.split_once('-') {
        let (m, d) = rest.split_once('-')?;
        (
            fixed_digits(y, 4, 4)?,
            fixed_digits(m, 2, 2)?,
            fixed_digits(d, 2, 2)?,
        )
    } else {
        let sep = if text.contains('/') { '/' } else { '.' };
        let mut parts = text.split(sep);
        let (d, m, y) = (parts.next()?, parts.next()?, parts.next()?);
        if parts.next().is_some() {
            return None;
        }
        (
            fixed_digits(y, 4, 4)?,
            fixed_digits(m, 1, 2)?,
            fixed_digits(d, 1, 2)?,
        )
    };
    let date = jiff::civil::Date::new(
        i16::try_from(year).ok()?,
        i8::try_from(month).ok()?,
        i8::try_from(day).ok()?,
    )
    .ok()?;
    Some(format!(
        "{:04}-{:02}-{:02}",
        date.year(),
        date.month(),
        date.day()
    ))
}

fn fixed_digits(s: &str, min: usize, max: usize) -> Option<u32> {
    if !(min..=max).contains(&s.len()) || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// A pragmatic e-mail check: one `@`, something before it, a domain of dot-separated non-empty
/// labels with at least one dot after it, no whitespace. Saved lower-cased.
pub fn parse_email(text: &str) -> Option<String> {
    let text = text.trim();
    if text.chars().any(char::is_whitespace) {
        return None;
    }
    let (local, domain) = text.split_once('@')?;
    if local.is_empty() || domain.contains('@') || !domain.contains('.') {
        return None;
    }
    if domain.split('.').any(str::is_empty) {
        return None;
    }
    Some(text.to_lowercase())
}

/// A phone number in E.164: international (`+44 7400 123456`), or national and read in the
/// channel's country.
pub fn parse_phone(text: &str, country: Option<&str>) -> Option<String> {
    let text = text.trim();
    if text.starts_with('+') {
        return E164::parse(text).ok().map(E164::into_string);
    }
    let region = region_of(country?)?;
    E164::parse_with_region(text, Some(&region))
        .ok()
        .map(E164::into_string)
}

/// The ISO region that reads national numbers for a country given as a region or a calling code.
fn region_of(country: &str) -> Option<String> {
    let country = country.trim();
    if country.len() == 2 && country.bytes().all(|b| b.is_ascii_alphabetic()) {
        return Some(country.to_ascii_uppercase());
    }
    let code: u16 = country.strip_prefix('+').unwrap_or(country).parse().ok()?;
    let regions = phonenumber::metadata::DATABASE.by_code(&code)?;
    regions
        .iter()
        .find(|m| m.is_main_country_for_code())
        .or_else(|| regions.first())
        .map(|m| m.id().to_owned())
}

/// Compiles a flow's pattern with the size limit. A pattern that does not compile never matches
/// (validation refuses it at save). Compiled per use: nothing is cached process-wide.
pub fn compile_regex(pattern: &str) -> Result<regex::Regex, regex::Error> {
    RegexBuilder::new(pattern)
        .size_limit(REGEX_SIZE_LIMIT)
        .build()
}

fn regex_match(pattern: &str, text: &str) -> Option<String> {
    let re = compile_regex(pattern).ok()?;
    let caps = re.captures(text)?;
    caps.get(1)
        .or_else(|| caps.get(0))
        .map(|m| m.as_str().to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn reply(text: &str) -> Reply {
        Reply {
            text: text.into(),
            choice: None,
        }
    }

    fn options() -> Vec<ChoiceOption> {
        ["track", "return", "agent"]
            .iter()
            .zip(["Track my order", "Return an item", "Talk to an agent"])
            .map(|(id, title)| ChoiceOption {
                id: (*id).into(),
                title: title.into(),
            })
            .collect()
    }

    fn m(matcher: &Matcher, text: &str) -> Option<String> {
        matches(matcher, &reply(text), &MatchContext::default())
    }

    #[test]
    fn keyword_is_the_whole_reply_folded() {
        let stop = Matcher::Keyword {
            words: vec!["arret".into(), "talk to agent".into()],
        };
        assert_eq!(m(&stop, "  ARRÊT ! "), Some("ARRÊT !".into()));
        assert_eq!(m(&stop, "Talk  to AGENT."), Some("Talk  to AGENT.".into()));
        assert_eq!(m(&stop, "arret please"), None);
        assert_eq!(m(&stop, ""), None);
    }

    #[test]
    fn any_word_finds_a_whole_word_or_phrase_inside_the_reply() {
        let any = Matcher::AnyWord {
            words: vec!["agent".into(), "real person".into()],
        };
        assert!(m(&any, "I want an AGENT, now").is_some());
        assert!(m(&any, "a Real  Person please").is_some());
        assert_eq!(m(&any, "agents are busy"), None);
        assert_eq!(m(&any, "reagent"), None);
    }

    #[test]
    fn option_by_tap_number_or_title() {
        let opts = options();
        let ctx = MatchContext {
            options: &opts,
            country: None,
        };
        let ret = Matcher::Option {
            option: "return".into(),
        };
        for text in ["2", "2.", " 2 ", "2)", "return an ITEM", "Return an item!"] {
            assert_eq!(
                matches(&ret, &reply(text), &ctx),
                Some("return".into()),
                "{text:?}"
            );
        }
        for text in ["1", "3", "0", "4", "12", "return"] {
            assert_eq!(matches(&ret, &reply(text), &ctx), None, "{text:?}");
        }
        let tapped = Reply {
            text: "Return an item".into(),
            choice: Some("return".into()),
        };
        assert_eq!(matches(&ret, &tapped, &ctx), Some("return".into()));
        let tap_without_options = Reply {
            text: String::new(),
            choice: Some("return".into()),
        };
        assert_eq!(
            matches(&ret, &tap_without_options, &MatchContext::default()),
            Some("return".into())
        );
    }

    #[test]
    fn numbers_take_a_sign_and_a_decimal_point_or_comma() {
        assert_eq!(m(&Matcher::Number, "42"), Some("42".into()));
        assert_eq!(m(&Matcher::Number, " -3.5 "), Some("-3.5".into()));
        assert_eq!(m(&Matcher::Number, "1,5"), Some("1.5".into()));
        assert_eq!(m(&Matcher::Number, "+7"), Some("7".into()));
        for bad in [
            "", "-", "1 000", "1,000.5", "1.", ".5", "NaN", "inf", "1e5", "4two", "--1",
        ] {
            assert_eq!(m(&Matcher::Number, bad), None, "{bad:?}");
        }
        let overflow = "9".repeat(400);
        assert_eq!(m(&Matcher::Number, &overflow), None);
        let between = Matcher::NumberBetween { min: 1.0, max: 5.0 };
        assert_eq!(m(&between, "1"), Some("1".into()));
        assert_eq!(m(&between, "5,0"), Some("5.0".into()));
        assert_eq!(m(&between, "5.01"), None);
        assert_eq!(m(&between, "0"), None);
    }

    #[test]
    fn dates_are_iso_or_day_month_year_and_real() {
        assert_eq!(m(&Matcher::Date, "2024-02-29"), Some("2024-02-29".into()));
        assert_eq!(m(&Matcher::Date, "29/02/2024"), Some("2024-02-29".into()));
        assert_eq!(m(&Matcher::Date, "1.3.2025"), Some("2025-03-01".into()));
        for bad in [
            "31/02/2024",
            "29/02/2023",
            "2024-2-29",
            "2024-13-01",
            "12/31/2024",
            "01/02/24",
            "1/2/2024/5",
            "tomorrow",
            "",
        ] {
            assert_eq!(m(&Matcher::Date, bad), None, "{bad:?}");
        }
    }

    #[test]
    fn emails_are_checked_pragmatically_and_saved_lower_case() {
        assert_eq!(
            m(&Matcher::Email, " Zoe.O+x@Example.COM "),
            Some("zoe.o+x@example.com".into())
        );
        for bad in [
            "zoe@example",
            "@example.com",
            "zoe@@example.com",
            "zoe @example.com",
            "zoe@.example.com",
            "zoe@example.com.",
            "zoe",
        ] {
            assert_eq!(m(&Matcher::Email, bad), None, "{bad:?}");
        }
    }

    #[test]
    fn phones_with_plus_or_national_in_the_channel_country() {
        assert_eq!(
            m(&Matcher::Phone, "+44 7400 123456"),
            Some("+447400123456".into())
        );
        assert_eq!(m(&Matcher::Phone, "07400 123456"), None);
        for country in ["44", "+44", "GB", "gb"] {
            let ctx = MatchContext {
                options: &[],
                country: Some(country),
            };
            assert_eq!(
                matches(&Matcher::Phone, &reply("07400 123456"), &ctx),
                Some("+447400123456".into()),
                "{country}"
            );
        }
        let us = MatchContext {
            options: &[],
            country: Some("1"),
        };
        assert_eq!(
            matches(&Matcher::Phone, &reply("(415) 555-2671"), &us),
            Some("+14155552671".into())
        );
        assert_eq!(matches(&Matcher::Phone, &reply("12"), &us), None);
        assert_eq!(matches(&Matcher::Phone, &reply("call me"), &us), None);
    }

    #[test]
    fn regex_saves_the_first_capture_or_the_whole_match() {
        let six = Matcher::Regex {
            pattern: "^[0-9]{6}$".into(),
        };
        assert_eq!(m(&six, " 123456 "), Some("123456".into()));
        assert_eq!(m(&six, "1234567"), None);
        let captured = Matcher::Regex {
            pattern: "(?i)order\\s*#?([0-9]+)".into(),
        };
        assert_eq!(m(&captured, "It is ORDER #987 thanks"), Some("987".into()));
        let optional_group = Matcher::Regex {
            pattern: "ab(c)?".into(),
        };
        assert_eq!(m(&optional_group, "xab"), Some("ab".into()));
        let invalid = Matcher::Regex {
            pattern: "([a-z".into(),
        };
        assert_eq!(m(&invalid, "abc"), None);
        let huge = Matcher::Regex {
            pattern: "\\w{1000}{1000}".into(),
        };
        assert_eq!(m(&huge, "abc"), None);
    }

    #[test]
    fn any_accepts_everything_and_saves_the_tap_when_there_is_no_text() {
        assert_eq!(m(&Matcher::Any, "  whatever "), Some("whatever".into()));
        assert_eq!(m(&Matcher::Any, ""), Some(String::new()));
        let tap = Reply {
            text: " ".into(),
            choice: Some("yes".into()),
        };
        assert_eq!(
            matches(&Matcher::Any, &tap, &MatchContext::default()),
            Some("yes".into())
        );
    }

    proptest! {
        #[test]
        fn number_accepts_every_formatted_finite_f64_in_range(
            x in proptest::num::f64::NORMAL | proptest::num::f64::SUBNORMAL | proptest::num::f64::ZERO,
            comma in any::<bool>(),
        ) {
            let mut written = format!("{x}");
            if comma {
                written = written.replace('.', ",");
            }
            let exact = Matcher::NumberBetween { min: x, max: x };
            let saved = m(&exact, &written);
            prop_assert!(saved.is_some(), "{} refused", written);
            let back: f64 = saved.unwrap().parse().unwrap();
            prop_assert_eq!(back, x);
            prop_assert!(m(&Matcher::Number, &written).is_some());
        }

        #[test]
        fn option_accepts_its_own_number(
            titles in proptest::collection::vec("[a-zA-Z0-9 ]{0,10}", 1..15),
            pick in any::<prop::sample::Index>(),
            suffix in prop::sample::select(vec!["", ".", ")", " "]),
            pad in "[ ]{0,2}",
        ) {
            let opts: Vec<ChoiceOption> = titles
                .iter()
                .enumerate()
                .map(|(i, t)| ChoiceOption { id: format!("o{i}"), title: t.clone() })
                .collect();
            let i = pick.index(opts.len());
            let ctx = MatchContext { options: &opts, country: None };
            let wanted = Matcher::Option { option: opts[i].id.clone() };
            let text = format!("{pad}{}{suffix}{pad}", i + 1);
            prop_assert_eq!(matches(&wanted, &reply(&text), &ctx), Some(opts[i].id.clone()));
            if opts.len() > 1 {
                let other = Matcher::Option { option: opts[(i + 1) % opts.len()].id.clone() };
                prop_assert_eq!(matches(&other, &reply(&format!("{}", i + 1)), &ctx), None);
            }
        }

        #[test]
        fn matchers_never_panic(text in "\\PC{0,30}", pattern in "\\PC{0,12}") {
            let opts = options();
            let ctx = MatchContext { options: &opts, country: Some("44") };
            for matcher in [
                Matcher::Keyword { words: vec![text.clone()] },
                Matcher::AnyWord { words: vec![text.clone()] },
                Matcher::Option { option: "agent".into() },
                Matcher::Number,
                Matcher::NumberBetween { min: -1.0, max: 1.0 },
                Matcher::Date,
                Matcher::Email,
                Matcher::Phone,
                Matcher::Regex { pattern: pattern.clone() },
                Matcher::Any,
            ] {
                let _ = matches(&matcher, &reply(&text), &ctx);
            }
        }
    }
}

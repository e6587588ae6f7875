//! Sensitive-data rules (PRIV-03): what must never be stored or shown, found in a message's text
//! before anything is written, and removed or replaced.
//!
//! A rule has a scope (one channel or every channel), a detector (a pattern the administrator
//! writes, or a built-in card-number or national-id detector), an action, the authors whose text
//! it applies to, a priority (lower first) and an on/off switch. [`apply`] runs every enabled
//! rule that applies to a message, in priority order, and says which rules blocked something.
//!
//! Decisions where PRIV-03 is silent:
//!
//! - The administrator writes a JavaScript regular expression (the source, without slashes or
//!   flags), always case-sensitive. The `regex` crate runs it: it has no look-around and no
//!   back-references, so a pattern using them is refused at save time with a message naming them
//!   rather than run with another meaning. `\d`, `\w` and `\b` are ASCII, as in JavaScript;
//!   inline flags such as `(?i)` are not JavaScript and are refused. A pattern that matches
//!   empty text is refused (it would mask nothing).
//! - `replace` puts the replacement text in place of the whole match (`[card]` for a card
//!   number), not one character per matched character: a fixed text also hides the length.
//! - Masking runs to a fixed point: when removing or replacing text makes a new match appear
//!   (two halves brought together), the rules run again, so the output never contains anything
//!   an applicable rule would match. A replacement that would go on producing matches is
//!   refused at save time when it matches its own rule, and, should rules feed each other anyway,
//!   masking falls back to removing what still matches after a few rounds.
//! - Built-in detectors work on ASCII digits. A card number is 13 to 19 digits, with single
//!   spaces or dashes allowed between groups, kept only when the Luhn check passes; a longer run
//!   of digits is looked at group by group, so `4111 1111 1111 1111 12/29` still loses the card
//!   number. National ids, one format per rule: US Social Security number (`123-45-6789`,
//!   `123 45 6789` or nine digits; area not 000, 666 or 9xx, group not 00, serial not 0000),
//!   Canadian Social Insurance Number (`046 454 286`, dashes or nine digits; Luhn), UK National
//!   Insurance number (`AB 12 34 56 C`, with or without spaces, either case; the prefixes HMRC
//!   never issues are skipped) and French NIR (`1 85 05 78 006 084 91`, spaces optional, Corsican
//!   departments 2A/2B; the 97 key must hold).

use std::ops::Range;
use std::sync::LazyLock;

use regex::Regex;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

crate::wire_enum! {
    /// Whose text a rule applies to (PRIV-03: enforcement is on the author).
    pub enum RuleAuthor: "sensitive data author" {
        Customer = "customer",
        Agent = "agent",
        /// An agent whose role is supervisor (or admin).
        Supervisor = "supervisor",
        /// Texts the business wrote for Parley to send: automatic replies, flows and bots,
        /// notifications.
        Bot = "bot",
    }
}

crate::wire_enum! {
    /// How a rule finds what it masks.
    pub enum DetectorKind: "sensitive data detector" {
        Regex = "regex",
        CardNumber = "card_number",
        NationalId = "national_id",
    }
}

crate::wire_enum! {
    pub enum NationalIdFormat: "national id format" {
        UsSsn = "us_ssn",
        CaSin = "ca_sin",
        UkNino = "uk_nino",
        FrNir = "fr_nir",
    }
}

crate::wire_enum! {
    pub enum ActionKind: "sensitive data action" {
        Remove = "remove",
        Replace = "replace",
    }
}

/// Longest pattern, in characters.
pub const MAX_PATTERN: usize = 1_000;
/// Longest replacement text, in characters.
pub const MAX_REPLACEMENT: usize = 50;
/// Longest rule name, in characters.
pub const MAX_NAME: usize = 100;
/// Compiled pattern size the `regex` crate may use: a pattern written by a person never needs
/// more, and a pathological one is refused instead of eating memory on every message.
const REGEX_SIZE_LIMIT: usize = 1 << 20;
/// Rounds of every rule before masking falls back to removing what still matches.
const MAX_ROUNDS: usize = 4;

/// A rule as written (API, store): flat fields, checked by [`RuleFields::compile`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuleFields {
    pub name: String,
    /// `None`: every channel.
    pub channel_id: Option<Uuid>,
    pub detector: DetectorKind,
    /// The JavaScript regular expression of a `regex` detector.
    pub pattern: Option<String>,
    /// The format of a `national_id` detector.
    pub national_id_format: Option<NationalIdFormat>,
    pub action: ActionKind,
    /// What `replace` puts in place of each match.
    pub replacement: Option<String>,
    pub authors: Vec<RuleAuthor>,
    /// Lower runs first.
    pub priority: i32,
    pub enabled: bool,
}

/// Why a rule cannot be saved; each message names the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RuleError {
    #[error("name: must not be empty")]
    NameEmpty,
    #[error("name: at most {MAX_NAME} characters")]
    NameTooLong,
    #[error("pattern: a regex rule needs a pattern")]
    PatternMissing,
    #[error("pattern: at most {MAX_PATTERN} characters")]
    PatternTooLong,
    #[error(
        "pattern: look-ahead and look-behind ((?=, (?!, (?<=, (?<!) are not supported; \
         match the text itself instead"
    )]
    LookAround,
    #[error("pattern: back-references (\\1, \\k<name>) are not supported")]
    BackReference,
    #[error("pattern: inline flags such as (?i) are not JavaScript; rules are case-sensitive")]
    InlineFlags,
    #[error("pattern: {0}")]
    BadPattern(String),
    #[error("pattern: matches empty text, so it would mask nothing")]
    MatchesEmpty,
    #[error("pattern: only a regex rule has a pattern")]
    PatternNotUsed,
    #[error(
        "national_id_format: a national_id rule needs a format (us_ssn, ca_sin, uk_nino, fr_nir)"
    )]
    FormatMissing,
    #[error("authors: choose at least one of customer, agent, supervisor, bot")]
    NoAuthors,
    #[error("replacement: a replace rule needs the characters to put instead")]
    ReplacementMissing,
    #[error("replacement: at most {MAX_REPLACEMENT} characters")]
    ReplacementTooLong,
    #[error(
        "replacement: the replacement itself matches the rule, so the text would never be clean"
    )]
    ReplacementMatches,
}

/// A checked rule, ready to run.
#[derive(Debug, Clone)]
pub struct CompiledRule {
    pub id: Uuid,
    pub channel_id: Option<Uuid>,
    pub authors: Vec<RuleAuthor>,
    pub priority: i32,
    pub enabled: bool,
    matcher: Matcher,
    /// `None`: remove.
    replacement: Option<String>,
}

#[derive(Debug, Clone)]
enum Matcher {
    Pattern(Regex),
    CardNumber,
    NationalId(NationalIdFormat),
}

/// What [`apply`] made of a text.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Masked {
    pub text: String,
    /// The rules that found something, in the order they first did.
    pub blocked: Vec<Uuid>,
    /// How many matches were masked in all.
    pub matches: usize,
}

impl RuleFields {
    /// Checks every field and compiles the detector.
    pub fn compile(&self, id: Uuid) -> Result<CompiledRule, RuleError> {
        let name = self.name.trim();
        if name.is_empty() {
            return Err(RuleError::NameEmpty);
        }
        if name.chars().count() > MAX_NAME {
            return Err(RuleError::NameTooLong);
        }
        let pattern = self.pattern.as_deref().filter(|p| !p.is_empty());
        let matcher = match self.detector {
            DetectorKind::Regex => {
                Matcher::Pattern(compile_pattern(pattern.ok_or(RuleError::PatternMissing)?)?)
            }
            DetectorKind::CardNumber if pattern.is_some() => {
                return Err(RuleError::PatternNotUsed);
            }
            DetectorKind::NationalId if pattern.is_some() => {
                return Err(RuleError::PatternNotUsed);
            }
            DetectorKind::CardNumber => Matcher::CardNumber,
            DetectorKind::NationalId => {
                Matcher::NationalId(self.national_id_format.ok_or(RuleError::FormatMissing)?)
            }
        };
        if self.authors.is_empty() {
            return Err(RuleError::NoAuthors);
        }
        let replacement = match self.action {
            ActionKind::Remove => None,
            ActionKind::Replace => {
                let r = self
                    .replacement
                    .as_deref()
                    .filter(|r| !r.is_empty())
                    .ok_or(RuleError::ReplacementMissing)?;
                if r.chars().count() > MAX_REPLACEMENT {
                    return Err(RuleError::ReplacementTooLong);
                }
                if !matcher.find(r).is_empty() {
                    return Err(RuleError::ReplacementMatches);
                }
                Some(r.to_owned())
            }
        };
        let mut authors = self.authors.clone();
        authors.sort_by_key(|a| a.as_str());
        authors.dedup();
        Ok(CompiledRule {
            id,
            channel_id: self.channel_id,
            authors,
            priority: self.priority,
            enabled: self.enabled,
            matcher,
            replacement,
        })
    }
}

impl CompiledRule {
    /// Whether this rule looks at `author`'s text on `channel_id`.
    pub fn applies(&self, channel_id: Uuid, author: RuleAuthor) -> bool {
        self.enabled
            && self.channel_id.is_none_or(|c| c == channel_id)
            && self.authors.contains(&author)
    }

    /// Every non-empty match, in order, without overlaps.
    pub fn find(&self, text: &str) -> Vec<Range<usize>> {
        self.matcher.find(text)
    }

    /// One pass: each match replaced (or removed); `None` when nothing matched.
    fn mask_once(&self, text: &str, remove: bool) -> Option<(String, usize)> {
        let found = self.find(text);
        if found.is_empty() {
            return None;
        }
        let with = if remove {
            ""
        } else {
            self.replacement.as_deref().unwrap_or("")
        };
        let mut out = String::with_capacity(text.len());
        let mut at = 0;
        for m in &found {
            out.push_str(text.get(at..m.start).unwrap_or(""));
            out.push_str(with);
            at = m.end;
        }
        out.push_str(text.get(at..).unwrap_or(""));
        Some((out, found.len()))
    }
}

/// Masks `text` written by `author` on `channel_id` with every applicable rule of `rules`
/// (enabled, in scope, for that author), lowest priority first (ties by id). Nothing any of them
/// matches is left in the result.
pub fn apply(rules: &[CompiledRule], channel_id: Uuid, author: RuleAuthor, text: &str) -> Masked {
    let mut applicable: Vec<&CompiledRule> = rules
        .iter()
        .filter(|r| r.applies(channel_id, author))
        .collect();
    applicable.sort_by_key(|r| (r.priority, r.id));
    mask_with(&applicable, text)
}

/// [`apply`] with one rule regardless of its scope, authors and switch: the preview.
pub fn preview(rule: &CompiledRule, text: &str) -> Masked {
    mask_with(&[rule], text)
}

fn mask_with(rules: &[&CompiledRule], text: &str) -> Masked {
    let mut masked = Masked {
        text: text.to_owned(),
        ..Masked::default()
    };
    let note = |m: &mut Masked, rule: &CompiledRule, out: String, n: usize| {
        m.text = out;
        m.matches += n;
        if !m.blocked.contains(&rule.id) {
            m.blocked.push(rule.id);
        }
    };
    for _ in 0..MAX_ROUNDS {
        let mut changed = false;
        for rule in rules {
            if let Some((out, n)) = rule.mask_once(&masked.text, false) {
                note(&mut masked, rule, out, n);
                changed = true;
            }
        }
        if !changed {
            return masked;
        }
    }
    // Rules whose replacements keep feeding each other: removing always ends, since every
    // round makes the text shorter (matches are never empty).
    loop {
        let mut changed = false;
        for rule in rules {
            if let Some((out, n)) = rule.mask_once(&masked.text, true) {
                note(&mut masked, rule, out, n);
                changed = true;
            }
        }
        if !changed {
            return masked;
        }
    }
}

// ---- patterns ----

/// Turns the JavaScript source into the `regex` crate's syntax where they differ, refusing what
/// the crate cannot run with the same meaning.
fn translate_js(pattern: &str) -> Result<String, RuleError> {
    let mut out = String::with_capacity(pattern.len() + 16);
    let mut chars = pattern.chars().peekable();
    let mut in_class = false;
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                let Some(e) = chars.next() else {
                    return Err(RuleError::BadPattern("ends with a lone backslash".into()));
                };
                match e {
                    '1'..='9' => return Err(RuleError::BackReference),
                    'k' if chars.peek() == Some(&'<') => return Err(RuleError::BackReference),
                    'd' => out.push_str("[0-9]"),
                    'D' => out.push_str("[^0-9]"),
                    'w' => out.push_str("[0-9A-Za-z_]"),
                    'W' => out.push_str("[^0-9A-Za-z_]"),
                    'b' if !in_class => out.push_str("(?-u:\\b)"),
                    'B' if !in_class => out.push_str("(?-u:\\B)"),
                    '/' => out.push('/'),
                    _ => {
                        out.push('\\');
                        out.push(e);
                    }
                }
            }
            '[' if !in_class => {
                in_class = true;
                out.push('[');
                if chars.peek() == Some(&'^') {
                    chars.next();
                    out.push('^');
                }
                // JavaScript's `[]` never matches and `[^]` matches anything; the crate reads
                // a leading `]` as a literal.
                if chars.peek() == Some(&']') {
                    return Err(RuleError::BadPattern(
                        "an empty character class ([] or [^]) is not supported".into(),
                    ));
                }
            }
            ']' if in_class => {
                in_class = false;
                out.push(']');
            }
            // Literal in a JavaScript class, an operator (nesting, set operations) in the crate's.
            '[' | '&' | '~' if in_class => {
                out.push('\\');
                out.push(c);
            }
            '(' if !in_class && chars.peek() == Some(&'?') => {
                chars.next();
                let rest: String = chars.clone().take(2).collect();
                if rest.starts_with('=') || rest.starts_with('!') || rest == "<=" || rest == "<!" {
                    return Err(RuleError::LookAround);
                }
                if !(rest.starts_with(':') || rest.starts_with('<')) {
                    return Err(RuleError::InlineFlags);
                }
                out.push_str("(?");
            }
            _ => out.push(c),
        }
    }
    Ok(out)
}

fn compile_pattern(pattern: &str) -> Result<Regex, RuleError> {
    if pattern.chars().count() > MAX_PATTERN {
        return Err(RuleError::PatternTooLong);
    }
    let translated = translate_js(pattern)?;
    let re = regex::RegexBuilder::new(&translated)
        .size_limit(REGEX_SIZE_LIMIT)
        .build()
        .map_err(|e| {
            // The crate's message draws the pattern with a caret; its last line says why.
            let text = e.to_string();
            let why = text
                .lines()
                .rev()
                .find(|l| !l.trim().is_empty())
                .unwrap_or("invalid")
                .trim()
                .trim_start_matches("error: ")
                .to_owned();
            if why.contains("look-around") {
                RuleError::LookAround
            } else if why.contains("backreference") {
                RuleError::BackReference
            } else {
                RuleError::BadPattern(why)
            }
        })?;
    if re.is_match("") {
        return Err(RuleError::MatchesEmpty);
    }
    Ok(re)
}

// ---- built-in detectors ----

/// Runs of ASCII digits joined by single spaces or dashes.
static DIGIT_RUN: LazyLock<Option<Regex>> =
    LazyLock::new(|| Regex::new("[0-9]+(?:[ -][0-9]+)*").ok());
static NINO: LazyLock<Option<Regex>> =
    LazyLock::new(|| Regex::new("[A-Za-z]{2} ?[0-9]{2} ?[0-9]{2} ?[0-9]{2} ?[A-Da-d]").ok());
static NIR: LazyLock<Option<Regex>> = LazyLock::new(|| {
    Regex::new("[1-478] ?[0-9]{2} ?[0-9]{2} ?(?:[0-9]{2}|2[ABab]) ?[0-9]{3} ?[0-9]{3} ?[0-9]{2}")
        .ok()
});

/// One group of digits in a run, and the separator before it.
#[derive(Debug, Clone, Copy)]
struct Group<'a> {
    digits: &'a str,
    start: usize,
    end: usize,
    sep: Option<char>,
}

impl Matcher {
    fn find(&self, text: &str) -> Vec<Range<usize>> {
        match self {
            Matcher::Pattern(re) => re
                .find_iter(text)
                .map(|m| m.range())
                .filter(|r| !r.is_empty())
                .collect(),
            Matcher::CardNumber => digit_groups(text, is_card),
            Matcher::NationalId(NationalIdFormat::UsSsn) => digit_groups(text, is_ssn),
            Matcher::NationalId(NationalIdFormat::CaSin) => digit_groups(text, is_sin),
            Matcher::NationalId(NationalIdFormat::UkNino) => bounded(&NINO, text, is_nino),
            Matcher::NationalId(NationalIdFormat::FrNir) => bounded(&NIR, text, is_nir),
        }
    }
}

/// In each run of digit groups, the leftmost longest sequences of whole groups `accept` takes.
fn digit_groups(text: &str, accept: fn(&[Group<'_>]) -> bool) -> Vec<Range<usize>> {
    let Some(run_re) = DIGIT_RUN.as_ref() else {
        return Vec::new();
    };
    let mut found = Vec::new();
    for run in run_re.find_iter(text) {
        let mut groups = Vec::new();
        let mut at = run.start();
        let mut sep = None;
        for piece in run.as_str().split([' ', '-']) {
            groups.push(Group {
                digits: piece,
                start: at,
                end: at + piece.len(),
                sep,
            });
            at += piece.len();
            sep = text.get(at..).and_then(|s| s.chars().next());
            at += 1;
        }
        let mut i = 0;
        while i < groups.len() {
            let hit = (i + 1..=groups.len())
                .rev()
                .find(|&j| groups.get(i..j).is_some_and(accept));
            match hit {
                Some(j) => {
                    if let (Some(a), Some(b)) = (groups.get(i), groups.get(j - 1)) {
                        found.push(a.start..b.end);
                    }
                    i = j;
                }
                None => i += 1,
            }
        }
    }
    found
}

fn digits_of(groups: &[Group<'_>]) -> Vec<u8> {
    groups
        .iter()
        .flat_map(|g| g.digits.bytes().map(|b| b - b'0'))
        .collect()
}

fn lens(groups: &[Group<'_>]) -> Vec<usize> {
    groups.iter().map(|g| g.digits.len()).collect()
}

/// All separators inside `groups` are the same character.
fn same_sep(groups: &[Group<'_>]) -> bool {
    let mut seps = groups.iter().skip(1).map(|g| g.sep);
    match seps.next() {
        None => true,
        Some(first) => seps.all(|s| s == first),
    }
}

/// The Luhn check over decimal digits.
pub fn luhn(digits: &[u8]) -> bool {
    let sum: u32 = digits
        .iter()
        .rev()
        .enumerate()
        .map(|(i, &d)| {
            let d = u32::from(d);
            if i % 2 == 1 {
                let x = d * 2;
                if x > 9 { x - 9 } else { x }
            } else {
                d
            }
        })
        .sum();
    !digits.is_empty() && sum.is_multiple_of(10)
}

fn is_card(groups: &[Group<'_>]) -> bool {
    let d = digits_of(groups);
    (13..=19).contains(&d.len()) && luhn(&d)
}

fn is_ssn(groups: &[Group<'_>]) -> bool {
    let shape = lens(groups);
    if !(shape == [9] || (shape == [3, 2, 4] && same_sep(groups))) {
        return false;
    }
    let d = digits_of(groups);
    let num = |r: Range<usize>| {
        d.get(r)
            .map(|s| s.iter().fold(0u32, |n, &x| n * 10 + u32::from(x)))
            .unwrap_or(0)
    };
    let (area, group, serial) = (num(0..3), num(3..5), num(5..9));
    area != 0 && area != 666 && area < 900 && group != 0 && serial != 0
}

fn is_sin(groups: &[Group<'_>]) -> bool {
    let shape = lens(groups);
    if !(shape == [9] || (shape == [3, 3, 3] && same_sep(groups))) {
        return false;
    }
    luhn(&digits_of(groups))
}

/// Matches of `re` not glued to a letter or digit on either side, which `accept` takes.
fn bounded(
    re: &LazyLock<Option<Regex>>,
    text: &str,
    accept: fn(&str) -> bool,
) -> Vec<Range<usize>> {
    let Some(re) = re.as_ref() else {
        return Vec::new();
    };
    re.find_iter(text)
        .filter(|m| {
            let before = text
                .get(..m.start())
                .and_then(|s| s.chars().next_back())
                .is_some_and(char::is_alphanumeric);
            let after = text
                .get(m.end()..)
                .and_then(|s| s.chars().next())
                .is_some_and(char::is_alphanumeric);
            !before && !after && accept(m.as_str())
        })
        .map(|m| m.range())
        .collect()
}

fn is_nino(s: &str) -> bool {
    let compact: Vec<char> = s
        .chars()
        .filter(|c| *c != ' ')
        .map(|c| c.to_ascii_uppercase())
        .collect();
    let (Some(&a), Some(&b)) = (compact.first(), compact.get(1)) else {
        return false;
    };
    let prefix: String = [a, b].iter().collect();
    !"DFIQUV".contains(a)
        && !"DFIOQUV".contains(b)
        && !["BG", "GB", "NK", "KN", "TN", "NT", "ZZ"].contains(&prefix.as_str())
}

fn is_nir(s: &str) -> bool {
    let compact: String = s
        .chars()
        .filter(|c| *c != ' ')
        .map(|c| c.to_ascii_uppercase())
        .collect();
    let (Some(body), Some(key)) = (compact.get(..13), compact.get(13..15)) else {
        return false;
    };
    // Corsica: 2A counts as 19 and 2B as 18 in the key (INSEE's rule).
    let numeric = match (body.get(..5), body.get(5..7), body.get(7..)) {
        (Some(a), Some("2A"), Some(c)) => format!("{a}19{c}"),
        (Some(a), Some("2B"), Some(c)) => format!("{a}18{c}"),
        _ => body.to_owned(),
    };
    match (numeric.parse::<u64>(), key.parse::<u64>()) {
        (Ok(n), Ok(k)) => k == 97 - n % 97,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn fields(detector: DetectorKind) -> RuleFields {
        RuleFields {
            name: "r".into(),
            channel_id: None,
            detector,
            pattern: None,
            national_id_format: None,
            action: ActionKind::Remove,
            replacement: None,
            authors: vec![RuleAuthor::Customer],
            priority: 0,
            enabled: true,
        }
    }

    fn regex_rule(p: &str) -> RuleFields {
        RuleFields {
            pattern: Some(p.into()),
            ..fields(DetectorKind::Regex)
        }
    }

    fn replace(f: RuleFields, with: &str) -> RuleFields {
        RuleFields {
            action: ActionKind::Replace,
            replacement: Some(with.into()),
            ..f
        }
    }

    fn national(f: NationalIdFormat) -> RuleFields {
        RuleFields {
            national_id_format: Some(f),
            ..fields(DetectorKind::NationalId)
        }
    }

    fn run(f: &RuleFields, text: &str) -> String {
        let r = f.compile(Uuid::nil()).unwrap();
        apply(&[r], Uuid::nil(), RuleAuthor::Customer, text).text
    }

    #[test]
    fn card_numbers_need_the_luhn_check() {
        let card = fields(DetectorKind::CardNumber);
        assert_eq!(run(&card, "card 4111 1111 1111 1111 ok"), "card  ok");
        assert_eq!(run(&card, "card 4111-1111-1111-1111."), "card .");
        assert_eq!(run(&card, "4111111111111111"), "");
        // Luhn fails: left alone.
        assert_eq!(run(&card, "4111 1111 1111 1112"), "4111 1111 1111 1112");
        // The expiry after it does not hide the number.
        assert_eq!(run(&card, "4111 1111 1111 1111 12/29"), " 12/29");
        assert_eq!(
            run(&replace(card.clone(), "[card]"), "pay 378282246310005 now"),
            "pay [card] now"
        );
        // Twelve digits are too few.
        assert_eq!(run(&card, "123456789012"), "123456789012");
    }

    #[test]
    fn national_ids() {
        let ssn = national(NationalIdFormat::UsSsn);
        assert_eq!(run(&ssn, "ssn 123-45-6789."), "ssn .");
        assert_eq!(run(&ssn, "ssn 123 45 6789"), "ssn ");
        assert_eq!(run(&ssn, "ssn 123-45 6789"), "ssn 123-45 6789");
        assert_eq!(
            run(&ssn, "000-12-3456 666-12-3456"),
            "000-12-3456 666-12-3456"
        );
        let sin = national(NationalIdFormat::CaSin);
        assert_eq!(run(&sin, "NAS 046 454 286"), "NAS ");
        assert_eq!(run(&sin, "NAS 046-454-287"), "NAS 046-454-287");
        let nino = national(NationalIdFormat::UkNino);
        assert_eq!(run(&nino, "NI: QQ 12 34 56 C"), "NI: QQ 12 34 56 C"); // Q never issued
        assert_eq!(run(&nino, "NI: AB 12 34 56 C!"), "NI: !");
        assert_eq!(run(&nino, "ni ab123456c"), "ni ");
        assert_eq!(run(&nino, "XAB123456C"), "XAB123456C");
        let nir = national(NationalIdFormat::FrNir);
        assert_eq!(run(&nir, "NIR 1 85 05 78 006 084 91"), "NIR ");
        assert_eq!(run(&nir, "NIR 185057800608491"), "NIR ");
        assert_eq!(run(&nir, "NIR 185057800608437"), "NIR 185057800608437");
        // Corsica: 2A counts as 19 in the key.
        let key = 97 - 2_690_519_001_234_u64 % 97;
        assert_eq!(run(&nir, &format!("2 69 05 2A 001 234 {key:02}")), "");
    }

    #[test]
    fn javascript_patterns() {
        assert_eq!(
            regex_rule("a(?=b)").compile(Uuid::nil()).unwrap_err(),
            RuleError::LookAround
        );
        assert_eq!(
            regex_rule("(?<!x)a").compile(Uuid::nil()).unwrap_err(),
            RuleError::LookAround
        );
        assert_eq!(
            regex_rule("(a)\\1").compile(Uuid::nil()).unwrap_err(),
            RuleError::BackReference
        );
        assert_eq!(
            regex_rule("(?<n>a)\\k<n>")
                .compile(Uuid::nil())
                .unwrap_err(),
            RuleError::BackReference
        );
        assert_eq!(
            regex_rule("(?i)secret").compile(Uuid::nil()).unwrap_err(),
            RuleError::InlineFlags
        );
        assert_eq!(
            regex_rule("a*").compile(Uuid::nil()).unwrap_err(),
            RuleError::MatchesEmpty
        );
        assert!(matches!(
            regex_rule("a(").compile(Uuid::nil()).unwrap_err(),
            RuleError::BadPattern(_)
        ));
        // Case-sensitive; \d is ASCII; a JS class with [ and & in it.
        assert_eq!(run(&regex_rule("secret"), "Secret secret"), "Secret ");
        assert_eq!(run(&regex_rule("\\d+"), "a12٣b"), "a٣b");
        assert_eq!(run(&regex_rule("[[&]+"), "a[&b"), "ab");
        assert_eq!(run(&regex_rule("\\bab\\b"), "ab xab ab"), " xab ");
        assert_eq!(run(&regex_rule("(?<w>x)y"), "xyz"), "z");
        assert_eq!(run(&regex_rule("a\\/b"), "a/b!"), "!");
    }

    #[test]
    fn validation_names_the_field() {
        let mut f = regex_rule("x");
        f.authors.clear();
        assert_eq!(f.compile(Uuid::nil()).unwrap_err(), RuleError::NoAuthors);
        let f = RuleFields {
            action: ActionKind::Replace,
            ..regex_rule("x")
        };
        assert_eq!(
            f.compile(Uuid::nil()).unwrap_err(),
            RuleError::ReplacementMissing
        );
        assert_eq!(
            replace(regex_rule("x"), "xx")
                .compile(Uuid::nil())
                .unwrap_err(),
            RuleError::ReplacementMatches
        );
        assert_eq!(
            fields(DetectorKind::Regex)
                .compile(Uuid::nil())
                .unwrap_err(),
            RuleError::PatternMissing
        );
        assert_eq!(
            fields(DetectorKind::NationalId)
                .compile(Uuid::nil())
                .unwrap_err(),
            RuleError::FormatMissing
        );
        for e in [
            RuleError::NoAuthors,
            RuleError::ReplacementMissing,
            RuleError::LookAround,
        ] {
            let text = e.to_string();
            assert!(text.contains(':'), "{text}");
        }
    }

    #[test]
    fn removal_that_joins_a_new_match_runs_again() {
        assert_eq!(run(&regex_rule("ab"), "aabb"), "");
        assert_eq!(run(&replace(regex_rule("a.c"), "b"), "aaxcc"), "b");
    }

    #[test]
    fn priority_orders_rules_and_blocked_names_them() {
        let a = replace(regex_rule("secret"), "#")
            .compile(Uuid::from_u128(1))
            .unwrap();
        let mut b = replace(regex_rule("sec"), "*")
            .compile(Uuid::from_u128(2))
            .unwrap();
        b.priority = -1;
        let out = apply(
            &[a.clone(), b.clone()],
            Uuid::nil(),
            RuleAuthor::Customer,
            "a secret",
        );
        assert_eq!(out.text, "a *ret");
        assert_eq!(out.blocked, vec![Uuid::from_u128(2)]);
        b.priority = 5;
        let out = apply(&[a, b], Uuid::nil(), RuleAuthor::Customer, "a secret");
        assert_eq!(out.text, "a #");
        assert_eq!(out.blocked, vec![Uuid::from_u128(1)]);
    }

    fn valid_card() -> impl Strategy<Value = String> {
        (
            proptest::collection::vec(0u8..10, 12..=18),
            prop::sample::select(vec!["", " ", "-"]),
        )
            .prop_map(|(mut d, sep)| {
                // Choose the check digit that makes the Luhn sum work.
                let check = (0u8..10)
                    .find(|c| {
                        let mut all = d.clone();
                        all.push(*c);
                        luhn(&all)
                    })
                    .unwrap_or(0);
                d.push(check);
                d.iter()
                    .enumerate()
                    .map(|(i, x)| {
                        let s = if i > 0 && i % 4 == 0 { sep } else { "" };
                        format!("{s}{x}")
                    })
                    .collect()
            })
    }

    fn rule_set() -> Vec<CompiledRule> {
        vec![
            fields(DetectorKind::CardNumber)
                .compile(Uuid::from_u128(1))
                .unwrap(),
            replace(regex_rule("secret[0-9]*"), "***")
                .compile(Uuid::from_u128(2))
                .unwrap(),
            replace(national(NationalIdFormat::UsSsn), "[ssn]")
                .compile(Uuid::from_u128(3))
                .unwrap(),
            national(NationalIdFormat::UkNino)
                .compile(Uuid::from_u128(4))
                .unwrap(),
            regex_rule("ab").compile(Uuid::from_u128(5)).unwrap(),
        ]
    }

    fn surviving(rules: &[CompiledRule], text: &str) -> usize {
        rules.iter().map(|r| r.find(text).len()).sum()
    }

    proptest! {
        #[test]
        fn nothing_that_matches_survives(
            before in "[a-z0-9 .\\-]{0,30}",
            card in valid_card(),
            middle in "[a-zA-Z0-9 \\-]{0,30}",
            after in "(secret[0-9]{0,3}|AB 12 34 56 C|123-45-6789|aabb|[a-z ]){0,4}",
        ) {
            let rules = rule_set();
            let text = format!("{before} {card} {middle}{after}");
            prop_assert!(surviving(&rules, &text) > 0);
            let out = apply(&rules, Uuid::nil(), RuleAuthor::Customer, &text);
            prop_assert_eq!(surviving(&rules, &out.text), 0, "{:?} -> {:?}", text, out.text);
            prop_assert!(!out.blocked.is_empty());
        }

        #[test]
        fn any_text_comes_out_clean(text in "[a-zA-Z0-9 \\-]{0,80}") {
            let rules = rule_set();
            let out = apply(&rules, Uuid::nil(), RuleAuthor::Customer, &text);
            prop_assert_eq!(surviving(&rules, &out.text), 0);
        }

        #[test]
        fn twice_is_once(text in "[a-z0-9 \\-]{0,60}", card in valid_card()) {
            let rules = rule_set();
            let text = format!("{text} {card}");
            let once = apply(&rules, Uuid::nil(), RuleAuthor::Customer, &text);
            let twice = apply(&rules, Uuid::nil(), RuleAuthor::Customer, &once.text);
            prop_assert_eq!(&once.text, &twice.text);
            prop_assert!(twice.blocked.is_empty());
        }

        #[test]
        fn other_authors_and_channels_are_untouched(text in "[a-z0-9 \\-]{0,40}", card in valid_card()) {
            let text = format!("{text} {card} secret");
            let mut rules = rule_set();
            let channel = Uuid::from_u128(42);
            for r in &mut rules {
                r.channel_id = Some(channel);
            }
            for author in [RuleAuthor::Agent, RuleAuthor::Supervisor, RuleAuthor::Bot] {
                let out = apply(&rules, channel, author, &text);
                prop_assert_eq!(&out.text, &text);
                prop_assert!(out.blocked.is_empty());
            }
            let out = apply(&rules, Uuid::from_u128(7), RuleAuthor::Customer, &text);
            prop_assert_eq!(&out.text, &text);
            let mut off = rules.clone();
            for r in &mut off {
                r.enabled = false;
            }
            prop_assert_eq!(apply(&off, channel, RuleAuthor::Customer, &text).text, text);
        }
    }
}

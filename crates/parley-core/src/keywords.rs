//! A channel's keyword configuration, and the decision of whether an inbound message *is* a keyword.
//!
//! A channel answers compliance keywords (opt-out, opt-in, double opt-in, help) and any custom keywords
//! an admin adds, each list and each auto-response per language. This module says which list, language
//! and response a message selects; what that does to consent is [`crate::consent`]'s business, and
//! what it does to the session is [`crate::session`]'s.
//!
//! Matching follows DESIGN.md section 5 (AMB-34): the *whole* message, trimmed of whitespace and of
//! leading and trailing punctuation, compared after Unicode case folding and accent folding. So
//! "Stop." and "stop" are the opt-out keyword STOP, "ARRÊT" is ARRET, and "Stop please" is an ordinary
//! message that goes to a person. The rule is deliberately strict: a customer who writes a sentence
//! containing "stop" is talking to us, and silently opting them out would be worse than letting an
//! agent read it.
//!
//! On a shared short code several programs share one number, and the first word of every message is
//! the provider keyword that picks the program ("baby stop" opts out of the "baby" program only). Each
//! program is its own channel here, so consent stays per channel (CO-02); [`program_of`] picks the
//! channel and [`ChannelProfile::service_text`] strips the provider keyword before matching.
//!
//! Configuration is checked when it is saved ([`KeywordConfig::validate`]), so matching never has to
//! cope with an ambiguous keyword: a keyword belongs to exactly one list of a channel, across all its
//! languages (CO-07).

use serde::{Deserialize, Serialize};
use unicode_normalization::UnicodeNormalization;
use unicode_normalization::char::is_combining_mark;

use crate::i18n::Locale;
use crate::model::{ChannelKind, ConsentLevel, KeywordList, NumberType};

/// Opt-out keywords every channel starts with (CO-08, plus REVOKE and OPTOUT from DESIGN.md).
pub const DEFAULT_OPT_OUT: &[&str] = &[
    "STOP",
    "STOPALL",
    "UNSUBSCRIBE",
    "CANCEL",
    "END",
    "QUIT",
    "REVOKE",
    "OPTOUT",
];
/// Opt-in keywords every channel starts with.
pub const DEFAULT_OPT_IN: &[&str] = &["START", "YES", "UNSTOP"];
/// Double opt-in keywords every channel starts with.
pub const DEFAULT_DOUBLE_OPT_IN: &[&str] = &["CONFIRM"];
/// Help keywords every channel starts with.
pub const DEFAULT_HELP: &[&str] = &["HELP", "INFO"];
/// French help keywords a Canadian short code adds (CO-18).
pub const CANADA_FRENCH_HELP: &[&str] = &["AIDE"];
/// French opt-out keywords a Canadian short code adds (CO-18).
pub const CANADA_FRENCH_OPT_OUT: &[&str] = &["ARRET"];

/// The five keywords a Canadian short code must answer (CO-18), with the list each belongs to and
/// whether it must be answered in French. INFO's language is not stated (AMB-33); it is English here
/// because it sits beside HELP in the default lists.
const CANADA_MANDATORY: &[(&str, KeywordList, bool)] = &[
    ("HELP", KeywordList::Help, false),
    ("INFO", KeywordList::Help, false),
    ("AIDE", KeywordList::Help, true),
    ("STOP", KeywordList::OptOut, false),
    ("ARRET", KeywordList::OptOut, true),
];

/// Short code auto-responses may be at most this many characters (CO-12).
pub const SHORT_CODE_RESPONSE_MAX: usize = 160;

crate::wire_enum! {
    /// Which auto-response a text is. Each is answered in the language of the keyword that asked for
    /// it, or of the messaging user when no keyword did.
    pub enum ResponseKind: "response kind" {
        OptInPrompt = "opt_in_prompt",
        DoubleOptInPrompt = "double_opt_in_prompt",
        OptInConfirmation = "opt_in_confirmation",
        OptOutConfirmation = "opt_out_confirmation",
        HelpResponse = "help_response",
        CustomResponse = "custom_response",
        /// The reply configured for the HELP hand-off (see `session::CaseHandoff`).
        HandoffReply = "handoff_reply",
    }
}

impl ResponseKind {
    /// How people call it, for error messages.
    pub const fn label(self) -> &'static str {
        match self {
            Self::OptInPrompt => "opt-in prompt",
            Self::DoubleOptInPrompt => "double opt-in prompt",
            Self::OptInConfirmation => "opt-in confirmation",
            Self::OptOutConfirmation => "opt-out confirmation",
            Self::HelpResponse => "help response",
            Self::CustomResponse => "custom response",
            Self::HandoffReply => "hand-off reply",
        }
    }
}

/// How people call a keyword list, for error messages.
pub const fn list_label(list: KeywordList) -> &'static str {
    match list {
        KeywordList::OptOut => "opt-out",
        KeywordList::OptIn => "opt-in",
        KeywordList::DoubleOptIn => "double opt-in",
        KeywordList::Help => "help",
        KeywordList::Custom => "custom",
    }
}

/// A language tag such as `en`, `fr` or `fr-ca`, kept lowercase with `-` separators so `fr_CA`,
/// `fr-CA` and `FR-ca` are one language.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(from = "String", into = "String")]
pub struct Language(String);

impl Language {
    pub fn new(tag: impl AsRef<str>) -> Self {
        Self(tag.as_ref().trim().replace('_', "-").to_lowercase())
    }

    pub fn english() -> Self {
        Self::new("en")
    }

    pub fn french() -> Self {
        Self::new("fr")
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The primary subtag: `fr` for `fr-ca`.
    pub fn primary(&self) -> &str {
        self.0.split('-').next().unwrap_or_default()
    }
}

impl From<String> for Language {
    fn from(s: String) -> Self {
        Self::new(s)
    }
}

impl From<&str> for Language {
    fn from(s: &str) -> Self {
        Self::new(s)
    }
}

impl From<Language> for String {
    fn from(l: Language) -> Self {
        l.0
    }
}

impl std::fmt::Display for Language {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// What the inbound rules need to know about a channel besides its keywords: these come from the
/// channel's own columns, so they are passed beside the keyword configuration rather than copied
/// into it (a copy could drift from the channel).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChannelProfile {
    pub kind: ChannelKind,
    /// SMS channels only.
    #[serde(default)]
    pub number_type: Option<NumberType>,
    /// ISO 3166 alpha-2 country of the number, e.g. `CA`.
    #[serde(default)]
    pub country: Option<String>,
    /// The program's provider keyword on a shared short code (`baby` in "baby stop").
    #[serde(default)]
    pub provider_keyword: Option<String>,
    pub required_level: ConsentLevel,
}

impl ChannelProfile {
    /// A profile for a channel of `kind` with no number type, country or provider keyword.
    pub fn new(kind: ChannelKind, required_level: ConsentLevel) -> Self {
        Self {
            kind,
            number_type: None,
            country: None,
            provider_keyword: None,
            required_level,
        }
    }

    pub fn is_short_code(&self) -> bool {
        self.number_type.is_some_and(NumberType::is_short_code)
    }

    pub fn is_shared_short_code(&self) -> bool {
        self.number_type == Some(NumberType::SharedShortCode)
    }

    pub fn is_canadian_short_code(&self) -> bool {
        self.is_short_code()
            && self
                .country
                .as_deref()
                .is_some_and(|c| c.trim().eq_ignore_ascii_case("CA"))
    }

    /// The part of an inbound message addressed to this channel: the whole text, or on a shared
    /// short code the text after the provider keyword. `None` when the message names another
    /// program (or none), so it is not for this channel at all.
    pub fn service_text<'t>(&self, text: &'t str) -> Option<&'t str> {
        if !self.is_shared_short_code() {
            return Some(text);
        }
        let wanted = normalize(self.provider_keyword.as_deref()?);
        let (first, rest) = split_first_word(text);
        (!wanted.is_empty() && normalize(first) == wanted).then_some(rest)
    }
}

/// Splits off the first whitespace-separated word of `text` (after trimming), raw.
pub(crate) fn split_first_word(text: &str) -> (&str, &str) {
    let trimmed = text.trim();
    match trimmed.split_once(char::is_whitespace) {
        Some((first, rest)) => (first, rest.trim_start()),
        None => (trimmed, ""),
    }
}

/// Picks, among the provider keywords of the programs sharing a short code, the one this message
/// addresses. `None` when its first word is none of them: such a message matches nothing.
pub fn program_of<'k, I>(text: &str, provider_keywords: I) -> Option<&'k str>
where
    I: IntoIterator<Item = &'k str>,
{
    let first = normalize(split_first_word(text).0);
    if first.is_empty() {
        return None;
    }
    provider_keywords
        .into_iter()
        .find(|k| normalize(k) == first)
}

/// Characters dropped from both ends of a message before matching: whitespace, punctuation, and
/// invisible format characters a phone keyboard may add. Symbols such as emoji are kept, so "stop 🙂"
/// is a sentence, not a keyword.
fn is_edge_noise(c: char) -> bool {
    c.is_whitespace()
        || c.is_ascii_punctuation()
        || matches!(
            c,
            '\u{00A1}'
                | '\u{00A7}'
                | '\u{00AB}'
                | '\u{00B6}'
                | '\u{00B7}'
                | '\u{00BB}'
                | '\u{00BF}'
                | '\u{2000}'..='\u{206F}'
                | '\u{2E00}'..='\u{2E7F}'
                | '\u{3000}'..='\u{303F}'
                | '\u{FE10}'..='\u{FE1F}'
                | '\u{FE30}'..='\u{FE6F}'
                | '\u{FEFF}'
                | '\u{FF01}'..='\u{FF0F}'
                | '\u{FF1A}'..='\u{FF20}'
                | '\u{FF3B}'..='\u{FF40}'
                | '\u{FF5B}'..='\u{FF65}'
        )
}

/// The comparison form of a message or keyword: trimmed of whitespace and punctuation at both ends,
/// case-folded, accents removed (NFD, then combining marks dropped), inner whitespace collapsed to
/// single spaces. Two texts are the same keyword exactly when their normal forms are equal.
///
/// Case folding maps to upper case and back to lower case, twice, which folds `ß` and `ẞ` to `ss`
/// and final sigma to sigma as full Unicode case folding does; plain `to_lowercase` would not.
/// The normal form of a normal form is itself.
pub fn normalize(text: &str) -> String {
    // Fold before trimming: dropping a combining mark can expose punctuation at an edge.
    // Two rounds: the capital sharp s (U+1E9E) lowers to `ß`, which only a second round turns
    // into `ss`; with one, "STRAẞE" and "straße" had different forms (found by fuzzing).
    let folded: String = text
        .chars()
        .flat_map(char::to_uppercase)
        .flat_map(char::to_lowercase)
        .flat_map(char::to_uppercase)
        .flat_map(char::to_lowercase)
        .nfd()
        .filter(|c| !is_combining_mark(*c))
        .collect();
    let trimmed = folded.trim_matches(is_edge_noise);
    let mut out = String::with_capacity(trimmed.len());
    for word in trimmed.split_whitespace() {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word);
    }
    out
}

/// Why a custom keyword is not a valid keyword (CO-17, KP-09).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum KeywordFormatError {
    #[error("it is empty")]
    Empty,
    #[error("it contains a space; a keyword is one word")]
    Space,
    #[error("it contains the digit '{0}'; use letters only")]
    Digit(char),
    #[error("it contains the special character '{0}'; use letters only")]
    Special(char),
    /// Only accents or other marks, which matching drops: the keyword could never be matched.
    #[error("it has no letter left once accents are removed")]
    OnlyMarks,
}

/// A keyword that would match nothing: its normal form is empty although it has characters.
pub(crate) fn only_marks(keyword: &str) -> Result<(), KeywordFormatError> {
    if normalize(keyword).is_empty() {
        Err(KeywordFormatError::OnlyMarks)
    } else {
        Ok(())
    }
}

/// Custom keywords are letters only: no digits, no special characters, no spaces. Accented letters
/// are letters (AIDE, ARRÊT), whether precomposed or written with combining marks.
pub fn check_custom_keyword(keyword: &str) -> Result<(), KeywordFormatError> {
    let keyword = keyword.trim();
    if keyword.is_empty() {
        return Err(KeywordFormatError::Empty);
    }
    for c in keyword.chars() {
        if c.is_whitespace() {
            return Err(KeywordFormatError::Space);
        }
        if c.is_numeric() {
            return Err(KeywordFormatError::Digit(c));
        }
        if !c.is_alphabetic() && !is_combining_mark(c) {
            return Err(KeywordFormatError::Special(c));
        }
    }
    only_marks(keyword)
}

/// Provider keywords are assigned by the carrier and may hold digits, but are one word.
fn check_provider_keyword(keyword: &str) -> Result<(), KeywordFormatError> {
    let keyword = keyword.trim();
    if keyword.is_empty() {
        return Err(KeywordFormatError::Empty);
    }
    for c in keyword.chars() {
        if c.is_whitespace() {
            return Err(KeywordFormatError::Space);
        }
        if !c.is_alphanumeric() && !is_combining_mark(c) {
            return Err(KeywordFormatError::Special(c));
        }
    }
    // A provider keyword that normalises to nothing picks no message, so on its shared short
    // code even STOP would never be read (found by fuzzing).
    only_marks(keyword)
}

/// A custom keyword and the text it answers with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CustomKeyword {
    pub keyword: String,
    pub response: String,
}

/// The auto-responses of one language. Unset confirmations fall back to built-in texts (CO-09); the
/// prompts and the help response have no sensible default because they must name the program
/// (CO-13, CO-16), so validation asks for them where they are needed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Responses {
    #[serde(default)]
    pub opt_in_prompt: Option<String>,
    #[serde(default)]
    pub double_opt_in_prompt: Option<String>,
    #[serde(default)]
    pub opt_in_confirmation: Option<String>,
    #[serde(default)]
    pub opt_out_confirmation: Option<String>,
    #[serde(default)]
    pub help: Option<String>,
}

impl Responses {
    /// The configured text of `kind`, if set and not blank.
    pub fn get(&self, kind: ResponseKind) -> Option<&str> {
        let text = match kind {
            ResponseKind::OptInPrompt => self.opt_in_prompt.as_deref(),
            ResponseKind::DoubleOptInPrompt => self.double_opt_in_prompt.as_deref(),
            ResponseKind::OptInConfirmation => self.opt_in_confirmation.as_deref(),
            ResponseKind::OptOutConfirmation => self.opt_out_confirmation.as_deref(),
            ResponseKind::HelpResponse => self.help.as_deref(),
            ResponseKind::CustomResponse | ResponseKind::HandoffReply => None,
        };
        text.filter(|t| !t.trim().is_empty())
    }

    fn iter(&self) -> impl Iterator<Item = (ResponseKind, &str)> {
        [
            ResponseKind::OptInPrompt,
            ResponseKind::DoubleOptInPrompt,
            ResponseKind::OptInConfirmation,
            ResponseKind::OptOutConfirmation,
            ResponseKind::HelpResponse,
        ]
        .into_iter()
        .filter_map(|k| self.get(k).map(|t| (k, t)))
    }
}

/// The keywords and responses of one language.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LanguageKeywords {
    pub language: Language,
    #[serde(default)]
    pub opt_out: Vec<String>,
    #[serde(default)]
    pub opt_in: Vec<String>,
    #[serde(default)]
    pub double_opt_in: Vec<String>,
    #[serde(default)]
    pub help: Vec<String>,
    #[serde(default)]
    pub custom: Vec<CustomKeyword>,
    #[serde(default)]
    pub responses: Responses,
}

impl LanguageKeywords {
    /// An empty section for `language`.
    pub fn new(language: Language) -> Self {
        Self {
            language,
            opt_out: Vec::new(),
            opt_in: Vec::new(),
            double_opt_in: Vec::new(),
            help: Vec::new(),
            custom: Vec::new(),
            responses: Responses::default(),
        }
    }

    /// Every keyword of the section with its list. Opt-out comes first so that, should an invalid
    /// configuration ever hold a keyword twice, the safest reading wins.
    pub fn keywords(&self) -> impl Iterator<Item = (KeywordList, &str)> {
        tagged(KeywordList::OptOut, &self.opt_out)
            .chain(tagged(KeywordList::Help, &self.help))
            .chain(tagged(KeywordList::OptIn, &self.opt_in))
            .chain(tagged(KeywordList::DoubleOptIn, &self.double_opt_in))
            .chain(
                self.custom
                    .iter()
                    .map(|c| (KeywordList::Custom, c.keyword.as_str())),
            )
    }

    fn has(&self, list: KeywordList) -> bool {
        self.keywords().any(|(l, _)| l == list)
    }
}

fn tagged(list: KeywordList, words: &[String]) -> impl Iterator<Item = (KeywordList, &str)> {
    words.iter().map(move |w| (list, w.as_str()))
}

/// One auto-response to send: what it is, its language and its text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AutoResponse {
    pub kind: ResponseKind,
    pub language: Language,
    pub text: String,
}

/// An inbound message recognised as a keyword.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeywordMatch {
    pub list: KeywordList,
    /// The keyword as configured (not as typed).
    pub keyword: String,
    /// The language section the keyword belongs to; its responses answer in that language.
    pub language: Language,
    /// The program on a shared short code.
    pub provider_keyword: Option<String>,
    /// The list's own answer: the opt-out confirmation, the opt-in confirmation (for both opt-in
    /// lists), the help response or the custom response. Whether it is sent, or replaced by a double
    /// opt-in prompt, is decided by [`crate::consent::decide_inbound`].
    pub response: Option<AutoResponse>,
}

/// A channel's keyword lists and auto-responses, per language.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeywordConfig {
    /// The language used when neither a keyword nor the messaging user's locale picks one.
    pub default_language: Language,
    pub languages: Vec<LanguageKeywords>,
}

fn strings(words: &[&str]) -> Vec<String> {
    words.iter().map(|w| (*w).to_owned()).collect()
}

/// Parley's own confirmations, from the catalogue (area `auto`) in each language it has.
fn builtin_response(kind: ResponseKind, language: &str) -> Option<&'static str> {
    let locale: Locale = language.parse().ok()?;
    let key = match kind {
        ResponseKind::OptInConfirmation => "auto.opt_in_confirmation",
        ResponseKind::OptOutConfirmation => "auto.opt_out_confirmation",
        _ => return None,
    };
    Some(crate::i18n::text(locale, key))
}

/// [`builtin_response`] where the language is known to be in the catalogue.
fn builtin_text(kind: ResponseKind, locale: Locale) -> String {
    builtin_response(kind, locale.as_str())
        .unwrap_or_default()
        .to_owned()
}

impl KeywordConfig {
    /// The default English lists of DESIGN.md section 5 with the default confirmations. The help
    /// response names the program, so the caller writes it; prompts are added when the channel
    /// requires explicit or double opt-in.
    pub fn defaults(help_response: impl Into<String>) -> Self {
        let mut en = LanguageKeywords::new(Language::english());
        en.opt_out = strings(DEFAULT_OPT_OUT);
        en.opt_in = strings(DEFAULT_OPT_IN);
        en.double_opt_in = strings(DEFAULT_DOUBLE_OPT_IN);
        en.help = strings(DEFAULT_HELP);
        en.responses = Responses {
            opt_in_confirmation: Some(builtin_text(ResponseKind::OptInConfirmation, Locale::En)),
            opt_out_confirmation: Some(builtin_text(ResponseKind::OptOutConfirmation, Locale::En)),
            help: Some(help_response.into()),
            ..Responses::default()
        };
        Self {
            default_language: Language::english(),
            languages: vec![en],
        }
    }

    /// The defaults plus the French section a Canadian short code needs: AIDE answered with
    /// `help_fr`, ARRET with the French opt-out confirmation (CO-18).
    pub fn canadian_defaults(help_en: impl Into<String>, help_fr: impl Into<String>) -> Self {
        let mut config = Self::defaults(help_en);
        let mut fr = LanguageKeywords::new(Language::french());
        fr.opt_out = strings(CANADA_FRENCH_OPT_OUT);
        fr.help = strings(CANADA_FRENCH_HELP);
        fr.responses = Responses {
            opt_in_confirmation: Some(builtin_text(ResponseKind::OptInConfirmation, Locale::Fr)),
            opt_out_confirmation: Some(builtin_text(ResponseKind::OptOutConfirmation, Locale::Fr)),
            help: Some(help_fr.into()),
            ..Responses::default()
        };
        config.languages.push(fr);
        config
    }

    /// The section of `language`: the exact tag, else one with the same primary subtag.
    pub fn section(&self, language: &Language) -> Option<&LanguageKeywords> {
        self.languages
            .iter()
            .find(|s| s.language == *language)
            .or_else(|| {
                self.languages
                    .iter()
                    .find(|s| s.language.primary() == language.primary())
            })
    }

    /// The language to answer a messaging user in when no keyword chose one: their locale if the
    /// channel has a section for it, else the channel's default.
    pub fn language_for(&self, locale: Option<&Language>) -> Language {
        locale
            .and_then(|l| self.section(l))
            .map_or_else(|| self.default_language.clone(), |s| s.language.clone())
    }

    /// The text of `kind` in `language`. Looks in that language's section, then at the built-in text
    /// for that language, and only then at the default language, so a French keyword is answered in
    /// French whenever any French text exists (CO-18).
    pub fn response(&self, kind: ResponseKind, language: &Language) -> Option<AutoResponse> {
        let found = |language: &Language, text: &str| AutoResponse {
            kind,
            language: language.clone(),
            text: text.to_owned(),
        };
        if let Some(section) = self.section(language)
            && let Some(text) = section.responses.get(kind)
        {
            return Some(found(&section.language, text));
        }
        if let Some(text) = builtin_response(kind, language.primary()) {
            return Some(found(language, text));
        }
        if let Some(section) = self.section(&self.default_language)
            && let Some(text) = section.responses.get(kind)
        {
            return Some(found(&section.language, text));
        }
        builtin_response(kind, self.default_language.primary())
            .map(|text| found(&self.default_language, text))
            .or_else(|| builtin_response(kind, "en").map(|text| found(&Language::english(), text)))
    }

    /// Whether `text` is a keyword of this channel, and which. `None` for an ordinary message, and
    /// for a message on a shared short code that does not start with this program's provider
    /// keyword.
    pub fn match_text(&self, profile: &ChannelProfile, text: &str) -> Option<KeywordMatch> {
        let body = profile.service_text(text)?;
        let needle = normalize(body);
        if needle.is_empty() {
            return None;
        }
        for section in &self.languages {
            for (list, keyword) in section.keywords() {
                if normalize(keyword) == needle {
                    return Some(self.build_match(profile, section, list, keyword));
                }
            }
        }
        None
    }

    fn build_match(
        &self,
        profile: &ChannelProfile,
        section: &LanguageKeywords,
        list: KeywordList,
        keyword: &str,
    ) -> KeywordMatch {
        let response = match list {
            KeywordList::OptOut => {
                self.response(ResponseKind::OptOutConfirmation, &section.language)
            }
            KeywordList::OptIn | KeywordList::DoubleOptIn => {
                self.response(ResponseKind::OptInConfirmation, &section.language)
            }
            KeywordList::Help => self.response(ResponseKind::HelpResponse, &section.language),
            KeywordList::Custom => section
                .custom
                .iter()
                .find(|c| c.keyword == keyword && !c.response.trim().is_empty())
                .map(|c| AutoResponse {
                    kind: ResponseKind::CustomResponse,
                    language: section.language.clone(),
                    text: c.response.clone(),
                }),
        };
        KeywordMatch {
            list,
            keyword: keyword.to_owned(),
            language: section.language.clone(),
            provider_keyword: profile
                .is_shared_short_code()
                .then(|| profile.provider_keyword.clone())
                .flatten(),
            response,
        }
    }

    /// Checks the configuration before it is saved, reporting every problem at once so an admin can
    /// fix them in one pass.
    pub fn validate(&self, profile: &ChannelProfile) -> Result<(), InvalidKeywordConfig> {
        let mut errors = Vec::new();
        self.check_languages(&mut errors);
        self.check_keywords(&mut errors);
        self.check_required(profile, &mut errors);
        if profile.is_short_code() {
            self.check_lengths(&mut errors);
        }
        if profile.is_canadian_short_code() {
            self.check_canada(&mut errors);
        }
        check_provider(profile, &mut errors);
        if errors.is_empty() {
            Ok(())
        } else {
            Err(InvalidKeywordConfig { errors })
        }
    }

    fn check_languages(&self, errors: &mut Vec<KeywordConfigError>) {
        let mut seen: Vec<&Language> = Vec::new();
        for section in &self.languages {
            if seen.contains(&&section.language) {
                errors.push(KeywordConfigError::DuplicateLanguage {
                    language: section.language.clone(),
                });
            } else {
                seen.push(&section.language);
            }
        }
        if !seen.contains(&&self.default_language) {
            errors.push(KeywordConfigError::UnknownDefaultLanguage {
                language: self.default_language.clone(),
            });
        }
    }

    fn check_keywords(&self, errors: &mut Vec<KeywordConfigError>) {
        let mut seen: Vec<(String, KeywordList, &Language)> = Vec::new();
        for section in &self.languages {
            let language = &section.language;
            for (list, keyword) in section.keywords() {
                let norm = normalize(keyword);
                if norm.is_empty() {
                    errors.push(KeywordConfigError::EmptyKeyword {
                        list,
                        language: language.clone(),
                    });
                    continue;
                }
                if list == KeywordList::Custom {
                    if let Err(problem) = check_custom_keyword(keyword) {
                        errors.push(KeywordConfigError::InvalidCustomKeyword {
                            keyword: keyword.to_owned(),
                            language: language.clone(),
                            problem,
                        });
                    }
                } else if norm.contains(' ') {
                    errors.push(KeywordConfigError::KeywordHasSpace {
                        keyword: keyword.to_owned(),
                        list,
                        language: language.clone(),
                    });
                }
                match seen.iter().find(|(n, _, _)| *n == norm) {
                    Some((_, first_list, first_language)) => {
                        errors.push(KeywordConfigError::DuplicateKeyword {
                            keyword: keyword.to_owned(),
                            first_list: *first_list,
                            first_language: (*first_language).clone(),
                            second_list: list,
                            second_language: language.clone(),
                        });
                    }
                    None => seen.push((norm, list, language)),
                }
            }
            for custom in &section.custom {
                if custom.response.trim().is_empty() {
                    errors.push(KeywordConfigError::MissingCustomResponse {
                        keyword: custom.keyword.clone(),
                        language: language.clone(),
                    });
                }
            }
            if section.has(KeywordList::Help)
                && section.responses.get(ResponseKind::HelpResponse).is_none()
            {
                errors.push(KeywordConfigError::MissingResponse {
                    response: ResponseKind::HelpResponse,
                    language: language.clone(),
                });
            }
        }
    }

    fn has(&self, list: KeywordList) -> bool {
        self.languages.iter().any(|s| s.has(list))
    }

    fn check_required(&self, profile: &ChannelProfile, errors: &mut Vec<KeywordConfigError>) {
        if !self.has(KeywordList::OptOut) {
            errors.push(KeywordConfigError::MissingList {
                list: KeywordList::OptOut,
                why: "every channel must let customers opt out",
            });
        }
        if profile.is_short_code() && !self.has(KeywordList::Help) {
            errors.push(KeywordConfigError::MissingList {
                list: KeywordList::Help,
                why: "short codes must answer HELP",
            });
        }
        let default = self.section(&self.default_language);
        let default_has =
            |kind: ResponseKind| default.is_some_and(|s| s.responses.get(kind).is_some());
        let level = profile.required_level;
        if matches!(level, ConsentLevel::Explicit | ConsentLevel::Double) {
            if !self.has(KeywordList::OptIn) {
                errors.push(KeywordConfigError::MissingList {
                    list: KeywordList::OptIn,
                    why: "the channel requires opt-in by keyword",
                });
            }
            if !default_has(ResponseKind::OptInPrompt) {
                errors.push(KeywordConfigError::MissingResponse {
                    response: ResponseKind::OptInPrompt,
                    language: self.default_language.clone(),
                });
            }
        }
        if level == ConsentLevel::Double {
            if !self.has(KeywordList::DoubleOptIn) {
                errors.push(KeywordConfigError::MissingList {
                    list: KeywordList::DoubleOptIn,
                    why: "the channel requires double opt-in",
                });
            }
            if !default_has(ResponseKind::DoubleOptInPrompt) {
                errors.push(KeywordConfigError::MissingResponse {
                    response: ResponseKind::DoubleOptInPrompt,
                    language: self.default_language.clone(),
                });
            }
        }
    }

    fn check_lengths(&self, errors: &mut Vec<KeywordConfigError>) {
        for section in &self.languages {
            let custom = section
                .custom
                .iter()
                .map(|c| (ResponseKind::CustomResponse, c.response.as_str()));
            for (kind, text) in section.responses.iter().chain(custom) {
                let length = text.chars().count();
                if length > SHORT_CODE_RESPONSE_MAX {
                    errors.push(KeywordConfigError::ResponseTooLong {
                        response: kind,
                        language: section.language.clone(),
                        length,
                    });
                }
            }
        }
    }

    fn check_canada(&self, errors: &mut Vec<KeywordConfigError>) {
        for (keyword, list, french) in CANADA_MANDATORY {
            let wanted = normalize(keyword);
            let found = self.languages.iter().find_map(|s| {
                s.keywords()
                    .find(|(_, k)| normalize(k) == wanted)
                    .map(|(l, _)| (l, &s.language))
            });
            let ok = found
                .is_some_and(|(l, language)| l == *list && (language.primary() == "fr") == *french);
            if !ok {
                errors.push(KeywordConfigError::MissingCanadianKeyword {
                    keyword,
                    list: *list,
                    language: if *french { "French" } else { "English" },
                });
            }
        }
    }
}

fn check_provider(profile: &ChannelProfile, errors: &mut Vec<KeywordConfigError>) {
    match (&profile.provider_keyword, profile.is_shared_short_code()) {
        (None, true) => errors.push(KeywordConfigError::MissingProviderKeyword),
        (Some(keyword), true) => {
            if let Err(problem) = check_provider_keyword(keyword) {
                errors.push(KeywordConfigError::InvalidProviderKeyword {
                    keyword: keyword.clone(),
                    problem,
                });
            }
        }
        (Some(keyword), false) => errors.push(KeywordConfigError::UnexpectedProviderKeyword {
            keyword: keyword.clone(),
        }),
        (None, false) => {}
    }
}

/// One problem with a keyword configuration.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeywordConfigError {
    #[error(
        "keyword '{keyword}' is already in the {} list ({first_language}) and cannot also be in the {} list ({second_language}): a keyword may appear in only one list of a channel, across all its languages",
        list_label(*.first_list),
        list_label(*.second_list)
    )]
    DuplicateKeyword {
        keyword: String,
        first_list: KeywordList,
        first_language: Language,
        second_list: KeywordList,
        second_language: Language,
    },
    #[error("a {} keyword ({language}) is empty once spaces and punctuation are removed", list_label(*.list))]
    EmptyKeyword {
        list: KeywordList,
        language: Language,
    },
    #[error("{} keyword '{keyword}' ({language}) has a space: a keyword is one word", list_label(*.list))]
    KeywordHasSpace {
        keyword: String,
        list: KeywordList,
        language: Language,
    },
    #[error("custom keyword '{keyword}' ({language}) is not valid: {problem}")]
    InvalidCustomKeyword {
        keyword: String,
        language: Language,
        problem: KeywordFormatError,
    },
    #[error("custom keyword '{keyword}' ({language}) has no response")]
    MissingCustomResponse { keyword: String, language: Language },
    #[error("the {} ({language}) is missing", .response.label())]
    MissingResponse {
        response: ResponseKind,
        language: Language,
    },
    #[error("the channel has no {} keyword: {why}", list_label(*.list))]
    MissingList {
        list: KeywordList,
        why: &'static str,
    },
    #[error(
        "the {} ({language}) is {length} characters long; short code auto-responses may have at most 160",
        .response.label()
    )]
    ResponseTooLong {
        response: ResponseKind,
        language: Language,
        length: usize,
    },
    #[error("language {language} is configured twice")]
    DuplicateLanguage { language: Language },
    #[error("the default language {language} has no keyword section")]
    UnknownDefaultLanguage { language: Language },
    #[error(
        "Canadian short codes must answer {keyword} as a {} keyword in a {language} section",
        list_label(*.list)
    )]
    MissingCanadianKeyword {
        keyword: &'static str,
        list: KeywordList,
        language: &'static str,
    },
    #[error("a shared short code channel needs its provider keyword")]
    MissingProviderKeyword,
    #[error("provider keyword '{keyword}' is not valid: {problem}")]
    InvalidProviderKeyword {
        keyword: String,
        problem: KeywordFormatError,
    },
    #[error("provider keyword '{keyword}' is set, but only shared short codes have one")]
    UnexpectedProviderKeyword { keyword: String },
}

/// Every problem found in a keyword configuration.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid keyword configuration: {}", join_errors(.errors))]
pub struct InvalidKeywordConfig {
    pub errors: Vec<KeywordConfigError>,
}

fn join_errors(errors: &[KeywordConfigError]) -> String {
    errors
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const HELP_EN: &str = "Acme Account Alerts: Help at help@acme.example or 1-800-555-0100. Msg&data rates may apply. 1 message per day. Text STOP to cancel.";
    const HELP_FR: &str = "Alertes Acme : aide à aide@acme.example ou 1-800-555-0100. Des frais peuvent s'appliquer. Textez ARRET pour annuler.";

    fn long_code() -> ChannelProfile {
        ChannelProfile {
            number_type: Some(NumberType::LongCode),
            ..ChannelProfile::new(ChannelKind::Sms, ConsentLevel::Implicit)
        }
    }

    fn short_code(level: ConsentLevel) -> ChannelProfile {
        ChannelProfile {
            number_type: Some(NumberType::ShortCode),
            country: Some("US".into()),
            ..ChannelProfile::new(ChannelKind::Sms, level)
        }
    }

    fn canadian() -> ChannelProfile {
        ChannelProfile {
            country: Some("CA".into()),
            ..short_code(ConsentLevel::Explicit)
        }
    }

    fn shared(program: &str) -> ChannelProfile {
        ChannelProfile {
            number_type: Some(NumberType::SharedShortCode),
            provider_keyword: Some(program.into()),
            ..ChannelProfile::new(ChannelKind::Sms, ConsentLevel::Implicit)
        }
    }

    fn with_prompts(mut c: KeywordConfig) -> KeywordConfig {
        if let Some(en) = c.languages.first_mut() {
            en.responses.opt_in_prompt =
                Some("To subscribe to Acme Alerts, reply YES. Reply HELP for help. Reply STOP to cancel at any time. Msg&data rates may apply.".into());
            en.responses.double_opt_in_prompt =
                Some("To confirm your subscription to Acme Alerts, reply CONFIRM. Reply HELP for help. Reply STOP to cancel.".into());
        }
        c
    }

    fn matched(c: &KeywordConfig, p: &ChannelProfile, text: &str) -> Option<(KeywordList, String)> {
        c.match_text(p, text)
            .map(|m| (m.list, m.language.as_str().to_owned()))
    }

    #[test]
    fn normal_form_trims_folds_and_keeps_inner_words() {
        assert_eq!(normalize("  Stop. "), "stop");
        assert_eq!(normalize("¡STOP!"), "stop");
        assert_eq!(normalize("\"stop\""), "stop");
        assert_eq!(normalize("…stop…"), "stop");
        assert_eq!(normalize("ARRÊT"), "arret");
        assert_eq!(normalize("arre\u{0302}t"), "arret");
        assert_eq!(normalize("Straße"), normalize("STRASSE"));
        assert_eq!(normalize("\u{FEFF}stop\u{200B}"), "stop");
        assert_eq!(normalize("Stop   please!"), "stop please");
        assert_eq!(normalize("stop 🙂"), "stop 🙂");
        assert_eq!(normalize("?!"), "");
    }

    /// Found by fuzz/fuzz_targets/keywords.rs (fuzz/corpus/keywords/provider_keyword_marks): a
    /// provider keyword of combining marks only was valid, yet normalises to nothing, so no
    /// message, STOP included, was ever for its program.
    #[test]
    fn a_keyword_of_marks_only_is_refused() {
        let mut p = ChannelProfile::new(ChannelKind::Sms, ConsentLevel::Implicit);
        p.number_type = Some(NumberType::SharedShortCode);
        p.provider_keyword = Some("\u{59A}".into());
        let c = KeywordConfig::defaults(HELP_EN);
        assert_eq!(c.match_text(&p, "\u{59A} STOP"), None);
        let errors = c.validate(&p).unwrap_err().errors;
        assert!(
            errors.contains(&KeywordConfigError::InvalidProviderKeyword {
                keyword: "\u{59A}".into(),
                problem: KeywordFormatError::OnlyMarks,
            }),
            "{errors:?}"
        );
        assert_eq!(
            check_custom_keyword("\u{301}\u{93E}"),
            Err(KeywordFormatError::OnlyMarks)
        );
        assert_eq!(check_custom_keyword("e\u{301}"), Ok(()));
    }

    /// Found by fuzz/fuzz_targets/keywords.rs (seed fuzz/corpus/keywords/unicode_fold): the
    /// capital sharp s lowered to `ß` in one round of folding, so its normal form was not normal.
    #[test]
    fn capital_sharp_s_folds_like_small_sharp_s() {
        let text = "STRA\u{1E9E}E\u{200D}";
        assert_eq!(normalize(text), "strasse");
        assert_eq!(normalize(&normalize(text)), normalize(text));
        assert_eq!(normalize(text), normalize("straße"));
        let mut c = KeywordConfig::defaults(HELP_EN);
        c.languages[0].custom.push(CustomKeyword {
            keyword: "straße".into(),
            response: "Willkommen".into(),
        });
        let p = ChannelProfile::new(ChannelKind::Sms, ConsentLevel::Implicit);
        assert_eq!(
            matched(&c, &p, text).map(|(list, _)| list),
            Some(KeywordList::Custom)
        );
    }

    #[test]
    fn every_default_keyword_matches_its_list() {
        let c = KeywordConfig::defaults(HELP_EN);
        let p = long_code();
        for (words, list) in [
            (DEFAULT_OPT_OUT, KeywordList::OptOut),
            (DEFAULT_OPT_IN, KeywordList::OptIn),
            (DEFAULT_DOUBLE_OPT_IN, KeywordList::DoubleOptIn),
            (DEFAULT_HELP, KeywordList::Help),
        ] {
            for w in words {
                assert_eq!(matched(&c, &p, w), Some((list, "en".into())), "{w}");
                assert_eq!(
                    matched(&c, &p, &format!(" {}. ", w.to_lowercase())),
                    Some((list, "en".into()))
                );
            }
        }
    }

    #[test]
    fn whole_message_only() {
        let c = KeywordConfig::defaults(HELP_EN);
        let p = long_code();
        assert!(c.match_text(&p, "Stop.").is_some());
        assert!(c.match_text(&p, "stop").is_some());
        assert!(c.match_text(&p, "Stop please").is_none());
        assert!(c.match_text(&p, "please stop").is_none());
        assert!(c.match_text(&p, "STOP STOP").is_none());
        assert!(c.match_text(&p, "stopp").is_none());
        assert!(c.match_text(&p, "").is_none());
        assert!(c.match_text(&p, "...").is_none());
    }

    #[test]
    fn each_list_carries_its_response() {
        let mut c = KeywordConfig::defaults(HELP_EN);
        c.languages[0].custom.push(CustomKeyword {
            keyword: "HOURS".into(),
            response: "Open 9-5 weekdays.".into(),
        });
        let p = long_code();
        let kind = |t: &str| c.match_text(&p, t).and_then(|m| m.response).map(|r| r.kind);
        assert_eq!(kind("stop"), Some(ResponseKind::OptOutConfirmation));
        assert_eq!(kind("yes"), Some(ResponseKind::OptInConfirmation));
        assert_eq!(kind("confirm"), Some(ResponseKind::OptInConfirmation));
        assert_eq!(kind("help"), Some(ResponseKind::HelpResponse));
        assert_eq!(kind("hours"), Some(ResponseKind::CustomResponse));
        let help = c.match_text(&p, "Help!").unwrap();
        assert_eq!(help.response.unwrap().text, HELP_EN);
        let custom = c.match_text(&p, "Hours?").unwrap();
        assert_eq!(custom.list, KeywordList::Custom);
        assert_eq!(custom.keyword, "HOURS");
        assert_eq!(custom.response.unwrap().text, "Open 9-5 weekdays.");
        let stop = c.match_text(&p, "stop").unwrap().response.unwrap();
        assert_eq!(
            stop.text,
            crate::i18n::text(Locale::En, "auto.opt_out_confirmation")
        );
    }

    #[test]
    fn canada_answers_each_keyword_in_its_language() {
        let c = with_prompts(KeywordConfig::canadian_defaults(HELP_EN, HELP_FR));
        let p = canadian();
        c.validate(&p).unwrap();
        let aide = c.match_text(&p, "aide").unwrap();
        assert_eq!(
            (aide.list, aide.language.as_str()),
            (KeywordList::Help, "fr")
        );
        let r = aide.response.unwrap();
        assert_eq!((r.language.as_str(), r.text.as_str()), ("fr", HELP_FR));
        for t in ["ARRET", "Arrêt", "arrêt!", "ARRÊT"] {
            let m = c.match_text(&p, t).unwrap();
            assert_eq!(m.list, KeywordList::OptOut);
            let r = m.response.unwrap();
            assert_eq!(
                (r.language.as_str(), r.text.as_str()),
                (
                    "fr",
                    crate::i18n::text(Locale::Fr, "auto.opt_out_confirmation")
                )
            );
        }
        let stop = c.match_text(&p, "STOP").unwrap().response.unwrap();
        assert_eq!(
            (stop.language.as_str(), stop.text.as_str()),
            (
                "en",
                crate::i18n::text(Locale::En, "auto.opt_out_confirmation")
            )
        );
        let help = c.match_text(&p, "HELP").unwrap().response.unwrap();
        assert_eq!(
            (help.language.as_str(), help.text.as_str()),
            ("en", HELP_EN)
        );
        let info = c.match_text(&p, "info").unwrap();
        assert_eq!(
            (info.list, info.language.as_str()),
            (KeywordList::Help, "en")
        );
    }

    #[test]
    fn french_falls_back_to_builtin_french_before_the_default_language() {
        let mut c = KeywordConfig::canadian_defaults(HELP_EN, HELP_FR);
        c.languages[1].responses.opt_out_confirmation = None;
        let r = c
            .response(ResponseKind::OptOutConfirmation, &Language::new("fr-CA"))
            .unwrap();
        assert_eq!(
            r.text,
            crate::i18n::text(Locale::Fr, "auto.opt_out_confirmation")
        );
        let r = c
            .response(ResponseKind::HelpResponse, &Language::new("de"))
            .unwrap();
        assert_eq!((r.language.as_str(), r.text.as_str()), ("en", HELP_EN));
        assert!(
            c.response(ResponseKind::OptInPrompt, &Language::english())
                .is_none()
        );
        assert_eq!(
            c.language_for(Some(&Language::new("fr_CA"))),
            Language::french()
        );
        assert_eq!(
            c.language_for(Some(&Language::new("de"))),
            Language::english()
        );
        assert_eq!(c.language_for(None), Language::english());
    }

    #[test]
    fn canada_requires_the_five_keywords_in_their_languages() {
        let p = canadian();
        let c = with_prompts(KeywordConfig::defaults(HELP_EN));
        let err = c.validate(&p).unwrap_err();
        let missing: Vec<_> = err
            .errors
            .iter()
            .filter_map(|e| match e {
                KeywordConfigError::MissingCanadianKeyword { keyword, .. } => Some(*keyword),
                _ => None,
            })
            .collect();
        assert_eq!(missing, vec!["AIDE", "ARRET"]);
        let mut c = with_prompts(KeywordConfig::canadian_defaults(HELP_EN, HELP_FR));
        // ARRET moved to the English section is no longer answered in French.
        c.languages[1].opt_out.clear();
        c.languages[0].opt_out.push("ARRET".into());
        assert!(c.validate(&p).is_err());
        // A long code in Canada has no such duty.
        let lc = ChannelProfile {
            country: Some("CA".into()),
            ..long_code()
        };
        KeywordConfig::defaults(HELP_EN).validate(&lc).unwrap();
    }

    #[test]
    fn shared_short_code_reads_the_program_then_the_keyword() {
        let c = KeywordConfig::defaults(HELP_EN);
        let baby = shared("baby");
        let m = c.match_text(&baby, "baby stop").unwrap();
        assert_eq!(m.list, KeywordList::OptOut);
        assert_eq!(m.provider_keyword.as_deref(), Some("baby"));
        assert!(c.match_text(&baby, "BABY, Stop!").is_some());
        assert!(c.match_text(&baby, "kids stop").is_none());
        assert!(c.match_text(&baby, "stop").is_none());
        assert!(c.match_text(&baby, "baby").is_none());
        assert!(c.match_text(&baby, "baby stop please").is_none());
        assert_eq!(
            baby.service_text("baby  when do you open?"),
            Some("when do you open?")
        );
        assert_eq!(baby.service_text("kids hello"), None);
        assert_eq!(long_code().service_text("kids hello"), Some("kids hello"));
        let programs = ["kids", "baby"];
        assert_eq!(program_of("Baby stop", programs), Some("baby"));
        assert_eq!(program_of("shoes stop", programs), None);
        assert_eq!(program_of("   ", programs), None);
    }

    #[test]
    fn a_keyword_lives_in_one_list_across_languages() {
        let p = long_code();
        let mut c = KeywordConfig::defaults(HELP_EN);
        c.languages[0].help.push("stop".into());
        let mut fr = LanguageKeywords::new(Language::french());
        fr.opt_in.push("Yes!".into());
        c.languages.push(fr);
        let err = c.validate(&p).unwrap_err();
        assert_eq!(err.errors.len(), 2, "{err}");
        assert!(matches!(
            &err.errors[0],
            KeywordConfigError::DuplicateKeyword {
                first_list: KeywordList::OptOut,
                second_list: KeywordList::Help,
                ..
            }
        ));
        assert!(matches!(
            &err.errors[1],
            KeywordConfigError::DuplicateKeyword { first_list: KeywordList::OptIn, second_list: KeywordList::OptIn, second_language, .. } if second_language.as_str() == "fr"
        ));
        let text = err.to_string();
        assert!(text.contains("keyword 'stop' is already in the opt-out list (en) and cannot also be in the help list (en)"), "{text}");
        assert!(text.contains("only one list"), "{text}");
    }

    #[test]
    fn custom_keywords_are_letters_only() {
        assert_eq!(check_custom_keyword("HOURS"), Ok(()));
        assert_eq!(check_custom_keyword("ARRÊT"), Ok(()));
        assert_eq!(check_custom_keyword("arre\u{0302}t"), Ok(()));
        assert_eq!(
            check_custom_keyword("DEAL2"),
            Err(KeywordFormatError::Digit('2'))
        );
        assert_eq!(
            check_custom_keyword("BIG DEAL"),
            Err(KeywordFormatError::Space)
        );
        assert_eq!(
            check_custom_keyword("DEAL!"),
            Err(KeywordFormatError::Special('!'))
        );
        assert_eq!(check_custom_keyword("  "), Err(KeywordFormatError::Empty));
        let mut c = KeywordConfig::defaults(HELP_EN);
        c.languages[0].custom.push(CustomKeyword {
            keyword: "DEAL2".into(),
            response: "x".into(),
        });
        c.languages[0].custom.push(CustomKeyword {
            keyword: "HOURS".into(),
            response: " ".into(),
        });
        let err = c.validate(&long_code()).unwrap_err();
        assert_eq!(err.errors.len(), 2, "{err}");
        assert!(
            err.to_string()
                .contains("custom keyword 'DEAL2' (en) is not valid: it contains the digit '2'"),
            "{err}"
        );
        assert!(
            err.to_string()
                .contains("custom keyword 'HOURS' (en) has no response"),
            "{err}"
        );
    }

    #[test]
    fn help_response_is_mandatory() {
        let mut c = KeywordConfig::defaults(" ");
        let err = c.validate(&long_code()).unwrap_err();
        assert_eq!(
            err.errors,
            vec![KeywordConfigError::MissingResponse {
                response: ResponseKind::HelpResponse,
                language: Language::english()
            }]
        );
        assert!(
            err.to_string()
                .contains("the help response (en) is missing")
        );
        c.languages[0].responses.help = Some(HELP_EN.into());
        c.validate(&long_code()).unwrap();
        // A short code must have help keywords at all.
        c.languages[0].help.clear();
        let err = with_prompts(c)
            .validate(&short_code(ConsentLevel::Explicit))
            .unwrap_err();
        assert!(
            matches!(
                err.errors[..],
                [KeywordConfigError::MissingList {
                    list: KeywordList::Help,
                    ..
                }]
            ),
            "{err}"
        );
    }

    #[test]
    fn short_code_responses_fit_160_characters() {
        let long = "x".repeat(161);
        let mut c = with_prompts(KeywordConfig::defaults(long.clone()));
        c.languages[0].custom.push(CustomKeyword {
            keyword: "HOURS".into(),
            response: "é".repeat(160),
        });
        c.validate(&long_code()).unwrap();
        let err = c.validate(&short_code(ConsentLevel::Explicit)).unwrap_err();
        assert_eq!(
            err.errors,
            vec![KeywordConfigError::ResponseTooLong {
                response: ResponseKind::HelpResponse,
                language: Language::english(),
                length: 161
            }]
        );
        assert!(
            err.to_string()
                .contains("161 characters long; short code auto-responses may have at most 160")
        );
    }

    #[test]
    fn consent_levels_require_their_keywords_and_prompts() {
        let c = KeywordConfig::defaults(HELP_EN);
        c.validate(&short_code(ConsentLevel::Implicit)).unwrap();
        let err = c.validate(&short_code(ConsentLevel::Double)).unwrap_err();
        assert_eq!(
            err.errors,
            vec![
                KeywordConfigError::MissingResponse {
                    response: ResponseKind::OptInPrompt,
                    language: Language::english()
                },
                KeywordConfigError::MissingResponse {
                    response: ResponseKind::DoubleOptInPrompt,
                    language: Language::english()
                },
            ]
        );
        with_prompts(c.clone())
            .validate(&short_code(ConsentLevel::Double))
            .unwrap();
        let mut no_double = with_prompts(c);
        no_double.languages[0].double_opt_in.clear();
        let err = no_double
            .validate(&short_code(ConsentLevel::Double))
            .unwrap_err();
        assert!(matches!(
            err.errors[..],
            [KeywordConfigError::MissingList {
                list: KeywordList::DoubleOptIn,
                ..
            }]
        ));
        let mut no_out = KeywordConfig::defaults(HELP_EN);
        no_out.languages[0].opt_out.clear();
        assert!(no_out.validate(&long_code()).is_err());
    }

    #[test]
    fn structural_errors() {
        let mut c = KeywordConfig::defaults(HELP_EN);
        c.default_language = Language::new("de");
        c.languages.push(LanguageKeywords::new(Language::english()));
        c.languages[0].opt_in.push("  ".into());
        c.languages[0].opt_in.push("opt in".into());
        let err = c.validate(&long_code()).unwrap_err();
        assert!(err.errors.contains(&KeywordConfigError::DuplicateLanguage {
            language: Language::english()
        }));
        assert!(
            err.errors
                .contains(&KeywordConfigError::UnknownDefaultLanguage {
                    language: Language::new("de")
                })
        );
        assert!(
            err.errors
                .iter()
                .any(|e| matches!(e, KeywordConfigError::EmptyKeyword { .. }))
        );
        assert!(
            err.errors
                .iter()
                .any(|e| matches!(e, KeywordConfigError::KeywordHasSpace { .. }))
        );
    }

    #[test]
    fn provider_keyword_only_and_always_on_shared_codes() {
        let c = KeywordConfig::defaults(HELP_EN);
        c.validate(&shared("baby")).unwrap();
        let none = ChannelProfile {
            provider_keyword: None,
            ..shared("x")
        };
        assert_eq!(
            c.validate(&none).unwrap_err().errors,
            vec![KeywordConfigError::MissingProviderKeyword]
        );
        assert!(matches!(
            c.validate(&shared("ba by")).unwrap_err().errors[..],
            [KeywordConfigError::InvalidProviderKeyword {
                problem: KeywordFormatError::Space,
                ..
            }]
        ));
        let stray = ChannelProfile {
            provider_keyword: Some("baby".into()),
            ..long_code()
        };
        assert!(matches!(
            c.validate(&stray).unwrap_err().errors[..],
            [KeywordConfigError::UnexpectedProviderKeyword { .. }]
        ));
        // Matching on a shared code with no provider keyword matches nothing rather than everything.
        assert!(c.match_text(&none, "stop").is_none());
    }

    #[test]
    fn config_round_trips_as_json_and_refuses_unknown_fields() {
        let c = KeywordConfig::canadian_defaults(HELP_EN, HELP_FR);
        let json = serde_json::to_string(&c).unwrap();
        let back: KeywordConfig = serde_json::from_str(&json).unwrap();
        assert_eq!(back, c);
        let minimal: KeywordConfig = serde_json::from_str(
            r#"{"default_language":"EN","languages":[{"language":"en","opt_out":["STOP"],"help":["HELP"],"responses":{"help":"h"}}]}"#,
        )
        .unwrap();
        assert_eq!(minimal.default_language, Language::english());
        minimal.validate(&long_code()).unwrap();
        let typo =
            r#"{"default_language":"en","languages":[{"language":"en","opt_outs":["STOP"]}]}"#;
        assert!(serde_json::from_str::<KeywordConfig>(typo).is_err());
        let profile: ChannelProfile = serde_json::from_str(
            r#"{"kind":"sms","number_type":"shared_short_code","provider_keyword":"baby","required_level":"double"}"#,
        )
        .unwrap();
        assert!(profile.is_shared_short_code());
    }

    fn case_variants(word: &str, mask: &[bool]) -> String {
        word.chars()
            .zip(mask.iter().cycle())
            .map(|(c, up)| {
                if *up {
                    c.to_ascii_uppercase()
                } else {
                    c.to_ascii_lowercase()
                }
            })
            .collect()
    }

    fn all_defaults() -> Vec<(&'static str, KeywordList)> {
        let mut v = Vec::new();
        for (words, list) in [
            (DEFAULT_OPT_OUT, KeywordList::OptOut),
            (DEFAULT_OPT_IN, KeywordList::OptIn),
            (DEFAULT_DOUBLE_OPT_IN, KeywordList::DoubleOptIn),
            (DEFAULT_HELP, KeywordList::Help),
        ] {
            v.extend(words.iter().map(|w| (*w, list)));
        }
        v
    }

    proptest! {
        /// Any casing, any surrounding whitespace and punctuation, and accents on any letter leave a
        /// keyword the same keyword.
        #[test]
        fn keyword_matching_ignores_case_accents_and_edge_punctuation(
            idx in 0usize..16,
            mask in proptest::collection::vec(any::<bool>(), 1..8),
            lead in "[ \t.!?¡¿\"'…«(]{0,4}",
            trail in "[ \t.!?\"'…»)]{0,4}",
            accent in proptest::sample::select(vec!["", "\u{0301}", "\u{0300}", "\u{0302}", "\u{0308}"]),
        ) {
            let c = KeywordConfig::defaults(HELP_EN);
            let p = long_code();
            let defaults = all_defaults();
            let (word, list) = defaults[idx % defaults.len()];
            let cased = case_variants(word, &mask);
            let accented: String = cased.chars().flat_map(|ch| std::iter::once(ch).chain(accent.chars())).collect();
            let text = format!("{lead}{accented}{trail}");
            let m = c.match_text(&p, &text);
            prop_assert_eq!(m.map(|m| m.list), Some(list), "{:?}", text);
        }

        /// A keyword followed or preceded by another word is an ordinary message.
        #[test]
        fn keyword_with_more_words_is_not_a_keyword(
            idx in 0usize..16,
            other in "[a-zA-Z]{1,8}",
            before in any::<bool>(),
        ) {
            let c = KeywordConfig::defaults(HELP_EN);
            let p = long_code();
            let defaults = all_defaults();
            let (word, _) = defaults[idx % defaults.len()];
            let text = if before { format!("{other} {word}") } else { format!("{word} {other}.") };
            prop_assert!(c.match_text(&p, &text).is_none(), "{:?}", text);
        }

        #[test]
        fn normal_form_is_idempotent(s in "\\PC{0,24}") {
            let once = normalize(&s);
            prop_assert_eq!(normalize(&once), once.clone());
            prop_assert_eq!(once.trim(), once.as_str());
        }

        /// Arbitrary text never panics the matcher, and whatever it matches is in the configuration.
        #[test]
        fn matcher_is_total(s in "\\PC{0,40}") {
            let c = KeywordConfig::canadian_defaults(HELP_EN, HELP_FR);
            for p in [long_code(), canadian(), shared("baby")] {
                if let Some(m) = c.match_text(&p, &s) {
                    let body = p.service_text(&s).unwrap();
                    prop_assert_eq!(normalize(&m.keyword), normalize(body));
                }
            }
        }
    }
}

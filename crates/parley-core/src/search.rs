//! The words of the search index (issue 15, search across conversations): what a message, a name,
//! a number or a query is broken into before each word is hashed into the blind index.
//!
//! Every form goes through the same normalization so a query finds what was written however it is
//! typed: Unicode-aware word split, lowercase, accents folded (`Émilie` → `emilie`). Names get
//! their prefixes of [`MIN_PREFIX`]+ characters too ("ann" finds "Annabelle"); message text is
//! indexed by whole words only, so an index row per prefix of every word of every message does not
//! multiply the table. A number is indexed as its digits in one token, plus its trailing digits
//! from 4 up ("…1234" finds +44 7700 901234), so the last digits an agent reads on a call work.

use std::collections::BTreeSet;

use unicode_normalization::UnicodeNormalization;
use unicode_normalization::char::is_combining_mark;

/// The shortest name prefix indexed; shorter query words match whole words only.
pub const MIN_PREFIX: usize = 3;
/// The fewest trailing digits of a number indexed (and searchable) on their own.
pub const MIN_TAIL_DIGITS: usize = 4;
/// Longer words are cut: an index row per word keeps a bound however long the text is.
pub const MAX_WORD_CHARS: usize = 40;
/// At most this many distinct words of one message are indexed.
pub const MAX_WORDS_PER_TEXT: usize = 200;
/// At most this many words of a query are used (all must match).
pub const MAX_QUERY_WORDS: usize = 6;

/// Lowercase with accents folded: lowercased, NFD, combining marks dropped.
pub fn fold(text: &str) -> String {
    // Lowercase first: some capitals lowercase to a letter and a combining mark (İ → i̇).
    let lower: String = text.chars().flat_map(char::to_lowercase).collect();
    lower.nfd().filter(|c| !is_combining_mark(*c)).collect()
}

/// The normalized words of a text, in order, repeats kept: split on anything that is not a letter
/// or a digit (Unicode-aware), each folded and cut to [`MAX_WORD_CHARS`].
pub fn words(text: &str) -> Vec<String> {
    fold(text)
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(|w| w.chars().take(MAX_WORD_CHARS).collect())
        .collect()
}

/// The terms a message text is indexed under: its distinct whole words (bounded). A word that is
/// all digits of a number (4+ digits) also gives its trailing digits, like a phone number does.
pub fn text_terms(text: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for w in words(text) {
        if out.len() >= MAX_WORDS_PER_TEXT {
            break;
        }
        out.insert(w);
    }
    out
}

/// The terms a person's name is indexed under: each word and each of its prefixes of
/// [`MIN_PREFIX`] characters or more.
pub fn name_terms(name: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for w in words(name) {
        let chars: Vec<char> = w.chars().collect();
        for n in MIN_PREFIX.min(chars.len())..=chars.len() {
            out.insert(chars.iter().take(n).collect());
        }
    }
    out
}

/// The terms a phone number (or any identifier with digits, like a platform key) is indexed
/// under: all its digits as one token and every tail of [`MIN_TAIL_DIGITS`]+ digits; an
/// identifier with letters (an e-mail, a web visitor id) is indexed by its words as well.
pub fn number_terms(value: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let digits: String = value.chars().filter(char::is_ascii_digit).collect();
    if digits.len() >= MIN_TAIL_DIGITS {
        for start in 0..=digits.len() - MIN_TAIL_DIGITS {
            out.insert(digits[start..].to_owned());
        }
    }
    if value.chars().any(char::is_alphabetic) {
        out.extend(words(value));
    }
    out
}

/// The words of a query, each to be matched as a term (all of them: AND). A query word with
/// digits and separators ("+44 7700-901 234") is taken as one number: its digits. Repeats are
/// dropped; at most [`MAX_QUERY_WORDS`] are kept. Empty when nothing searchable is left.
pub fn query_terms(query: &str) -> Vec<String> {
    let trimmed = query.trim();
    let looks_like_number = !trimmed.is_empty()
        && trimmed
            .chars()
            .all(|c| c.is_ascii_digit() || matches!(c, '+' | '-' | ' ' | '(' | ')' | '.'))
        && trimmed.chars().filter(char::is_ascii_digit).count() >= MIN_TAIL_DIGITS;
    if looks_like_number {
        return vec![trimmed.chars().filter(char::is_ascii_digit).collect()];
    }
    let mut seen = BTreeSet::new();
    let mut out = Vec::new();
    for w in words(trimmed) {
        if out.len() >= MAX_QUERY_WORDS {
            break;
        }
        if seen.insert(w.clone()) {
            out.push(w);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn words_fold_accents_and_case_and_split_on_punctuation() {
        assert_eq!(
            words("Émilie's  REFUND, s'il-vous-plaît! №42"),
            vec!["emilie", "s", "refund", "s", "il", "vous", "plait", "42"]
        );
        assert_eq!(words("Ünïcödé"), vec!["unicode"]);
        assert_eq!(words("東京 タワー"), vec!["東京", "タワー"]);
        assert!(words(" ,.;!? ").is_empty());
    }

    #[test]
    fn names_get_prefixes_of_three_or_more() {
        let t = name_terms("Annabelle Lee");
        for w in ["ann", "anna", "annabelle", "lee"] {
            assert!(t.contains(w), "{w} in {t:?}");
        }
        assert!(!t.contains("an"));
        // A word shorter than the prefix length is indexed whole.
        assert!(name_terms("Al Bo").contains("al"));
    }

    #[test]
    fn numbers_give_all_digits_and_their_tails() {
        let t = number_terms("+44 7700 901234");
        assert!(t.contains("447700901234"));
        assert!(t.contains("901234"));
        assert!(t.contains("1234"));
        assert!(!t.contains("234"));
        let e = number_terms("jo.smith@example.com");
        assert!(e.contains("smith") && e.contains("example"));
        assert!(number_terms("12").is_empty());
    }

    #[test]
    fn text_is_indexed_by_whole_words_only() {
        let t = text_terms("Refund please refund");
        assert_eq!(
            t.into_iter().collect::<Vec<_>>(),
            vec!["please".to_owned(), "refund".to_owned()]
        );
        assert!(!text_terms("Refund").contains("ref"));
    }

    #[test]
    fn queries_take_numbers_whole_and_drop_repeats() {
        assert_eq!(query_terms("+44 (7700) 901-234"), vec!["447700901234"]);
        assert_eq!(query_terms("Ann ann REFUND"), vec!["ann", "refund"]);
        assert!(query_terms("  ?! ").is_empty());
        assert_eq!(query_terms("a b c d e f g h").len(), MAX_QUERY_WORDS);
    }

    proptest! {
        // Whatever the text, every query word made from it is one of its terms (a message is found
        // by any of its words, a name by any prefix of 3+ of its words).
        #[test]
        fn every_word_of_a_text_finds_it(text in "\\PC{0,80}") {
            let terms = text_terms(&text);
            for q in query_terms(&text) {
                let is_number_query = q.chars().all(|c| c.is_ascii_digit());
                prop_assert!(terms.contains(&q) || is_number_query || terms.len() >= MAX_WORDS_PER_TEXT,
                    "{q:?} not in {terms:?}");
            }
        }

        #[test]
        fn name_prefixes_find_the_name(name in "[\\p{L}]{3,12}( [\\p{L}]{1,12}){0,2}", cut in 3usize..12) {
            let terms = name_terms(&name);
            for w in words(&name) {
                let prefix: String = w.chars().take(cut).collect();
                prop_assert!(terms.contains(&prefix) || w.chars().count() < MIN_PREFIX,
                    "{prefix:?} not in {terms:?}");
            }
        }

        #[test]
        fn folding_is_idempotent(text in "\\PC{0,40}") {
            let once = fold(&text);
            prop_assert_eq!(fold(&once), once);
        }

        #[test]
        fn number_tails_find_the_number(digits in "[0-9]{4,15}", tail in 4usize..15) {
            let terms = number_terms(&format!("+{digits}"));
            let tail = tail.min(digits.len());
            let q = query_terms(&digits[digits.len() - tail..]);
            prop_assert_eq!(q.len(), 1);
            prop_assert!(terms.contains(&q[0]));
        }
    }
}

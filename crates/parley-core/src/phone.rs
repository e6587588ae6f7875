//! Phone numbers in E.164, parsed once at the edge. Everything past the edge holds an [`E164`] and
//! never re-parses.

use serde::{Deserialize, Deserializer, Serialize};

/// A valid phone number in E.164 form (`+447400123456`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct E164(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PhoneError {
    #[error("'{0}' is not a phone number: {1}")]
    Unparseable(String, String),
    #[error("'{0}' is not a valid phone number for its country")]
    Invalid(String),
}

impl E164 {
    /// Parses a number written in international form (a leading `+` and a country code). Spaces,
    /// dashes, dots and parentheses are tolerated; national-only forms are refused because without a
    /// country they are ambiguous.
    pub fn parse(input: &str) -> Result<Self, PhoneError> {
        Self::parse_with_region(input, None)
    }

    /// Parses a number that may be national, read in `region` (ISO 3166 alpha-2, e.g. "US").
    pub fn parse_with_region(input: &str, region: Option<&str>) -> Result<Self, PhoneError> {
        let trimmed = input.trim();
        let country = match region {
            Some(r) => Some(
                r.to_ascii_uppercase()
                    .parse::<phonenumber::country::Id>()
                    .map_err(|_| {
                        PhoneError::Unparseable(trimmed.to_owned(), format!("unknown region {r}"))
                    })?,
            ),
            None => None,
        };
        if country.is_none() && !trimmed.starts_with('+') {
            return Err(PhoneError::Unparseable(
                trimmed.to_owned(),
                "expected international form starting with + and a country code".to_owned(),
            ));
        }
        let number = phonenumber::parse(country, trimmed)
            .map_err(|e| PhoneError::Unparseable(trimmed.to_owned(), e.to_string()))?;
        if !phonenumber::is_valid(&number) {
            return Err(PhoneError::Invalid(trimmed.to_owned()));
        }
        Ok(Self(
            number.format().mode(phonenumber::Mode::E164).to_string(),
        ))
    }

    /// Reads a sender's number as the phone network delivered it. The network proves the number
    /// exists, so only the form is checked (it parses, in international form), not whether the
    /// number plan metadata already knows its range: a customer on a newly opened range must not
    /// be ignored.
    pub fn from_network(input: &str) -> Result<Self, PhoneError> {
        let trimmed = input.trim();
        if !trimmed.starts_with('+') {
            return Err(PhoneError::Unparseable(
                trimmed.to_owned(),
                "expected international form starting with + and a country code".to_owned(),
            ));
        }
        let number = phonenumber::parse(None, trimmed)
            .map_err(|e| PhoneError::Unparseable(trimmed.to_owned(), e.to_string()))?;
        Ok(Self(
            number.format().mode(phonenumber::Mode::E164).to_string(),
        ))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

impl std::fmt::Display for E164 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::str::FromStr for E164 {
    type Err = PhoneError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl<'de> Deserialize<'de> for E164 {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Self::parse(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_numbers_normalise_to_e164() {
        assert_eq!(
            E164::parse("+447400123456").unwrap().as_str(),
            "+447400123456"
        );
        assert_eq!(
            E164::parse(" +44 7400 123-456 ").unwrap().as_str(),
            "+447400123456"
        );
        assert_eq!(
            E164::parse_with_region("(415) 555-2671", Some("us"))
                .unwrap()
                .as_str(),
            "+14155552671"
        );
    }

    #[test]
    fn network_numbers_only_need_to_parse() {
        assert_eq!(
            E164::from_network("+447700900123").unwrap().as_str(),
            "+447700900123"
        );
        assert!(E164::from_network("447700900123").is_err());
        assert!(E164::from_network("+abc").is_err());
    }

    #[test]
    fn invalid_numbers_are_refused() {
        assert!(matches!(
            E164::parse("+447700900123"),
            Err(PhoneError::Invalid(_))
        ));
        assert!(E164::parse("hello").is_err());
        assert!(E164::parse("4155552671").is_err());
        assert!(E164::parse("").is_err());
        assert!(serde_json::from_str::<E164>("\"+1 nope\"").is_err());
    }
}

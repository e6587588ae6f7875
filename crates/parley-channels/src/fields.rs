//! What each provider's `settings` and `secrets` hold, described for a form: the admin area draws
//! a channel's fields from this rather than asking for JSON. Each adapter declares its
//! description ([`crate::ProviderAdapter::settings_form`]); a unit test holds it to the adapter's
//! typed settings structs (same field names, sample values of each kind accepted, wrong ones
//! refused naming the field), so the form cannot drift from what `check_settings` takes.

use serde::Serialize;

/// How a field is typed in and how its value is written to JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FieldKind {
    /// A JSON string.
    Text,
    /// A JSON string holding an `https://` link.
    Url,
    /// A JSON number.
    Number,
    /// `true` or `false`.
    Bool,
    /// A JSON string, one of [`FieldSpec::choices`].
    Enum,
    /// A JSON string never shown again once written (a credential).
    Secret,
    /// A JSON array of strings, typed comma-separated.
    List,
}

/// One field of a provider's settings or secrets. `name` is the key in the object; a dotted name
/// (`simulate.error_rate`) is a key of a nested object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct FieldSpec {
    pub name: &'static str,
    pub kind: FieldKind,
    /// Needed for the channel to send (a channel may still be saved without it).
    pub required: bool,
    /// What applies when the field is left empty, as the form shows it.
    pub default: Option<&'static str>,
    /// The catalogue key of the field's help text (area `channel_settings`).
    pub help: &'static str,
    /// The values an [`FieldKind::Enum`] takes.
    pub choices: &'static [&'static str],
    /// What a value looks like (`v21.0`), shown in the empty field.
    pub example: Option<&'static str>,
}

impl FieldSpec {
    pub const fn new(name: &'static str, kind: FieldKind, help: &'static str) -> Self {
        Self {
            name,
            kind,
            required: false,
            default: None,
            help,
            choices: &[],
            example: None,
        }
    }

    #[must_use]
    pub const fn example(mut self, value: &'static str) -> Self {
        self.example = Some(value);
        self
    }

    #[must_use]
    pub const fn required(mut self) -> Self {
        self.required = true;
        self
    }

    #[must_use]
    pub const fn default(mut self, value: &'static str) -> Self {
        self.default = Some(value);
        self
    }

    #[must_use]
    pub const fn choices(mut self, values: &'static [&'static str]) -> Self {
        self.choices = values;
        self
    }

    /// The top-level key this field is written under.
    pub fn key(&self) -> &'static str {
        self.name.split('.').next().unwrap_or(self.name)
    }
}

/// The fields of a provider's configuration for one channel kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Default)]
pub struct SettingsForm {
    pub settings: &'static [FieldSpec],
    pub secrets: &'static [FieldSpec],
}

/// `settings.media_hosts`, which several providers share.
pub const MEDIA_HOSTS: FieldSpec = FieldSpec::new(
    "media_hosts",
    FieldKind::List,
    "channel_settings.help.media_hosts",
);

#[cfg(test)]
pub(crate) mod probe {
    //! The field names serde derives for a struct, read by asking it to deserialize from a
    //! deserializer that only records what it is asked for.
    use serde::de::{self, DeserializeOwned, Visitor};
    use std::cell::Cell;

    struct Probe<'a>(&'a Cell<&'static [&'static str]>);

    impl<'de> de::Deserializer<'de> for Probe<'_> {
        type Error = de::value::Error;

        fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Self::Error> {
            Err(de::Error::custom("not a struct"))
        }

        fn deserialize_struct<V: Visitor<'de>>(
            self,
            _: &'static str,
            fields: &'static [&'static str],
            _: V,
        ) -> Result<V::Value, Self::Error> {
            self.0.set(fields);
            Err(de::Error::custom("probed"))
        }

        serde::forward_to_deserialize_any! {
            bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
            option unit unit_struct newtype_struct seq tuple tuple_struct map enum identifier
            ignored_any
        }
    }

    /// The keys `T` reads.
    pub fn struct_fields<T: DeserializeOwned>() -> Vec<&'static str> {
        let cell = Cell::new(&[][..]);
        let _ = T::deserialize(Probe(&cell));
        let mut v = cell.get().to_vec();
        v.sort_unstable();
        v
    }
}

//! Which providers this build knows: provider name to adapter. Adding a provider is one module
//! and one line in [`Providers::builtin`].

use std::sync::LazyLock;

use parley_core::model::{ChannelKind, Provider};

use crate::adapter::{ChannelConfig, ProviderAdapter, SettingsError};

/// The adapters, looked up by provider name.
#[derive(Debug)]
pub struct Providers {
    adapters: Vec<Box<dyn ProviderAdapter>>,
}

/// A channel's provider and kind that do not go together, or a provider this build lacks.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProviderError {
    #[error("provider '{provider}' is not known here; expected one of: {known}")]
    Unknown { provider: String, known: String },
    #[error("provider '{provider}' cannot carry a '{kind}' channel")]
    KindNotCarried { provider: String, kind: ChannelKind },
    #[error(transparent)]
    Settings(#[from] SettingsError),
}

impl Providers {
    /// Every provider of this build.
    pub fn builtin() -> Self {
        Self {
            adapters: crate::builtin_adapters(),
        }
    }

    pub fn get(&self, provider: &Provider) -> Option<&dyn ProviderAdapter> {
        self.adapters
            .iter()
            .find(|a| a.id() == *provider)
            .map(|a| a.as_ref())
    }

    /// The adapter of `provider`, or why there is none.
    pub fn require(&self, provider: &Provider) -> Result<&dyn ProviderAdapter, ProviderError> {
        self.get(provider).ok_or_else(|| ProviderError::Unknown {
            provider: provider.to_string(),
            known: self.names().join(", "),
        })
    }

    /// The registered provider names, in registration order.
    pub fn names(&self) -> Vec<String> {
        self.adapters.iter().map(|a| a.id().to_string()).collect()
    }

    /// Everything a channel's provider decides about it: the provider exists, carries the kind,
    /// and the settings and secrets fit its typed structs.
    pub fn check_channel(
        &self,
        provider: &Provider,
        channel: &ChannelConfig<'_>,
    ) -> Result<(), ProviderError> {
        let adapter = self.require(provider)?;
        if !adapter.capabilities().carries(channel.kind) {
            return Err(ProviderError::KindNotCarried {
                provider: provider.to_string(),
                kind: channel.kind,
            });
        }
        adapter.check_settings(channel)?;
        Ok(())
    }
}

static BUILTIN: LazyLock<Providers> = LazyLock::new(Providers::builtin);

/// The providers of this build, shared.
pub fn providers() -> &'static Providers {
    &BUILTIN
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fields::probe::struct_fields;
    use crate::fields::{FieldKind, FieldSpec};
    use serde_json::{Value, json};

    fn config<'a>(
        kind: ChannelKind,
        settings: &'a serde_json::Value,
        secrets: &'a serde_json::Value,
    ) -> ChannelConfig<'a> {
        ChannelConfig {
            kind,
            address: "+14155550100",
            number_type: None,
            settings,
            secrets,
        }
    }

    #[test]
    fn every_registered_id_is_a_valid_unique_provider_name() {
        let names = providers().names();
        for name in &names {
            assert_eq!(Provider::parse(name).unwrap().as_str(), name);
            assert_eq!(names.iter().filter(|n| *n == name).count(), 1, "{name}");
        }
        assert!(names.iter().any(|n| n == "twilio"));
    }

    /// Components render natively on Meta (WhatsApp, Messenger) and the web widget; SMS
    /// providers send the numbered text fallback.
    #[test]
    fn only_meta_and_web_render_components() {
        for name in providers().names() {
            let adapter = providers().get(&Provider::parse(&name).unwrap()).unwrap();
            let native = matches!(name.as_str(), "meta" | "web");
            assert_eq!(adapter.capabilities().components, native, "{name}");
        }
        for name in ["twilio", "vonage", "smpp", "simulator"] {
            assert!(providers().names().iter().any(|n| n == name), "{name}");
        }
    }

    #[test]
    fn unknown_providers_and_kinds_are_refused() {
        let empty = json!({});
        let p = providers();
        let e = p
            .check_channel(
                &Provider::parse("nope").unwrap(),
                &config(ChannelKind::Sms, &empty, &empty),
            )
            .unwrap_err();
        assert!(e.to_string().contains("twilio"), "{e}");
        assert!(matches!(
            p.check_channel(&Provider::Meta, &config(ChannelKind::Sms, &empty, &empty)),
            Err(ProviderError::KindNotCarried { .. })
        ));
        assert!(
            p.check_channel(&Provider::Twilio, &config(ChannelKind::Sms, &empty, &empty))
                .is_ok()
        );
    }

    /// The typed structs each provider's `check_settings` reads: settings (none for web) and
    /// secrets.
    fn typed(provider: &str) -> (Vec<&'static str>, Vec<&'static str>) {
        use crate::{
            meta::adapter as m, simulator as s, smpp, twilio::adapter as t, vonage as v, web,
        };
        match provider {
            "simulator" => (
                struct_fields::<s::SimulatorSettings>(),
                struct_fields::<s::SimulatorSecrets>(),
            ),
            "twilio" => (
                struct_fields::<t::TwilioSettings>(),
                struct_fields::<t::TwilioSecrets>(),
            ),
            "smpp" => (
                struct_fields::<smpp::SmppSettings>(),
                struct_fields::<smpp::SmppSecrets>(),
            ),
            "meta" => (
                struct_fields::<m::MetaSettings>(),
                struct_fields::<m::MetaSecrets>(),
            ),
            "web" => (Vec::new(), struct_fields::<web::WebSecrets>()),
            "vonage" => (
                struct_fields::<v::VonageSettings>(),
                struct_fields::<v::VonageSecrets>(),
            ),
            other => panic!("provider {other} has no typed structs listed in this test"),
        }
    }

    /// `{"a": {"b": v}}` for the dotted name `a.b`.
    fn object_with(name: &str, value: Value) -> Value {
        let mut parts: Vec<&str> = name.split('.').collect();
        let last = parts.pop().unwrap();
        let mut v = json!({ last: value });
        while let Some(p) = parts.pop() {
            v = json!({ p: v });
        }
        v
    }

    /// A value the field's kind writes, as a person would type it.
    fn sample(f: &FieldSpec) -> Value {
        let typed = f.example.or(f.default);
        match f.kind {
            FieldKind::Number => {
                let n: f64 = typed.unwrap_or("5").parse().unwrap();
                if n.fract() == 0.0 {
                    json!(n as i64)
                } else {
                    json!(n)
                }
            }
            FieldKind::Bool => json!(true),
            FieldKind::Url => json!("https://parley.example.com/hook"),
            FieldKind::Enum => json!(f.choices[0]),
            FieldKind::List => json!(["media.example.com"]),
            FieldKind::Text | FieldKind::Secret => json!(typed.unwrap_or("x1")),
        }
    }

    /// The form of each provider and kind is its typed structs: the same keys (a settings key
    /// left out must be one the kind refuses), each field's sample accepted, each wrong value
    /// refused naming the field. Nested fields (`simulate.*`) match their own struct.
    #[test]
    fn forms_match_the_typed_settings() {
        let p = providers();
        let empty = json!({});
        for name in p.names() {
            let provider = Provider::parse(&name).unwrap();
            let adapter = p.get(&provider).unwrap();
            let (settings_keys, secrets_keys) = typed(&name);
            for kind in adapter.capabilities().kinds {
                let form = adapter.settings_form(*kind);
                let mut keys: Vec<&str> = form.settings.iter().map(|f| f.key()).collect();
                keys.dedup();
                for k in &keys {
                    assert!(
                        settings_keys.contains(k),
                        "{name}/{kind}: {k} is not a typed setting"
                    );
                }
                for k in &settings_keys {
                    if !keys.contains(k) {
                        let s = json!({ *k: "x1" });
                        assert!(
                            p.check_channel(&provider, &config(*kind, &s, &empty))
                                .is_err(),
                            "{name}/{kind}: typed setting {k} is missing from the form"
                        );
                    }
                }
                let mut secrets: Vec<&str> = form.secrets.iter().map(|f| f.name).collect();
                secrets.sort_unstable();
                assert_eq!(secrets, secrets_keys, "{name}/{kind}: secrets");
                for f in form.secrets {
                    assert_eq!(f.kind, FieldKind::Secret, "{name}: {}", f.name);
                }
                let nested: Vec<&FieldSpec> = form
                    .settings
                    .iter()
                    .filter(|f| f.name.contains('.'))
                    .collect();
                if !nested.is_empty() {
                    let mut subs: Vec<&str> = nested
                        .iter()
                        .map(|f| f.name.split_once('.').unwrap().1)
                        .collect();
                    subs.sort_unstable();
                    assert_eq!(
                        subs,
                        struct_fields::<crate::simulator::SimulatorFaults>(),
                        "{name}"
                    );
                }
                for f in form.settings.iter().chain(form.secrets) {
                    let side = if f.kind == FieldKind::Secret {
                        "secrets"
                    } else {
                        "settings"
                    };
                    let ok = object_with(f.name, sample(f));
                    let (s, x) = if side == "secrets" {
                        (&empty, &ok)
                    } else {
                        (&ok, &empty)
                    };
                    assert!(
                        p.check_channel(&provider, &config(*kind, s, x)).is_ok(),
                        "{name}/{kind}: {side}.{} refuses {ok}",
                        f.name
                    );
                    for c in f.choices {
                        let v = object_with(f.name, json!(c));
                        assert!(
                            p.check_channel(&provider, &config(*kind, &v, &empty))
                                .is_ok(),
                            "{name}: {c}"
                        );
                    }
                    let wrong = match f.kind {
                        FieldKind::Number => json!("many"),
                        FieldKind::Url => json!("not a url"),
                        FieldKind::Enum => json!("none of these"),
                        FieldKind::Bool => json!("yes"),
                        FieldKind::List => json!("media.example.com"),
                        FieldKind::Text | FieldKind::Secret => json!(5),
                    };
                    let bad = object_with(f.name, wrong);
                    let (s, x) = if side == "secrets" {
                        (&empty, &bad)
                    } else {
                        (&bad, &empty)
                    };
                    match p.check_channel(&provider, &config(*kind, s, x)) {
                        Err(ProviderError::Settings(e)) => assert!(
                            e.field.starts_with(&format!("{side}.{}", f.key())),
                            "{name}/{kind}: {bad} refused as {e}"
                        ),
                        other => panic!("{name}/{kind}: {side} {bad} gave {other:?}"),
                    }
                }
            }
        }
    }

    #[test]
    fn settings_mistakes_name_the_field() {
        let p = providers();
        let cases = [
            (
                Provider::Twilio,
                ChannelKind::Sms,
                json!({"public_url": "not a url"}),
                json!({}),
                "settings.public_url",
            ),
            (
                Provider::Twilio,
                ChannelKind::Sms,
                json!({}),
                json!({"auth_tokn": "x"}),
                "secrets.auth_tokn",
            ),
            (
                Provider::Twilio,
                ChannelKind::Sms,
                json!({}),
                json!({"auth_token": 5}),
                "secrets.auth_token",
            ),
            (
                Provider::Twilio,
                ChannelKind::Sms,
                json!({}),
                json!(["x"]),
                "secrets",
            ),
            (
                Provider::Meta,
                ChannelKind::Whatsapp,
                json!({"case_handoff": {}, "base_url": 1}),
                json!({}),
                "settings.base_url",
            ),
            (
                Provider::Meta,
                ChannelKind::Whatsapp,
                json!({"api_version": "21"}),
                json!({}),
                "settings.api_version",
            ),
            (
                Provider::Meta,
                ChannelKind::Messenger,
                json!({"phone_number_id": "1"}),
                json!({}),
                "settings.phone_number_id",
            ),
            (
                Provider::Smpp,
                ChannelKind::Sms,
                json!({"port": 70000}),
                json!({}),
                "settings.port",
            ),
            (
                Provider::Simulator,
                ChannelKind::Sms,
                json!({"simulate": {"error_rate": 2.0}}),
                json!({}),
                "settings.simulate.error_rate",
            ),
            (
                Provider::Web,
                ChannelKind::Web,
                json!({}),
                json!({"token": "x"}),
                "secrets.token",
            ),
        ];
        for (provider, kind, settings, secrets, field) in cases {
            match p.check_channel(&provider, &config(kind, &settings, &secrets)) {
                Err(ProviderError::Settings(e)) => assert_eq!(e.field, field, "{e}"),
                other => panic!("{provider} {settings} {secrets}: {other:?}"),
            }
        }
    }
}

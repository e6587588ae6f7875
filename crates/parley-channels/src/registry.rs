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
    use serde_json::json;

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

//! The built-in simulator: plays the phone network inside Parley, so a workspace works with no
//! external credentials. Its sends are recorded by the engine, not made over HTTP.

use parley_core::model::{ChannelKind, Provider};
use serde::Deserialize;

use crate::fields::{FieldKind, FieldSpec, SettingsForm};

use crate::adapter::{
    Capabilities, ChannelConfig, ProviderAdapter, SendPath, SettingsError, read_section,
};

/// `settings` of a simulator channel. The object also holds the channel's behaviour, so unknown
/// keys are not refused here.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct SimulatorSettings {
    /// Failures to inject, for tests and demos.
    #[serde(default)]
    pub simulate: Option<SimulatorFaults>,
}

/// What real networks do, injected: `{"error_rate": 0.2, "error": "transient" | "permanent" | "unknown",
/// "latency_ms": 50}`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SimulatorFaults {
    /// Share of sends that fail, 0 to 1.
    #[serde(default)]
    pub error_rate: f64,
    #[serde(default)]
    pub error: FaultKind,
    /// Delay before each send.
    #[serde(default)]
    pub latency_ms: u64,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FaultKind {
    /// Retried with backoff, as a timeout or a 5xx would be.
    #[default]
    Transient,
    /// Fails the message (error 2001), as an invalid number would.
    Permanent,
    /// The answer never comes, as when a connection drops after the request was written: the
    /// message's outcome is unknown (for rehearsing what operators do about it).
    Unknown,
}

/// The simulator needs no credentials, and ignores any it is given: a simulator channel often
/// stands in for a real one whose secrets are already written (workspace files do this).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct SimulatorSecrets {}

impl SimulatorSettings {
    pub fn read(channel: &ChannelConfig<'_>) -> Result<Self, SettingsError> {
        let s: Self = read_section("settings", channel.settings)?;
        if let Some(f) = &s.simulate
            && !(0.0..=1.0).contains(&f.error_rate)
        {
            return Err(SettingsError::new(
                "settings.simulate.error_rate",
                "must be between 0 and 1",
            ));
        }
        Ok(s)
    }

    /// The faults to inject: none when the settings do not read.
    pub fn faults(channel: &ChannelConfig<'_>) -> SimulatorFaults {
        Self::read(channel)
            .ok()
            .and_then(|s| s.simulate)
            .unwrap_or_default()
    }
}

#[derive(Debug, Default)]
pub struct SimulatorAdapter;

impl ProviderAdapter for SimulatorAdapter {
    fn id(&self) -> Provider {
        Provider::Simulator
    }

    fn idempotency_key(&self) -> bool {
        // The recorder keeps one message per entry id: a resend finds the first record.
        true
    }

    fn capabilities(&self) -> Capabilities {
        // The recorder keeps text only, so a file would be lost.
        Capabilities {
            kinds: &[
                ChannelKind::Sms,
                ChannelKind::Whatsapp,
                ChannelKind::Messenger,
                ChannelKind::Web,
            ],
            files: false,
            components: false,
            read_receipts: false,
            care_window: false,
        }
    }

    fn check_settings(&self, channel: &ChannelConfig<'_>) -> Result<(), SettingsError> {
        SimulatorSettings::read(channel)?;
        read_section::<SimulatorSecrets>("secrets", channel.secrets)?;
        Ok(())
    }

    fn settings_form(&self, _kind: ChannelKind) -> SettingsForm {
        const SETTINGS: &[FieldSpec] = &[
            FieldSpec::new("simulate.error_rate", FieldKind::Number, "channel_settings.help.simulate_error_rate").default("0"),
            FieldSpec::new("simulate.error", FieldKind::Enum, "channel_settings.help.simulate_error")
                .choices(&["transient", "permanent", "unknown"])
                .default("transient"),
            FieldSpec::new("simulate.latency_ms", FieldKind::Number, "channel_settings.help.simulate_latency_ms").default("0"),
        ];
        SettingsForm { settings: SETTINGS, secrets: &[] }
    }

    fn send_path(&self) -> SendPath {
        SendPath::Simulated
    }
}

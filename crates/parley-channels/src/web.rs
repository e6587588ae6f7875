//! The web chat widget's provider. Parley is the network: a message to a visitor is delivered
//! when it is committed, and the widget's stream (`/widget/v1/events`) carries it to the browser.

use parley_core::model::{ChannelKind, Provider};
use serde::Deserialize;

use crate::adapter::{
    Capabilities, ChannelConfig, ProviderAdapter, SendPath, SettingsError, read_section,
};

/// A web deployment takes no credentials yet.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebSecrets {}

#[derive(Debug, Default)]
pub struct WebAdapter;

impl ProviderAdapter for WebAdapter {
    fn id(&self) -> Provider {
        Provider::Web
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            kinds: &[ChannelKind::Web],
            files: true,
            components: true,
            read_receipts: true,
            care_window: false,
        }
    }

    fn check_settings(&self, channel: &ChannelConfig<'_>) -> Result<(), SettingsError> {
        read_section::<WebSecrets>("secrets", channel.secrets)?;
        Ok(())
    }

    fn settings_form(&self, _kind: ChannelKind) -> crate::fields::SettingsForm {
        crate::fields::SettingsForm::default()
    }

    fn send_path(&self) -> SendPath {
        SendPath::Native
    }
}

//! The web chat widget's provider. The widget itself is a later issue; until then a web channel
//! can be configured but not sent through.

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
            files: false,
            components: true,
            read_receipts: true,
            care_window: false,
        }
    }

    fn check_settings(&self, channel: &ChannelConfig<'_>) -> Result<(), SettingsError> {
        read_section::<WebSecrets>("secrets", channel.secrets)?;
        Ok(())
    }

    fn send_path(&self) -> SendPath {
        SendPath::Unavailable
    }
}

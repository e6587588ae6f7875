//! Configuration changes announced to every node. A node caches channels for its hot paths; when
//! any node (or `parley apply` from the command line) changes a channel, PostgreSQL's `NOTIFY`
//! tells the others at once, so the pipelines of every node use the new configuration with their
//! next message. On SQLite there is one process per database file and nothing to announce.

use uuid::Uuid;

use crate::{Result, Store};

const CONFIG_CHANNEL: &str = "parley_config";

impl Store {
    /// Tells every node that a channel changed (its row, or what hangs off it). Sent after the
    /// write committed, so a listener that reads the channel again sees the change.
    pub async fn announce_channel_change(&self, channel_id: Uuid) -> Result<()> {
        if let crate::Backend::Postgres(pool) = &self.backend {
            sqlx::query("SELECT pg_notify($1, $2)")
                .bind(CONFIG_CHANNEL)
                .bind(channel_id.to_string())
                .execute(pool)
                .await?;
        }
        Ok(())
    }

    /// A listener for channel changes announced by any node; `None` on SQLite.
    pub async fn config_listener(&self) -> Result<Option<ConfigListener>> {
        match &self.backend {
            crate::Backend::Sqlite { .. } => Ok(None),
            crate::Backend::Postgres(pool) => {
                let mut l = sqlx::postgres::PgListener::connect_with(pool).await?;
                l.listen(CONFIG_CHANNEL).await?;
                Ok(Some(ConfigListener(l)))
            }
        }
    }
}

/// A PostgreSQL connection listening for configuration changes.
pub struct ConfigListener(sqlx::postgres::PgListener);

impl std::fmt::Debug for ConfigListener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ConfigListener")
    }
}

/// What a notification says changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfigChange {
    Channel(Uuid),
    /// A payload this version does not understand: treat everything as changed.
    Unknown,
}

impl ConfigListener {
    /// Waits for the next change. An error means the connection is gone and changes may have
    /// been missed meanwhile.
    pub async fn recv(&mut self) -> Result<ConfigChange> {
        let n = self.0.recv().await?;
        Ok(n.payload()
            .parse()
            .map_or(ConfigChange::Unknown, ConfigChange::Channel))
    }
}

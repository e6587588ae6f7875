//! What the simulator provider sent and received, so a person or a test can play the customer.

use parley_core::model::Direction;
use parley_core::{Timestamp, new_id};
use uuid::Uuid;

use crate::records::SimulatorMessage;
use crate::{Result, Store, StoreError, on_backend};

/// A message crossing the simulated phone network.
#[derive(Debug, Clone, PartialEq)]
pub struct NewSimulatorMessage {
    pub channel_id: Uuid,
    pub direction: Direction,
    pub from_addr: String,
    pub to_addr: String,
    pub body: String,
    pub status: String,
    /// For messages Parley sends: the entry, so sending it twice records it once.
    pub entry_id: Option<Uuid>,
}

impl Store {
    /// Records a message crossing the simulated network. A second message for the same entry is
    /// not recorded: the first one is returned, as a provider honouring an idempotency key would.
    pub async fn record_simulator_message(
        &self,
        m: &NewSimulatorMessage,
        now: Timestamp,
    ) -> Result<SimulatorMessage> {
        let id = new_id();
        on_backend!(self, write c => sqlx::query(
            "INSERT INTO simulator_messages (id, channel_id, direction, from_addr, to_addr, body, status, entry_id, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (entry_id) DO NOTHING")
            .bind(id).bind(m.channel_id).bind(m.direction.as_str()).bind(self.seal_lookup(&m.from_addr))
            .bind(self.seal_lookup(&m.to_addr)).bind(self.seal_text(&m.body)).bind(&m.status).bind(m.entry_id).bind(now.millis())
            .execute(c).await.map(|r| r.rows_affected()))?;
        let row = on_backend!(self, read c => sqlx::query_as::<_, SimulatorMessage>(
            "SELECT * FROM simulator_messages WHERE id = $1 OR ($2 IS NOT NULL AND entry_id = $2)")
            .bind(id).bind(m.entry_id).fetch_optional(c).await)?
        .ok_or(StoreError::not_found("simulator message"))?;
        self.open_simulator_message(row)
    }

    /// Messages to or from `party` (a phone number or user key), oldest first, after a cursor.
    pub async fn simulator_messages(
        &self,
        party: &str,
        after: Option<Uuid>,
        limit: u32,
    ) -> Result<Vec<SimulatorMessage>> {
        let [now_form, earlier_form] = self.lookup_forms(party);
        let rows = on_backend!(self, read c => sqlx::query_as::<_, SimulatorMessage>(
            "SELECT * FROM simulator_messages WHERE (to_addr IN ($1, $4) OR from_addr IN ($1, $4)) \
             AND ($2 IS NULL OR id > $2) ORDER BY id LIMIT $3")
            .bind(now_form).bind(after).bind(i64::from(limit.clamp(1, 1000))).bind(earlier_form)
            .fetch_all(c).await)?;
        rows.into_iter()
            .map(|r| self.open_simulator_message(r))
            .collect()
    }

    fn open_simulator_message(&self, mut m: SimulatorMessage) -> Result<SimulatorMessage> {
        m.from_addr = self.open_text(&m.from_addr)?;
        m.to_addr = self.open_text(&m.to_addr)?;
        m.body = self.open_text(&m.body)?;
        Ok(m)
    }
}

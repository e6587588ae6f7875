//! Flows (issue 12): their versioned definitions and their runs. A definition is stored as the
//! JSON of `parley_core::flow::FlowDefinition`, a run's state as the JSON of
//! `parley_core::flow::RunState`; this module only keeps them. A run is written with the
//! inbound pipeline's or the console's other rows in one transaction ([`FlowRunWrite`] in
//! [`crate::InboundWrite`]), guarded by its `seq`.

use parley_core::model::SessionContext;
use parley_core::{Timestamp, new_id};
use serde::Serialize;
use sqlx::FromRow;
use uuid::Uuid;

use crate::records::req_enum;
use crate::{Result, Store, StoreError, on_backend};

/// A flow at its current version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StoredFlow {
    pub id: Uuid,
    pub name: String,
    pub description: String,
    pub context: SessionContext,
    pub version: i64,
    /// The definition's JSON.
    pub definition: String,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

impl<'r, R: sqlx::Row> FromRow<'r, R> for StoredFlow
where
    &'r str: sqlx::ColumnIndex<R>,
    Uuid: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    String: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    i64: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
    fn from_row(row: &'r R) -> std::result::Result<Self, sqlx::Error> {
        Ok(Self {
            id: row.try_get("id")?,
            name: row.try_get("name")?,
            description: row.try_get("description")?,
            context: req_enum("context", row.try_get("context")?)?,
            version: row.try_get("version")?,
            definition: row.try_get("definition")?,
            created_at: Timestamp(row.try_get("created_at")?),
            updated_at: Timestamp(row.try_get("updated_at")?),
        })
    }
}

/// What saving a flow did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FlowSaved {
    Created(StoredFlow),
    /// A new version (the definition changed).
    Updated(StoredFlow),
    /// The same definition as the current version: nothing written.
    Unchanged(StoredFlow),
}

impl FlowSaved {
    pub fn flow(&self) -> &StoredFlow {
        match self {
            Self::Created(f) | Self::Updated(f) | Self::Unchanged(f) => f,
        }
    }
}

/// One run of a flow in a session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FlowRun {
    pub id: Uuid,
    pub session_id: Uuid,
    pub flow_id: Uuid,
    /// The version it runs on (it finishes on the version it started with).
    pub version: i64,
    /// What started it: `channel`, `keyword`, `routing_rule`, `transfer`, `after_hours`,
    /// `journey`, `flow` (another flow's `start_flow`), `test`.
    pub trigger: String,
    /// The run state's status name (`waiting_reply`, `waiting_webhook`, `ended`...), for lists.
    pub status: String,
    pub step: String,
    /// `parley_core::flow::RunState` as JSON.
    pub state: String,
    /// The last event applied: an entry id, `start`, `timeout:<seq>`, `webhook:<seq>`.
    pub last_event: String,
    pub seq: i64,
    pub started_at: Timestamp,
    pub updated_at: Timestamp,
    pub ended_at: Option<Timestamp>,
}

impl<'r, R: sqlx::Row> FromRow<'r, R> for FlowRun
where
    &'r str: sqlx::ColumnIndex<R>,
    Uuid: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    String: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    i64: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
    fn from_row(row: &'r R) -> std::result::Result<Self, sqlx::Error> {
        Ok(Self {
            id: row.try_get("id")?,
            session_id: row.try_get("session_id")?,
            flow_id: row.try_get("flow_id")?,
            version: row.try_get("version")?,
            trigger: row.try_get("trigger")?,
            status: row.try_get("status")?,
            step: row.try_get("step")?,
            state: row.try_get("state")?,
            last_event: row.try_get("last_event")?,
            seq: row.try_get("seq")?,
            started_at: Timestamp(row.try_get("started_at")?),
            updated_at: Timestamp(row.try_get("updated_at")?),
            ended_at: row.try_get::<Option<i64>, _>("ended_at")?.map(Timestamp),
        })
    }
}

/// A run to insert (`expect_seq: None`) or to update if it is still at `expect_seq`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlowRunWrite {
    pub run: FlowRun,
    pub expect_seq: Option<i64>,
}

/// How many conversations are in each flow now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct OpenRuns {
    pub flow_id: Uuid,
    pub open: i64,
}

const RUN_COLS: &str = "id, session_id, flow_id, version, trigger, status, step, state, last_event, \
    seq, started_at, updated_at, ended_at";

pub(crate) const INSERT_RUN: &str = "INSERT INTO flow_runs (id, session_id, flow_id, version, trigger, \
    status, step, state, last_event, seq, started_at, updated_at, ended_at) \
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)";

pub(crate) const UPDATE_RUN: &str = "UPDATE flow_runs SET status = $2, step = $3, state = $4, \
    last_event = $5, seq = $6, updated_at = $7, ended_at = $8 WHERE id = $1 AND seq = $9";

/// Writes runs inside an open transaction (see `write_effects!`): inserts, and updates guarded by
/// their `seq` (a run another worker advanced first is a [`StoreError::Stale`]).
macro_rules! write_runs {
    ($store:expr, $tx:ident, $runs:expr) => {{
        let store: &$crate::Store = $store;
        for w in $runs {
            let w: &$crate::flows::FlowRunWrite = w;
            let r = &w.run;
            let ended = r.ended_at.map(parley_core::Timestamp::millis);
            match w.expect_seq {
                None => {
                    sqlx::query($crate::flows::INSERT_RUN)
                        .bind(r.id)
                        .bind(r.session_id)
                        .bind(r.flow_id)
                        .bind(r.version)
                        .bind(&r.trigger)
                        .bind(&r.status)
                        .bind(&r.step)
                        .bind(store.seal_text(&r.state))
                        .bind(&r.last_event)
                        .bind(r.seq)
                        .bind(r.started_at.millis())
                        .bind(r.updated_at.millis())
                        .bind(ended)
                        .execute(&mut *$tx)
                        .await?;
                }
                Some(seq) => {
                    let n = sqlx::query($crate::flows::UPDATE_RUN)
                        .bind(r.id)
                        .bind(&r.status)
                        .bind(&r.step)
                        .bind(store.seal_text(&r.state))
                        .bind(&r.last_event)
                        .bind(r.seq)
                        .bind(r.updated_at.millis())
                        .bind(ended)
                        .bind(seq)
                        .execute(&mut *$tx)
                        .await?
                        .rows_affected();
                    if n != 1 {
                        return Err($crate::StoreError::Stale(format!(
                            "flow run {} moved past {seq}",
                            r.id
                        )));
                    }
                }
            }
        }
    }};
}
pub(crate) use write_runs;

impl Store {
    /// Saves a flow by name: creates it, or adds a version when the definition changed. Runs
    /// already going keep their version.
    pub async fn save_flow(
        &self,
        name: &str,
        description: &str,
        context: SessionContext,
        definition: &str,
        now: Timestamp,
    ) -> Result<FlowSaved> {
        let at = now.millis();
        on_backend!(self, write c => {
            let mut tx = c.begin().await?;
            let current: Option<StoredFlow> = sqlx::query_as("SELECT * FROM flows WHERE name = $1")
                .bind(name).fetch_optional(&mut *tx).await?;
            let saved = match current {
                Some(f) if f.definition == definition && f.description == description => {
                    FlowSaved::Unchanged(f)
                }
                Some(f) => {
                    let version = f.version + 1;
                    sqlx::query("UPDATE flows SET description = $2, context = $3, version = $4, \
                                 definition = $5, updated_at = $6 WHERE id = $1")
                        .bind(f.id).bind(description).bind(context.as_str()).bind(version)
                        .bind(definition).bind(at).execute(&mut *tx).await?;
                    sqlx::query("INSERT INTO flow_versions (flow_id, version, definition, created_at) \
                                 VALUES ($1, $2, $3, $4)")
                        .bind(f.id).bind(version).bind(definition).bind(at).execute(&mut *tx).await?;
                    FlowSaved::Updated(StoredFlow {
                        description: description.to_owned(),
                        context,
                        version,
                        definition: definition.to_owned(),
                        updated_at: now,
                        ..f
                    })
                }
                None => {
                    let id = new_id();
                    sqlx::query("INSERT INTO flows (id, name, description, context, version, definition, \
                                 created_at, updated_at) VALUES ($1, $2, $3, $4, 1, $5, $6, $6)")
                        .bind(id).bind(name).bind(description).bind(context.as_str())
                        .bind(definition).bind(at).execute(&mut *tx).await?;
                    sqlx::query("INSERT INTO flow_versions (flow_id, version, definition, created_at) \
                                 VALUES ($1, 1, $2, $3)")
                        .bind(id).bind(definition).bind(at).execute(&mut *tx).await?;
                    FlowSaved::Created(StoredFlow {
                        id,
                        name: name.to_owned(),
                        description: description.to_owned(),
                        context,
                        version: 1,
                        definition: definition.to_owned(),
                        created_at: now,
                        updated_at: now,
                    })
                }
            };
            tx.commit().await?;
            Ok::<_, StoreError>(saved)
        })
    }

    /// Every flow, by name.
    pub async fn flows(&self) -> Result<Vec<StoredFlow>> {
        Ok(
            on_backend!(self, read c => sqlx::query_as("SELECT * FROM flows ORDER BY name")
            .fetch_all(c).await)?,
        )
    }

    pub async fn flow_by_name(&self, name: &str) -> Result<Option<StoredFlow>> {
        Ok(
            on_backend!(self, read c => sqlx::query_as("SELECT * FROM flows WHERE name = $1")
            .bind(name).fetch_optional(c).await)?,
        )
    }

    pub async fn flow(&self, id: Uuid) -> Result<StoredFlow> {
        on_backend!(self, read c => sqlx::query_as("SELECT * FROM flows WHERE id = $1")
            .bind(id).fetch_optional(c).await)?
        .ok_or_else(|| StoreError::not_found("flow"))
    }

    /// One version's definition (JSON).
    pub async fn flow_version(&self, flow_id: Uuid, version: i64) -> Result<String> {
        on_backend!(self, read c => sqlx::query_scalar(
            "SELECT definition FROM flow_versions WHERE flow_id = $1 AND version = $2")
            .bind(flow_id).bind(version).fetch_optional(c).await)?
        .ok_or_else(|| StoreError::not_found("flow version"))
    }

    /// Deletes a flow and its versions. Refused while conversations are in it: they would lose
    /// the version they run on.
    pub async fn delete_flow(&self, id: Uuid) -> Result<()> {
        on_backend!(self, write c => {
            let mut tx = c.begin().await?;
            let open: i64 = sqlx::query_scalar(
                "SELECT COUNT(*) FROM flow_runs WHERE flow_id = $1 AND ended_at IS NULL")
                .bind(id).fetch_one(&mut *tx).await?;
            if open > 0 {
                return Err(StoreError::Conflict(format!(
                    "{open} conversations are in this flow; they must finish or be stopped first"
                )));
            }
            let n = sqlx::query("DELETE FROM flows WHERE id = $1").bind(id)
                .execute(&mut *tx).await?.rows_affected();
            if n == 0 {
                return Err(StoreError::not_found("flow"));
            }
            sqlx::query("DELETE FROM flow_versions WHERE flow_id = $1").bind(id)
                .execute(&mut *tx).await?;
            tx.commit().await?;
            Ok(())
        })
    }

    /// The run a session is in now, if any.
    pub async fn current_flow_run(&self, session_id: Uuid) -> Result<Option<FlowRun>> {
        let sql =
            format!("SELECT {RUN_COLS} FROM flow_runs WHERE session_id = $1 AND ended_at IS NULL");
        let run: Option<FlowRun> = on_backend!(self, read c => sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(session_id).fetch_optional(c).await)?;
        run.map(|r| self.open_run(r)).transpose()
    }

    pub async fn flow_run(&self, id: Uuid) -> Result<FlowRun> {
        let sql = format!("SELECT {RUN_COLS} FROM flow_runs WHERE id = $1");
        let run: FlowRun = on_backend!(self, read c => sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(id).fetch_optional(c).await)?
        .ok_or_else(|| StoreError::not_found("flow run"))?;
        self.open_run(run)
    }

    /// A session's runs, oldest first.
    pub async fn flow_runs_of_session(&self, session_id: Uuid) -> Result<Vec<FlowRun>> {
        let sql = format!("SELECT {RUN_COLS} FROM flow_runs WHERE session_id = $1 ORDER BY id");
        let runs: Vec<FlowRun> = on_backend!(self, read c => sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(session_id).fetch_all(c).await)?;
        runs.into_iter().map(|r| self.open_run(r)).collect()
    }

    /// A run's state holds what the flow collected from the customer (answers, variables).
    fn open_run(&self, mut r: FlowRun) -> Result<FlowRun> {
        r.state = self.open_text(&r.state)?;
        Ok(r)
    }

    /// How many conversations are in each flow that has any.
    pub async fn flow_run_counts(&self) -> Result<Vec<OpenRuns>> {
        let rows: Vec<(Uuid, i64)> = on_backend!(self, read c => sqlx::query_as(
            "SELECT flow_id, COUNT(*) FROM flow_runs WHERE ended_at IS NULL GROUP BY flow_id")
            .fetch_all(c).await)?;
        Ok(rows
            .into_iter()
            .map(|(flow_id, open)| OpenRuns { flow_id, open })
            .collect())
    }

    /// Writes runs on their own (a test panel's run, a stop from outside).
    pub async fn write_flow_runs(&self, runs: &[FlowRunWrite]) -> Result<()> {
        on_backend!(self, write c => {
            let mut tx = c.begin().await?;
            write_runs!(self, tx, runs);
            tx.commit().await?;
            Ok(())
        })
    }
}

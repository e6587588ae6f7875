//! SMS keyword processes (KP-01..11): per inbound number and provider keyword, at most one
//! Unsubscribe and one Help process (the unique index `sms_processes_one_per_kind`). Rows map to
//! [`parley_core::keyword_process::SmsProcess`]; the rules that make a process valid live there and
//! are applied by the engine before anything reaches this file.

use parley_core::keyword_process::{InboundNumber, ProcessStatus, ProcessType, SmsProcess};
use parley_core::{Timestamp, new_id};
use serde::Serialize;
use sqlx::FromRow;
use sqlx::types::Json;
use uuid::Uuid;

use crate::records::{HasId, PageRequest, Paged, paginate};
use crate::{Result, Store, StoreError, on_backend};

const PROCESS_COLS: &str = "id, name, kind, status, inbound_number, provider_keyword, \
     custom_keywords, message, created_at, updated_at";

/// A process as written by the API or `parley apply`, already validated and in its stored forms;
/// the store fills the id and the times.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmsProcessSpec {
    pub name: String,
    pub kind: ProcessType,
    pub status: ProcessStatus,
    pub inbound: InboundNumber,
    pub custom_keywords: Vec<String>,
    pub message: Option<String>,
}

impl SmsProcessSpec {
    /// The process this spec describes, under `id`: what validation compares with the stored ones.
    pub fn to_process(&self, id: Uuid) -> SmsProcess {
        SmsProcess {
            id,
            name: self.name.clone(),
            kind: self.kind,
            status: self.status,
            inbound: self.inbound.clone(),
            custom_keywords: self.custom_keywords.clone(),
            message: self.message.clone(),
        }
    }

    /// The spec a stored process was made from, to compare with a new one.
    pub fn of(process: &SmsProcess) -> Self {
        Self {
            name: process.name.clone(),
            kind: process.kind,
            status: process.status,
            inbound: process.inbound.clone(),
            custom_keywords: process.custom_keywords.clone(),
            message: process.message.clone(),
        }
    }
}

/// A stored process and when it was created and last changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StoredSmsProcess {
    #[serde(flatten)]
    pub process: SmsProcess,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

impl HasId for StoredSmsProcess {
    fn id(&self) -> Uuid {
        self.process.id
    }
}

/// One row of `sms_processes`; enums are decoded from their wire names, so an unknown one is a
/// `Corrupt` error rather than a panic.
#[derive(FromRow)]
struct ProcessRow {
    id: Uuid,
    name: String,
    #[sqlx(try_from = "String")]
    kind: ProcessType,
    #[sqlx(try_from = "String")]
    status: ProcessStatus,
    inbound_number: String,
    provider_keyword: Option<String>,
    #[sqlx(json)]
    custom_keywords: Vec<String>,
    message: Option<String>,
    created_at: i64,
    updated_at: i64,
}

impl From<ProcessRow> for StoredSmsProcess {
    fn from(r: ProcessRow) -> Self {
        Self {
            process: SmsProcess {
                id: r.id,
                name: r.name,
                kind: r.kind,
                status: r.status,
                inbound: InboundNumber {
                    number: r.inbound_number,
                    provider_keyword: r.provider_keyword,
                },
                custom_keywords: r.custom_keywords,
                message: r.message,
            },
            created_at: Timestamp(r.created_at),
            updated_at: Timestamp(r.updated_at),
        }
    }
}

impl Store {
    /// Stores a new process. A second process of the same kind on the same number and provider
    /// keyword is a [`StoreError::Conflict`].
    pub async fn create_sms_process(
        &self,
        spec: &SmsProcessSpec,
        now: Timestamp,
    ) -> Result<StoredSmsProcess> {
        let id = new_id();
        let sql = "INSERT INTO sms_processes (id, name, kind, status, inbound_number, provider_keyword, \
                   custom_keywords, message, created_at, updated_at) \
                   VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9)";
        on_backend!(self, write c => sqlx::query(sql)
            .bind(id)
            .bind(&spec.name)
            .bind(spec.kind.as_str())
            .bind(spec.status.as_str())
            .bind(&spec.inbound.number)
            .bind(&spec.inbound.provider_keyword)
            .bind(Json(&spec.custom_keywords))
            .bind(&spec.message)
            .bind(now.millis())
            .execute(c)
            .await
            .map(|r| r.rows_affected()))?;
        self.sms_process(id).await
    }

    /// Replaces every field of a process, its status included.
    pub async fn update_sms_process(
        &self,
        id: Uuid,
        spec: &SmsProcessSpec,
        now: Timestamp,
    ) -> Result<StoredSmsProcess> {
        let sql = "UPDATE sms_processes SET name = $2, kind = $3, status = $4, inbound_number = $5, \
                   provider_keyword = $6, custom_keywords = $7, message = $8, updated_at = $9 \
                   WHERE id = $1";
        let done = on_backend!(self, write c => sqlx::query(sql)
            .bind(id)
            .bind(&spec.name)
            .bind(spec.kind.as_str())
            .bind(spec.status.as_str())
            .bind(&spec.inbound.number)
            .bind(&spec.inbound.provider_keyword)
            .bind(Json(&spec.custom_keywords))
            .bind(&spec.message)
            .bind(now.millis())
            .execute(c)
            .await
            .map(|r| r.rows_affected()))?;
        if done == 0 {
            return Err(StoreError::not_found("SMS process"));
        }
        self.sms_process(id).await
    }

    /// Changes only the status (start, pause), leaving the rest as it is.
    pub async fn set_sms_process_status(
        &self,
        id: Uuid,
        status: ProcessStatus,
        now: Timestamp,
    ) -> Result<StoredSmsProcess> {
        let done = on_backend!(self, write c => sqlx::query(
            "UPDATE sms_processes SET status = $2, updated_at = $3 WHERE id = $1")
            .bind(id).bind(status.as_str()).bind(now.millis())
            .execute(c).await.map(|r| r.rows_affected()))?;
        if done == 0 {
            return Err(StoreError::not_found("SMS process"));
        }
        self.sms_process(id).await
    }

    pub async fn sms_process(&self, id: Uuid) -> Result<StoredSmsProcess> {
        let sql = format!("SELECT {PROCESS_COLS} FROM sms_processes WHERE id = $1");
        on_backend!(self, read c => sqlx::query_as::<_, ProcessRow>(sqlx::AssertSqlSafe(sql.as_str()))
            .bind(id).fetch_optional(c).await)?
        .map(StoredSmsProcess::from)
        .ok_or(StoreError::not_found("SMS process"))
    }

    /// A page of processes in creation order, all of them or those of one inbound number (every
    /// provider keyword on it), compared in its stored form.
    pub async fn list_sms_processes(
        &self,
        number: Option<&str>,
        page: PageRequest,
    ) -> Result<Paged<StoredSmsProcess>> {
        let sql = format!(
            "SELECT {PROCESS_COLS} FROM sms_processes WHERE ($1 IS NULL OR id > $1) \
             AND ($2 IS NULL OR inbound_number = $2) ORDER BY id LIMIT $3"
        );
        let rows = on_backend!(self, read c => sqlx::query_as::<_, ProcessRow>(sqlx::AssertSqlSafe(sql.as_str()))
            .bind(page.after).bind(number).bind(page.fetch_limit()).fetch_all(c).await)?;
        Ok(paginate(
            rows.into_iter().map(StoredSmsProcess::from).collect(),
            page,
        ))
    }

    /// Every process, or every process of one inbound number, in creation order: what validation
    /// compares a process with, and what the matcher reads when an SMS arrives. There are at most
    /// two per number and provider keyword, so this is never large.
    pub async fn sms_processes(&self, number: Option<&str>) -> Result<Vec<StoredSmsProcess>> {
        let sql = format!(
            "SELECT {PROCESS_COLS} FROM sms_processes WHERE ($1 IS NULL OR inbound_number = $1) \
             ORDER BY id"
        );
        let rows = on_backend!(self, read c => sqlx::query_as::<_, ProcessRow>(sqlx::AssertSqlSafe(sql.as_str()))
            .bind(number).fetch_all(c).await)?;
        Ok(rows.into_iter().map(StoredSmsProcess::from).collect())
    }

    /// Deletes a process for good (KP-05).
    pub async fn delete_sms_process(&self, id: Uuid) -> Result<()> {
        crate::config::delete_by_id(self, "sms_processes", "SMS process", id).await
    }
}

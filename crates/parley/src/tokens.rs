//! `parley tokens` (also `parley token`): API tokens on the database directly, through the same
//! service functions as `/api/v1/api-tokens`. `create` prints only the token on standard output,
//! so `TOKEN=$(parley tokens create)` keeps working; what it is goes to standard error.

use anyhow::{Context, Result, bail};
use clap::Subcommand;
use parley_core::model::TokenRole;
use parley_core::{Clock, SystemClock, Timestamp};
use parley_store::{NewApiToken, Store};
use uuid::Uuid;

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Create a token and print it once.
    Create {
        #[arg(long, default_value = "admin")]
        role: TokenRole,
        #[arg(long, default_value = "cli")]
        name: String,
        /// How long it lasts: 30d, 12h, 90m, 3600s. Without it, until revoked.
        #[arg(long)]
        expires_in: Option<String>,
        /// For the agent role: the e-mail of the agent the token acts as.
        #[arg(long)]
        agent: Option<String>,
        /// Limits the token to this permission set (by name), within its role's.
        #[arg(long)]
        permission_set: Option<String>,
    },
    /// Every token, revoked ones included (never their secrets).
    List,
    /// Revoke a token by its id: every node refuses it from its next request.
    Revoke { id: Uuid },
}

pub async fn run(command: TokenCommand, store: &Store) -> Result<()> {
    match command {
        TokenCommand::Create {
            role,
            name,
            expires_in,
            agent,
            permission_set,
        } => {
            let permission_set_id = match permission_set {
                Some(name) => match store
                    .list_permission_sets()
                    .await?
                    .into_iter()
                    .find(|s| s.name == name.trim())
                {
                    Some(s) => Some(s.id),
                    None => bail!("no permission set is named {name}"),
                },
                None => None,
            };
            let agent_id = match agent {
                Some(email) => match store.agent_by_email(&email).await? {
                    Some(a) => Some(a.id),
                    None => bail!("no agent has the e-mail {email}"),
                },
                None => None,
            };
            let now = SystemClock.now();
            let expires_at = expires_in
                .as_deref()
                .map(parley_core::access::parse_lifetime)
                .transpose()
                .map_err(anyhow::Error::msg)
                .context("--expires-in")?
                .map(|d| now.plus(d));
            let token = create(store, &name, role, expires_at, agent_id, permission_set_id).await?;
            println!("{token}");
        }
        TokenCommand::List => {
            for t in store.list_api_tokens().await? {
                let at = |ms: Option<i64>| ms.map_or("-".to_owned(), |m| Timestamp(m).to_rfc3339());
                let state = match (t.revoked_at, t.expires_at) {
                    (Some(r), _) => format!("revoked {}", at(Some(r))),
                    (None, Some(e)) if e <= SystemClock.now().millis() => {
                        format!("expired {}", at(Some(e)))
                    }
                    (None, Some(e)) => format!("expires {}", at(Some(e))),
                    (None, None) => "active".to_owned(),
                };
                println!(
                    "{}\t{}\t{}\tcreated {}\tlast used {}\t{state}",
                    t.id,
                    t.name,
                    t.role.as_str(),
                    t.created_at.to_rfc3339(),
                    at(t.last_used_at),
                );
            }
        }
        TokenCommand::Revoke { id } => {
            parley_engine::service::tokens::revoke_api_token(store, id, SystemClock.now())
                .await
                .with_context(|| format!("revoking token {id}"))?;
            record(store, "api_token_revoked", id).await?;
            println!("revoked {id}");
        }
    }
    Ok(())
}

/// A new token, printed by the caller; only its hash is stored.
pub async fn create(
    store: &Store,
    name: &str,
    role: TokenRole,
    expires_at: Option<Timestamp>,
    agent_id: Option<Uuid>,
    permission_set_id: Option<Uuid>,
) -> Result<String> {
    let (token, hash) = parley_server::auth::generate_token();
    // The operator's command: it may issue any token, so it grants as one holding everything.
    let created = parley_engine::service::tokens::issue_api_token_by(
        store,
        parley_core::access::PermissionSet::all(),
        &NewApiToken {
            name,
            role,
            token_hash: &hash,
            expires_at,
            agent_id,
        },
        permission_set_id,
        SystemClock.now(),
    )
    .await?;
    record(store, "api_token_created", created.id).await?;
    eprintln!(
        "token {} ({}, {}) is shown only now; only its hash is stored",
        created.id,
        created.name,
        created.role.as_str()
    );
    Ok(token)
}

/// The command's audit log entry (`AuditActor::Cli`): which token, never its secret.
async fn record(store: &Store, action: &str, id: Uuid) -> Result<()> {
    parley_engine::audit::record(
        store,
        parley_core::audit::AuditEntry {
            actor: parley_core::audit::AuditActor::Cli,
            action: action.to_owned(),
            resource_kind: "api_token".to_owned(),
            resource_id: Some(id.to_string()),
            detail: serde_json::json!({}),
        },
    )
    .await
    .context("recording the audit log entry")
}

//! `parley keys`: encryption at rest (issue 16, PRIV-08). Keys come from `PARLEY_ENCRYPTION_KEY`
//! or a key file (`--encryption-key-file`, `encryption_key_file` in the configuration), as
//! `key` or `id:key,id:key,...` with the active key first.
//!
//! `encrypt` and `rotate` run the store's re-encryption pass a batch at a time, each batch its own
//! short transaction, so a server keeps serving on the same database meanwhile; the pass's place
//! is kept in the database, so an interrupted run resumes where it stopped and `status` shows
//! progress from another shell.

use std::path::Path;

use anyhow::{Context, Result, bail};
use clap::Subcommand;
use parley_core::audit::{AuditActor, AuditEntry};
use parley_core::{Clock, SystemClock};
use parley_store::{KEY_ENV, KEY_FILE_OPTION, KeyCheck, Keyring, Store};

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Print a new random 32-byte key (base64), for PARLEY_ENCRYPTION_KEY or a key file.
    Generate {
        /// Print it as `<id>:<key>`, ready to put first in a keyring for a rotation.
        #[arg(long)]
        id: Option<String>,
    },
    /// Whether the data is encrypted, the keys it knows and the re-encryption pass's progress.
    Status,
    /// Turn encryption on for a database written in the clear: every personal field and secret
    /// already stored is sealed with the configured key, in batches (new writes are sealed from
    /// the moment a server starts with a key).
    Encrypt {
        /// Rows per transaction.
        #[arg(long, default_value_t = 500)]
        batch: i64,
    },
    /// Re-encrypt everything with the active (first) key after a new key was put first in the
    /// keyring; the previous key stays needed until this has finished.
    Rotate {
        /// Rows per transaction.
        #[arg(long, default_value_t = 500)]
        batch: i64,
    },
}

/// The keyring from the environment or the key file, if either is set.
pub fn load_keyring(key_file: &str) -> Result<Option<Keyring>> {
    if let Ok(spec) = std::env::var(KEY_ENV)
        && !spec.trim().is_empty()
    {
        return Keyring::parse(&spec)
            .map(Some)
            .with_context(|| format!("reading {KEY_ENV}"));
    }
    if key_file.trim().is_empty() {
        return Ok(None);
    }
    let path = Path::new(key_file.trim());
    let text = std::fs::read_to_string(path).with_context(|| {
        format!(
            "reading the encryption key file {} ({KEY_FILE_OPTION})",
            path.display()
        )
    })?;
    Keyring::parse(&text)
        .map(Some)
        .with_context(|| format!("reading the encryption key file {}", path.display()))
}

/// Installs the keyring and checks it against the database: refuses encrypted data without a
/// key, or a key that is not the one that sealed it.
pub async fn install(store: &Store, key_file: &str) -> Result<KeyCheck> {
    let ring = load_keyring(key_file)?;
    store.set_keyring(ring);
    let check = store
        .check_keys(SystemClock.now())
        .await
        .context("checking the encryption keys")?;
    if let KeyCheck::Ready {
        rotation_pending: true,
    } = check
    {
        tracing::warn!(
            "data sealed with a previous key remains: run `parley keys rotate` to re-encrypt it"
        );
    }
    Ok(check)
}

pub async fn run(command: KeysCommand, store: &Store) -> Result<()> {
    match command {
        KeysCommand::Generate { id } => generate(id.as_deref()),
        KeysCommand::Status => {
            let s = store.crypto_status().await?;
            println!("encryption: {}", if s.encrypted { "on" } else { "off" });
            if let Some(ring) = store.keyring() {
                println!("active key: {}", ring.active_id());
            }
            for k in &s.keys {
                println!("key {:<20} {}", k.key_id, k.state);
            }
            match &s.task {
                Some(task) => println!(
                    "{task} under way: {} of {} rows visited (now: {})",
                    s.done,
                    s.total,
                    s.task_table.as_deref().unwrap_or("-")
                ),
                None => println!("no re-encryption under way"),
            }
            Ok(())
        }
        KeysCommand::Encrypt { batch } => reseal(store, "encrypt", batch).await,
        KeysCommand::Rotate { batch } => reseal(store, "rotate", batch).await,
    }
}

pub fn generate(id: Option<&str>) -> Result<()> {
    let key = Keyring::generate_key();
    match id {
        Some(id) => {
            // Checked the way the keyring will read it.
            Keyring::parse(&format!("{id}:{key}"))?;
            println!("{id}:{key}");
        }
        None => println!("{key}"),
    }
    Ok(())
}

async fn reseal(store: &Store, task: &str, batch: i64) -> Result<()> {
    let Some(ring) = store.keyring() else {
        bail!(
            "set {KEY_ENV} or {KEY_FILE_OPTION} to the key to encrypt with (`parley keys generate` makes one)"
        );
    };
    let batch = batch.clamp(1, 10_000);
    let started = store.start_reseal(task, SystemClock.now()).await?;
    eprintln!(
        "{task}: sealing {} rows with key '{}'",
        started.total,
        ring.active_id()
    );
    let mut last_shown = -1_i64;
    loop {
        let step = store.reseal_step(batch, SystemClock.now()).await?;
        let pct = if step.total > 0 {
            (step.done.min(step.total) * 100) / step.total
        } else {
            100
        };
        if pct != last_shown || step.finished {
            eprintln!(
                "{task}: {pct}% ({} of {} rows){}",
                step.done.min(step.total),
                step.total,
                step.table
                    .as_deref()
                    .map(|t| format!(", {t}"))
                    .unwrap_or_default()
            );
            last_shown = pct;
        }
        if step.finished {
            break;
        }
    }
    parley_engine::audit::record(
        store,
        AuditEntry {
            actor: AuditActor::Cli,
            action: format!("encryption_{task}"),
            resource_kind: "encryption_key".to_owned(),
            resource_id: Some(ring.active_id().to_owned()),
            detail: serde_json::json!({ "rows": started.total }),
        },
    )
    .await?;
    println!(
        "{task} finished: every sealed value uses key '{}'",
        ring.active_id()
    );
    Ok(())
}

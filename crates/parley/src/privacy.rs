//! `parley privacy ...`: access, restriction and erasure requests on the database directly,
//! through the same service functions as `/api/v1/privacy/...`, recorded in the audit log as the
//! command line.

use std::io::{BufRead, Write};
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};
use parley_core::audit::AuditActor;
use parley_core::privacy::erasure::Subject;
use parley_core::{Clock, SystemClock};
use parley_engine::service::privacy;
use parley_engine::{Engine, EngineConfig, EventBus};
use parley_store::Store;
use uuid::Uuid;

#[derive(Debug, Subcommand)]
pub enum PrivacyCommand {
    /// Erase everything held about a person (asks for confirmation without --yes).
    Erase {
        #[command(flatten)]
        subject: SubjectArgs,
        /// Do not ask: the erasure cannot be undone.
        #[arg(long)]
        yes: bool,
    },
    /// Print everything held about a person as one JSON document (media in base64).
    Export {
        #[command(flatten)]
        subject: SubjectArgs,
        /// Write it to this file instead of standard output.
        #[arg(long, short = 'o')]
        output: Option<std::path::PathBuf>,
    },
    /// Restrict processing: keep the data, send nothing, run no flow.
    Restrict {
        #[command(flatten)]
        subject: SubjectArgs,
    },
    /// Lift a restriction.
    Unrestrict {
        #[command(flatten)]
        subject: SubjectArgs,
    },
}

/// Who the request is about: exactly one.
#[derive(Debug, Args)]
pub struct SubjectArgs {
    /// A phone number in international format (+ and country code).
    #[arg(long)]
    phone: Option<String>,
    #[arg(long)]
    email: Option<String>,
    #[arg(long = "messaging-user")]
    messaging_user: Option<Uuid>,
    #[arg(long)]
    contact: Option<Uuid>,
}

impl SubjectArgs {
    fn subject(&self) -> Result<Subject> {
        Ok(Subject::from_parts(
            self.phone.as_deref(),
            self.email.as_deref(),
            self.messaging_user,
            self.contact,
        )?)
    }
}

pub async fn run(command: PrivacyCommand, store: &Store, media_dir: &str) -> Result<()> {
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let engine = Engine::new(
        store.clone(),
        clock,
        EventBus::new(64),
        EngineConfig {
            media_dir: media_dir.into(),
            ..EngineConfig::default()
        },
    )
    .privacy();
    match command {
        PrivacyCommand::Erase { subject, yes } => {
            let subject = subject.subject()?;
            let summary = privacy::lookup(store, &subject, AuditActor::Cli).await?;
            eprintln!(
                "{} messaging user(s) and {} contact(s) will be erased.",
                summary.messaging_users.len(),
                summary.contacts.len()
            );
            if !yes && !confirm(&subject.value())? {
                bail!("not confirmed: nothing was erased");
            }
            let request = privacy::start_erasure(&engine, &subject, true, AuditActor::Cli).await?;
            let done = privacy::carry_out(&engine, request.id).await?;
            println!(
                "{}",
                serde_json::to_string_pretty(&serde_json::json!({
                    "erasure_id": done.id,
                    "status": done.status,
                    "report": done.report,
                }))?
            );
        }
        PrivacyCommand::Export { subject, output } => {
            let doc = privacy::export(&engine, &subject.subject()?, AuditActor::Cli).await?;
            let text = serde_json::to_string_pretty(&doc)?;
            match output {
                Some(path) => std::fs::write(&path, text)
                    .with_context(|| format!("writing {}", path.display()))?,
                None => println!("{text}"),
            }
        }
        PrivacyCommand::Restrict { subject } => {
            let n = privacy::restrict(&engine, &subject.subject()?, true, AuditActor::Cli).await?;
            println!("restricted {n} messaging user(s)");
        }
        PrivacyCommand::Unrestrict { subject } => {
            let n = privacy::restrict(&engine, &subject.subject()?, false, AuditActor::Cli).await?;
            println!("lifted the restriction of {n} messaging user(s)");
        }
    }
    Ok(())
}

/// Asks the operator to type the subject again.
fn confirm(expected: &str) -> Result<bool> {
    eprint!("This cannot be undone. Type {expected} to confirm: ");
    std::io::stderr().flush()?;
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    Ok(line.trim() == expected)
}

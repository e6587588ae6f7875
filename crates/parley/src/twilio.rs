//! `parley twilio`: the accounts of the Twilio-compatible Messages API and their messaging
//! services, on the database directly. Every write is the service function the admin API uses
//! (`parley_engine::service::twilio`); the command line only names channels by name.

use anyhow::{Context, Result, bail};
use clap::Subcommand;
use parley_core::{Clock, SystemClock};
use parley_engine::service::twilio as service;
use parley_store::Store;

#[derive(Debug, Subcommand)]
pub enum TwilioCommand {
    /// Accounts programs authenticate as (account SID and auth token).
    Accounts {
        #[command(subcommand)]
        command: AccountCommand,
    },
    /// Messaging services: pools of SMS and WhatsApp channels a send names by its SID.
    Services {
        #[command(subcommand)]
        command: ServiceCommand,
    },
}

#[derive(Debug, Subcommand)]
pub enum AccountCommand {
    /// Create an account and print its SID and auth token (the token is shown only now).
    Create {
        #[arg(long)]
        name: String,
    },
    /// Every account, revoked ones included (never their tokens).
    List,
    /// Revoke an account: it no longer authenticates and its status callbacks stop.
    Revoke { sid: String },
}

#[derive(Debug, Subcommand)]
pub enum ServiceCommand {
    /// Create a messaging service from channels named in the pool's order.
    Create {
        /// The account SID (AC...).
        #[arg(long)]
        account: String,
        #[arg(long)]
        name: String,
        /// A channel's name; repeat the flag or list several after it.
        #[arg(long = "channel", num_args = 1.., required = true)]
        channels: Vec<String>,
    },
    /// The account's messaging services with their channels.
    List {
        #[arg(long)]
        account: String,
    },
}

/// What a command changes, for the audit log: (action, resource kind, resource id).
pub fn audit_action(
    command: &TwilioCommand,
) -> Option<(&'static str, &'static str, Option<String>)> {
    match command {
        TwilioCommand::Accounts { command } => match command {
            AccountCommand::Create { .. } => {
                Some(("twilio_account_created", "twilio_account", None))
            }
            AccountCommand::Revoke { sid } => Some((
                "twilio_account_revoked",
                "twilio_account",
                Some(sid.clone()),
            )),
            AccountCommand::List => None,
        },
        TwilioCommand::Services { command } => match command {
            ServiceCommand::Create { account, .. } => Some((
                "messaging_service_created",
                "twilio_account",
                Some(account.clone()),
            )),
            ServiceCommand::List { .. } => None,
        },
    }
}

pub async fn run(command: TwilioCommand, store: &Store) -> Result<()> {
    match command {
        TwilioCommand::Accounts { command } => accounts(command, store).await,
        TwilioCommand::Services { command } => services(command, store).await,
    }
}

async fn accounts(command: AccountCommand, store: &Store) -> Result<()> {
    match command {
        AccountCommand::Create { name } => {
            let account = service::create_twilio_account(store, &name, SystemClock.now()).await?;
            println!("account_sid {}", account.sid);
            println!("auth_token  {}", account.auth_token);
            eprintln!("The auth token is shown only now; keep it with the program that sends.");
        }
        AccountCommand::List => {
            for a in store.list_twilio_accounts().await? {
                let state = match a.revoked_at {
                    Some(at) => format!("revoked {}", at.to_rfc3339()),
                    None => "active".to_owned(),
                };
                println!(
                    "{}\t{}\t{}\t{state}",
                    a.sid,
                    a.name,
                    a.created_at.to_rfc3339()
                );
            }
        }
        AccountCommand::Revoke { sid } => {
            service::revoke_twilio_account(store, &sid, SystemClock.now())
                .await
                .with_context(|| format!("revoking {sid}"))?;
            println!("revoked {sid}");
        }
    }
    Ok(())
}

async fn services(command: ServiceCommand, store: &Store) -> Result<()> {
    match command {
        ServiceCommand::Create {
            account,
            name,
            channels,
        } => {
            let mut ids = Vec::with_capacity(channels.len());
            for channel in &channels {
                match store.channel_by_name(channel).await? {
                    Some(c) => ids.push(c.id),
                    None => bail!("no channel is named '{channel}'"),
                }
            }
            let s = service::create_twilio_messaging_service(
                store,
                &account,
                &name,
                &ids,
                SystemClock.now(),
            )
            .await?;
            println!("{}", s.sid);
        }
        ServiceCommand::List { account } => {
            if store.twilio_account(&account).await?.is_none() {
                bail!("no account {account}");
            }
            for s in store.list_twilio_messaging_services(&account).await? {
                let mut names = Vec::with_capacity(s.channel_ids.len());
                for id in &s.channel_ids {
                    names.push(match store.channel(*id).await {
                        Ok(c) => c.name,
                        Err(_) => format!("{id} (deleted)"),
                    });
                }
                println!("{}\t{}\t{}", s.sid, s.name, names.join(", "));
            }
        }
    }
    Ok(())
}

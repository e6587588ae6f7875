//! `parley search reindex`: writes the blind search index for data stored before it existed (or
//! written by bulk paths that do not index: imports, campaigns, generated benchmark data).

use anyhow::Result;
use clap::Subcommand;
use parley_core::{Clock, SystemClock};
use parley_store::Store;

#[derive(Debug, Subcommand)]
pub enum SearchCommand {
    /// Index every message and person, a batch per transaction. Stopped, it resumes where it was;
    /// finished, the next run starts over.
    Reindex {
        /// Rows per transaction.
        #[arg(long, default_value_t = 1000)]
        batch: i64,
    },
}

pub async fn run(command: SearchCommand, store: &Store) -> Result<()> {
    match command {
        SearchCommand::Reindex { batch } => {
            let batch = batch.clamp(1, 10_000);
            let (mut entries, mut people) = (0_u64, 0_u64);
            loop {
                let step =
                    parley_engine::service::search::reindex_step(store, batch, SystemClock.now())
                        .await?;
                entries += step.entries;
                people += step.people;
                if step.done {
                    break;
                }
                if (entries + people) % (batch as u64 * 20) < batch as u64 {
                    eprintln!("reindex: {entries} messages, {people} people so far");
                }
            }
            println!("reindex: done, {entries} messages and {people} people indexed");
            Ok(())
        }
    }
}

//! `parley campaign`: campaigns, segments and lists from the command line, on the database
//! directly (the serving nodes' worker picks a started campaign up within a fraction of a
//! second). Files name channels, segments and lists by name; what they mean and every rule is
//! `parley_engine::service::campaigns`.

use std::io::{IsTerminal, Write as _};
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use clap::Subcommand;
use indicatif::{ProgressBar, ProgressStyle};
use parley_core::campaign::audience::SegmentFilter;
use parley_core::campaign::state::CampaignAction;
use parley_core::campaign::{
    Audience, CampaignKind, CampaignSpec, Content, Footer, LocalWindow, MissingValues, Schedule,
    TemplateContent,
};
use parley_core::{Clock, SystemClock, Timestamp};
use parley_engine::EventBus;
use parley_engine::campaigns::Campaigns;
use parley_engine::service::campaigns::{self as service, SegmentInput};
use parley_store::{Store, StoredCampaign};
use serde::Deserialize;
use uuid::Uuid;

#[derive(Debug, Subcommand)]
pub enum CampaignCommand {
    /// Every campaign with its state.
    List,
    /// Create a draft from a YAML file (see `docs/campaigns.md`).
    Create {
        #[arg(short = 'f', long = "file")]
        file: PathBuf,
    },
    /// Start sending now.
    Start {
        campaign: String,
    },
    /// Start at the file's `start_at`.
    Schedule {
        campaign: String,
    },
    /// Back to draft (a scheduled campaign).
    Unschedule {
        campaign: String,
    },
    Pause {
        campaign: String,
    },
    Resume {
        campaign: String,
    },
    /// Stop for good; messages not yet handed to a provider are withdrawn.
    Cancel {
        campaign: String,
    },
    /// The funnel: audience, exclusions, sent, delivered, failed, clicks, replies, opt-outs.
    Results {
        campaign: String,
        /// Print the JSON the API answers.
        #[arg(long)]
        json: bool,
    },
    /// Every message of the campaign as CSV.
    Export {
        campaign: String,
        /// Write to this file instead of standard output.
        #[arg(short = 'o', long = "output")]
        output: Option<PathBuf>,
    },
    /// Create a segment from a YAML file (`name`, `description`, `filter`).
    Segment {
        #[arg(short = 'f', long = "file")]
        file: PathBuf,
    },
    /// Import a CSV file (a `phone` or `contact_id` column) into a list, creating it if needed.
    ImportList {
        /// The list's name.
        #[arg(long)]
        list: String,
        file: PathBuf,
    },
}

/// What a command changes, for the audit log: (action, resource kind, resource id). Reads
/// (`list`, `results`) record nothing; an export does, as it hands data out.
pub fn audit_action(
    command: &CampaignCommand,
) -> Option<(&'static str, &'static str, Option<String>)> {
    use CampaignCommand as C;
    let (action, id) = match command {
        C::List | C::Results { .. } => return None,
        C::Create { .. } => ("campaign_created", None),
        C::Start { campaign } => ("campaign_start", Some(campaign)),
        C::Schedule { campaign } => ("campaign_schedule", Some(campaign)),
        C::Unschedule { campaign } => ("campaign_unschedule", Some(campaign)),
        C::Pause { campaign } => ("campaign_pause", Some(campaign)),
        C::Resume { campaign } => ("campaign_resume", Some(campaign)),
        C::Cancel { campaign } => ("campaign_cancel", Some(campaign)),
        C::Export { campaign, .. } => ("campaign_exported", Some(campaign)),
        C::Segment { .. } => return Some(("segment_created", "segment", None)),
        C::ImportList { list, .. } => return Some(("list_members", "list", Some(list.clone()))),
    };
    Some((action, "campaign", id.cloned()))
}

/// A campaign file: like the API's spec, with names instead of ids.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CampaignFile {
    name: String,
    #[serde(default = "marketing")]
    kind: CampaignKind,
    /// Sender channels by name.
    senders: Vec<String>,
    #[serde(default)]
    segment: Option<String>,
    #[serde(default)]
    list: Option<String>,
    #[serde(default)]
    text: Option<String>,
    #[serde(default)]
    template: Option<TemplateContent>,
    #[serde(default)]
    exclude_missing: bool,
    #[serde(default)]
    fallbacks: std::collections::BTreeMap<String, String>,
    #[serde(default)]
    footer: FooterFile,
    #[serde(default)]
    schedule: ScheduleFile,
}

fn marketing() -> CampaignKind {
    CampaignKind::Marketing
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FooterFile {
    #[serde(default)]
    help: bool,
    /// The WhatsApp channel's name.
    #[serde(default)]
    whatsapp: Option<String>,
    #[serde(default)]
    shorten_whatsapp: bool,
    #[serde(default)]
    custom: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ScheduleFile {
    /// RFC 3339, e.g. 2026-12-24T09:00:00Z.
    #[serde(default)]
    start_at: Option<String>,
    /// Local window, "09:00".
    #[serde(default)]
    opens: Option<String>,
    #[serde(default)]
    closes: Option<String>,
    #[serde(default)]
    time_zone: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SegmentFile {
    name: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    filter: SegmentFilter,
}

fn minute_of_day(v: &str) -> Result<u16> {
    let (h, m) = v
        .split_once(':')
        .with_context(|| format!("'{v}' is not a time of day like 09:00"))?;
    let (h, m): (u16, u16) = (h.trim().parse()?, m.trim().parse()?);
    if h > 23 || m > 59 {
        bail!("'{v}' is not a time of day like 09:00");
    }
    Ok(h * 60 + m)
}

async fn resolve(store: &Store, file: CampaignFile) -> Result<CampaignSpec> {
    let mut senders = Vec::new();
    for name in &file.senders {
        let c = store
            .channel_by_name(name)
            .await?
            .with_context(|| format!("no channel named '{name}'"))?;
        senders.push(c.id);
    }
    let audience = match (&file.segment, &file.list) {
        (Some(name), None) => {
            let s = store
                .segments()
                .await?
                .into_iter()
                .find(|s| &s.name == name)
                .with_context(|| format!("no segment named '{name}'"))?;
            Audience::Segment { segment_id: s.id }
        }
        (None, Some(name)) => {
            let l = store
                .audience_lists()
                .await?
                .into_iter()
                .find(|l| &l.name == name)
                .with_context(|| format!("no list named '{name}'"))?;
            Audience::List { list_id: l.id }
        }
        _ => bail!("name exactly one of `segment` or `list`"),
    };
    let whatsapp_channel_id = match &file.footer.whatsapp {
        Some(name) => Some(
            store
                .channel_by_name(name)
                .await?
                .with_context(|| format!("no channel named '{name}'"))?
                .id,
        ),
        None => None,
    };
    let start_at = match &file.schedule.start_at {
        Some(t) => {
            let at: jiff::Timestamp = t
                .parse()
                .with_context(|| format!("start_at '{t}' is not an RFC 3339 time"))?;
            Some(Timestamp(at.as_millisecond()))
        }
        None => None,
    };
    let window = match (&file.schedule.opens, &file.schedule.closes) {
        (Some(o), Some(c)) => Some(LocalWindow {
            opens: minute_of_day(o)?,
            closes: minute_of_day(c)?,
            default_time_zone: file
                .schedule
                .time_zone
                .clone()
                .unwrap_or_else(|| "UTC".to_owned()),
        }),
        (None, None) => None,
        _ => bail!("a window needs both `opens` and `closes`"),
    };
    Ok(CampaignSpec {
        name: file.name,
        kind: file.kind,
        senders,
        audience,
        content: Content {
            text: file.text,
            template: file.template,
            missing: if file.exclude_missing {
                MissingValues::Exclude
            } else {
                MissingValues::Fallback
            },
            fallbacks: file.fallbacks,
        },
        footer: Footer {
            help: file.footer.help,
            whatsapp_channel_id,
            shorten_whatsapp: file.footer.shorten_whatsapp,
            custom: file.footer.custom,
        },
        schedule: Schedule { start_at, window },
        reply_flow: None,
    })
}

/// A campaign by id or by name (the newest of that name).
async fn find(store: &Store, key: &str) -> Result<StoredCampaign> {
    if let Ok(id) = key.parse::<Uuid>() {
        return Ok(store.campaign(id).await?);
    }
    store
        .campaigns()
        .await?
        .into_iter()
        .find(|c| c.spec.name == key)
        .with_context(|| format!("no campaign named '{key}'"))
}

fn read_yaml<T: serde::de::DeserializeOwned>(file: &PathBuf) -> Result<T> {
    let text =
        std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
    serde_norway::from_str(&text).with_context(|| format!("reading {}", file.display()))
}

pub async fn run(command: CampaignCommand, store: &Store, link_base: Option<String>) -> Result<()> {
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let campaigns =
        Campaigns::new(store.clone(), clock.clone(), EventBus::default()).with_link_base(link_base);
    let act = |action: CampaignAction, key: String| {
        let campaigns = campaigns.clone();
        async move {
            let c = find(campaigns.store(), &key).await?;
            let c = service::act(&campaigns, c.id, action).await?;
            println!("{}: {}", c.spec.name, c.state);
            anyhow::Ok(())
        }
    };
    match command {
        CampaignCommand::List => {
            for c in store.campaigns().await? {
                println!(
                    "{}  {:<10} {:<9} {}",
                    c.id, c.state, c.spec.kind, c.spec.name
                );
            }
            Ok(())
        }
        CampaignCommand::Create { file } => {
            let spec = resolve(store, read_yaml(&file)?).await?;
            let c = service::create_campaign(store, &spec, Some("cli"), clock.now()).await?;
            println!("created draft {} ({})", c.spec.name, c.id);
            Ok(())
        }
        CampaignCommand::Start { campaign } => act(CampaignAction::Start, campaign).await,
        CampaignCommand::Schedule { campaign } => act(CampaignAction::Schedule, campaign).await,
        CampaignCommand::Unschedule { campaign } => act(CampaignAction::Unschedule, campaign).await,
        CampaignCommand::Pause { campaign } => act(CampaignAction::Pause, campaign).await,
        CampaignCommand::Resume { campaign } => act(CampaignAction::Resume, campaign).await,
        CampaignCommand::Cancel { campaign } => act(CampaignAction::Cancel, campaign).await,
        CampaignCommand::Results { campaign, json } => {
            let c = find(store, &campaign).await?;
            let r = service::results(store, c.id).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&r)?);
                return Ok(());
            }
            let n = &r.counts;
            println!("{} ({})", r.name, r.state);
            println!("  audience   {:>10}", n.audience);
            println!("  excluded   {:>10}", n.excluded_total());
            for (reason, count) in &n.excluded {
                println!("    {reason:<24} {count:>8}");
            }
            println!("  queued     {:>10}", n.queued);
            println!("  sent       {:>10}", n.sent);
            println!("  delivered  {:>10}", n.delivered);
            println!("  failed     {:>10}", n.failed_total());
            for (code, count) in &n.failed {
                println!("    {code:<24} {count:>8}");
            }
            println!("  unknown    {:>10}", n.unknown);
            println!(
                "  clicked    {:>10} ({} clicks)",
                n.clicks_unique, n.clicks_total
            );
            println!("  replied    {:>10}", n.replied);
            println!("  HELP       {:>10}", n.help_handoffs);
            println!("  opted out  {:>10}", n.opt_outs);
            Ok(())
        }
        CampaignCommand::Export { campaign, output } => {
            let c = find(store, &campaign).await?;
            let mut out: Box<dyn std::io::Write> = match &output {
                Some(p) => Box::new(std::io::BufWriter::new(
                    std::fs::File::create(p)
                        .with_context(|| format!("creating {}", p.display()))?,
                )),
                None => Box::new(std::io::stdout().lock()),
            };
            let mut export = service::CsvExport::new(store, c.id).await?;
            while let Some(chunk) = export.next_chunk().await? {
                out.write_all(chunk.as_bytes())
                    .context("writing the export")?;
            }
            out.flush()?;
            Ok(())
        }
        CampaignCommand::Segment { file } => {
            let f: SegmentFile = read_yaml(&file)?;
            let input = SegmentInput {
                name: f.name,
                description: f.description,
                filter: f.filter,
            };
            let s = service::create_segment(store, &input, clock.now()).await?;
            println!("created segment {} ({})", s.name, s.id);
            Ok(())
        }
        CampaignCommand::ImportList { list, file } => import_list(store, &list, &file).await,
    }
}

async fn import_list(store: &Store, name: &str, file: &PathBuf) -> Result<()> {
    let now = SystemClock.now();
    let list = match store
        .audience_lists()
        .await?
        .into_iter()
        .find(|l| l.name == name)
    {
        Some(l) => l,
        None => service::create_list(store, name, "", now).await?,
    };
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_path(file)
        .with_context(|| format!("reading {}", file.display()))?;
    let mut rows = Vec::new();
    for r in reader.records() {
        let r = r.with_context(|| format!("reading {}", file.display()))?;
        rows.push(r.iter().map(str::to_owned).collect::<Vec<String>>());
    }
    let bar = if std::io::stderr().is_terminal() {
        let bar = ProgressBar::new(0);
        bar.set_style(
            ProgressStyle::with_template("{bar:40} {human_pos}/{human_len} rows, {eta} left")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        bar
    } else {
        ProgressBar::hidden()
    };
    let report = service::import_list(store, list.id, &rows, now, |p| {
        bar.set_length(p.total);
        bar.set_position(p.done);
    })
    .await;
    bar.finish_and_clear();
    let report = report?;
    for e in &report.errors {
        eprintln!("{}:{}: {}", file.display(), e.line, e.reason);
    }
    println!(
        "list {}: {} rows, {} added, {} already on the list, {} rejected",
        list.name,
        report.rows,
        report.added,
        report.duplicates,
        report.errors.len()
    );
    if !report.errors.is_empty() {
        bail!("{} row(s) rejected", report.errors.len());
    }
    Ok(())
}

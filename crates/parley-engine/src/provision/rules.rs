//! `parley apply` for quick texts (AG-08) and routing rules (RT-01..05). A quick text is identified
//! by its title and a rule by its name, so running a file twice changes nothing. A rule in a file
//! names its channel, queues and skills by name and its agent by e-mail, like every other
//! reference in a workspace file; they are turned into ids once everything else of the file is
//! written. Shape rules come from `parley_core` (`merge::quick_text`, `routing::validate_rule`).

use std::collections::HashSet;

use parley_core::Timestamp;
use parley_core::merge;
use parley_core::routing::{Condition, RoutingRule, RuleAction, SkillLevel};
use parley_store::{PageRequest, QuickText, Store, StoreError, StoredRoutingRule};
use serde::Deserialize;
use uuid::Uuid;

use super::WorkspaceFile;
use crate::service::routing_rules::spec_of;
use crate::service::{ApplyReport, ServiceError as ProvisionError};

/// A quick text in a workspace file: the API's input, field for field.
pub type QuickTextFile = crate::service::quick_texts::QuickTextInput;

/// A routing rule in a workspace file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoutingRuleFile {
    pub name: String,
    /// Omitted: ten times the rule's place in the file (10, 20, ...), so file order is try order.
    #[serde(default)]
    pub position: Option<i32>,
    /// The channel's name; omitted for every channel.
    #[serde(default)]
    pub channel: Option<String>,
    /// As in the API (`parley_core::routing::Condition`).
    #[serde(default)]
    pub conditions: Vec<Condition>,
    pub actions: Vec<RuleActionFile>,
}

/// A rule action with names where the API takes ids.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum RuleActionFile {
    RouteToQueue {
        queue: String,
    },
    RouteToSkills {
        skills: Vec<SkillFileLevel>,
    },
    /// The agent's e-mail.
    RouteToAgent {
        agent: String,
    },
    RouteToBot {
        bot: String,
    },
    SetPriority {
        priority: i32,
    },
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SkillFileLevel {
    pub name: String,
    pub level: u8,
}

fn invalid(msg: impl Into<String>) -> ProvisionError {
    ProvisionError::Invalid(msg.into())
}

fn position(rule: &RoutingRuleFile, index: usize) -> i32 {
    rule.position.unwrap_or_else(|| {
        i32::try_from(index.saturating_add(1).saturating_mul(10)).unwrap_or(i32::MAX)
    })
}

/// The core rule a file rule describes, with ids from `resolve` (name kind, name) -> id.
fn to_rule(
    rule: &RoutingRuleFile,
    index: usize,
    channel_id: Option<Uuid>,
    mut resolve: impl FnMut(&'static str, &str) -> Result<Uuid, ProvisionError>,
) -> Result<RoutingRule, ProvisionError> {
    let mut actions = Vec::with_capacity(rule.actions.len());
    for a in &rule.actions {
        actions.push(match a {
            RuleActionFile::RouteToQueue { queue } => RuleAction::RouteToQueue {
                queue_id: resolve("queue", queue)?,
            },
            RuleActionFile::RouteToSkills { skills } => {
                let mut levels = Vec::with_capacity(skills.len());
                for s in skills {
                    levels.push(SkillLevel {
                        skill_id: resolve("skill", &s.name)?,
                        level: s.level,
                    });
                }
                RuleAction::RouteToSkills { skills: levels }
            }
            RuleActionFile::RouteToAgent { agent } => RuleAction::RouteToAgent {
                agent_id: resolve("agent", agent)?,
            },
            RuleActionFile::RouteToBot { bot } => RuleAction::RouteToBot { bot: bot.clone() },
            RuleActionFile::SetPriority { priority } => RuleAction::SetPriority {
                priority: *priority,
            },
        });
    }
    Ok(RoutingRule {
        id: Uuid::nil(),
        name: rule.name.trim().to_owned(),
        position: position(rule, index),
        channel_id,
        conditions: rule.conditions.clone(),
        actions,
    })
}

/// Checks the file's quick texts and rules without the database: unique titles and names, valid
/// shapes, and every name a rule uses defined in the file.
pub fn validate(file: &WorkspaceFile) -> Result<(), ProvisionError> {
    let mut titles = HashSet::new();
    for t in &file.quick_texts {
        let draft = merge::quick_text(&t.title, &t.body)
            .map_err(|e| invalid(format!("quick text '{}': {e}", t.title)))?;
        if !titles.insert(draft.title.to_lowercase()) {
            return Err(invalid(format!(
                "quick text '{}' appears twice in the file",
                draft.title
            )));
        }
    }
    let defined = |names: &mut dyn Iterator<Item = &str>| -> HashSet<String> {
        names.map(|n| n.trim().to_lowercase()).collect()
    };
    let queues = defined(&mut file.queues.iter().map(|q| q.name.as_str()));
    let skills = defined(&mut file.skills.iter().map(|s| s.name.as_str()));
    let agents = defined(&mut file.agents.iter().map(|a| a.email.as_str()));
    let channels = defined(&mut file.channels.iter().map(|c| c.name.as_str()));
    let mut names = HashSet::new();
    for (i, r) in file.routing_rules.iter().enumerate() {
        if !names.insert(r.name.trim().to_lowercase()) {
            return Err(invalid(format!(
                "routing rule '{}' appears twice in the file",
                r.name
            )));
        }
        let known = |set: &HashSet<String>, what: &str, name: &str| {
            if set.contains(&name.trim().to_lowercase()) {
                Ok(())
            } else {
                Err(invalid(format!(
                    "routing rule '{}': {what} '{name}' is referenced but not defined in the file",
                    r.name
                )))
            }
        };
        if let Some(c) = &r.channel {
            known(&channels, "channel", c)?;
        }
        let rule = to_rule(r, i, None, |what, name| {
            let set = match what {
                "queue" => &queues,
                "skill" => &skills,
                _ => &agents,
            };
            known(set, what, name).map(|()| Uuid::nil())
        })?;
        spec_of(&rule)?;
    }
    Ok(())
}

/// Writes the file's quick texts and rules (after its queues, skills, channels and agents), and
/// with `prune` deletes those the file no longer has.
pub async fn apply(
    store: &Store,
    file: &WorkspaceFile,
    prune: bool,
    now: Timestamp,
    report: &mut ApplyReport,
) -> Result<(), ProvisionError> {
    let existing_texts = all_quick_texts(store).await?;
    let mut kept_texts = HashSet::new();
    for t in &file.quick_texts {
        let id = crate::service::quick_texts::put_by_title(store, &existing_texts, t, now, report)
            .await?;
        kept_texts.insert(id);
    }

    let existing_rules = store.routing_rules(None).await?;
    let mut kept_rules = HashSet::new();
    for (i, r) in file.routing_rules.iter().enumerate() {
        let channel_id = match &r.channel {
            Some(name) => Some(
                store
                    .channel_by_name(name.trim())
                    .await?
                    .ok_or_else(|| invalid(format!("channel '{name}' does not exist")))?
                    .id,
            ),
            None => None,
        };
        let mut ids = Vec::new();
        for a in &r.actions {
            match a {
                RuleActionFile::RouteToQueue { queue } => {
                    let q = store.queue_by_name(queue.trim()).await?;
                    ids.push(q.map(|q| q.id).ok_or_else(|| missing("queue", queue))?);
                }
                RuleActionFile::RouteToSkills { skills } => {
                    for s in skills {
                        let found = store.skill_by_name(s.name.trim()).await?;
                        ids.push(
                            found
                                .map(|s| s.id)
                                .ok_or_else(|| missing("skill", &s.name))?,
                        );
                    }
                }
                RuleActionFile::RouteToAgent { agent } => {
                    let a = store
                        .agent_by_email(&agent.trim().to_ascii_lowercase())
                        .await?;
                    ids.push(a.map(|a| a.id).ok_or_else(|| missing("agent", agent))?);
                }
                RuleActionFile::RouteToBot { .. } | RuleActionFile::SetPriority { .. } => {}
            }
        }
        // The lookups above ran in the order `to_rule` asks for names.
        let mut next = ids.into_iter();
        let rule = to_rule(r, i, channel_id, |what, name| {
            next.next().ok_or_else(|| missing(what, name))
        })?;
        let id =
            crate::service::routing_rules::put_by_name(store, &existing_rules, &rule, now, report)
                .await?;
        kept_rules.insert(id);
    }

    if prune {
        for t in existing_texts
            .iter()
            .filter(|t| !kept_texts.contains(&t.id))
        {
            report.deleted.push(format!("quick text {}", t.title));
            crate::service::quick_texts::delete(store, t.id).await?;
        }
        for r in existing_rules
            .iter()
            .filter(|r: &&StoredRoutingRule| !kept_rules.contains(&r.id))
        {
            report.deleted.push(format!("routing rule {}", r.name));
            crate::service::routing_rules::delete(store, r.id).await?;
        }
    }
    Ok(())
}

fn missing(what: &str, name: &str) -> ProvisionError {
    invalid(format!("{what} '{name}' does not exist"))
}

async fn all_quick_texts(store: &Store) -> Result<Vec<QuickText>, StoreError> {
    let mut out = Vec::new();
    let mut after = None;
    loop {
        let page = store
            .search_quick_texts(None, PageRequest::new(after, PageRequest::MAX_LIMIT))
            .await?;
        out.extend(page.items);
        match page.next {
            Some(n) => after = Some(n),
            None => return Ok(out),
        }
    }
}

//! Routing rules (RT-01..05). A rule's shape and its validation belong to
//! `parley_core::routing`; here every channel, queue, agent and skill it names must exist, whether
//! the API gave ids or `parley apply` resolved names.

use std::collections::BTreeSet;

use parley_core::Timestamp;
use parley_core::routing::{Condition, RoutingRule, RuleAction, validate_rule};
use parley_store::{RoutingRuleSpec, Store, StoreError, StoredRoutingRule};
use serde::Deserialize;
use utoipa::ToSchema;
use uuid::Uuid;

use super::ApplyReport;
use super::ServiceError;
use super::specs::invalid;

/// A rule as the API takes it (a workspace file names what the API gives by id).
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RoutingRuleInput {
    pub name: String,
    /// Rules are tried from the lowest position; equal positions go by creation order. Omitted:
    /// after every existing rule on create, unchanged on replace.
    pub position: Option<i32>,
    /// Only sessions on this channel; omitted or null for every channel.
    pub channel_id: Option<Uuid>,
    /// All must hold; none makes a catch-all. Each is an object with a `type`:
    /// `channel_kind_is {kind}`, `first_message_contains {text}`,
    /// `first_message_matches_any {words}`, `field_equals {field, value}`,
    /// `within_business_hours {value}`, `language_is {language}`.
    #[serde(default)]
    #[schema(value_type = Vec<Object>)]
    pub conditions: Vec<Condition>,
    /// Exactly one route (`route_to_queue {queue_id}`, `route_to_skills {skills: [{skill_id,
    /// level}]}`, `route_to_agent {agent_id}`, `route_to_bot {bot}`) and optionally
    /// `set_priority {priority}`.
    #[schema(value_type = Vec<Object>)]
    pub actions: Vec<RuleAction>,
}

/// Room left between positions given by default, so a rule can be put between two others later.
const POSITION_STEP: i64 = 10;

fn position_of(stored: i64) -> i32 {
    i32::try_from(stored).unwrap_or(if stored < 0 { i32::MIN } else { i32::MAX })
}

fn rule_of(id: Uuid, input: &RoutingRuleInput, position: i32) -> RoutingRule {
    RoutingRule {
        id,
        name: input.name.trim().to_owned(),
        position,
        channel_id: input.channel_id,
        conditions: input.conditions.clone(),
        actions: input.actions.clone(),
    }
}

/// The rule's shape (core's rules), then the ids it names.
async fn checked(store: &Store, rule: &RoutingRule) -> Result<RoutingRuleSpec, ServiceError> {
    let spec = spec_of(rule)?;
    check_references(store, rule).await?;
    Ok(spec)
}

/// Every channel, queue, agent and skill the rule names must exist (422 naming the first that
/// does not). Later deletions are the evaluator's concern: it falls back to the channel's queue.
async fn check_references(store: &Store, rule: &RoutingRule) -> Result<(), ServiceError> {
    fn missing<T>(r: Result<T, StoreError>, what: &str, id: Uuid) -> Result<(), ServiceError> {
        match r {
            Ok(_) => Ok(()),
            Err(StoreError::NotFound { .. }) => {
                Err(ServiceError::Invalid(format!("{what} {id} does not exist")))
            }
            Err(e) => Err(e.into()),
        }
    }
    if let Some(c) = rule.channel_id {
        missing(store.channel(c).await, "channel", c)?;
    }
    let mut queues = BTreeSet::new();
    let mut agents = BTreeSet::new();
    let mut skills = BTreeSet::new();
    for a in &rule.actions {
        match a {
            RuleAction::RouteToQueue { queue_id } => {
                queues.insert(*queue_id);
            }
            RuleAction::RouteToAgent { agent_id } => {
                agents.insert(*agent_id);
            }
            RuleAction::RouteToSkills { skills: list } => {
                skills.extend(list.iter().map(|s| s.skill_id));
            }
            RuleAction::RouteToBot { .. } | RuleAction::SetPriority { .. } => {}
        }
    }
    for q in queues {
        missing(store.queue(q).await, "queue", q)?;
    }
    for a in agents {
        missing(store.agent(a).await, "agent", a)?;
    }
    for s in skills {
        missing(store.skill(s).await, "skill", s)?;
    }
    Ok(())
}

pub async fn create(
    store: &Store,
    input: &RoutingRuleInput,
    now: Timestamp,
) -> Result<StoredRoutingRule, ServiceError> {
    let position = match input.position {
        Some(p) => p,
        None => {
            let last = store
                .routing_rules(None)
                .await?
                .iter()
                .map(|r| r.position)
                .max()
                .unwrap_or(0);
            position_of(last.saturating_add(POSITION_STEP))
        }
    };
    // The id is the store's to give; validation only uses it to name a rule without a name.
    let spec = checked(store, &rule_of(Uuid::nil(), input, position)).await?;
    Ok(store.create_routing_rule(&spec, now).await?)
}

pub async fn update(
    store: &Store,
    id: Uuid,
    input: &RoutingRuleInput,
    now: Timestamp,
) -> Result<StoredRoutingRule, ServiceError> {
    let existing = store.routing_rule(id).await?;
    let position = input
        .position
        .unwrap_or_else(|| position_of(existing.position));
    let spec = checked(store, &rule_of(id, input, position)).await?;
    Ok(store.update_routing_rule(id, &spec, now).await?)
}

pub async fn delete(store: &Store, id: Uuid) -> Result<(), ServiceError> {
    Ok(store.delete_routing_rule(id).await?)
}

/// `parley apply`: the rule of this name (ids resolved from the file's names) made as the file
/// says, among `existing`; answers its id.
pub async fn put_by_name(
    store: &Store,
    existing: &[StoredRoutingRule],
    rule: &RoutingRule,
    now: Timestamp,
    report: &mut ApplyReport,
) -> Result<Uuid, ServiceError> {
    let spec = checked(store, rule).await?;
    Ok(match existing.iter().find(|e| e.name == spec.name) {
        None => {
            report.created.push(format!("routing rule {}", spec.name));
            store.create_routing_rule(&spec, now).await?.id
        }
        Some(e) => {
            if e.spec() != spec {
                report.updated.push(format!("routing rule {}", spec.name));
                store.update_routing_rule(e.id, &spec, now).await?;
            } else {
                report.unchanged += 1;
            }
            e.id
        }
    })
}

/// Longest routing rule name, in characters, like every other name in a workspace.
const MAX_RULE_NAME: usize = 100;

/// Checks a rule's shape (`parley_core::routing::validate_rule`, and the name's length) and gives
/// what the store keeps for it: its conditions and actions as JSON. Whether the ids it names exist
/// is the caller's check.
pub fn spec_of(rule: &RoutingRule) -> Result<RoutingRuleSpec, super::ServiceError> {
    validate_rule(rule).map_err(|e| invalid(e.to_string()))?;
    if rule.name.chars().count() > MAX_RULE_NAME {
        return Err(invalid(format!(
            "routing rule names must be at most {MAX_RULE_NAME} characters"
        )));
    }
    let json = |v: Result<serde_json::Value, serde_json::Error>| {
        v.map_err(|e| invalid(format!("routing rule '{}': {e}", rule.name)))
    };
    Ok(RoutingRuleSpec {
        name: rule.name.clone(),
        position: i64::from(rule.position),
        channel_id: rule.channel_id,
        conditions: json(serde_json::to_value(&rule.conditions))?,
        actions: json(serde_json::to_value(&rule.actions))?,
    })
}

//! Permission sets and their grants (issue 18, PERM). Two rules hold on every write:
//!
//! - nobody grants a permission they do not hold themselves (`by`: the permissions of whoever
//!   asks; a command run on the server by its operator passes [`PermissionSet::all`]);
//! - the workspace keeps at least one agent holding `manage_users` (checked in the store's
//!   transaction for set and grant writes, and here for an agent's role change or deletion).
//!
//! The built-in role sets are edited like any other but never deleted.

use parley_core::Timestamp;
use parley_core::access::{Permission, PermissionSet};
use parley_core::model::AgentRole;
use parley_store::{LAST_MANAGER, Store, StoredPermissionSet, builtin_permission_set_id};
use serde::Deserialize;
use utoipa::ToSchema;
use uuid::Uuid;

use super::ServiceError;

/// A permission set as the API takes it.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PermissionSetInput {
    /// 1 to 100 characters, unique.
    #[schema(min_length = 1, max_length = 100)]
    pub name: String,
    /// Permission names (see `GET /api/v1/permissions`).
    pub permissions: Vec<String>,
}

fn check_input(input: &PermissionSetInput) -> Result<(&str, PermissionSet), ServiceError> {
    let name = input.name.trim();
    if name.is_empty() || name.chars().count() > 100 {
        return Err(ServiceError::Invalid(
            "name: 1 to 100 characters".to_owned(),
        ));
    }
    if input.permissions.len() > Permission::ALL.len() * 4 {
        return Err(ServiceError::Invalid(
            "permissions: too many names".to_owned(),
        ));
    }
    let set = PermissionSet::parse_list(&input.permissions)
        .map_err(|e| ServiceError::Invalid(format!("permissions: {e}")))?;
    Ok((name, set))
}

/// Refuses `granted` unless `by` holds every permission of it.
pub fn check_grant(
    by: PermissionSet,
    granted: PermissionSet,
    field: &str,
) -> Result<(), ServiceError> {
    let missing = granted.difference(by);
    if missing.is_empty() {
        Ok(())
    } else {
        Err(ServiceError::Invalid(format!(
            "{field}: you cannot grant {}, which you do not hold",
            missing.to_names().replace(' ', ", ")
        )))
    }
}

pub async fn create_permission_set(
    store: &Store,
    by: PermissionSet,
    input: &PermissionSetInput,
    now: Timestamp,
) -> Result<StoredPermissionSet, ServiceError> {
    let (name, set) = check_input(input)?;
    check_grant(by, set, "permissions")?;
    Ok(store.create_permission_set(name, set, now).await?)
}

/// Renames a set and replaces its permissions. Only what the set gains counts as a grant: whoever
/// edits it may leave in place what they do not hold themselves.
pub async fn update_permission_set(
    store: &Store,
    by: PermissionSet,
    id: Uuid,
    input: &PermissionSetInput,
    now: Timestamp,
) -> Result<StoredPermissionSet, ServiceError> {
    let (name, set) = check_input(input)?;
    let current = store.permission_set(id).await?;
    check_grant(by, set.difference(current.permissions), "permissions")?;
    Ok(store.update_permission_set(id, name, set, now).await?)
}

pub async fn delete_permission_set(store: &Store, id: Uuid) -> Result<(), ServiceError> {
    Ok(store.delete_permission_set(id).await?)
}

/// Replaces the sets granted to an agent. Each set the agent gains must be within `by`.
pub async fn set_agent_permission_sets(
    store: &Store,
    by: PermissionSet,
    agent_id: Uuid,
    set_ids: &[Uuid],
) -> Result<Vec<Uuid>, ServiceError> {
    if set_ids.len() > 100 {
        return Err(ServiceError::Invalid(
            "permission_set_ids: at most 100".to_owned(),
        ));
    }
    store.agent(agent_id).await?;
    let mut ids = set_ids.to_vec();
    ids.sort_unstable();
    ids.dedup();
    let current = store.agent_permission_set_ids(agent_id).await?;
    for id in &ids {
        let set = super::referenced(
            store.permission_set(*id).await,
            &format!("permission_set_ids: permission set {id}"),
        )?;
        if !current.contains(id) {
            check_grant(by, set.permissions, "permission_set_ids")?;
        }
    }
    store.set_agent_permission_sets(agent_id, &ids).await?;
    Ok(ids)
}

/// The permissions an agent of `role` holds through the role's set alone.
pub async fn role_permissions(
    store: &Store,
    role: AgentRole,
) -> Result<PermissionSet, ServiceError> {
    Ok(store
        .permission_set(builtin_permission_set_id(role))
        .await?
        .permissions)
}

/// For an agent's creation or role change: `by` must hold the role's permissions, and an agent
/// who held `manage_users` may only lose it (by the new role) while someone else holds it.
pub async fn check_agent_role(
    store: &Store,
    by: PermissionSet,
    agent: Option<(Uuid, AgentRole)>,
    role: AgentRole,
) -> Result<(), ServiceError> {
    if agent.is_some_and(|(_, current)| current == role) {
        return Ok(());
    }
    check_grant(by, role_permissions(store, role).await?, "role")?;
    if let Some((id, current)) = agent {
        let holds_now = store
            .agent_permissions(id, current)
            .await?
            .contains(Permission::ManageUsers);
        let would_hold = store
            .agent_permissions(id, role)
            .await?
            .contains(Permission::ManageUsers);
        if holds_now && !would_hold && store.count_user_managers(Some(id)).await? == 0 {
            return Err(ServiceError::Invalid(format!("role: {LAST_MANAGER}")));
        }
    }
    Ok(())
}

/// For an agent's deletion: the last agent holding `manage_users` stays.
pub async fn check_agent_removal(store: &Store, id: Uuid) -> Result<(), ServiceError> {
    let agent = store.agent(id).await?;
    let holds = store
        .agent_permissions(id, agent.role)
        .await?
        .contains(Permission::ManageUsers);
    if holds && store.count_user_managers(Some(id)).await? == 0 {
        return Err(ServiceError::Invalid(LAST_MANAGER.to_owned()));
    }
    Ok(())
}

/// `parley apply`: the set of this name made as the file says (a built-in role's set is found by
/// its name like any other, and edited). Run by the server's operator: no grant check.
pub async fn put_by_name(
    store: &Store,
    input: &PermissionSetInput,
    now: Timestamp,
    report: &mut super::ApplyReport,
) -> Result<Uuid, ServiceError> {
    let (name, set) = check_input(input)?;
    let existing = store
        .list_permission_sets()
        .await?
        .into_iter()
        .find(|s| s.name == name);
    Ok(match existing {
        None => {
            report.created.push(format!("permission set {name}"));
            store.create_permission_set(name, set, now).await?.id
        }
        Some(s) if s.permissions != set => {
            report.updated.push(format!("permission set {name}"));
            store.update_permission_set(s.id, name, set, now).await?.id
        }
        Some(s) => {
            report.unchanged += 1;
            s.id
        }
    })
}

/// `parley apply`: an agent's granted sets, by name, made as the file says.
pub async fn put_agent_grants(
    store: &Store,
    agent_id: Uuid,
    email: &str,
    set_names: &[String],
    report: &mut super::ApplyReport,
) -> Result<(), ServiceError> {
    let sets = store.list_permission_sets().await?;
    let mut ids = Vec::with_capacity(set_names.len());
    for name in set_names {
        let set = sets.iter().find(|s| s.name == name.trim()).ok_or_else(|| {
            ServiceError::Invalid(format!(
                "agent '{email}': permission set '{name}' does not exist"
            ))
        })?;
        ids.push(set.id);
    }
    ids.sort_unstable();
    ids.dedup();
    if store.agent_permission_set_ids(agent_id).await? == ids {
        report.unchanged += 1;
    } else {
        report
            .updated
            .push(format!("permission sets of agent {email}"));
        set_agent_permission_sets(store, PermissionSet::all(), agent_id, &ids).await?;
    }
    Ok(())
}

/// `parley apply --prune`: deletes the sets the file no longer names (never a built-in one).
pub async fn prune_missing(
    store: &Store,
    keep: &[String],
    report: &mut super::ApplyReport,
) -> Result<(), ServiceError> {
    for s in store.list_permission_sets().await? {
        if s.builtin_role.is_none() && !keep.iter().any(|k| k.trim() == s.name) {
            report.deleted.push(format!("permission set {}", s.name));
            delete_permission_set(store, s.id).await?;
        }
    }
    Ok(())
}

/// Checks a workspace file's sets before anything is written.
pub fn check_file_sets(sets: &[PermissionSetInput]) -> Result<(), ServiceError> {
    for s in sets {
        check_input(s)
            .map_err(|e| ServiceError::Invalid(format!("permission set '{}': {e}", s.name)))?;
    }
    Ok(())
}

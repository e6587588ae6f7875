//! Permission sets (issue 18, PERM): named lists of permissions, the four built-in role sets among
//! them, and the sets granted to agents. A set's permissions are stored as their names separated
//! by spaces (`PermissionSet::to_names`), so a row reads the same in SQL as in the API.
//!
//! Who holds `manage_users` is guarded here, inside each write's transaction: a change that would
//! leave a workspace that had a holder without any is rolled back, so two admins racing cannot
//! lock everyone out between them.

use parley_core::access::PermissionSet;
use parley_core::model::{AgentRole, TokenRole};
use parley_core::{Timestamp, new_id};
use sqlx::Row;
use uuid::Uuid;

use crate::{Result, Store, StoreError, on_backend};

/// The fixed id of a built-in role's set (seeded by migration 0023).
pub const fn builtin_permission_set_id(role: AgentRole) -> Uuid {
    Uuid::from_u128(match role {
        AgentRole::Admin => 1,
        AgentRole::Supervisor => 2,
        AgentRole::Agent => 3,
        AgentRole::Broadcaster => 4,
    })
}

/// A permission set as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredPermissionSet {
    pub id: Uuid,
    pub name: String,
    pub permissions: PermissionSet,
    /// The role whose default set this is; such a set is edited, never deleted.
    pub builtin_role: Option<AgentRole>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// Why a permission write was refused by its guards.
pub const LAST_MANAGER: &str = "no agent would hold manage_users any more: grant it to someone \
     else first, so the workspace keeps someone who can manage its users";

/// A condition true of an agent row `a` that holds `manage_users`, through its role's set or a
/// granted one. The names are padded so `manage_users` cannot match inside a longer name.
const HOLDS_MANAGE_USERS: &str = "(EXISTS (SELECT 1 FROM permission_sets s \
       WHERE s.builtin_role = a.role AND (' ' || s.permissions || ' ') LIKE '% manage_users %') \
     OR EXISTS (SELECT 1 FROM agent_permission_sets g \
       JOIN permission_sets s ON s.id = g.permission_set_id \
       WHERE g.agent_id = a.id AND (' ' || s.permissions || ' ') LIKE '% manage_users %'))";

fn count_managers_sql() -> String {
    format!(
        "SELECT COUNT(*) FROM agents a WHERE ($1 IS NULL OR a.id <> $1) AND {HOLDS_MANAGE_USERS}"
    )
}

/// A signed-in agent's permissions (`$1` role, `$2` agent): run at every console request.
pub const AGENT_PERMISSIONS_SQL: &str = "SELECT permissions FROM permission_sets WHERE builtin_role = $1 \
     UNION ALL \
     SELECT s.permissions FROM agent_permission_sets g \
       JOIN permission_sets s ON s.id = g.permission_set_id WHERE g.agent_id = $2";

/// A token's permissions in parts (`$1` its role, `$2` its set, `$3` its agent): run at every
/// request made with a token.
pub const TOKEN_PERMISSIONS_SQL: &str = "SELECT 0 AS part, permissions FROM permission_sets WHERE builtin_role = $1 \
     UNION ALL \
     SELECT 1, permissions FROM permission_sets WHERE id = $2 \
     UNION ALL \
     SELECT 2, s.permissions FROM agents a \
       JOIN permission_sets s ON s.builtin_role = a.role WHERE a.id = $3 \
     UNION ALL \
     SELECT 2, s.permissions FROM agent_permission_sets g \
       JOIN permission_sets s ON s.id = g.permission_set_id WHERE g.agent_id = $3";

const SELECT_SETS: &str =
    "SELECT id, name, permissions, builtin_role, created_at, updated_at FROM permission_sets";

fn read_set(row: &impl RowLike) -> Result<StoredPermissionSet> {
    let builtin: Option<String> = row.text_opt("builtin_role")?;
    let builtin_role = builtin
        .map(|r| r.parse::<AgentRole>())
        .transpose()
        .map_err(|e| StoreError::Corrupt(e.to_string()))?;
    Ok(StoredPermissionSet {
        id: row.uuid("id")?,
        name: row.text("name")?,
        permissions: PermissionSet::from_names(&row.text("permissions")?),
        builtin_role,
        created_at: Timestamp(row.int("created_at")?),
        updated_at: Timestamp(row.int("updated_at")?),
    })
}

/// The columns [`read_set`] needs, from a row of either database.
trait RowLike {
    fn uuid(&self, name: &str) -> Result<Uuid>;
    fn text(&self, name: &str) -> Result<String>;
    fn text_opt(&self, name: &str) -> Result<Option<String>>;
    fn int(&self, name: &str) -> Result<i64>;
}

macro_rules! row_like {
    ($row:ty) => {
        impl RowLike for $row {
            fn uuid(&self, name: &str) -> Result<Uuid> {
                Ok(self.try_get(name)?)
            }
            fn text(&self, name: &str) -> Result<String> {
                Ok(self.try_get(name)?)
            }
            fn text_opt(&self, name: &str) -> Result<Option<String>> {
                Ok(self.try_get(name)?)
            }
            fn int(&self, name: &str) -> Result<i64> {
                Ok(self.try_get(name)?)
            }
        }
    };
}
row_like!(sqlx::sqlite::SqliteRow);
row_like!(sqlx::postgres::PgRow);

impl Store {
    /// Every permission set, the built-in ones first (by role), then by name.
    pub async fn list_permission_sets(&self) -> Result<Vec<StoredPermissionSet>> {
        let sql = format!(
            "{SELECT_SETS} ORDER BY CASE WHEN builtin_role IS NULL THEN 1 ELSE 0 END, id, name \
             LIMIT 1000"
        );
        on_backend!(self, read c => {
            let rows = sqlx::query(sqlx::AssertSqlSafe(sql.as_str())).fetch_all(c).await?;
            rows.iter().map(read_set).collect()
        })
    }

    pub async fn permission_set(&self, id: Uuid) -> Result<StoredPermissionSet> {
        let sql = format!("{SELECT_SETS} WHERE id = $1");
        on_backend!(self, read c => {
            let row = sqlx::query(sqlx::AssertSqlSafe(sql.as_str()))
                .bind(id).fetch_optional(c).await?;
            row.as_ref().map(read_set).transpose()
        })?
        .ok_or(StoreError::not_found("permission set"))
    }

    pub async fn create_permission_set(
        &self,
        name: &str,
        permissions: PermissionSet,
        now: Timestamp,
    ) -> Result<StoredPermissionSet> {
        let id = new_id();
        on_backend!(self, write c => sqlx::query(
            "INSERT INTO permission_sets (id, name, permissions, builtin_role, created_at, updated_at) \
             VALUES ($1, $2, $3, NULL, $4, $4)")
            .bind(id).bind(name).bind(permissions.to_names()).bind(now.millis())
            .execute(c).await.map(|r| r.rows_affected()))?;
        self.permission_set_from_writer(id).await
    }

    async fn permission_set_from_writer(&self, id: Uuid) -> Result<StoredPermissionSet> {
        let sql = format!("{SELECT_SETS} WHERE id = $1");
        on_backend!(self, write c => {
            let row = sqlx::query(sqlx::AssertSqlSafe(sql.as_str()))
                .bind(id).fetch_optional(c).await?;
            row.as_ref().map(read_set).transpose()
        })?
        .ok_or(StoreError::not_found("permission set"))
    }

    /// Renames a set and replaces its permissions, unless that leaves no agent holding
    /// `manage_users` ([`LAST_MANAGER`]).
    pub async fn update_permission_set(
        &self,
        id: Uuid,
        name: &str,
        permissions: PermissionSet,
        now: Timestamp,
    ) -> Result<StoredPermissionSet> {
        let count = count_managers_sql();
        let outcome = on_backend!(self, write c => {
            let mut tx = c.begin().await?;
            let before: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(count.as_str()))
                .bind(None::<Uuid>).fetch_one(&mut *tx).await?;
            let done = sqlx::query(
                "UPDATE permission_sets SET name = $2, permissions = $3, updated_at = $4 WHERE id = $1")
                .bind(id).bind(name).bind(permissions.to_names()).bind(now.millis())
                .execute(&mut *tx).await?.rows_affected();
            let after: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(count.as_str()))
                .bind(None::<Uuid>).fetch_one(&mut *tx).await?;
            if done == 0 {
                Ok::<_, StoreError>(Err(StoreError::not_found("permission set")))
            } else if before > 0 && after == 0 {
                Ok(Err(StoreError::Invalid(LAST_MANAGER.to_owned())))
            } else {
                tx.commit().await?;
                Ok(Ok(()))
            }
        })?;
        outcome?;
        self.permission_set_from_writer(id).await
    }

    /// Deletes a set that is not a built-in role's, that no live token names, and whose loss
    /// leaves someone holding `manage_users`. Its grants go with it.
    pub async fn delete_permission_set(&self, id: Uuid) -> Result<()> {
        let count = count_managers_sql();
        on_backend!(self, write c => {
            let mut tx = c.begin().await?;
            let row = sqlx::query(
                "SELECT builtin_role, (SELECT COUNT(*) FROM api_tokens t \
                   WHERE t.permission_set_id = $1 AND t.revoked_at IS NULL) AS tokens \
                 FROM permission_sets WHERE id = $1")
                .bind(id).fetch_optional(&mut *tx).await?;
            let Some(row) = row else {
                return Err(StoreError::not_found("permission set"));
            };
            let builtin: Option<String> = row.try_get("builtin_role")?;
            let tokens: i64 = row.try_get("tokens")?;
            if let Some(role) = builtin {
                return Err(StoreError::Invalid(format!(
                    "the {role} role's set is built in: edit it, it cannot be deleted")));
            }
            if tokens > 0 {
                return Err(StoreError::Invalid(format!(
                    "{tokens} API token(s) name this set: revoke them first")));
            }
            let before: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(count.as_str()))
                .bind(None::<Uuid>).fetch_one(&mut *tx).await?;
            sqlx::query("DELETE FROM permission_sets WHERE id = $1")
                .bind(id).execute(&mut *tx).await?;
            let after: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(count.as_str()))
                .bind(None::<Uuid>).fetch_one(&mut *tx).await?;
            if before > 0 && after == 0 {
                return Err(StoreError::Invalid(LAST_MANAGER.to_owned()));
            }
            tx.commit().await?;
            Ok(())
        })
    }

    /// The ids of the sets granted to an agent (its role's set is not among them).
    pub async fn agent_permission_set_ids(&self, agent_id: Uuid) -> Result<Vec<Uuid>> {
        Ok(on_backend!(self, read c => sqlx::query_scalar::<_, Uuid>(
            "SELECT permission_set_id FROM agent_permission_sets WHERE agent_id = $1 \
             ORDER BY permission_set_id")
            .bind(agent_id).fetch_all(c).await)?)
    }

    /// Replaces the sets granted to an agent, unless that leaves no agent holding
    /// `manage_users`.
    pub async fn set_agent_permission_sets(&self, agent_id: Uuid, set_ids: &[Uuid]) -> Result<()> {
        let count = count_managers_sql();
        on_backend!(self, write c => {
            let mut tx = c.begin().await?;
            let agent: Option<Uuid> = sqlx::query_scalar("SELECT id FROM agents WHERE id = $1")
                .bind(agent_id).fetch_optional(&mut *tx).await?;
            if agent.is_none() {
                return Err(StoreError::not_found("agent"));
            }
            let before: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(count.as_str()))
                .bind(None::<Uuid>).fetch_one(&mut *tx).await?;
            sqlx::query("DELETE FROM agent_permission_sets WHERE agent_id = $1")
                .bind(agent_id).execute(&mut *tx).await?;
            for set in set_ids {
                sqlx::query(
                    "INSERT INTO agent_permission_sets (agent_id, permission_set_id) VALUES ($1, $2)")
                    .bind(agent_id).bind(set).execute(&mut *tx).await?;
            }
            let after: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(count.as_str()))
                .bind(None::<Uuid>).fetch_one(&mut *tx).await?;
            if before > 0 && after == 0 {
                return Err(StoreError::Invalid(LAST_MANAGER.to_owned()));
            }
            tx.commit().await?;
            Ok(())
        })
    }

    /// How many agents other than `except` hold `manage_users` (for a change to `except`'s role
    /// or its deletion, checked by the service before it writes).
    pub async fn count_user_managers(&self, except: Option<Uuid>) -> Result<i64> {
        let count = count_managers_sql();
        Ok(on_backend!(self, read c => sqlx::query_scalar::<_, i64>(
            sqlx::AssertSqlSafe(count.as_str()))
            .bind(except).fetch_one(c).await)?)
    }

    /// The permissions of a signed-in agent: their role's set and every set granted to them. One
    /// query, by the unique `builtin_role` and the grants' primary key.
    pub async fn agent_permissions(
        &self,
        agent_id: Uuid,
        role: AgentRole,
    ) -> Result<PermissionSet> {
        let rows: Vec<String> = on_backend!(self, read c => sqlx::query_scalar(AGENT_PERMISSIONS_SQL)
            .bind(role.as_str()).bind(agent_id).fetch_all(c).await)?;
        Ok(rows
            .iter()
            .map(|p| PermissionSet::from_names(p))
            .fold(PermissionSet::EMPTY, PermissionSet::union))
    }

    /// Every agent's permissions (role's set and grants), for routing and the transfer picker:
    /// one query over the sets and grants, whatever the number of agents.
    pub async fn agents_permissions(
        &self,
    ) -> Result<std::collections::HashMap<Uuid, PermissionSet>> {
        let rows: Vec<(Uuid, String)> = on_backend!(self, read c => sqlx::query_as(
            "SELECT a.id, s.permissions FROM agents a \
               JOIN permission_sets s ON s.builtin_role = a.role \
             UNION ALL \
             SELECT g.agent_id, s.permissions FROM agent_permission_sets g \
               JOIN permission_sets s ON s.id = g.permission_set_id")
            .fetch_all(c).await)?;
        let mut by_agent = std::collections::HashMap::new();
        for (agent, names) in rows {
            let set: &mut PermissionSet = by_agent.entry(agent).or_default();
            *set = set.union(PermissionSet::from_names(&names));
        }
        Ok(by_agent)
    }

    /// The permissions of an API token, in one query: its role's set, intersected with the set it
    /// names (if any) and with the effective set of the agent it acts as (if any: that agent's
    /// role's set and grants).
    pub async fn token_permissions(
        &self,
        role: TokenRole,
        set_id: Option<Uuid>,
        agent_id: Option<Uuid>,
    ) -> Result<PermissionSet> {
        let rows: Vec<(i32, String)> = on_backend!(self, read c => sqlx::query_as(TOKEN_PERMISSIONS_SQL)
            .bind(role.as_str()).bind(set_id).bind(agent_id).fetch_all(c).await)?;
        let part = |n: i32| {
            rows.iter()
                .filter(|(p, _)| *p == n)
                .map(|(_, names)| PermissionSet::from_names(names))
                .fold(PermissionSet::EMPTY, PermissionSet::union)
        };
        let mut permissions = part(0);
        if set_id.is_some() {
            permissions = permissions.intersection(part(1));
        }
        if agent_id.is_some() {
            permissions = permissions.intersection(part(2));
        }
        Ok(permissions)
    }

    /// Names a permission set on a token (or none: its role's set alone).
    pub async fn set_api_token_permission_set(&self, id: Uuid, set_id: Option<Uuid>) -> Result<()> {
        let done = on_backend!(self, write c => sqlx::query(
            "UPDATE api_tokens SET permission_set_id = $2 WHERE id = $1")
            .bind(id).bind(set_id).execute(c).await.map(|r| r.rows_affected()))?;
        if done == 0 {
            return Err(StoreError::not_found("api token"));
        }
        Ok(())
    }
}

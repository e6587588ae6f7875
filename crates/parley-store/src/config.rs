//! Workspace configuration: channels, queues, skills, agents and their memberships, templates and
//! keyword sets.

use parley_core::model::{ChannelKind, Provider};
use parley_core::{Timestamp, new_id};
use sqlx::types::Json;
use uuid::Uuid;

use crate::records::{paginate, *};
use crate::{Result, Store, StoreError, on_backend};

const CHANNEL_COLS: &str = "id, name, kind, provider, address, number_type, provider_keyword, country, \
     consent_level, queue_id, throughput_mps, settings, secrets, sender_limits, created_at, updated_at";

impl Store {
    pub async fn create_channel(&self, spec: &ChannelSpec, now: Timestamp) -> Result<Channel> {
        let id = new_id();
        let sql = "INSERT INTO channels (id, name, kind, provider, address, number_type, country, \
                   consent_level, queue_id, throughput_mps, settings, secrets, created_at, updated_at, \
                   provider_keyword) \
                   VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $13, $14)";
        on_backend!(self, write c => sqlx::query(sql)
            .bind(id)
            .bind(&spec.name)
            .bind(spec.kind.as_str())
            .bind(spec.provider.as_str())
            .bind(&spec.address)
            .bind(spec.number_type.map(|t| t.as_str()))
            .bind(&spec.country)
            .bind(spec.consent_level.as_str())
            .bind(spec.queue_id)
            .bind(spec.throughput_mps)
            .bind(Json(&spec.settings))
            .bind(Json(self.seal_json(&spec.secrets)))
            .bind(now.millis())
            .bind(&spec.provider_keyword)
            .execute(c)
            .await
            .map(|r| r.rows_affected()))?;
        self.channel(id).await
    }

    pub async fn update_channel(
        &self,
        id: Uuid,
        spec: &ChannelSpec,
        now: Timestamp,
    ) -> Result<Channel> {
        let sql = "UPDATE channels SET name = $2, kind = $3, provider = $4, address = $5, \
                   number_type = $6, country = $7, consent_level = $8, queue_id = $9, \
                   throughput_mps = $10, settings = $11, secrets = $12, updated_at = $13, \
                   provider_keyword = $14 WHERE id = $1";
        let done = on_backend!(self, write c => sqlx::query(sql)
            .bind(id)
            .bind(&spec.name)
            .bind(spec.kind.as_str())
            .bind(spec.provider.as_str())
            .bind(&spec.address)
            .bind(spec.number_type.map(|t| t.as_str()))
            .bind(&spec.country)
            .bind(spec.consent_level.as_str())
            .bind(spec.queue_id)
            .bind(spec.throughput_mps)
            .bind(Json(&spec.settings))
            .bind(Json(self.seal_json(&spec.secrets)))
            .bind(now.millis())
            .bind(&spec.provider_keyword)
            .execute(c)
            .await
            .map(|r| r.rows_affected()))?;
        if done == 0 {
            return Err(StoreError::not_found("channel"));
        }
        self.channel(id).await
    }

    pub async fn channel(&self, id: Uuid) -> Result<Channel> {
        let sql = format!("SELECT {CHANNEL_COLS} FROM channels WHERE id = $1");
        let ch = on_backend!(self, read c => sqlx::query_as::<_, Channel>(sqlx::AssertSqlSafe(sql.as_str())).bind(id).fetch_optional(c).await)?
            .ok_or(StoreError::not_found("channel"))?;
        self.open_channel(ch)
    }

    pub async fn channel_by_name(&self, name: &str) -> Result<Option<Channel>> {
        let sql = format!("SELECT {CHANNEL_COLS} FROM channels WHERE name = $1");
        let ch = on_backend!(self, read c => sqlx::query_as::<_, Channel>(sqlx::AssertSqlSafe(sql.as_str())).bind(name).fetch_optional(c).await)?;
        ch.map(|c| self.open_channel(c)).transpose()
    }

    pub async fn list_channels(&self, page: PageRequest) -> Result<Paged<Channel>> {
        let sql = format!(
            "SELECT {CHANNEL_COLS} FROM channels WHERE ($1 IS NULL OR id > $1) ORDER BY id LIMIT $2"
        );
        let rows = on_backend!(self, read c => sqlx::query_as::<_, Channel>(sqlx::AssertSqlSafe(sql.as_str()))
            .bind(page.after).bind(page.fetch_limit()).fetch_all(c).await)?;
        Ok(paginate(self.open_channels(rows)?, page))
    }

    /// Every channel of one kind on one provider, oldest first (the Meta webhooks, which share one
    /// path per kind, find theirs among them).
    pub async fn channels_by_provider_kind(
        &self,
        provider: Provider,
        kind: ChannelKind,
    ) -> Result<Vec<Channel>> {
        let sql = format!(
            "SELECT {CHANNEL_COLS} FROM channels WHERE provider = $1 AND kind = $2 ORDER BY id"
        );
        let rows = on_backend!(self, read c => sqlx::query_as::<_, Channel>(sqlx::AssertSqlSafe(sql.as_str()))
                .bind(provider.as_str()).bind(kind.as_str()).fetch_all(c).await)?;
        self.open_channels(rows)
    }

    pub async fn delete_channel(&self, id: Uuid) -> Result<()> {
        delete_by_id(self, "channels", "channel", id).await
    }

    pub async fn create_queue(&self, spec: &QueueSpec, now: Timestamp) -> Result<Queue> {
        let id = new_id();
        on_backend!(self, write c => sqlx::query(
            "INSERT INTO queues (id, name, routing_model, priority, created_at, updated_at, assignment) \
             VALUES ($1, $2, $3, $4, $5, $5, $6)")
            .bind(id).bind(&spec.name).bind(spec.routing_model.as_str()).bind(spec.priority)
            .bind(now.millis()).bind(spec.assignment.as_str()).execute(c).await.map(|r| r.rows_affected()))?;
        self.queue(id).await
    }

    pub async fn update_queue(&self, id: Uuid, spec: &QueueSpec, now: Timestamp) -> Result<Queue> {
        let done = on_backend!(self, write c => sqlx::query(
            "UPDATE queues SET name = $2, routing_model = $3, priority = $4, updated_at = $5, \
             assignment = $6 WHERE id = $1")
            .bind(id).bind(&spec.name).bind(spec.routing_model.as_str()).bind(spec.priority)
            .bind(now.millis()).bind(spec.assignment.as_str()).execute(c).await.map(|r| r.rows_affected()))?;
        if done == 0 {
            return Err(StoreError::not_found("queue"));
        }
        self.queue(id).await
    }

    pub async fn queue(&self, id: Uuid) -> Result<Queue> {
        on_backend!(self, read c => sqlx::query_as::<_, Queue>("SELECT * FROM queues WHERE id = $1")
            .bind(id).fetch_optional(c).await)?
        .ok_or(StoreError::not_found("queue"))
    }

    pub async fn queue_by_name(&self, name: &str) -> Result<Option<Queue>> {
        Ok(
            on_backend!(self, read c => sqlx::query_as::<_, Queue>("SELECT * FROM queues WHERE name = $1")
            .bind(name).fetch_optional(c).await)?,
        )
    }

    pub async fn list_queues(&self, page: PageRequest) -> Result<Paged<Queue>> {
        let rows = on_backend!(self, read c => sqlx::query_as::<_, Queue>(
            "SELECT * FROM queues WHERE ($1 IS NULL OR id > $1) ORDER BY id LIMIT $2")
            .bind(page.after).bind(page.fetch_limit()).fetch_all(c).await)?;
        Ok(paginate(rows, page))
    }

    pub async fn delete_queue(&self, id: Uuid) -> Result<()> {
        delete_by_id(self, "queues", "queue", id).await
    }

    pub async fn create_skill(&self, spec: &SkillSpec, now: Timestamp) -> Result<Skill> {
        let id = new_id();
        on_backend!(self, write c => sqlx::query(
            "INSERT INTO skills (id, name, description, created_at, updated_at) VALUES ($1, $2, $3, $4, $4)")
            .bind(id).bind(&spec.name).bind(&spec.description).bind(now.millis()).execute(c).await.map(|r| r.rows_affected()))?;
        self.skill(id).await
    }

    pub async fn update_skill(&self, id: Uuid, spec: &SkillSpec, now: Timestamp) -> Result<Skill> {
        let done = on_backend!(self, write c => sqlx::query(
            "UPDATE skills SET name = $2, description = $3, updated_at = $4 WHERE id = $1")
            .bind(id).bind(&spec.name).bind(&spec.description).bind(now.millis()).execute(c).await.map(|r| r.rows_affected()))?;
        if done == 0 {
            return Err(StoreError::not_found("skill"));
        }
        self.skill(id).await
    }

    pub async fn skill(&self, id: Uuid) -> Result<Skill> {
        on_backend!(self, read c => sqlx::query_as::<_, Skill>("SELECT * FROM skills WHERE id = $1")
            .bind(id).fetch_optional(c).await)?
        .ok_or(StoreError::not_found("skill"))
    }

    pub async fn skill_by_name(&self, name: &str) -> Result<Option<Skill>> {
        Ok(
            on_backend!(self, read c => sqlx::query_as::<_, Skill>("SELECT * FROM skills WHERE name = $1")
            .bind(name).fetch_optional(c).await)?,
        )
    }

    pub async fn list_skills(&self, page: PageRequest) -> Result<Paged<Skill>> {
        let rows = on_backend!(self, read c => sqlx::query_as::<_, Skill>(
            "SELECT * FROM skills WHERE ($1 IS NULL OR id > $1) ORDER BY id LIMIT $2")
            .bind(page.after).bind(page.fetch_limit()).fetch_all(c).await)?;
        Ok(paginate(rows, page))
    }

    pub async fn delete_skill(&self, id: Uuid) -> Result<()> {
        delete_by_id(self, "skills", "skill", id).await
    }

    /// Creates an agent with its queue memberships and skills in one transaction.
    pub async fn create_agent(&self, spec: &AgentSpec, now: Timestamp) -> Result<Agent> {
        let id = new_id();
        on_backend!(self, write c => {
            let mut tx = c.begin().await?;
            sqlx::query(
                "INSERT INTO agents (id, name, email, role, capacity, presence, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, 'offline', $6, $6)")
                .bind(id).bind(&spec.name).bind(&spec.email).bind(spec.role.as_str())
                .bind(spec.capacity).bind(now.millis()).execute(&mut *tx).await?;
            for q in &spec.queue_ids {
                sqlx::query("INSERT INTO queue_members (queue_id, agent_id) VALUES ($1, $2)")
                    .bind(q).bind(id).execute(&mut *tx).await?;
            }
            for s in &spec.skills {
                sqlx::query("INSERT INTO agent_skills (agent_id, skill_id, level) VALUES ($1, $2, $3)")
                    .bind(id).bind(s.skill_id).bind(s.level).execute(&mut *tx).await?;
            }
            tx.commit().await
        })?;
        self.agent(id).await
    }

    /// Replaces an agent's fields, queue memberships and skills. Presence and password are left as
    /// they are: they belong to the agent, not to the configuration.
    pub async fn update_agent(&self, id: Uuid, spec: &AgentSpec, now: Timestamp) -> Result<Agent> {
        let found = on_backend!(self, write c => {
            let mut tx = c.begin().await?;
            let done = sqlx::query(
                "UPDATE agents SET name = $2, email = $3, role = $4, capacity = $5, updated_at = $6 WHERE id = $1")
                .bind(id).bind(&spec.name).bind(&spec.email).bind(spec.role.as_str())
                .bind(spec.capacity).bind(now.millis()).execute(&mut *tx).await?;
            if done.rows_affected() > 0 {
                sqlx::query("DELETE FROM queue_members WHERE agent_id = $1").bind(id).execute(&mut *tx).await?;
                sqlx::query("DELETE FROM agent_skills WHERE agent_id = $1").bind(id).execute(&mut *tx).await?;
                for q in &spec.queue_ids {
                    sqlx::query("INSERT INTO queue_members (queue_id, agent_id) VALUES ($1, $2)")
                        .bind(q).bind(id).execute(&mut *tx).await?;
                }
                for s in &spec.skills {
                    sqlx::query("INSERT INTO agent_skills (agent_id, skill_id, level) VALUES ($1, $2, $3)")
                        .bind(id).bind(s.skill_id).bind(s.level).execute(&mut *tx).await?;
                }
            }
            tx.commit().await.map(|()| done.rows_affected() > 0)
        })?;
        if !found {
            return Err(StoreError::not_found("agent"));
        }
        self.agent(id).await
    }

    pub async fn set_agent_password_hash(
        &self,
        id: Uuid,
        hash: &str,
        now: Timestamp,
    ) -> Result<()> {
        let done = on_backend!(self, write c => sqlx::query(
            "UPDATE agents SET password_hash = $2, updated_at = $3 WHERE id = $1")
            .bind(id).bind(hash).bind(now.millis()).execute(c).await.map(|r| r.rows_affected()))?;
        if done == 0 {
            return Err(StoreError::not_found("agent"));
        }
        Ok(())
    }

    pub async fn agent(&self, id: Uuid) -> Result<Agent> {
        let agent = on_backend!(self, read c => sqlx::query_as::<_, Agent>("SELECT * FROM agents WHERE id = $1")
            .bind(id).fetch_optional(c).await)?
        .ok_or(StoreError::not_found("agent"))?;
        let mut agents = self.with_memberships(vec![agent]).await?;
        agents.pop().ok_or(StoreError::not_found("agent"))
    }

    pub async fn agent_by_email(&self, email: &str) -> Result<Option<Agent>> {
        let agent = on_backend!(self, read c => sqlx::query_as::<_, Agent>("SELECT * FROM agents WHERE email = $1")
            .bind(email).fetch_optional(c).await)?;
        match agent {
            Some(a) => Ok(self.with_memberships(vec![a]).await?.pop()),
            None => Ok(None),
        }
    }

    pub async fn list_agents(&self, page: PageRequest) -> Result<Paged<Agent>> {
        let rows = on_backend!(self, read c => sqlx::query_as::<_, Agent>(
            "SELECT * FROM agents WHERE ($1 IS NULL OR id > $1) ORDER BY id LIMIT $2")
            .bind(page.after).bind(page.fetch_limit()).fetch_all(c).await)?;
        let paged = paginate(rows, page);
        Ok(Paged {
            items: self.with_memberships(paged.items).await?,
            next: paged.next,
        })
    }

    pub async fn delete_agent(&self, id: Uuid) -> Result<()> {
        delete_by_id(self, "agents", "agent", id).await
    }

    /// Fills queue ids and skills for a page of agents with two queries, not two per agent.
    async fn with_memberships(&self, mut agents: Vec<Agent>) -> Result<Vec<Agent>> {
        if agents.is_empty() {
            return Ok(agents);
        }
        let ids: Vec<Uuid> = agents.iter().map(|a| a.id).collect();
        let placeholders = placeholders(1, ids.len());
        let q_sql = format!(
            "SELECT agent_id, queue_id FROM queue_members WHERE agent_id IN ({placeholders}) ORDER BY queue_id"
        );
        let s_sql = format!(
            "SELECT agent_id, skill_id, level FROM agent_skills WHERE agent_id IN ({placeholders}) ORDER BY skill_id"
        );
        let memberships: Vec<(Uuid, Uuid)> = on_backend!(self, read c => {
            let mut q = sqlx::query_as(sqlx::AssertSqlSafe(q_sql.as_str()));
            for id in &ids { q = q.bind(id); }
            q.fetch_all(c).await
        })?;
        let skills: Vec<(Uuid, Uuid, i64)> = on_backend!(self, read c => {
            let mut q = sqlx::query_as(sqlx::AssertSqlSafe(s_sql.as_str()));
            for id in &ids { q = q.bind(id); }
            q.fetch_all(c).await
        })?;
        for agent in &mut agents {
            agent.queue_ids = memberships
                .iter()
                .filter(|(a, _)| *a == agent.id)
                .map(|(_, q)| *q)
                .collect();
            agent.skills = skills
                .iter()
                .filter(|(a, _, _)| *a == agent.id)
                .map(|(_, skill_id, level)| AgentSkill {
                    skill_id: *skill_id,
                    level: *level,
                })
                .collect();
        }
        Ok(agents)
    }

    /// Creates or replaces the template with this channel, name and language.
    pub async fn upsert_template(&self, spec: &TemplateSpec, now: Timestamp) -> Result<Template> {
        let sql = "INSERT INTO templates (id, channel_id, name, language, category, status, body, \
                   components, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9) \
                   ON CONFLICT (channel_id, name, language) DO UPDATE SET category = excluded.category, \
                   status = excluded.status, body = excluded.body, components = excluded.components, \
                   updated_at = excluded.updated_at";
        on_backend!(self, write c => sqlx::query(sql)
            .bind(new_id()).bind(spec.channel_id).bind(&spec.name).bind(&spec.language)
            .bind(spec.category.as_str()).bind(spec.status.as_str()).bind(&spec.body)
            .bind(Json(&spec.components)).bind(now.millis()).execute(c).await.map(|r| r.rows_affected()))?;
        self.template(spec.channel_id, &spec.name, &spec.language)
            .await?
            .ok_or(StoreError::not_found("template"))
    }

    pub async fn template(
        &self,
        channel_id: Uuid,
        name: &str,
        language: &str,
    ) -> Result<Option<Template>> {
        Ok(on_backend!(self, read c => sqlx::query_as::<_, Template>(
            "SELECT * FROM templates WHERE channel_id = $1 AND name = $2 AND language = $3")
            .bind(channel_id).bind(name).bind(language).fetch_optional(c).await)?)
    }

    pub async fn list_templates(&self, channel_id: Option<Uuid>) -> Result<Vec<Template>> {
        Ok(on_backend!(self, read c => sqlx::query_as::<_, Template>(
            "SELECT * FROM templates WHERE ($1 IS NULL OR channel_id = $1) ORDER BY id")
            .bind(channel_id).fetch_all(c).await)?)
    }

    pub async fn delete_template(&self, id: Uuid) -> Result<()> {
        delete_by_id(self, "templates", "template", id).await
    }

    /// Creates or replaces the keyword set of a channel for one language.
    pub async fn upsert_keyword_set(
        &self,
        spec: &KeywordSetSpec,
        now: Timestamp,
    ) -> Result<KeywordSet> {
        let sql = "INSERT INTO keyword_sets (id, channel_id, language, config, created_at, updated_at) \
                   VALUES ($1, $2, $3, $4, $5, $5) ON CONFLICT (channel_id, language) \
                   DO UPDATE SET config = excluded.config, updated_at = excluded.updated_at";
        on_backend!(self, write c => sqlx::query(sql)
            .bind(new_id()).bind(spec.channel_id).bind(&spec.language).bind(Json(&spec.config))
            .bind(now.millis()).execute(c).await.map(|r| r.rows_affected()))?;
        self.keyword_sets(spec.channel_id)
            .await?
            .into_iter()
            .find(|k| k.language == spec.language)
            .ok_or(StoreError::not_found("keyword set"))
    }

    /// Stores a new keyword set; a second set for the same channel and language is a `Conflict`.
    pub async fn create_keyword_set(
        &self,
        spec: &KeywordSetSpec,
        now: Timestamp,
    ) -> Result<KeywordSet> {
        let id = new_id();
        let sql = "INSERT INTO keyword_sets (id, channel_id, language, config, created_at, updated_at) \
                   VALUES ($1, $2, $3, $4, $5, $5)";
        on_backend!(self, write c => sqlx::query(sql)
            .bind(id).bind(spec.channel_id).bind(&spec.language).bind(Json(&spec.config))
            .bind(now.millis()).execute(c).await.map(|r| r.rows_affected()))?;
        self.keyword_set(id).await
    }

    /// Replaces a keyword set's language and configuration (its channel stays).
    pub async fn update_keyword_set(
        &self,
        id: Uuid,
        spec: &KeywordSetSpec,
        now: Timestamp,
    ) -> Result<KeywordSet> {
        let done = on_backend!(self, write c => sqlx::query(
            "UPDATE keyword_sets SET language = $2, config = $3, updated_at = $4 \
             WHERE id = $1 AND channel_id = $5")
            .bind(id).bind(&spec.language).bind(Json(&spec.config)).bind(now.millis())
            .bind(spec.channel_id).execute(c).await.map(|r| r.rows_affected()))?;
        if done == 0 {
            return Err(StoreError::not_found("keyword set"));
        }
        self.keyword_set(id).await
    }

    pub async fn keyword_set(&self, id: Uuid) -> Result<KeywordSet> {
        on_backend!(self, read c => sqlx::query_as::<_, KeywordSet>(
            "SELECT * FROM keyword_sets WHERE id = $1")
            .bind(id).fetch_optional(c).await)?
        .ok_or(StoreError::not_found("keyword set"))
    }

    /// Keyword sets in id order, of one channel or of all.
    pub async fn list_keyword_sets(
        &self,
        channel_id: Option<Uuid>,
        page: PageRequest,
    ) -> Result<Paged<KeywordSet>> {
        let rows = on_backend!(self, read c => sqlx::query_as::<_, KeywordSet>(
            "SELECT * FROM keyword_sets WHERE ($1 IS NULL OR channel_id = $1) \
             AND ($2 IS NULL OR id > $2) ORDER BY id LIMIT $3")
            .bind(channel_id).bind(page.after).bind(page.fetch_limit()).fetch_all(c).await)?;
        Ok(paginate(rows, page))
    }

    pub async fn keyword_sets(&self, channel_id: Uuid) -> Result<Vec<KeywordSet>> {
        Ok(on_backend!(self, read c => sqlx::query_as::<_, KeywordSet>(
            "SELECT * FROM keyword_sets WHERE channel_id = $1 ORDER BY language")
            .bind(channel_id).fetch_all(c).await)?)
    }

    pub async fn all_keyword_sets(&self) -> Result<Vec<KeywordSet>> {
        Ok(on_backend!(self, read c => sqlx::query_as::<_, KeywordSet>(
            "SELECT * FROM keyword_sets ORDER BY channel_id, language").fetch_all(c).await)?)
    }

    pub async fn delete_keyword_set(&self, id: Uuid) -> Result<()> {
        delete_by_id(self, "keyword_sets", "keyword set", id).await
    }
}

/// `$start, $start+1, ...` for `n` parameters.
pub(crate) fn placeholders(start: usize, n: usize) -> String {
    let mut s = String::with_capacity(n * 5);
    for i in 0..n {
        if i > 0 {
            s.push_str(", ");
        }
        s.push('$');
        s.push_str(&(start + i).to_string());
    }
    s
}

/// Deletes one row by id. `table` is always a constant from this crate, never user input.
pub(crate) async fn delete_by_id(
    store: &Store,
    table: &'static str,
    entity: &'static str,
    id: Uuid,
) -> Result<()> {
    let sql = format!("DELETE FROM {table} WHERE id = $1");
    let done = on_backend!(store, write c => sqlx::query(sqlx::AssertSqlSafe(sql.as_str())).bind(id).execute(c).await.map(|r| r.rows_affected()))?;
    if done == 0 {
        return Err(StoreError::not_found(entity));
    }
    Ok(())
}

//! Quick texts (AG-08): predefined messages with merge fields, searchable, without folders. The
//! rules that make one valid live in `parley_core::merge`; the search key is made there too, so
//! both databases find the same texts for the same query.

use parley_core::merge::search_key;
use parley_core::{Timestamp, new_id};
use serde::Serialize;
use sqlx::FromRow;
use uuid::Uuid;

use crate::records::{HasId, PageRequest, Paged, paginate};
use crate::{Result, Store, StoreError, on_backend};

const COLS: &str = "id, title, body, created_at, updated_at";

/// A quick text as written by the API, already validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuickTextSpec {
    pub title: String,
    pub body: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, FromRow)]
pub struct QuickText {
    pub id: Uuid,
    pub title: String,
    pub body: String,
    #[sqlx(try_from = "i64")]
    pub created_at: Timestamp,
    #[sqlx(try_from = "i64")]
    pub updated_at: Timestamp,
}

impl HasId for QuickText {
    fn id(&self) -> Uuid {
        self.id
    }
}

/// `query` as a LIKE pattern over the search key: lower case like the key, with LIKE's own
/// wildcards escaped so `50%` and `a_b` mean what they say.
fn like_pattern(query: &str) -> String {
    let mut p = String::with_capacity(query.len() + 2);
    p.push('%');
    for c in query.to_lowercase().chars() {
        if matches!(c, '%' | '_' | '\\') {
            p.push('\\');
        }
        p.push(c);
    }
    p.push('%');
    p
}

impl Store {
    pub async fn create_quick_text(
        &self,
        spec: &QuickTextSpec,
        now: Timestamp,
    ) -> Result<QuickText> {
        let id = new_id();
        let sql = "INSERT INTO quick_texts (id, title, body, search_text, created_at, updated_at) \
                   VALUES ($1, $2, $3, $4, $5, $5)";
        on_backend!(self, write c => sqlx::query(sql)
            .bind(id)
            .bind(&spec.title)
            .bind(&spec.body)
            .bind(search_key(&spec.title, &spec.body))
            .bind(now.millis())
            .execute(c)
            .await
            .map(|r| r.rows_affected()))?;
        self.quick_text(id).await
    }

    pub async fn update_quick_text(
        &self,
        id: Uuid,
        spec: &QuickTextSpec,
        now: Timestamp,
    ) -> Result<QuickText> {
        let sql = "UPDATE quick_texts SET title = $2, body = $3, search_text = $4, updated_at = $5 \
                   WHERE id = $1";
        let done = on_backend!(self, write c => sqlx::query(sql)
            .bind(id)
            .bind(&spec.title)
            .bind(&spec.body)
            .bind(search_key(&spec.title, &spec.body))
            .bind(now.millis())
            .execute(c)
            .await
            .map(|r| r.rows_affected()))?;
        if done == 0 {
            return Err(StoreError::not_found("quick text"));
        }
        self.quick_text(id).await
    }

    pub async fn quick_text(&self, id: Uuid) -> Result<QuickText> {
        let sql = format!("SELECT {COLS} FROM quick_texts WHERE id = $1");
        on_backend!(self, read c => sqlx::query_as::<_, QuickText>(sqlx::AssertSqlSafe(sql.as_str()))
            .bind(id).fetch_optional(c).await)?
        .ok_or(StoreError::not_found("quick text"))
    }

    /// A page of quick texts in creation order: all of them, or (with a non-blank `query`) those
    /// whose title or body contains it, ignoring case (Unicode lower case on both databases).
    pub async fn search_quick_texts(
        &self,
        query: Option<&str>,
        page: PageRequest,
    ) -> Result<Paged<QuickText>> {
        let pattern = query
            .map(str::trim)
            .filter(|q| !q.is_empty())
            .map(like_pattern);
        let sql = format!(
            "SELECT {COLS} FROM quick_texts WHERE ($1 IS NULL OR id > $1) \
             AND ($2 IS NULL OR search_text LIKE $2 ESCAPE '\\') ORDER BY id LIMIT $3"
        );
        let rows = on_backend!(self, read c => sqlx::query_as::<_, QuickText>(sqlx::AssertSqlSafe(sql.as_str()))
            .bind(page.after).bind(pattern).bind(page.fetch_limit()).fetch_all(c).await)?;
        Ok(paginate(rows, page))
    }

    pub async fn delete_quick_text(&self, id: Uuid) -> Result<()> {
        crate::config::delete_by_id(self, "quick_texts", "quick text", id).await
    }
}

#[cfg(test)]
mod tests {
    use super::like_pattern;

    #[test]
    fn like_wildcards_are_escaped() {
        assert_eq!(like_pattern("50%_A\\b"), "%50\\%\\_a\\\\b%");
    }
}

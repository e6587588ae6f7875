//! Fresh, migrated stores for tests, on either backend, so every crate's tests can run the same
//! case on SQLite and PostgreSQL. PostgreSQL tests need `PARLEY_TEST_PG_URL` (set by
//! `scripts/test.sh`, which starts a throwaway server); each store gets its own schema.

use crate::{Store, StoreOptions};

/// Which database a test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TestBackend {
    Sqlite,
    Postgres,
}

/// A migrated store and what keeps its database alive.
pub struct TestDb {
    pub store: Store,
    pub url: String,
    _dir: Option<tempfile::TempDir>,
}

impl std::fmt::Debug for TestDb {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestDb").field("url", &self.url).finish()
    }
}

/// The PostgreSQL server for tests, or a panic that says how to get one.
pub fn pg_url() -> String {
    std::env::var("PARLEY_TEST_PG_URL").unwrap_or_else(|_| {
        panic!(
            "PARLEY_TEST_PG_URL is not set. Run the whole suite with scripts/test.sh, which \
             starts a throwaway PostgreSQL 15 and sets it."
        )
    })
}

/// A database URL for `backend`: a new SQLite file, or a new schema on the test PostgreSQL.
pub async fn fresh_url(backend: TestBackend) -> (String, Option<tempfile::TempDir>) {
    match backend {
        TestBackend::Sqlite => {
            let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("temporary directory: {e}"));
            let url = format!("sqlite://{}", dir.path().join("test.db").display());
            (url, Some(dir))
        }
        TestBackend::Postgres => {
            let base = pg_url();
            let schema = format!("t_{}", uuid::Uuid::now_v7().simple());
            let admin = Store::connect(
                &base,
                &StoreOptions {
                    max_connections: 2,
                    ..Default::default()
                },
            )
            .await
            .unwrap_or_else(|e| panic!("connecting to the test PostgreSQL at {base}: {e}"));
            if let crate::Backend::Postgres(pool) = &admin.backend {
                sqlx::query(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {schema}")))
                    .execute(pool)
                    .await
                    .unwrap_or_else(|e| panic!("creating schema {schema}: {e}"));
            }
            admin.close().await;
            let sep = if base.contains('?') { '&' } else { '?' };
            (
                format!("{base}{sep}options=-c%20search_path%3D{schema}"),
                None,
            )
        }
    }
}

/// The variable that turns encryption at rest on for every fresh test store (a keyring, as
/// `PARLEY_ENCRYPTION_KEY` takes it).
pub const TEST_KEY_ENV: &str = "PARLEY_TEST_ENCRYPTION_KEY";

/// A fresh, migrated store (sealing with `PARLEY_TEST_ENCRYPTION_KEY`'s keyring when it is set).
pub async fn fresh(backend: TestBackend) -> TestDb {
    let (url, dir) = fresh_url(backend).await;
    let store = Store::connect(
        &url,
        &StoreOptions {
            max_connections: 8,
            ..Default::default()
        },
    )
    .await
    .unwrap_or_else(|e| panic!("opening {url}: {e}"));
    store
        .migrate()
        .await
        .unwrap_or_else(|e| panic!("migrating {url}: {e}"));
    // Runs a suite with encryption at rest on (issue 16): every store a test makes seals with
    // this keyring.
    if let Ok(spec) = std::env::var(TEST_KEY_ENV)
        && !spec.trim().is_empty()
    {
        let ring = crate::Keyring::parse(&spec).unwrap_or_else(|e| panic!("{TEST_KEY_ENV}: {e}"));
        store.set_keyring(Some(ring));
        store
            .check_keys(parley_core::Timestamp::from_millis(0))
            .await
            .unwrap_or_else(|e| panic!("checking {TEST_KEY_ENV}: {e}"));
    }
    TestDb {
        store,
        url,
        _dir: dir,
    }
}

/// Makes the database refuse, as a constraint would, every entry whose body is `body`: a value
/// both backends refuse the same way, for tests of what Parley does with a message its database
/// will not take (SQLite through a trigger's `RAISE(ABORT)`, PostgreSQL through a trigger raising
/// a check violation).
pub async fn refuse_entries_with_body(store: &Store, body: &str) {
    let quoted = body.replace('\'', "''");
    let result = match &store.backend {
        crate::Backend::Sqlite { writer, .. } => {
            let sql = format!(
                "CREATE TRIGGER refuse_body BEFORE INSERT ON entries WHEN NEW.body = '{quoted}' \
                 BEGIN SELECT RAISE(ABORT, 'refused by test'); END"
            );
            sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
                .execute(writer)
                .await
                .map(|_| ())
        }
        crate::Backend::Postgres(pool) => {
            let sql = format!(
                "CREATE FUNCTION refuse_body() RETURNS trigger AS $$ BEGIN \
                 IF NEW.body = '{quoted}' THEN RAISE EXCEPTION 'refused by test' USING ERRCODE = 'check_violation'; END IF; \
                 RETURN NEW; END $$ LANGUAGE plpgsql; \
                 CREATE TRIGGER refuse_body BEFORE INSERT ON entries FOR EACH ROW EXECUTE FUNCTION refuse_body();"
            );
            sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
                .execute(pool)
                .await
                .map(|_| ())
        }
    };
    result.unwrap_or_else(|e| panic!("installing the refusing trigger: {e}"));
}

/// The statements the campaign paths run per message or per batch (audience pages, a batch's
/// inserts, the backlog, counts, clicks, replies), as the store sends them for batches of `rows`,
/// for the test that checks each of them uses an index.
pub fn campaign_statements(store: &Store, rows: usize) -> Vec<String> {
    crate::campaigns::hot_statements(store.kind(), rows)
}

/// Declares each listed `async fn name(backend: TestBackend)` as two tests, `sqlite::name` and
/// `postgres::name`, so every behaviour is checked on both databases.
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),+ $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::testing::TestBackend::Sqlite).await
                }
            )+
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::testing::TestBackend::Postgres).await
                }
            )+
        }
    };
}

/// How the database would run each of `statements` (as the store sends them, with `$N`
/// parameters), for tests that check the per-message queries use indexes. SQLite: the details of
/// `EXPLAIN QUERY PLAN`, one line per step (`SCAN t`, `SEARCH t USING INDEX i (c=?)`).
/// PostgreSQL: `EXPLAIN` of the statement's generic plan (the one a prepared statement uses
/// whatever its parameters) with sequential scans priced out, so a `Seq Scan` that remains means
/// no index can answer, not that the planner preferred a scan of a table that is small today.
/// A statement that cannot be explained gives its error instead of a plan.
pub async fn query_plans(
    store: &Store,
    statements: &[String],
) -> Vec<(String, std::result::Result<Vec<String>, String>)> {
    let mut plans = Vec::with_capacity(statements.len());
    match &store.backend {
        crate::Backend::Sqlite { writer, .. } => {
            for sql in statements {
                let plan = sqlite_plan(writer, sql).await;
                plans.push((sql.clone(), plan));
            }
        }
        crate::Backend::Postgres(pool) => {
            // A connection of its own, closed afterwards, so the session settings below never
            // reach the store's pool.
            let types = pg_parameter_types(pool).await;
            let conn = match pool.acquire().await {
                Ok(c) => c.detach(),
                Err(e) => {
                    return statements
                        .iter()
                        .map(|s| (s.clone(), Err(format!("connecting: {e}"))))
                        .collect();
                }
            };
            let mut conn = conn;
            let setup =
                sqlx::raw_sql("SET enable_seqscan = off; SET plan_cache_mode = force_generic_plan")
                    .execute(&mut conn)
                    .await;
            for sql in statements {
                let plan = match &setup {
                    Err(e) => Err(format!("setting up: {e}")),
                    Ok(_) => pg_generic_plan(&mut conn, sql, types.get(sql.trim())).await,
                };
                plans.push((sql.clone(), plan));
            }
        }
    }
    plans
}

async fn sqlite_plan(
    writer: &sqlx::SqlitePool,
    sql: &str,
) -> std::result::Result<Vec<String>, String> {
    use sqlx::Row;
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!("EXPLAIN QUERY PLAN {sql}")))
        .fetch_all(writer)
        .await
        .map_err(|e| e.to_string())?;
    rows.iter()
        .map(|r| r.try_get::<String, _>(3).map_err(|e| e.to_string()))
        .collect()
}

/// How [`query_plans`] begins the error of a PostgreSQL statement it could not prepare because its
/// parameter types are unknown: sqlx's connection that prepared it was not found among the pool's
/// (a connection closed meanwhile), and PostgreSQL cannot infer them from the text.
pub const UNTYPED: &str = "parameter types unknown";

/// The parameter types sqlx gave each statement it prepared on the pool's connections, read from
/// each connection's `pg_prepared_statements`: some statements cannot be prepared without them
/// (`$1 IS NULL OR ...`, a `VALUES` list compared with a `uuid` column).
async fn pg_parameter_types(pool: &sqlx::PgPool) -> std::collections::HashMap<String, Vec<String>> {
    let mut types = std::collections::HashMap::new();
    // A connection dropped a moment ago is returned to the pool by a task of its own: wait
    // (bounded) until every connection is idle, or one that prepared a statement is missed.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while u32::try_from(pool.num_idle()).unwrap_or(u32::MAX) < pool.size()
        && std::time::Instant::now() < deadline
    {
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    // Holding every connection at once makes each acquire return a different one.
    let mut held = Vec::new();
    for _ in 0..pool.size() {
        // Every connection is idle, so each acquire takes one of them rather than opening another.
        let Ok(Ok(mut conn)) =
            tokio::time::timeout(std::time::Duration::from_secs(5), pool.acquire()).await
        else {
            break;
        };
        let rows = sqlx::query_as::<_, (String, Vec<String>)>(
            "SELECT statement, parameter_types::text[] FROM pg_prepared_statements",
        )
        .fetch_all(&mut *conn)
        .await
        .unwrap_or_default();
        for (statement, params) in rows {
            types.insert(statement.trim().to_owned(), params);
        }
        held.push(conn);
    }
    types
}

async fn pg_generic_plan(
    conn: &mut sqlx::PgConnection,
    sql: &str,
    types: Option<&Vec<String>>,
) -> std::result::Result<Vec<String>, String> {
    // PostgreSQL 15 has no EXPLAIN (GENERIC_PLAN): prepare the statement and explain its
    // execution with every parameter NULL under force_generic_plan, which plans without values.
    let params = highest_parameter(sql);
    let declared = match types {
        Some(t) if !t.is_empty() => format!("({})", t.join(", ")),
        _ => String::new(),
    };
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "PREPARE parley_plan{declared} AS {sql}"
    )))
    .execute(&mut *conn)
    .await
    .map_err(|e| match types {
        Some(_) => format!("preparing: {e}"),
        None => format!("{UNTYPED}: {e}"),
    })?;
    let args = vec!["NULL"; params].join(", ");
    let explain = if params == 0 {
        "EXPLAIN EXECUTE parley_plan".to_owned()
    } else {
        format!("EXPLAIN EXECUTE parley_plan({args})")
    };
    let plan = sqlx::query_scalar::<_, String>(sqlx::AssertSqlSafe(explain))
        .fetch_all(&mut *conn)
        .await
        .map_err(|e| format!("explaining: {e}"));
    let freed = sqlx::raw_sql("DEALLOCATE parley_plan")
        .execute(&mut *conn)
        .await
        .map_err(|e| format!("deallocating: {e}"));
    let plan = plan?;
    freed?;
    Ok(plan)
}

/// The highest `$N` in `sql`: how many parameters a prepared statement of it takes.
fn highest_parameter(sql: &str) -> usize {
    let mut highest = 0;
    let mut rest = sql;
    while let Some(at) = rest.find('$') {
        let after = rest.get(at + 1..).unwrap_or("");
        let digits: String = after.chars().take_while(char::is_ascii_digit).collect();
        if let Ok(n) = digits.parse::<usize>() {
            highest = highest.max(n);
        }
        rest = after;
    }
    highest
}

impl Store {
    /// Every `table.column` whose text holds `needle` (an erasure test's search of the whole
    /// database: every column of every table, read as text).
    pub async fn columns_containing(&self, needle: &str) -> Vec<String> {
        let like = format!("%{needle}%");
        let mut found = Vec::new();
        match &self.backend {
            crate::Backend::Sqlite { writer, .. } => {
                let tables: Vec<String> = sqlx::query_scalar(
                    "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'",
                )
                .fetch_all(writer)
                .await
                .unwrap_or_else(|e| panic!("tables: {e}"));
                for t in tables {
                    let cols: Vec<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
                        "SELECT name FROM pragma_table_info('{t}')"
                    )))
                    .fetch_all(writer)
                    .await
                    .unwrap_or_else(|e| panic!("columns of {t}: {e}"));
                    for c in cols {
                        let n: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
                            "SELECT COUNT(*) FROM \"{t}\" WHERE CAST(\"{c}\" AS TEXT) LIKE $1"
                        )))
                        .bind(&like)
                        .fetch_one(writer)
                        .await
                        .unwrap_or_else(|e| panic!("{t}.{c}: {e}"));
                        if n > 0 {
                            found.push(format!("{t}.{c}"));
                        }
                    }
                }
            }
            crate::Backend::Postgres(pool) => {
                let cols: Vec<(String, String)> = sqlx::query_as(
                    "SELECT table_name::text, column_name::text FROM information_schema.columns \
                     WHERE table_schema = current_schema()",
                )
                .fetch_all(pool)
                .await
                .unwrap_or_else(|e| panic!("columns: {e}"));
                for (t, c) in cols {
                    let n: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
                        "SELECT COUNT(*) FROM \"{t}\" WHERE \"{c}\"::text LIKE $1"
                    )))
                    .bind(&like)
                    .fetch_one(pool)
                    .await
                    .unwrap_or_else(|e| panic!("{t}.{c}: {e}"));
                    if n > 0 {
                        found.push(format!("{t}.{c}"));
                    }
                }
            }
        }
        found
    }
}

/// Everything the database holds, as text a test can search for what must not be there in the
/// clear (encryption at rest, erasure): on SQLite the bytes of the database file and its WAL, on
/// PostgreSQL every row of every table of the test's schema.
pub async fn raw_dump(db: &TestDb) -> String {
    match &db.store.backend {
        crate::Backend::Sqlite { .. } => {
            let path = db
                .url
                .strip_prefix("sqlite://")
                .unwrap_or(&db.url)
                .split('?')
                .next()
                .unwrap_or_default()
                .to_owned();
            let mut out = String::new();
            for file in [path.clone(), format!("{path}-wal")] {
                if let Ok(bytes) = std::fs::read(&file) {
                    out.push_str(&String::from_utf8_lossy(&bytes));
                }
            }
            out
        }
        crate::Backend::Postgres(pool) => {
            let tables: Vec<String> = sqlx::query_scalar(
                "SELECT table_name::text FROM information_schema.tables \
                 WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'",
            )
            .fetch_all(pool)
            .await
            .unwrap_or_else(|e| panic!("listing tables: {e}"));
            let mut out = String::new();
            for t in tables {
                let text: Option<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
                    "SELECT string_agg(t::text, E'\\n') FROM \"{t}\" t"
                )))
                .fetch_one(pool)
                .await
                .unwrap_or_else(|e| panic!("reading {t}: {e}"));
                out.push_str(&text.unwrap_or_default());
                out.push('\n');
            }
            out
        }
    }
}

/// Runs one statement as written by hand, outside the store's methods (tests that check what the
/// database itself refuses, such as a change to the append-only audit log). Returns the rows it
/// touched, or the database's refusal in words.
pub async fn exec_raw(store: &Store, sql: &str) -> std::result::Result<u64, String> {
    let sql = sql.to_owned();
    let r = match &store.backend {
        crate::Backend::Sqlite { writer, .. } => sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
            .execute(writer)
            .await
            .map(|r| r.rows_affected()),
        crate::Backend::Postgres(pool) => sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
            .execute(pool)
            .await
            .map(|r| r.rows_affected()),
    };
    r.map_err(|e| e.to_string())
}

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

/// A fresh, migrated store.
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

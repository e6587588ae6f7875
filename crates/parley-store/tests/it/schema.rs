//! The two dialects' migrations must build the same schema: the same tables, the same columns with
//! the same nullability and compatible types, the same keys and the same indexes. The store keeps
//! one SQL text where the dialects agree, so a column or index that exists on one backend only
//! is a bug that shows up late (a query that fails on one database, or is slow on one).
//!
//! What is compared, and why only that:
//! - Columns by name, nullability and storage class. Types are compared after mapping each to
//!   SQLite's storage affinity (integer, text, blob, real, numeric), because the dialect files
//!   choose different but equivalent types on purpose: `UUID` is a 16-byte `BLOB` on SQLite,
//!   `BOOLEAN` an `INTEGER` 0/1, `JSONB` a `TEXT`, `BIGINT` an `INTEGER`.
//! - Primary keys and unique constraints by table and column list, not by name: each engine names
//!   them itself (`sqlite_autoindex_agents_1`, `agents_email_key`).
//! - Indexes made with `CREATE INDEX` by name, table, column list (an expression column is
//!   `<expression>`, as SQLite does not report its text), sort order, uniqueness and whether they
//!   are partial. The text of a partial index's predicate and of an expression is not compared.
//! - Defaults are not compared: their catalogue texts differ between the engines for the same
//!   value (`'{}'::jsonb` and `'{}'`).

use std::collections::BTreeSet;
use std::str::FromStr;

use parley_store::testing::{TestBackend, fresh};
use sqlx::Row;
use sqlx::postgres::PgConnectOptions;
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{ConnectOptions, Connection};

/// One fact of a schema in a form both engines can produce, one line each, so a difference reads as
/// a line present on one side only.
type Schema = BTreeSet<String>;

/// SQLite's type affinity rules (section 3.1 of its datatype documentation) applied to a declared
/// type, so a PostgreSQL type can be compared with what SQLite will store.
fn sqlite_affinity(declared: &str) -> &'static str {
    let t = declared.to_ascii_uppercase();
    if t.contains("INT") {
        "integer"
    } else if t.contains("CHAR") || t.contains("CLOB") || t.contains("TEXT") {
        "text"
    } else if t.is_empty() || t.contains("BLOB") {
        "blob"
    } else if t.contains("REAL") || t.contains("FLOA") || t.contains("DOUB") {
        "real"
    } else {
        "numeric"
    }
}

/// The affinity a PostgreSQL column's values get in the SQLite dialect of the same schema.
fn postgres_affinity(data_type: &str) -> String {
    match data_type {
        "bigint" | "integer" | "smallint" | "boolean" => "integer".to_owned(),
        "text" | "character varying" | "character" | "jsonb" | "json" => "text".to_owned(),
        "uuid" | "bytea" => "blob".to_owned(),
        "double precision" | "real" => "real".to_owned(),
        // An unmapped type shows up in the diff under its own name rather than hiding as numeric.
        other => format!("postgres type {other}"),
    }
}

fn column_line(table: &str, column: &str, affinity: &str, not_null: bool) -> String {
    let null = if not_null { "not null" } else { "null" };
    format!("column {table}.{column}: {affinity} {null}")
}

fn key_line(kind: &str, table: &str, columns: &[String]) -> String {
    format!("{kind} on {table} ({})", columns.join(", "))
}

fn index_line(name: &str, table: &str, columns: &[String], unique: bool, partial: bool) -> String {
    let mut line = format!("index {name} on {table} ({})", columns.join(", "));
    if unique {
        line.push_str(" unique");
    }
    if partial {
        line.push_str(" partial");
    }
    line
}

fn index_column(name: Option<String>, descending: bool) -> String {
    let name = name.unwrap_or_else(|| "<expression>".to_owned());
    if descending {
        format!("{name} desc")
    } else {
        name
    }
}

async fn sqlite_schema(url: &str) -> Schema {
    let mut c = SqliteConnectOptions::from_str(url)
        .unwrap()
        .read_only(true)
        .connect()
        .await
        .unwrap();
    let mut schema = Schema::new();

    let tables = "SELECT name FROM sqlite_master WHERE type = 'table' \
                  AND name NOT LIKE 'sqlite_%' AND name NOT LIKE '_sqlx%' ORDER BY name";
    let tables: Vec<String> = sqlx::query_scalar(tables).fetch_all(&mut c).await.unwrap();
    for table in &tables {
        schema.insert(format!("table {table}"));
        let columns = sqlx::query(
            "SELECT name, type, \"notnull\" AS not_null, pk FROM pragma_table_info(?) ORDER BY cid",
        )
        .bind(table)
        .fetch_all(&mut c)
        .await
        .unwrap();
        let mut primary: Vec<(i64, String)> = Vec::new();
        let mut read = Vec::new();
        for col in &columns {
            let name: String = col.get("name");
            let declared: String = col.get("type");
            let not_null: i64 = col.get("not_null");
            let pk: i64 = col.get("pk");
            if pk > 0 {
                primary.push((pk, name.clone()));
            }
            read.push((name, declared, not_null != 0));
        }
        // A lone INTEGER PRIMARY KEY is the rowid, which can never hold NULL, though the pragma
        // reports it nullable when the migration does not say NOT NULL.
        let rowid = match primary.as_slice() {
            [(_, name)] => read
                .iter()
                .any(|(n, t, _)| n == name && t.eq_ignore_ascii_case("INTEGER"))
                .then(|| name.clone()),
            _ => None,
        };
        for (name, declared, not_null) in &read {
            let not_null = *not_null || rowid.as_ref() == Some(name);
            schema.insert(column_line(
                table,
                name,
                sqlite_affinity(declared),
                not_null,
            ));
        }
        // Read from the columns rather than the index list: an INTEGER PRIMARY KEY is the rowid and
        // has no index of its own, while PostgreSQL always builds one.
        if !primary.is_empty() {
            primary.sort();
            let cols: Vec<String> = primary.into_iter().map(|(_, n)| n).collect();
            schema.insert(key_line("primary key", table, &cols));
        }

        let indexes = sqlx::query(
            "SELECT name, \"unique\" AS is_unique, origin, partial FROM pragma_index_list(?)",
        )
        .bind(table)
        .fetch_all(&mut c)
        .await
        .unwrap();
        for index in &indexes {
            let name: String = index.get("name");
            let unique: i64 = index.get("is_unique");
            let origin: String = index.get("origin");
            let partial: i64 = index.get("partial");
            if origin == "pk" {
                continue;
            }
            let cols = sqlx::query(
                "SELECT name, \"desc\" AS descending FROM pragma_index_xinfo(?) \
                 WHERE key = 1 ORDER BY seqno",
            )
            .bind(&name)
            .fetch_all(&mut c)
            .await
            .unwrap();
            let cols: Vec<String> = cols
                .iter()
                .map(|r| {
                    let descending: i64 = r.get("descending");
                    index_column(r.get("name"), descending != 0)
                })
                .collect();
            if origin == "u" {
                schema.insert(key_line("unique", table, &cols));
            } else {
                schema.insert(index_line(&name, table, &cols, unique != 0, partial != 0));
            }
        }
    }
    c.close().await.unwrap();
    schema
}

async fn postgres_schema(url: &str) -> Schema {
    let mut c = PgConnectOptions::from_str(url)
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut schema = Schema::new();

    let columns = sqlx::query(
        "SELECT table_name::text AS table_name, column_name::text AS column_name, \
                data_type::text AS data_type, is_nullable::text AS is_nullable \
         FROM information_schema.columns \
         WHERE table_schema = current_schema() AND table_name NOT LIKE '\\_sqlx%' \
         ORDER BY table_name, ordinal_position",
    )
    .fetch_all(&mut c)
    .await
    .unwrap();
    for col in &columns {
        let table: String = col.get("table_name");
        let name: String = col.get("column_name");
        let data_type: String = col.get("data_type");
        let nullable: String = col.get("is_nullable");
        schema.insert(format!("table {table}"));
        schema.insert(column_line(
            &table,
            &name,
            &postgres_affinity(&data_type),
            nullable == "NO",
        ));
    }

    // One row per key column of every index of the schema's tables; `indkey` and `indoption` are
    // int2vectors, subscripted from 0. An expression column has attnum 0 and so no attribute.
    let rows = sqlx::query(
        "SELECT t.relname::text AS table_name, i.relname::text AS index_name, \
                x.indisunique AS is_unique, x.indisprimary AS is_primary, \
                (x.indpred IS NOT NULL) AS is_partial, \
                EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = x.indexrelid \
                        AND k.contype IN ('p', 'u')) AS is_constraint, \
                a.attname::text AS column_name, \
                (x.indoption[p.n]::int & 1) = 1 AS descending \
         FROM pg_index x \
         JOIN pg_class i ON i.oid = x.indexrelid \
         JOIN pg_class t ON t.oid = x.indrelid \
         JOIN pg_namespace s ON s.oid = t.relnamespace \
         CROSS JOIN LATERAL generate_series(0, x.indnkeyatts - 1) AS p(n) \
         LEFT JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = x.indkey[p.n] \
         WHERE s.nspname = current_schema() AND t.relname NOT LIKE '\\_sqlx%' \
         ORDER BY t.relname, i.relname, p.n",
    )
    .fetch_all(&mut c)
    .await
    .unwrap();
    // Rows come grouped by index: gather each index's columns, then emit one line for it.
    struct Index {
        table: String,
        name: String,
        unique: bool,
        primary: bool,
        partial: bool,
        constraint: bool,
        columns: Vec<String>,
    }
    let mut indexes: Vec<Index> = Vec::new();
    for r in &rows {
        let name: String = r.get("index_name");
        let column = index_column(r.get("column_name"), r.get("descending"));
        match indexes.last_mut() {
            Some(last) if last.name == name => last.columns.push(column),
            _ => indexes.push(Index {
                table: r.get("table_name"),
                name,
                unique: r.get("is_unique"),
                primary: r.get("is_primary"),
                partial: r.get("is_partial"),
                constraint: r.get("is_constraint"),
                columns: vec![column],
            }),
        }
    }
    for ix in &indexes {
        let line = if ix.primary {
            key_line("primary key", &ix.table, &ix.columns)
        } else if ix.constraint {
            key_line("unique", &ix.table, &ix.columns)
        } else {
            index_line(&ix.name, &ix.table, &ix.columns, ix.unique, ix.partial)
        };
        schema.insert(line);
    }
    c.close().await.unwrap();
    schema
}

/// The lines on one side only, each prefixed with the side that has it.
fn diff(sqlite: &Schema, postgres: &Schema) -> Vec<String> {
    let mut out: Vec<String> = sqlite
        .difference(postgres)
        .map(|l| format!("  only on SQLite:     {l}"))
        .collect();
    out.extend(
        postgres
            .difference(sqlite)
            .map(|l| format!("  only on PostgreSQL: {l}")),
    );
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_and_postgres_migrations_build_the_same_schema() {
    let lite = fresh(TestBackend::Sqlite).await;
    let pg = fresh(TestBackend::Postgres).await;
    let sqlite = sqlite_schema(&lite.url).await;
    let postgres = postgres_schema(&pg.url).await;

    // Guards against a catalogue query that silently reads nothing, which would make both sides
    // equal and empty.
    for (side, schema) in [("SQLite", &sqlite), ("PostgreSQL", &postgres)] {
        for expected in [
            "table sessions",
            "column entries.session_id: blob not null",
            "primary key on queue_members (queue_id, agent_id)",
            "unique on agents (email)",
            "index jobs_ready on jobs (queue, priority desc, due_at) partial",
        ] {
            assert!(
                schema.contains(expected),
                "the {side} catalogue lacks `{expected}`; it read:\n{}",
                schema.iter().cloned().collect::<Vec<_>>().join("\n")
            );
        }
    }

    let differences = diff(&sqlite, &postgres);
    assert!(
        differences.is_empty(),
        "the SQLite and PostgreSQL migrations build different schemas ({} differences):\n{}",
        differences.len(),
        differences.join("\n")
    );
}

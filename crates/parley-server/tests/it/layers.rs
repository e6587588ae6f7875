//! The server's handlers write only through `parley_engine::service` (issue 9): a write that
//! skipped it would skip the validation, cache invalidation and events another path runs. This
//! reads the server's sources and fails on a store call whose name says it writes.

use std::path::{Path, PathBuf};

/// Name prefixes of the store's writing methods.
const WRITES: &[&str] = &[
    "create_",
    "update_",
    "delete_",
    "set_",
    "upsert_",
    "insert_",
    "record_",
    "commit_",
    "append_",
    "enqueue",
    "claim_",
    "fail_",
    "touch_",
    "open_",
    "replace_",
    "link_",
    "mark_",
    "write_",
    "complete_",
    "release_",
    "renew_",
    "acquire_",
];

fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// `store.create_x(` and the like, outside comments, with the file and line.
fn store_writes(text: &str) -> Vec<(usize, String)> {
    let mut found = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let code = line.split("//").next().unwrap_or("");
        let mut rest = code;
        while let Some(at) = rest.find("store.") {
            let after = &rest[at + "store.".len()..];
            if WRITES.iter().any(|w| after.starts_with(w)) {
                let name: String = after
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                found.push((n + 1, name));
            }
            rest = after;
        }
    }
    found
}

#[test]
fn the_scan_sees_a_store_write() {
    let sample = "let c = state.store.create_channel(&spec, now).await?;\n\
                  // state.store.delete_channel(id) in a comment is not code\n\
                  let c = state.store.channel(id).await?;";
    assert_eq!(store_writes(sample), vec![(1, "create_channel".to_owned())]);
}

#[test]
fn handlers_write_only_through_the_engine_services() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    sources(&src, &mut files);
    assert!(files.len() > 10, "the server's sources were not found");
    let mut offences = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        for (line, name) in store_writes(&text) {
            offences.push(format!("{}:{line} calls store.{name}", file.display()));
        }
    }
    assert!(
        offences.is_empty(),
        "handlers must write through parley_engine::service:\n{}",
        offences.join("\n")
    );
}

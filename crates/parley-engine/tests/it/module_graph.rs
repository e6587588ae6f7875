//! The engine's top-level modules import each other without cycles: each one sits above the
//! modules it uses, so a module can be understood (and changed) knowing only those below it.
//!
//! The check reads the engine's sources: every `crate::module` path (also inside
//! `use crate::{a, b::c}` groups) and every `super::` path that climbs to the crate root is an
//! edge from the file's top-level module (a folder counts as one module) to the module it names.
//! Comments and string literals are skipped: a doc link to a module above is a reference for the
//! reader, not a dependency. An inline `mod` inside a file is not seen, so a `super::name` written
//! in one (a `mod tests`) would count as a crate-level path: the tests use `super::*`, which names
//! no module.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Source code without comments, string literals or character literals (each replaced by a
/// space), so that only real paths remain.
fn code_only(src: &str) -> String {
    let chars: Vec<char> = src.chars().collect();
    let mut out = String::with_capacity(src.len());
    let mut i = 0;
    let at = |i: usize| chars.get(i).copied().unwrap_or('\0');
    while i < chars.len() {
        let c = at(i);
        if c == '/' && at(i + 1) == '/' {
            while i < chars.len() && at(i) != '\n' {
                i += 1;
            }
        } else if c == '/' && at(i + 1) == '*' {
            let mut depth = 0;
            while i < chars.len() {
                if at(i) == '/' && at(i + 1) == '*' {
                    depth += 1;
                    i += 2;
                } else if at(i) == '*' && at(i + 1) == '/' {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    i += 1;
                }
            }
            out.push(' ');
        } else if c == 'r' && (at(i + 1) == '"' || (at(i + 1) == '#' && at(i + 2) == '#'))
            || c == 'r' && at(i + 1) == '#' && at(i + 2) == '"'
        {
            // A raw string: r"..." or r#"..."# with any number of hashes.
            let mut j = i + 1;
            let mut hashes = 0;
            while at(j) == '#' {
                hashes += 1;
                j += 1;
            }
            j += 1;
            loop {
                if j >= chars.len() {
                    break;
                }
                if at(j) == '"' && (1..=hashes).all(|k| at(j + k) == '#') {
                    j += 1 + hashes;
                    break;
                }
                j += 1;
            }
            i = j;
            out.push(' ');
        } else if c == '"' {
            i += 1;
            while i < chars.len() && at(i) != '"' {
                if at(i) == '\\' {
                    i += 1;
                }
                i += 1;
            }
            i += 1;
            out.push(' ');
        } else if c == '\'' && (at(i + 1) == '\\' || at(i + 2) == '\'') {
            // A character literal (a lifetime has no closing quote right after one character).
            i += 1;
            while i < chars.len() && at(i) != '\'' {
                if at(i) == '\\' {
                    i += 1;
                }
                i += 1;
            }
            i += 1;
            out.push(' ');
        } else {
            out.push(c);
            i += 1;
        }
    }
    out
}

fn is_ident(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// The first identifiers of the items of a `{...}` group starting at `open` (nested groups
/// are skipped).
fn group_heads(code: &str, open: usize) -> Vec<String> {
    let mut heads = Vec::new();
    let mut depth = 0;
    let mut expect_head = true;
    let mut current = String::new();
    for c in code[open..].chars() {
        match c {
            '{' => {
                depth += 1;
                if depth == 1 {
                    expect_head = true;
                }
            }
            '}' => {
                depth -= 1;
                if depth == 0 {
                    break;
                }
            }
            ',' if depth == 1 => {
                if !current.is_empty() {
                    heads.push(std::mem::take(&mut current));
                }
                expect_head = true;
            }
            c if depth == 1 && expect_head && is_ident(c) => current.push(c),
            _ if depth == 1 && expect_head && !current.is_empty() => {
                heads.push(std::mem::take(&mut current));
                expect_head = false;
            }
            _ => {}
        }
    }
    if !current.is_empty() {
        heads.push(current);
    }
    heads
}

/// The crate-level names a file's code reaches through `crate::` (and `super::` chains that
/// climb `depth` levels, the file's depth below the crate root).
fn references(code: &str, depth: usize) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    let bytes = code.as_bytes();
    let mut i = 0;
    while i < code.len() {
        if !code.is_char_boundary(i) {
            i += 1;
            continue;
        }
        let rest = &code[i..];
        let prev_ok = i == 0 || !(is_ident(char::from(bytes[i - 1])) || bytes[i - 1] == b'$');
        let (is_root_path, skip) = if prev_ok && rest.starts_with("crate::") {
            (true, "crate::".len())
        } else if prev_ok && rest.starts_with("super::") {
            let mut n = 0;
            let mut j = i;
            while code[j..].starts_with("super::") {
                n += 1;
                j += "super::".len();
            }
            (n == depth, j - i)
        } else {
            (false, 1)
        };
        if is_root_path {
            let after = i + skip;
            if code[after..].starts_with('{') {
                found.extend(group_heads(code, after));
            } else {
                let name: String = code[after..].chars().take_while(|c| is_ident(*c)).collect();
                if !name.is_empty() {
                    found.insert(name);
                }
            }
        }
        i += skip;
    }
    found
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// Edges between top-level modules, each with the files that make it.
type Graph = BTreeMap<String, BTreeMap<String, BTreeSet<String>>>;

/// The module graph of the crate whose sources are in `src`.
fn module_graph(src: &Path) -> Graph {
    let mut files = Vec::new();
    rust_files(src, &mut files);
    let mut modules = BTreeSet::new();
    for f in &files {
        let rel = f.strip_prefix(src).unwrap();
        let first = rel
            .components()
            .next()
            .unwrap()
            .as_os_str()
            .to_string_lossy();
        let name = first.trim_end_matches(".rs").to_owned();
        if name != "lib" && name != "main" {
            modules.insert(name);
        }
    }
    let mut graph = Graph::new();
    for f in &files {
        let rel = f.strip_prefix(src).unwrap();
        let parts: Vec<String> = rel
            .components()
            .map(|c| {
                c.as_os_str()
                    .to_string_lossy()
                    .trim_end_matches(".rs")
                    .to_owned()
            })
            .collect();
        let Some(module) = parts.first().filter(|m| modules.contains(*m)) else {
            continue;
        };
        // src/a.rs and src/a/mod.rs are `crate::a` (depth 1); src/a/b.rs is `crate::a::b`.
        let depth = if parts.last().is_some_and(|p| p == "mod") {
            parts.len() - 1
        } else {
            parts.len()
        };
        let code = code_only(&std::fs::read_to_string(f).unwrap());
        let node = graph.entry(module.clone()).or_default();
        for target in references(&code, depth) {
            if modules.contains(&target) && &target != module {
                node.entry(target)
                    .or_default()
                    .insert(rel.display().to_string());
            }
        }
    }
    for m in modules {
        graph.entry(m).or_default();
    }
    graph
}

/// The groups of modules that reach each other (strongly connected components of more than one
/// module), each sorted.
fn cycles(graph: &Graph) -> Vec<Vec<String>> {
    let reach = |from: &str| -> BTreeSet<String> {
        let mut seen = BTreeSet::new();
        let mut todo = vec![from.to_owned()];
        while let Some(m) = todo.pop() {
            for next in graph.get(&m).into_iter().flat_map(|e| e.keys()) {
                if seen.insert(next.clone()) {
                    todo.push(next.clone());
                }
            }
        }
        seen
    };
    let reaches: BTreeMap<&String, BTreeSet<String>> =
        graph.keys().map(|m| (m, reach(m))).collect();
    let mut groups: BTreeSet<Vec<String>> = BTreeSet::new();
    for (m, from_m) in &reaches {
        let mut group: Vec<String> = from_m
            .iter()
            .filter(|other| reaches.get(other).is_some_and(|r| r.contains(*m)))
            .cloned()
            .collect();
        if group.len() > 1 {
            group.sort();
            groups.insert(group);
        }
    }
    groups.into_iter().collect()
}

fn describe(graph: &Graph, group: &[String]) -> String {
    let mut lines = Vec::new();
    for from in group {
        for (to, files) in graph.get(from).into_iter().flatten() {
            if group.contains(to) {
                let files: Vec<&str> = files.iter().map(String::as_str).collect();
                lines.push(format!("  {from} -> {to} (in {})", files.join(", ")));
            }
        }
    }
    lines.join("\n")
}

#[test]
fn engine_modules_import_each_other_without_cycles() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let graph = module_graph(&src);
    assert!(
        graph.len() > 10 && graph.contains_key("inbound") && graph.contains_key("outbound"),
        "the engine's modules were not found in {}",
        src.display()
    );
    let found: Vec<String> = cycles(&graph).iter().map(|g| describe(&graph, g)).collect();
    assert!(
        found.is_empty(),
        "import cycles between the engine's modules:\n{}",
        found.join("\n\n")
    );
}

#[test]
fn the_module_graph_sees_imports_and_finds_cycles() {
    let code = code_only(
        "use crate::{alpha::A, beta, gamma::{x, y}};\n\
         // crate::commented\n\
         /* crate::blocked */\n\
         let s = \"crate::quoted\"; let c = '\"'; let r = r#\"crate::raw\"#;\n\
         fn f<'a>(x: &'a str) -> crate::delta::D { super::epsilon::e(); $crate::macro_only }\n\
         pub(crate) fn g() {}\n",
    );
    let at_root = references(&code, 1);
    let want: BTreeSet<String> = ["alpha", "beta", "gamma", "delta", "epsilon"]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
    assert_eq!(at_root, want);
    // One level further down, `super::` stays inside the file's own module.
    assert!(!references(&code, 2).contains("epsilon"));

    let mut graph = Graph::new();
    let edge = |g: &mut Graph, a: &str, b: &str| {
        g.entry(a.to_owned())
            .or_default()
            .entry(b.to_owned())
            .or_default()
            .insert(format!("{a}.rs"));
        g.entry(b.to_owned()).or_default();
    };
    edge(&mut graph, "a", "b");
    edge(&mut graph, "b", "c");
    edge(&mut graph, "d", "a");
    assert!(cycles(&graph).is_empty());
    edge(&mut graph, "c", "a");
    assert_eq!(
        cycles(&graph),
        vec![vec!["a".to_owned(), "b".to_owned(), "c".to_owned()]]
    );
}

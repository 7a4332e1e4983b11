//! certd's layers (docs/architecture.md) hold: no two top-level modules import each other
//! through any path, the evidence types import nothing, the pure lifecycle only them, and the
//! store only them and the error type. Read from the sources' `crate::` paths, tests excluded.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

type Graph = BTreeMap<String, BTreeSet<String>>;

/// The `crate::<module>` paths of one file, before its tests and outside comments.
fn imports(text: &str) -> BTreeSet<String> {
    let code = text.split("#[cfg(test)]").next().unwrap_or("");
    let mut out = BTreeSet::new();
    for line in code.lines().filter(|l| !l.trim_start().starts_with("//")) {
        for (i, _) in line.match_indices("crate::") {
            let name: String = line[i + "crate::".len()..]
                .chars()
                .take_while(|c| c.is_ascii_lowercase() || *c == '_')
                .collect();
            if !name.is_empty() {
                out.insert(name);
            }
        }
    }
    out
}

fn walk(dir: &Path, top: Option<&str>, graph: &mut Graph) {
    for entry in std::fs::read_dir(dir).expect("read certd/src") {
        let path = entry.expect("entry").path();
        let name = path
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or_default()
            .to_string();
        if path.is_dir() {
            walk(&path, Some(top.unwrap_or(&name)), graph);
        } else if path.extension().is_some_and(|e| e == "rs") {
            let module = top.unwrap_or(&name).to_string();
            if top.is_none() && matches!(name.as_str(), "lib" | "main") {
                continue;
            }
            let text = std::fs::read_to_string(&path).expect("read source");
            let deps = graph.entry(module.clone()).or_default();
            deps.extend(imports(&text).into_iter().filter(|d| *d != module));
        }
    }
}

fn graph() -> Graph {
    let mut g = Graph::new();
    walk(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("src"),
        None,
        &mut g,
    );
    g
}

/// Every module `from` reaches.
fn reach(g: &Graph, from: &str) -> BTreeSet<String> {
    let mut seen = BTreeSet::new();
    let mut todo = vec![from.to_string()];
    while let Some(m) = todo.pop() {
        for d in g.get(&m).into_iter().flatten() {
            if g.contains_key(d) && seen.insert(d.clone()) {
                todo.push(d.clone());
            }
        }
    }
    seen
}

#[test]
fn no_module_reaches_itself() {
    let g = graph();
    assert!(g.len() > 15, "found only {:?}", g.keys());
    for m in g.keys() {
        assert!(
            !reach(&g, m).contains(m),
            "{m} imports itself through {:?}",
            g[m]
        );
    }
}

#[test]
fn the_ground_floors_import_nothing_above_them() {
    let g = graph();
    let allowed: [(&str, &[&str]); 3] = [
        ("evidence", &[]),
        ("lifecycle", &["evidence"]),
        ("store", &["evidence", "error"]),
    ];
    for (module, may) in allowed {
        let got: Vec<String> = reach(&g, module)
            .into_iter()
            .filter(|d| !may.contains(&d.as_str()))
            .collect();
        assert!(got.is_empty(), "{module} reaches {got:?}");
    }
}

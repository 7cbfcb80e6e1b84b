//! The shape the code keeps, checked on every run: arrows between modules
//! point one way at every level (no module imports one that imports it
//! back), no non-test function in `src/` is over 60 lines, and no file has
//! over 500 lines of non-test code. A path through the code stays readable
//! only while these hold.

use std::{
    collections::{BTreeMap, BTreeSet},
    fs,
    path::Path,
};

const MAX_FN_LINES: usize = 60;
const MAX_FILE_LINES: usize = 500;

type Module = Vec<String>;

/// Every file of `src/` as (module path, its code before `#[cfg(test)]`,
/// without comment lines).
fn sources() -> BTreeMap<Module, (String, String)> {
    fn walk(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
        for entry in fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    walk(&root, &mut files);
    let mut out = BTreeMap::new();
    for file in files {
        let rel = file.strip_prefix(&root).unwrap().with_extension("");
        let mut module: Module = rel
            .iter()
            .map(|p| p.to_string_lossy().into_owned())
            .collect();
        if matches!(
            module.last().map(String::as_str),
            Some("mod" | "lib" | "main")
        ) {
            module.pop();
        }
        let text = fs::read_to_string(&file).unwrap();
        let code: Vec<&str> = text
            .lines()
            .take_while(|l| !l.starts_with("#[cfg(test)]"))
            .collect();
        let code = code.join("\n");
        let display = rel.display().to_string();
        out.insert(module, (display, code));
    }
    out
}

/// Where a `crate::`/`super::`/`self::` path leads: the longest prefix that
/// is a module.
fn resolve(
    modules: &BTreeMap<Module, (String, String)>,
    from: &Module,
    path: &str,
) -> Option<Module> {
    let mut parts = path.split("::").peekable();
    let mut full: Module = match parts.peek().copied() {
        Some("crate") => {
            parts.next();
            Vec::new()
        }
        Some("super") => {
            let mut base = from.clone();
            while parts.peek() == Some(&"super") {
                parts.next();
                base.pop();
            }
            base
        }
        Some("self") => {
            parts.next();
            from.clone()
        }
        _ => return None,
    };
    full.extend(parts.map(str::to_owned));
    (1..=full.len())
        .rev()
        .map(|k| full[..k].to_vec())
        .find(|m| modules.contains_key(m))
}

/// The paths a `use` tree names, braces expanded.
fn use_paths(tree: &str, prefix: &str, out: &mut Vec<String>) {
    let tree: String = tree.chars().filter(|c| !c.is_whitespace()).collect();
    let Some(open) = tree.find('{') else {
        out.extend(
            tree.split(',')
                .filter(|p| !p.is_empty())
                .map(|p| format!("{prefix}{p}")),
        );
        return;
    };
    let (head, rest) = tree.split_at(open);
    let mut depth = 0;
    let mut item = String::new();
    for c in rest[1..rest.len().saturating_sub(1)].chars() {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                use_paths(&item, &format!("{prefix}{head}"), out);
                item.clear();
                continue;
            }
            _ => {}
        }
        item.push(c);
    }
    use_paths(&item, &format!("{prefix}{head}"), out);
}

/// Module A uses module B: from `use` items and from paths written inline.
fn edges(modules: &BTreeMap<Module, (String, String)>) -> BTreeSet<(Module, Module)> {
    let mut edges = BTreeSet::new();
    for (module, (_, code)) in modules {
        let code: String = code
            .lines()
            .filter(|l| !l.trim_start().starts_with("//"))
            .collect::<Vec<_>>()
            .join("\n");
        let mut paths = Vec::new();
        for item in code.split("use ").skip(1) {
            if let Some(end) = item.find(';') {
                use_paths(&item[..end], "", &mut paths);
            }
        }
        for word in code.split(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':')) {
            if word.starts_with("crate::") || word.starts_with("super::") {
                paths.push(word.trim_end_matches(':').to_owned());
            }
        }
        for path in paths {
            let path = path.split(" as ").next().unwrap_or_default();
            if let Some(to) = resolve(modules, module, path)
                && &to != module
            {
                edges.insert((module.clone(), to));
            }
        }
    }
    edges
}

/// Strongly connected components of more than one node: the cycles.
fn cycles(graph: &BTreeMap<Module, BTreeSet<Module>>) -> Vec<Vec<Module>> {
    // Plain reachability is enough at this size: a and b are in one cycle
    // when each reaches the other.
    let reach = |from: &Module| {
        let mut seen = BTreeSet::new();
        let mut todo = vec![from.clone()];
        while let Some(n) = todo.pop() {
            for m in graph.get(&n).into_iter().flatten() {
                if seen.insert(m.clone()) {
                    todo.push(m.clone());
                }
            }
        }
        seen
    };
    let reached: BTreeMap<_, _> = graph.keys().map(|n| (n.clone(), reach(n))).collect();
    let mut found = BTreeSet::new();
    for (a, from_a) in &reached {
        let cycle: Vec<Module> = from_a
            .iter()
            .filter(|b| reached.get(*b).is_some_and(|r| r.contains(a)))
            .cloned()
            .collect();
        if !cycle.is_empty() {
            found.insert(cycle);
        }
    }
    found.into_iter().collect()
}

#[test]
fn no_module_imports_one_that_imports_it_back_at_any_level() {
    let modules = sources();
    let edges = edges(&modules);
    assert!(
        edges.len() > 50,
        "the import graph was read: {} edges",
        edges.len()
    );
    // At each level, siblings under one parent: a's child imports b's child
    // counts as a -> b.
    let mut graph: BTreeMap<Module, BTreeSet<Module>> = BTreeMap::new();
    for (a, b) in &edges {
        let common = a.iter().zip(b).take_while(|(x, y)| x == y).count();
        if common < a.len() && common < b.len() {
            let (a, b) = (a[..=common].to_vec(), b[..=common].to_vec());
            graph.entry(a).or_default().insert(b);
        }
    }
    let cycles = cycles(&graph);
    assert!(cycles.is_empty(), "import cycles: {cycles:?}");
}

#[test]
fn functions_and_files_stay_small() {
    let mut too_long = Vec::new();
    for (file, code) in sources().values() {
        let lines: Vec<&str> = code.lines().collect();
        if lines.len() > MAX_FILE_LINES {
            too_long.push(format!("{file}: {} lines", lines.len()));
        }
        for (start, line) in lines.iter().enumerate() {
            let trimmed = line.trim_start();
            let is_fn = [
                "fn ",
                "pub fn ",
                "async fn ",
                "pub async fn ",
                "pub(crate) fn ",
                "pub(super) fn ",
                "const fn ",
            ]
            .iter()
            .any(|p| trimmed.starts_with(p));
            let one_line = trimmed.contains('{') && trimmed.ends_with('}');
            if !is_fn || trimmed.ends_with(';') || one_line {
                continue;
            }
            let indent = line.len() - trimmed.len();
            let closing = format!("{}}}", " ".repeat(indent));
            let end = lines[start..]
                .iter()
                .position(|l| l.starts_with(&closing) && l.len() == indent + 1)
                .map_or(lines.len(), |n| start + n);
            let n = end - start + 1;
            if n > MAX_FN_LINES {
                too_long.push(format!("{file}:{}: {n} lines: {}", start + 1, trimmed));
            }
        }
    }
    assert!(too_long.is_empty(), "too long:\n{}", too_long.join("\n"));
}

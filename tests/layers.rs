//! The flow of `src/` and `sandbox/src/` holds: no module imports one above it (see
//! ARCHITECTURE.md), so no import runs in a circle.

use std::path::{Path, PathBuf};

use crate::common::repo;

/// The modules of `src/` in the order data flows, leaves first; each may import only the
/// modules before it. A new module needs a place here.
const FLOW: &[&str] = &[
    "escape", "clock", "handle", "members", "op", "chat_id", "stop", "hint", "config", "state", "plan", "linq", "sync",
    "apply", "ops", "render", "watch", "cli", "run",
];

/// The same for the sandbox (`sandbox/src/`): from the seed to the HTTP routes.
const SANDBOX_FLOW: &[&str] = &[
    "millis",
    "handle",
    "seed",
    "world",
    "create",
    "subscription",
    "faults",
    "tamper",
    "wire",
    "webhook",
    "api",
    "deliver",
    "http",
];

/// Every `.rs` file below `dir`.
fn sources(dir: &Path, found: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            sources(&path, found);
        } else if path.extension().is_some_and(|ext| ext == "rs") {
            found.push(path);
        }
    }
}

/// The module path of a file: `src/run/online/adopt.rs` is `run::online::adopt`,
/// `src/apply/mod.rs` is `apply`.
fn module_path(src: &Path, file: &Path) -> Vec<String> {
    let mut parts: Vec<String> = file
        .strip_prefix(src)
        .unwrap()
        .with_extension("")
        .iter()
        .map(|part| part.to_string_lossy().into_owned())
        .collect();
    if parts.last().is_some_and(|last| last == "mod") {
        parts.pop();
    }
    parts
}

/// The top-level modules that `line` names, through `crate::` or enough `super::` to reach the
/// crate root from `module`.
fn named(module: &[String], line: &str) -> Vec<String> {
    let mut found = Vec::new();
    let words: Vec<&str> = line
        .split(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':'))
        .filter(|word| word.contains("::"))
        .collect();
    for word in words {
        let segments: Vec<&str> = word.split("::").filter(|s| !s.is_empty()).collect();
        let (ups, rest) = match segments.first() {
            Some(&"crate") => (module.len(), &segments[1..]),
            Some(&"super") => {
                let ups = segments.iter().take_while(|s| **s == "super").count();
                (ups, &segments[ups..])
            }
            _ => continue,
        };
        // Each `super` goes to the parent: the crate root is `module.len()` steps up. A path
        // that stays below it names the file's own module.
        if let (true, Some(top)) = (ups >= module.len(), rest.first()) {
            found.push((*top).to_owned());
        }
    }
    found
}

/// A line without its comment and the insides of its string and character literals, whose
/// braces and `::` are not code.
fn code_of(line: &str) -> String {
    let mut code = String::new();
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '/' if chars.peek() == Some(&'/') => break,
            '"' => {
                while let Some(c) = chars.next() {
                    match c {
                        '\\' => {
                            chars.next();
                        }
                        '"' => break,
                        _ => {}
                    }
                }
                code.push_str("\"\"");
            }
            '\'' if matches!(chars.clone().nth(1), Some('\'')) => {
                chars.nth(1);
                code.push_str("' '");
            }
            c => code.push(c),
        }
    }
    code
}

/// The name of an inline module that `code` opens (`mod tests {`).
fn inline_module(code: &str) -> Option<String> {
    let rest = code
        .trim_start()
        .trim_start_matches("pub(crate) ")
        .trim_start_matches("pub ");
    let name = rest.strip_prefix("mod ")?.trim_end().strip_suffix('{')?.trim();
    Some(name.to_owned())
}

/// Every import in `src` of a module that comes after the importing one in `flow`, as
/// `file:line: ...`, and every module that has no place in `flow`.
fn imports_upwards(src: &Path, flow: &[&str]) -> Vec<String> {
    let mut files = Vec::new();
    sources(src, &mut files);
    files.sort();
    let mut wrong = Vec::new();
    for file in &files {
        let module = module_path(src, file);
        let Some(own) = module.first() else { continue };
        // The crate root declares the modules and the binary calls them: both sit on top.
        if own == "lib" || own == "main" {
            continue;
        }
        let rank = |name: &str| flow.iter().position(|m| *m == name);
        let Some(own_rank) = rank(own) else {
            wrong.push(format!("{}: module `{own}` has no place in the flow", file.display()));
            continue;
        };
        let text = std::fs::read_to_string(file).unwrap();
        // Inline modules (`mod tests { ... }`) open below the file's module, for `super::`.
        let mut inline: Vec<(String, usize)> = Vec::new();
        let mut depth = 0usize;
        for (number, line) in text.lines().enumerate() {
            let code = code_of(line);
            let mut within = module.clone();
            within.extend(inline.iter().map(|(name, _)| name.clone()));
            for target in named(&within, &code) {
                match rank(&target) {
                    Some(rank) if rank <= own_rank => {}
                    Some(_) => wrong.push(format!(
                        "{}:{}: `{own}` imports `{target}`, which comes after it in the flow",
                        file.display(),
                        number + 1
                    )),
                    None => wrong.push(format!(
                        "{}:{}: `{own}` imports `{target}`, which has no place in the flow",
                        file.display(),
                        number + 1
                    )),
                }
            }
            let opens = code.matches('{').count();
            let closes = code.matches('}').count();
            if let Some(name) = inline_module(&code) {
                inline.push((name, depth + 1));
            }
            depth = (depth + opens).saturating_sub(closes);
            inline.retain(|(_, opened)| *opened <= depth);
        }
    }
    wrong
}

#[test]
fn no_module_imports_one_after_it_in_the_flow() {
    let wrong = imports_upwards(&repo().join("src"), FLOW);
    assert!(wrong.is_empty(), "imports against the flow:\n{}", wrong.join("\n"));
}

#[test]
fn no_module_of_the_sandbox_imports_one_after_it() {
    let wrong = imports_upwards(&repo().join("sandbox/src"), SANDBOX_FLOW);
    assert!(wrong.is_empty(), "imports against the flow:\n{}", wrong.join("\n"));
}

#[test]
fn the_check_finds_an_import_against_the_flow() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path();
    std::fs::create_dir_all(src.join("low")).unwrap();
    std::fs::write(src.join("low/mod.rs"), "mod inner;\nuse crate::high::Thing; // wrong\n").unwrap();
    std::fs::write(
        src.join("low/inner.rs"),
        "use super::super::high::Other;\n// crate::high in a comment\n",
    )
    .unwrap();
    let high = "use crate::low::Thing;\nuse super::low;\nmod tests {\n    use super::super::low;\n    const S: &str = \"{ crate::zzz\";\n}\n";
    std::fs::write(src.join("high.rs"), high).unwrap();
    let wrong = imports_upwards(src, &["low", "high"]);
    assert_eq!(wrong.len(), 2, "{wrong:#?}");
    assert!(wrong[0].contains("inner.rs:1: `low` imports `high`"), "{wrong:#?}");
    assert!(wrong[1].contains("mod.rs:2: `low` imports `high`"), "{wrong:#?}");
    assert!(imports_upwards(src, &["low"])[0].contains("module `high` has no place"));
}

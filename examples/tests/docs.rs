//! The guides in docs/ show code that comes from the examples: every block marked
//! `<!-- from PATH#ANCHOR -->` must equal the `// ANCHOR: name` region of PATH (`# ANCHOR:`
//! in a Cargo.toml), so a guide can never drift from code that compiles and is tested.
//! A Rust block that cannot come from an example says why: `<!-- unchecked: WHY -->`.

use std::path::Path;

/// The lines between `ANCHOR: name` and `ANCHOR_END: name` (after `//` or `#`), without
/// the indentation they share and without the markers of regions nested in it (as
/// mdBook reads them).
fn anchor_region(source: &str, name: &str) -> Option<String> {
    let marker_of = |l: &str| -> Option<(String, String)> {
        let l = l.trim();
        let l = l.strip_prefix("//").or_else(|| l.strip_prefix('#'))?;
        let (what, anchor) = l.trim().split_once(": ")?;
        matches!(what, "ANCHOR" | "ANCHOR_END").then(|| (what.to_string(), anchor.to_string()))
    };
    let marker = |l: &str, what: &str| marker_of(l).is_some_and(|(w, a)| w == what && a == name);
    let mut lines = source.lines().skip_while(|l| !marker(l, "ANCHOR"));
    lines.next()?;
    let region: Vec<&str> = lines
        .take_while(|l| !marker(l, "ANCHOR_END"))
        .filter(|l| marker_of(l).is_none())
        .collect();
    let indent = region
        .iter()
        .filter(|l| !l.trim().is_empty())
        .map(|l| l.len() - l.trim_start().len())
        .min()
        .unwrap_or(0);
    let dedented: Vec<&str> = region
        .iter()
        .map(|l| l.get(indent..).unwrap_or_else(|| l.trim_start()))
        .collect();
    Some(dedented.join("\n"))
}

fn guides() -> Vec<(std::path::PathBuf, String)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let mut guides: Vec<_> = std::fs::read_dir(root.join("docs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .map(|p| {
            let text = std::fs::read_to_string(&p).unwrap();
            (p, text)
        })
        .collect();
    guides.sort();
    guides
}

#[test]
fn every_rust_block_in_the_guides_is_checked_or_says_why_not() {
    let mut unmarked = Vec::new();
    for (path, text) in guides() {
        let lines: Vec<&str> = text.lines().collect();
        for (n, line) in lines.iter().enumerate() {
            if !line.starts_with("```rust") {
                continue;
            }
            let marker = lines[..n]
                .iter()
                .rev()
                .find(|l| !l.trim().is_empty())
                .map_or("", |l| l.trim());
            if !(marker.starts_with("<!-- from ") || marker.starts_with("<!-- unchecked: ")) {
                unmarked.push(format!("{}:{}", path.display(), n + 1));
            }
        }
    }
    assert!(
        unmarked.is_empty(),
        "Rust blocks with neither `<!-- from PATH#ANCHOR -->` nor `<!-- unchecked: WHY -->` above them: {unmarked:?}"
    );
}

#[test]
fn guide_code_blocks_match_the_examples_they_come_from() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let mut checked = 0;
    for (path, text) in guides() {
        let mut lines = text.lines().enumerate();
        while let Some((n, line)) = lines.next() {
            let Some(reference) = line
                .trim()
                .strip_prefix("<!-- from ")
                .and_then(|r| r.strip_suffix(" -->"))
            else {
                continue;
            };
            let (file, anchor) = reference.split_once('#').expect("PATH#ANCHOR");
            let fence = lines.next().map(|(_, l)| l).unwrap_or_default();
            assert!(
                fence.starts_with("```rust") || fence.starts_with("```toml"),
                "{}:{}: no ```rust or ```toml block after the marker",
                path.display(),
                n + 1
            );
            let block: Vec<&str> = lines
                .by_ref()
                .map(|(_, l)| l)
                .take_while(|l| !l.starts_with("```"))
                .collect();
            let source =
                std::fs::read_to_string(root.join(file)).unwrap_or_else(|e| panic!("{file}: {e}"));
            let region = anchor_region(&source, anchor)
                .unwrap_or_else(|| panic!("{file} has no anchor `{anchor}`"));
            assert_eq!(
                block.join("\n").trim(),
                region.trim(),
                "{}:{}: the block differs from {file}#{anchor}",
                path.display(),
                n + 1
            );
            checked += 1;
        }
    }
    assert!(checked >= 4, "only {checked} blocks were checked");
}

/// The doc comment just above `line` in `source`, without the `///`.
fn doc_above(source: &str, line: &str) -> String {
    let lines: Vec<&str> = source.lines().collect();
    let at = lines
        .iter()
        .position(|l| l.trim() == line)
        .unwrap_or_else(|| panic!("no line `{line}`"));
    let mut doc: Vec<&str> = lines[..at]
        .iter()
        .rev()
        .take_while(|l| l.trim_start().starts_with("///"))
        .map(|l| l.trim_start().trim_start_matches("///"))
        .collect();
    doc.reverse();
    doc.join("\n")
}

#[test]
fn each_macros_rustdoc_names_every_argument_it_accepts() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let lib = std::fs::read_to_string(root.join("fastkafka-core/src/lib.rs")).unwrap();
    for (name, args) in [
        ("produces", "fastkafka-macros/src/produces/args.rs"),
        ("consumes", "fastkafka-macros/src/consumes/args.rs"),
        (
            "run_in_background",
            "fastkafka-macros/src/background/args.rs",
        ),
    ] {
        let parser = std::fs::read_to_string(root.join(args)).unwrap();
        let accepted: Vec<&str> = parser
            .split("is_ident(\"")
            .skip(1)
            .filter_map(|rest| rest.split('"').next())
            .collect();
        assert!(!accepted.is_empty(), "{args}: no arguments found");
        let doc = doc_above(&lib, &format!("pub use fastkafka_macros::{name};"));
        for argument in accepted {
            assert!(
                doc.contains(&format!("`{argument}")),
                "the rustdoc of #[{name}] does not name its argument `{argument}`:\n{doc}"
            );
        }
    }
}

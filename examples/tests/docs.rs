//! The guides in docs/ show code that comes from the examples: every block marked
//! `<!-- from PATH#ANCHOR -->` must equal the `// ANCHOR: name` region of PATH, so a
//! guide can never drift from code that compiles and is tested.

use std::path::Path;

fn anchor_region(source: &str, name: &str) -> Option<String> {
    let start = format!("// ANCHOR: {name}");
    let end = format!("// ANCHOR_END: {name}");
    let mut lines = source.lines().skip_while(|l| l.trim() != start);
    lines.next()?;
    let region: Vec<&str> = lines.take_while(|l| l.trim() != end).collect();
    Some(region.join("\n"))
}

#[test]
fn guide_code_blocks_match_the_examples_they_come_from() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let mut checked = 0;
    for entry in std::fs::read_dir(root.join("docs")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "md") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
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
                fence.starts_with("```rust"),
                "{}:{}: no ```rust block after the marker",
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
        ("run_in_background", "fastkafka-macros/src/background/args.rs"),
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

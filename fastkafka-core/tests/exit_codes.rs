//! The exit-code table of docs/production.md is the exit codes the code has: every
//! constant of `fastkafka::protocol::exit` is a row, and every row is a constant.

use std::collections::BTreeMap;
use std::path::Path;

use fastkafka::protocol::exit;

/// `name -> code` of every `pub const NAME: u8 = CODE;` in protocol.rs's `mod exit`.
fn constants_in_source() -> BTreeMap<String, u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/protocol.rs");
    let source = std::fs::read_to_string(&path).unwrap();
    let start = source
        .find("pub mod exit {")
        .expect("protocol.rs has `pub mod exit`");
    let body = &source[start..];
    let body = &body[..body.find("\n}").expect("`mod exit` ends")];
    body.lines()
        .filter_map(|l| l.trim().strip_prefix("pub const "))
        .map(|l| {
            let (name, rest) = l.split_once(": u8 = ").expect("`NAME: u8 = CODE;`");
            let code = rest.trim_end_matches(';').parse().expect("a number");
            (name.to_string(), code)
        })
        .collect()
}

/// `name -> code` of the rows of the table under `## Exit codes`.
fn rows_in_docs() -> BTreeMap<String, u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/production.md");
    let docs = std::fs::read_to_string(&path).unwrap();
    let section = docs
        .split("\n## Exit codes\n")
        .nth(1)
        .expect("docs/production.md has a section `## Exit codes`");
    let section = section.split("\n## ").next().unwrap();
    let mut rows = section
        .lines()
        .skip_while(|l| !l.starts_with('|'))
        .take_while(|l| l.starts_with('|'));
    let header: Vec<String> = cells(rows.next().expect("a table"));
    assert_eq!(
        header,
        ["code", "name", "`APP run`", "`fastkafka run`"],
        "the table's columns"
    );
    rows.next(); // |---|
    rows.map(|row| {
        let cells = cells(row);
        assert_eq!(cells.len(), 4, "{row}");
        assert!(
            cells[2].len() > 10 && cells[3].len() > 5,
            "both commands are described: {row}"
        );
        let code = cells[0].parse().unwrap_or_else(|_| panic!("a code: {row}"));
        (cells[1].trim_matches('`').to_string(), code)
    })
    .collect()
}

fn cells(row: &str) -> Vec<String> {
    row.trim()
        .trim_matches('|')
        .split('|')
        .map(|c| c.trim().to_string())
        .collect()
}

#[test]
fn the_docs_exit_code_table_is_the_codes_of_protocol_rs() {
    let source = constants_in_source();
    // The parse reads what the compiler sees.
    let known = BTreeMap::from([
        ("SUCCESS".to_string(), exit::SUCCESS),
        ("FAILURE".to_string(), exit::FAILURE),
        ("USAGE".to_string(), exit::USAGE),
        ("REFUSED".to_string(), exit::REFUSED),
        ("INTERRUPTED".to_string(), exit::INTERRUPTED),
    ]);
    for (name, code) in &source {
        if let Some(value) = known.get(name) {
            assert_eq!(value, code, "{name}");
        }
    }
    let docs = rows_in_docs();
    let missing: Vec<_> = source
        .iter()
        .filter(|(n, _)| !docs.contains_key(*n))
        .collect();
    let unknown: Vec<_> = docs
        .iter()
        .filter(|(n, _)| !source.contains_key(*n))
        .collect();
    assert!(
        missing.is_empty(),
        "exit codes missing from docs/production.md: {missing:?}"
    );
    assert!(
        unknown.is_empty(),
        "rows of docs/production.md that protocol.rs does not define: {unknown:?}"
    );
    assert_eq!(docs, source, "the codes in docs/production.md");
    assert_eq!(
        source.len(),
        known.len(),
        "a new code: add it to `known` above"
    );
}

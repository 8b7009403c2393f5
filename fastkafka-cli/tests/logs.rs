//! `APP run --log-level` and `--log-format json`, read off the process's stderr as a
//! log shipper reads it.

mod common;

use std::process::Command;
use std::time::Duration;

use common::{example_bin, Watched};
use serde_json::Value;

/// uppercase_app on its own embedded broker for three seconds (start and group join
/// take under one there), then a clean stop; every line it wrote.
fn run_app(args: &[&str], env: &[(&str, &str)]) -> Vec<String> {
    let mut command = Command::new(example_bin("uppercase_app"));
    command
        .args(["run", "--kafka-broker", "embedded"])
        .args(args)
        .env_remove("RUST_LOG")
        .envs(env.iter().copied());
    let mut app = Watched::spawn(&mut command);
    // Long enough to start and join the group (INFO may be filtered out, so no line
    // to wait for).
    std::thread::sleep(Duration::from_secs(3));
    app.signal(libc::SIGINT);
    assert!(
        app.wait(Duration::from_secs(30)).success(),
        "{}",
        app.output()
    );
    app.lines()
}

#[test]
fn json_logs_are_one_object_a_line_with_level_target_and_the_worker() {
    let lines = run_app(
        &["--log-format", "json"],
        &[(fastkafka::protocol::WORKER_ENV, "1")],
    );
    assert!(lines.len() > 3, "{lines:?}");
    let mut with_worker = 0;
    for line in &lines {
        let entry: Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("not a JSON line ({e}): {line}"));
        for field in ["timestamp", "level", "target", "fields"] {
            assert!(entry.get(field).is_some(), "no `{field}` in {line}");
        }
        if entry["span"]["worker"] == 1 {
            with_worker += 1;
        }
    }
    let started = lines
        .iter()
        .find(|l| l.contains("using Kafka broker"))
        .unwrap_or_else(|| panic!("{lines:?}"));
    let started: Value = serde_json::from_str(started).unwrap();
    assert_eq!(started["level"], "INFO");
    assert_eq!(started["target"], "fastkafka::runtime");
    assert_eq!(started["fields"]["broker"], "embedded");
    assert_eq!(started["span"]["worker"], 1, "{started}");
    assert!(
        with_worker >= 3,
        "the app's own lines carry the worker: {lines:?}"
    );
}

#[test]
fn the_log_level_filters_and_rust_log_wins() {
    let warn = run_app(&["--log-level", "warn"], &[]);
    assert!(
        !warn.iter().any(|l| l.contains(" INFO ")),
        "--log-level warn wrote INFO lines: {warn:?}"
    );
    let info = run_app(&[], &[]);
    assert!(
        info.iter()
            .any(|l| l.contains(" INFO ") && l.contains("using Kafka broker")),
        "{info:?}"
    );
    let rust_log = run_app(&["--log-level", "error"], &[("RUST_LOG", "info")]);
    assert!(
        rust_log.iter().any(|l| l.contains("using Kafka broker")),
        "RUST_LOG=info wins over --log-level error: {rust_log:?}"
    );
}

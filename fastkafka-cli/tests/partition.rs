//! `fastkafka partition` agrees with where a producer actually put the keys.

mod common;

use std::process::Command;
use std::time::Duration;

use common::*;
use fastkafka::embedded::EmbeddedBroker;
use fastkafka::testing::read_topic;

fn partition_json(args: &[&str]) -> serde_json::Value {
    let out = Command::new(fastkafka_bin())
        .arg("partition")
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn the_partition_command_agrees_with_the_producer() {
    let broker = EmbeddedBroker::start().unwrap();
    broker.create_topic("hello-world-3", 3).unwrap();
    let mut app = Watched::spawn(Command::new(example_bin("string_keys")).args([
        "run",
        "--kafka-broker",
        broker.bootstrap_servers(),
    ]));
    let records = read_topic(
        broker.bootstrap_servers(),
        "hello-world-3",
        6,
        Duration::from_secs(30),
    )
    .unwrap();
    app.signal(libc::SIGTERM);
    assert!(
        app.wait(Duration::from_secs(20)).success(),
        "{}",
        app.output()
    );
    assert_eq!(records.len(), 6);

    let doc = partition_json(&["--partitions", "3", "--format", "json", "ping", "pong"]);
    for entry in doc["keys"].as_array().unwrap() {
        let key = entry["key"].as_str().unwrap();
        let predicted = entry["partition"].as_i64().unwrap() as i32;
        for r in records
            .iter()
            .filter(|r| r.key.as_deref() == Some(key.as_bytes()))
        {
            assert_eq!(r.partition, predicted, "key {key}");
        }
    }
}

#[test]
fn keys_come_from_stdin_and_hex_and_the_resize_question_is_answered() {
    use std::io::Write;
    let mut child = Command::new(fastkafka_bin())
        .args(["partition", "--partitions", "3", "--resize-to", "4"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"user1\r\nuser2\nuser3\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(out.status.success());
    assert_eq!(
        text.lines().count(),
        5,
        "header, three keys, summary:\n{text}"
    );
    assert!(text.lines().nth(1).unwrap().starts_with("user1 "), "{text}");
    let moved = fastkafka::partition::partition_for_key(b"user1", 3)
        != fastkafka::partition::partition_for_key(b"user1", 4);
    assert!(
        text.contains("keys move when the topic goes from 3 to 4 partitions"),
        "{text}"
    );
    assert_eq!(text.lines().nth(1).unwrap().ends_with("yes"), moved);

    let hex = partition_json(&["--partitions", "7", "--format", "json", "--hex", "666f6f"]);
    let text = partition_json(&["--partitions", "7", "--format", "json", "foo"]);
    assert_eq!(hex["keys"][0]["partition"], text["keys"][0]["partition"]);

    let bad = Command::new(fastkafka_bin())
        .args(["partition", "--partitions", "3", "--hex", "zz"])
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("key \"zz\" is not hex"));
}

/// The partitioning guide shows only numbers the code computed: every block marked
/// `<!-- output of: fastkafka ARGS -->` is what the command prints.
#[test]
fn the_guide_shows_what_the_command_prints() {
    let guide = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/partitioning.md");
    let text = std::fs::read_to_string(guide).unwrap();
    let mut lines = text.lines();
    let mut checked = 0;
    while let Some(line) = lines.next() {
        let Some(command) = line
            .strip_prefix("<!-- output of: fastkafka ")
            .and_then(|l| l.strip_suffix(" -->"))
        else {
            continue;
        };
        assert!(lines.next().unwrap().starts_with("```"));
        let shown: Vec<&str> = lines
            .by_ref()
            .take_while(|l| !l.starts_with("```"))
            .collect();
        let out = Command::new(fastkafka_bin())
            .args(command.split(' '))
            .output()
            .unwrap();
        assert!(out.status.success());
        assert_eq!(
            String::from_utf8(out.stdout).unwrap().trim_end(),
            shown.join("\n"),
            "fastkafka {command}"
        );
        checked += 1;
    }
    assert_eq!(checked, 3);
}

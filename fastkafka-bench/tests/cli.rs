//! `fastkafka-bench` as a user runs it: bad arguments are one clear line and the usage
//! exit code, before any broker is started. (These tests also make `cargo test
//! --workspace` build the binary, which the real-Kafka tests run against the cluster.)

use std::process::Command;

fn bench() -> Command {
    Command::new(env!("CARGO_BIN_EXE_fastkafka-bench"))
}

#[test]
fn impossible_counts_are_a_usage_error_that_says_what_to_change() {
    for args in [
        &["--repeat", "0"][..],
        &["--messages", "2", "--tasks", "4"],
        &["--rate", "0"],
    ] {
        let out = bench().args(args).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(
            stderr.contains("--messages must be at least --tasks"),
            "{args:?}: {stderr}"
        );
        assert!(out.stdout.is_empty(), "{args:?} printed figures");
    }
}

#[test]
fn an_unknown_argument_is_a_usage_error() {
    let out = bench().arg("--bogus").output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--bogus"));
}

//! The Tester tests of `tester.rs`, run again against a 3-broker Apache Kafka cluster:
//! the same test binary, with `FASTKAFKA_TEST_BROKER` naming the cluster. What a user
//! does to run their Tester tests on a real broker in their CI.
//!
//! The example apps' topics are the ones `apps.rs` runs the example binaries on, so
//! this test has the cluster to itself while the Tester tests run.

use std::path::PathBuf;
use std::process::Command;

use fastkafka::testing::TEST_BROKER_ENV;
use fastkafka_test_support::{shared_cluster_alone, Listener};

/// The `tester` test binary cargo built beside this one (the newest, if several).
fn tester_binary() -> PathBuf {
    let deps = std::env::current_exe()
        .unwrap()
        .parent()
        .unwrap()
        .to_path_buf();
    std::fs::read_dir(&deps)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            name.starts_with("tester-") && !name.contains('.')
        })
        .max_by_key(|e| e.metadata().and_then(|m| m.modified()).ok())
        .map(|e| e.path())
        .unwrap_or_else(|| panic!("no `tester` test binary in {}: build it with `cargo test -p fastkafka-examples --test tester`", deps.display()))
}

#[test]
fn the_tester_tests_pass_against_a_real_kafka_cluster() {
    let Some((_alone, cluster)) = shared_cluster_alone() else {
        return;
    };
    let bootstrap = cluster.bootstrap(Listener::Plaintext);
    let out = Command::new(tester_binary())
        .env(TEST_BROKER_ENV, &bootstrap)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "the Tester tests failed against Kafka at {bootstrap}:\n{stdout}\n{stderr}"
    );
    let passed: usize = stdout
        .split("test result: ok. ")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    assert!(passed >= 20, "{stdout}");
}

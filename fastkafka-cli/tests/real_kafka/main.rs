//! Every test against a real 3-broker Apache Kafka cluster, in one binary so that one
//! cluster start ([`fastkafka_test_support::shared_cluster`]) serves them all:
//!
//! - `cluster.rs`: the test cluster itself (listeners, mechanisms, a killed broker, the
//!   Java client's partitioner);
//! - `security.rs`: an app through every security mode, refused starts, the Java
//!   client's and the framework's partitioners agreeing;
//! - `apps.rs`: the example apps, the producer while the leader is killed, a 2-worker
//!   group while brokers fail, and the benchmark;
//! - `tester.rs`: the examples' Tester tests re-run against the cluster;
//! - `rebalance.rs`: the rebalance hooks' two-instance scenario, the revoke hook
//!   finding the hand-over commit at the broker.
//!
//! It lives in fastkafka-cli because only its tests have the `fastkafka` binary
//! (`CARGO_BIN_EXE_fastkafka`). Tests that stop brokers take the cluster exclusively
//! (`shared_cluster_alone`), the others share it (`shared_cluster`).

#[path = "../common/mod.rs"]
mod common;

mod apps;
mod cluster;
mod rebalance;
mod security;
mod tester;

//! Real Apache Kafka for fastkafka's tests: what works against librdkafka's mock cluster
//! and Tansu must also work against the broker teams run in production.
//!
//! - [`KafkaCluster`]: a KRaft cluster of JVM brokers on loopback ports, with PLAINTEXT,
//!   SSL and SASL_SSL (SCRAM-SHA-512, SCRAM-SHA-256, PLAIN) listeners, whose brokers a
//!   test can kill and restart.
//! - [`JavaClient`]: the Java client (kafka-clients) as a program, to produce keyed
//!   records and to ask where its default partitioner puts a key.
//! - [`kafka_available`]: whether `.ci/setup` has fetched Kafka; a test skips when it has
//!   not, except in CI, where it fails.
//! - [`shared_cluster`] and [`shared_cluster_alone`]: one cluster per test binary, shared
//!   by the tests that leave its brokers running.
//! - [`Tansu`]: an independent Kafka-compatible broker (`.ci/setup` installs it).
//! - [`asyncapi::validate`]: the official AsyncAPI parser over documents.
//!
//! `.ci/setup` fetches Kafka [`KAFKA_VERSION`] with Maven (`.ci/kafka/pom.xml`) into
//! `~/.cache/fastkafka/kafka-<version>/libs`; Java 17 runs it.

#![warn(missing_docs)]

pub mod asyncapi;
mod certs;
mod class_archive;
mod cluster;
mod dist;
mod java;
mod launcher;
mod shared;
mod tansu;

pub use cluster::{
    KafkaCluster, Listener, SaslMechanism, User, ADMIN, ALICE, DEFAULT_JVM_OPTIONS, JVM_OPTIONS_VAR,
};
pub use dist::{kafka_available, KafkaDist, KAFKA_HOME_VAR, KAFKA_VERSION};
pub use java::{JavaClient, JavaProduced};
pub use shared::{shared_cluster, shared_cluster_alone};
pub use tansu::Tansu;

/// Calls `check` every 200 ms until it returns `Some` (that value) or `timeout` passes
/// (`None`): for cluster states that settle, like a new partition leader.
pub fn wait_for<T>(
    timeout: std::time::Duration,
    mut check: impl FnMut() -> Option<T>,
) -> Option<T> {
    let deadline = std::time::Instant::now() + timeout;
    loop {
        if let Some(value) = check() {
            return Some(value);
        }
        if std::time::Instant::now() > deadline {
            return None;
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
}

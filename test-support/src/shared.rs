//! Sharing one cluster between the tests of a test binary: the tests that leave every
//! broker running share it, a test that stops brokers has it to itself.

use std::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};

use crate::{kafka_available, KafkaCluster};

static DISRUPTION: RwLock<()> = RwLock::new(());

/// The binary's shared cluster ([`KafkaCluster::shared`]) for a test that leaves every
/// broker running, with a guard that keeps tests that stop brokers out while it is
/// held; `None` (the test returns) when Kafka is not fetched and this is not CI.
pub fn shared_cluster() -> Option<(RwLockReadGuard<'static, ()>, &'static KafkaCluster)> {
    if !kafka_available() {
        return None;
    }
    let guard = DISRUPTION.read().unwrap_or_else(|p| p.into_inner());
    Some((guard, KafkaCluster::shared()))
}

/// The binary's shared cluster for a test that stops brokers, with no other test
/// running on it while the guard is held; `None` as for [`shared_cluster`].
pub fn shared_cluster_alone() -> Option<(RwLockWriteGuard<'static, ()>, &'static KafkaCluster)> {
    if !kafka_available() {
        return None;
    }
    let guard = DISRUPTION.write().unwrap_or_else(|p| p.into_inner());
    Some((guard, KafkaCluster::shared()))
}

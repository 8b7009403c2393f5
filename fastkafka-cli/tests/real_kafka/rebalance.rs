//! The rebalance hooks' two-instance scenario (fastkafka-core's
//! `tests/rebalance/two_instances.rs`, included here) on the real cluster, which
//! accepts the commits made while a group rebalances: there the revoke hook finds them
//! at the broker. fastkafka-core's `rebalance_hooks.rs` runs it on the embedded broker.

use std::time::Duration;

use fastkafka_test_support::{shared_cluster, Listener};

#[path = "../../../fastkafka-core/tests/rebalance/two_instances.rs"]
mod two_instances;

#[tokio::test(flavor = "multi_thread")]
// The guard keeps tests that stop brokers out for the whole test; each test has a
// runtime of its own, so no task of this one waits for it.
#[allow(clippy::await_holding_lock)]
async fn on_real_kafka_the_revoke_hook_finds_the_hand_over_commit_at_the_broker() {
    let Some((_shared, cluster)) = shared_cluster() else {
        return;
    };
    crate::cluster::create_topic(cluster, "hooked", 4);
    // Longer than a heartbeat and the second instance's start: the message is still
    // in hand when the rebalance reaches the first.
    two_instances::two_instances(
        &cluster.bootstrap(Listener::Plaintext),
        true,
        Duration::from_secs(4),
    )
    .await;
}

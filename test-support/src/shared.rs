//! Sharing one cluster between the tests of a test binary: the tests that leave every
//! broker running share it, a test that stops brokers has it to itself.

use std::io::Write as _;
use std::sync::{OnceLock, RwLock, RwLockReadGuard, RwLockWriteGuard};

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

/// The cluster [`KafkaCluster::shared`] started, or why it could not.
static SHARED: OnceLock<Result<KafkaCluster, String>> = OnceLock::new();

impl KafkaCluster {
    /// A 3-broker cluster shared by the tests of one test binary: started by the first
    /// caller, stopped when the process exits. For tests that do not stop brokers; a test
    /// that does takes the cluster exclusively (an `RwLock` in the test file, say) and
    /// restarts them before it returns.
    ///
    /// Prints, past the harness's capture, how long the start took and the brokers'
    /// memory, and their memory again at exit. Panics as [`start`](Self::start) does;
    /// once the start has failed, every later call panics at once with the same message.
    pub fn shared() -> &'static KafkaCluster {
        let shared = SHARED.get_or_init(|| {
            let started = std::panic::catch_unwind(|| KafkaCluster::start(3)).map_err(|panic| {
                panic
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_else(|| "(no message)".into())
            });
            if let Ok(cluster) = &started {
                extern "C" fn shut_down_shared() {
                    if let Some(Ok(cluster)) = SHARED.get() {
                        let _ = writeln!(std::io::stderr(), "at exit: {}", cluster.describe());
                        cluster.shut_down();
                    }
                }
                // SAFETY: registers a plain function without arguments.
                unsafe { libc::atexit(shut_down_shared) };
                let _ = writeln!(std::io::stderr(), "{}", cluster.describe());
            }
            started
        });
        match shared {
            Ok(cluster) => cluster,
            Err(message) => panic!("the shared Kafka cluster did not start: {message}"),
        }
    }
}

//! Choosing a message's partition: pinned, custom partitioner, Java-compatible key
//! hashing, or the keyless strategy.
//!
//! Keyed messages are left to librdkafka's `murmur2_random` partitioner, which is the
//! Java client's rule (murmur2 of the key, sign bit masked, modulo the partition count;
//! [`crate::partition::partition_for_key`] computes the same): it needs no metadata
//! lookup here and follows partition changes as soon as librdkafka sees them. Keyless
//! `sticky` is librdkafka's own sticky partitioner. Everything else needs the topic's
//! partition count, cached per producer function and refreshed every five minutes.

use std::sync::atomic::{AtomicI32, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use crate::error::{Error, Result};
use crate::partition::{KeylessStrategy, PartitionerFn, RoundRobin};

/// Where the router learns how many partitions a topic has: the broker's producer
/// ([`super::BrokerProducer`] asks the broker's metadata), or a fake in tests.
pub(crate) trait PartitionCounts: Send + Sync + 'static {
    /// How many partitions `topic` has. May block: the router calls it on a
    /// blocking thread, and only when its cached count is missing or stale.
    fn partition_count(&self, topic: &str) -> Result<i32>;
}

/// How long a cached partition count is trusted (the Java client's `metadata.max.age.ms`).
const METADATA_MAX_AGE: Duration = Duration::from_secs(300);

/// The routing state of one producer function.
pub(crate) struct Router {
    function: &'static str,
    partitioner: Option<PartitionerFn>,
    keyless: KeylessStrategy,
    round_robin: RoundRobin,
    partition_count: AtomicI32,
    /// Milliseconds since [`epoch`] when the count was fetched.
    fetched_at: AtomicU64,
    /// How long the cached count is trusted: [`METADATA_MAX_AGE`].
    max_age: Duration,
}

fn epoch() -> Instant {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

impl Router {
    /// The producer function this routes for.
    pub(crate) fn function(&self) -> &'static str {
        self.function
    }

    pub(crate) fn new(
        function: &'static str,
        partitioner: Option<PartitionerFn>,
        keyless: KeylessStrategy,
    ) -> Self {
        Router {
            function,
            partitioner,
            keyless,
            round_robin: RoundRobin::new(),
            partition_count: AtomicI32::new(0),
            fetched_at: AtomicU64::new(0),
            max_age: METADATA_MAX_AGE,
        }
    }

    /// The same router, trusting a cached partition count for `max_age` only.
    #[cfg(test)]
    fn with_max_age(mut self, max_age: Duration) -> Self {
        self.max_age = max_age;
        self
    }

    /// The partition to pin the message to, or `None` to let librdkafka choose
    /// (keyed: the Java rule; keyless sticky).
    pub(crate) async fn choose<P: PartitionCounts>(
        &self,
        producer: &Arc<P>,
        topic: &Arc<str>,
        key: Option<&[u8]>,
        pinned: Option<i32>,
    ) -> Result<Option<i32>> {
        if let Some(partition) = pinned {
            let count = self.partition_count(producer, topic).await?;
            return if (0..count).contains(&partition) {
                Ok(Some(partition))
            } else {
                Err(Error::PartitionOutOfRange {
                    topic: topic.to_string(),
                    partition,
                    partition_count: count,
                })
            };
        }
        if let Some(partitioner) = self.partitioner {
            let count = self.partition_count(producer, topic).await?;
            let partition = partitioner(key, count);
            return if (0..count).contains(&partition) {
                Ok(Some(partition))
            } else {
                Err(Error::PartitionerOutOfRange {
                    function: self.function,
                    topic: topic.to_string(),
                    partition,
                    partition_count: count,
                })
            };
        }
        if key.is_some() {
            return Ok(None);
        }
        match self.keyless {
            KeylessStrategy::Sticky => Ok(None),
            KeylessStrategy::RoundRobin => {
                let count = self.partition_count(producer, topic).await?;
                Ok(Some(self.round_robin.next(count)))
            }
            KeylessStrategy::Random => {
                let count = self.partition_count(producer, topic).await?;
                Ok(Some(random_below(count)))
            }
        }
    }

    async fn partition_count<P: PartitionCounts>(
        &self,
        producer: &Arc<P>,
        topic: &Arc<str>,
    ) -> Result<i32> {
        let count = self.partition_count.load(Ordering::Acquire);
        let age = epoch().elapsed().as_millis() as u64 - self.fetched_at.load(Ordering::Relaxed);
        if count > 0 && age < self.max_age.as_millis() as u64 {
            return Ok(count);
        }
        let (producer, name) = (Arc::clone(producer), Arc::clone(topic));
        let fetched = tokio::task::spawn_blocking(move || producer.partition_count(&name))
            .await
            .map_err(|e| Error::Metadata {
                topic: topic.to_string(),
                reason: e.to_string(),
                source: None,
            })??;
        self.fetched_at
            .store(epoch().elapsed().as_millis() as u64, Ordering::Relaxed);
        self.partition_count.store(fetched, Ordering::Release);
        Ok(fetched)
    }
}

/// A random partition in `0..count`: a per-thread xorshift generator, seeded from the
/// standard library's random hasher keys.
fn random_below(count: i32) -> i32 {
    use std::cell::Cell;
    use std::hash::{BuildHasher, RandomState};
    thread_local! {
        static STATE: Cell<u64> = Cell::new(RandomState::new().hash_one(0u64) | 1);
    }
    STATE.with(|state| {
        let mut x = state.get();
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        state.set(x);
        (x % count.max(1) as u64) as i32
    })
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicUsize;

    use super::*;

    /// A topic's partition count without a broker: settable, failing on demand, and
    /// counting how often it was asked.
    struct FakeCounts {
        count: AtomicI32,
        fail: std::sync::atomic::AtomicBool,
        asked: AtomicUsize,
    }

    impl FakeCounts {
        fn new(count: i32) -> Arc<Self> {
            Arc::new(FakeCounts {
                count: AtomicI32::new(count),
                fail: std::sync::atomic::AtomicBool::new(false),
                asked: AtomicUsize::new(0),
            })
        }

        fn asked(&self) -> usize {
            self.asked.load(Ordering::SeqCst)
        }
    }

    impl PartitionCounts for FakeCounts {
        fn partition_count(&self, topic: &str) -> Result<i32> {
            self.asked.fetch_add(1, Ordering::SeqCst);
            if self.fail.load(Ordering::SeqCst) {
                return Err(Error::Metadata {
                    topic: topic.to_string(),
                    reason: "the broker is down".into(),
                    source: None,
                });
            }
            Ok(self.count.load(Ordering::SeqCst))
        }
    }

    fn topic() -> Arc<str> {
        Arc::from("orders")
    }

    fn router(partitioner: Option<PartitionerFn>, keyless: KeylessStrategy) -> Router {
        Router::new("send_order", partitioner, keyless)
    }

    /// Numeric keys modulo the partition count; no key: partition 0.
    fn by_number(key: Option<&[u8]>, partition_count: i32) -> i32 {
        key.and_then(|k| std::str::from_utf8(k).ok())
            .and_then(|k| k.parse::<i32>().ok())
            .map_or(0, |n| n.rem_euclid(partition_count))
    }

    /// Always one past the last partition.
    fn past_the_end(_key: Option<&[u8]>, partition_count: i32) -> i32 {
        partition_count
    }

    #[tokio::test]
    async fn a_pinned_partition_that_exists_is_used_whatever_the_key_and_partitioner() {
        let counts = FakeCounts::new(3);
        let r = router(Some(by_number), KeylessStrategy::Sticky);
        let chosen = r.choose(&counts, &topic(), Some(b"7"), Some(2)).await;
        assert_eq!(chosen.unwrap(), Some(2));
        let chosen = r.choose(&counts, &topic(), None, Some(0)).await;
        assert_eq!(chosen.unwrap(), Some(0));
    }

    #[tokio::test]
    async fn a_pinned_partition_the_topic_lacks_is_refused_with_the_partition_count() {
        let counts = FakeCounts::new(3);
        let r = router(None, KeylessStrategy::Sticky);
        for partition in [3, -1] {
            match r.choose(&counts, &topic(), None, Some(partition)).await {
                Err(Error::PartitionOutOfRange {
                    topic,
                    partition: p,
                    partition_count,
                }) => assert_eq!(
                    (topic.as_str(), p, partition_count),
                    ("orders", partition, 3)
                ),
                other => panic!("pinned {partition}: {other:?}"),
            }
        }
    }

    #[tokio::test]
    async fn a_custom_partitioner_chooses_for_keyed_and_keyless_messages() {
        let counts = FakeCounts::new(3);
        let r = router(Some(by_number), KeylessStrategy::RoundRobin);
        let chosen = r.choose(&counts, &topic(), Some(b"7"), None).await;
        assert_eq!(chosen.unwrap(), Some(1));
        let chosen = r.choose(&counts, &topic(), None, None).await;
        assert_eq!(chosen.unwrap(), Some(0), "the partitioner, not round robin");
    }

    #[tokio::test]
    async fn a_custom_partitioner_out_of_range_is_an_error_naming_the_function() {
        let counts = FakeCounts::new(3);
        let r = router(Some(past_the_end), KeylessStrategy::Sticky);
        match r.choose(&counts, &topic(), Some(b"k"), None).await {
            Err(Error::PartitionerOutOfRange {
                function,
                topic,
                partition,
                partition_count,
            }) => assert_eq!(
                (function, topic.as_str(), partition, partition_count),
                ("send_order", "orders", 3, 3)
            ),
            other => panic!("{other:?}"),
        }
    }

    #[tokio::test]
    async fn keyed_messages_and_keyless_sticky_are_left_to_librdkafka_without_metadata() {
        let counts = FakeCounts::new(3);
        for keyless in [
            KeylessStrategy::Sticky,
            KeylessStrategy::RoundRobin,
            KeylessStrategy::Random,
        ] {
            let r = router(None, keyless);
            let chosen = r.choose(&counts, &topic(), Some(b"user1"), None).await;
            assert_eq!(chosen.unwrap(), None, "keyed, {keyless}");
        }
        let r = router(None, KeylessStrategy::Sticky);
        assert_eq!(r.choose(&counts, &topic(), None, None).await.unwrap(), None);
        assert_eq!(
            counts.asked(),
            0,
            "no metadata lookup for librdkafka's choices"
        );
    }

    #[tokio::test]
    async fn keyless_round_robin_rotates_over_every_partition() {
        let counts = FakeCounts::new(3);
        let r = router(None, KeylessStrategy::RoundRobin);
        let mut got = Vec::new();
        for _ in 0..4 {
            got.push(r.choose(&counts, &topic(), None, None).await.unwrap());
        }
        assert_eq!(got, [Some(0), Some(1), Some(2), Some(0)]);
    }

    #[tokio::test]
    async fn keyless_random_stays_within_the_partitions() {
        let counts = FakeCounts::new(4);
        let r = router(None, KeylessStrategy::Random);
        for _ in 0..100 {
            let chosen = r.choose(&counts, &topic(), None, None).await.unwrap();
            assert!(matches!(chosen, Some(0..=3)), "{chosen:?}");
        }
    }

    #[tokio::test]
    async fn the_partition_count_is_cached_until_it_is_stale() {
        let counts = FakeCounts::new(3);
        let r = router(None, KeylessStrategy::Sticky);
        for _ in 0..3 {
            r.choose(&counts, &topic(), None, Some(1)).await.unwrap();
        }
        assert_eq!(counts.asked(), 1, "within METADATA_MAX_AGE, one lookup");

        // Partitions were added: a stale count refuses the new ones until refreshed.
        let counts = FakeCounts::new(3);
        let r = router(None, KeylessStrategy::Sticky).with_max_age(Duration::from_millis(50));
        assert!(r.choose(&counts, &topic(), None, Some(4)).await.is_err());
        counts.count.store(6, Ordering::SeqCst);
        assert!(
            r.choose(&counts, &topic(), None, Some(4)).await.is_err(),
            "the cached count is still trusted"
        );
        tokio::time::sleep(Duration::from_millis(80)).await;
        let chosen = r.choose(&counts, &topic(), None, Some(4)).await;
        assert_eq!(chosen.unwrap(), Some(4));
        assert_eq!(counts.asked(), 2);
    }

    #[tokio::test]
    async fn a_failed_metadata_lookup_is_returned_and_not_cached() {
        let counts = FakeCounts::new(3);
        counts.fail.store(true, Ordering::SeqCst);
        let r = router(None, KeylessStrategy::RoundRobin);
        match r.choose(&counts, &topic(), None, None).await {
            Err(Error::Metadata { topic, .. }) => assert_eq!(topic, "orders"),
            other => panic!("{other:?}"),
        }
        counts.fail.store(false, Ordering::SeqCst);
        let chosen = r.choose(&counts, &topic(), None, None).await;
        assert_eq!(chosen.unwrap(), Some(0));
        assert_eq!(counts.asked(), 2);
    }

    #[test]
    fn random_partitions_stay_in_range_and_reach_every_partition() {
        let mut seen = [0usize; 5];
        for _ in 0..1000 {
            seen[random_below(5) as usize] += 1;
        }
        assert!(seen.iter().all(|&n| n > 100), "{seen:?}");
    }
}

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
use crate::partition::{KeylessStrategy, RoundRobin};
use crate::producer::BrokerProducer;

/// A custom partitioner: given the key (if any) and the topic's partition count, the
/// partition to use, in `0..partition_count`.
///
/// ```
/// /// Numeric keys modulo the partition count; everything else to partition 0.
/// fn by_number(key: Option<&[u8]>, partition_count: i32) -> i32 {
///     key.and_then(|k| std::str::from_utf8(k).ok())
///         .and_then(|k| k.parse::<i64>().ok())
///         .map_or(0, |n| n.rem_euclid(i64::from(partition_count)) as i32)
/// }
/// let _: fastkafka::PartitionerFn = by_number;
/// assert_eq!(by_number(Some(b"369"), 3), 0);
/// ```
pub type PartitionerFn = fn(key: Option<&[u8]>, partition_count: i32) -> i32;

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
}

fn epoch() -> Instant {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

impl Router {
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
        }
    }

    /// The partition to pin the message to, or `None` to let librdkafka choose
    /// (keyed: the Java rule; keyless sticky).
    pub(crate) async fn choose(
        &self,
        producer: &Arc<BrokerProducer>,
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

    async fn partition_count(
        &self,
        producer: &Arc<BrokerProducer>,
        topic: &Arc<str>,
    ) -> Result<i32> {
        let count = self.partition_count.load(Ordering::Acquire);
        let age = epoch().elapsed().as_millis() as u64 - self.fetched_at.load(Ordering::Relaxed);
        if count > 0 && age < METADATA_MAX_AGE.as_millis() as u64 {
            return Ok(count);
        }
        let (producer, name) = (Arc::clone(producer), Arc::clone(topic));
        let fetched = tokio::task::spawn_blocking(move || producer.partition_count(&name))
            .await
            .map_err(|e| Error::Metadata {
                topic: topic.to_string(),
                reason: e.to_string(),
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
    use super::*;

    #[test]
    fn random_partitions_stay_in_range_and_reach_every_partition() {
        let mut seen = [0usize; 5];
        for _ in 0..1000 {
            seen[random_below(5) as usize] += 1;
        }
        assert!(seen.iter().all(|&n| n > 100), "{seen:?}");
    }
}

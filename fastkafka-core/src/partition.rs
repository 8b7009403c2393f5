//! Partition routing rules, usable without a broker.
//!
//! Keyed messages go where the Java client puts them: `murmur2(key) & 0x7fffffff`
//! modulo the partition count, so a Java, Python or Go service reading the same topic
//! sees each key on the same partition. Keyless messages follow a [`KeylessStrategy`].
//!
//! ```
//! use fastkafka::partition::{murmur2, partition_for_key, to_positive};
//!
//! let hash = murmur2(b"user1");
//! assert_eq!(partition_for_key(b"user1", 3), to_positive(hash) % 3);
//! ```

use std::fmt;
use std::str::FromStr;
use std::sync::atomic::{AtomicU32, Ordering};

/// Apache Kafka's murmur2 hash: exactly the Java client's `Utils.murmur2` (seed
/// `0x9747b28c`), as a signed 32-bit integer the way Java prints it.
///
/// ```
/// assert_eq!(fastkafka::partition::murmur2(b"21"), -973932308);
/// ```
pub fn murmur2(data: &[u8]) -> i32 {
    const SEED: u32 = 0x9747_b28c;
    const M: u32 = 0x5bd1_e995;
    const R: u32 = 24;
    // Java uses `data.length`, an int; only the low 32 bits take part either way.
    let mut h: u32 = SEED ^ data.len() as u32;
    let mut chunks = data.chunks_exact(4);
    for chunk in &mut chunks {
        let mut k = u32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
        k = k.wrapping_mul(M);
        k ^= k >> R;
        k = k.wrapping_mul(M);
        h = h.wrapping_mul(M);
        h ^= k;
    }
    // Java's `switch (length % 4)` with fall-through: 3 then 2 then 1.
    let tail = chunks.remainder();
    if tail.len() >= 3 {
        h ^= u32::from(tail[2]) << 16;
    }
    if tail.len() >= 2 {
        h ^= u32::from(tail[1]) << 8;
    }
    if !tail.is_empty() {
        h ^= u32::from(tail[0]);
        h = h.wrapping_mul(M);
    }
    h ^= h >> 13;
    h = h.wrapping_mul(M);
    h ^= h >> 15;
    h as i32
}

/// The Java client's `Utils.toPositive`: clears the sign bit. This is not `abs`:
/// `-1` becomes `i32::MAX`, and `i32::MIN` becomes 0.
///
/// ```
/// use fastkafka::partition::to_positive;
/// assert_eq!(to_positive(-973932308), 1173551340);
/// assert_eq!(to_positive(-1), i32::MAX);
/// ```
pub const fn to_positive(n: i32) -> i32 {
    n & 0x7fff_ffff
}

/// The partition the Java client (and fastkafka) chooses for `key` in a topic with
/// `partition_count` partitions: `to_positive(murmur2(key)) % partition_count`.
///
/// `partition_count` must be at least 1; a topic never has fewer. For 0 or a negative
/// count this returns 0 rather than panicking, so check the count first where it
/// comes from user input.
///
/// ```
/// use fastkafka::partition::partition_for_key;
/// // The same answer as Kafka's Java client, for any language's producer.
/// assert_eq!(partition_for_key(b"abc", 1000), 107);
/// assert_eq!(partition_for_key(b"user1", 3), 0);
/// ```
pub fn partition_for_key(key: &[u8], partition_count: i32) -> i32 {
    if partition_count <= 0 {
        return 0;
    }
    to_positive(murmur2(key)) % partition_count
}

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

/// Where keyless messages go. Parses from and prints as `round_robin`, `sticky` and
/// `random`, the names `#[produces(keyless = "...")]` accepts.
///
/// ```
/// use fastkafka::KeylessStrategy;
///
/// let strategy: KeylessStrategy = "round_robin".parse().unwrap();
/// assert_eq!(strategy, KeylessStrategy::RoundRobin);
/// assert_eq!(KeylessStrategy::default().to_string(), "sticky");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum KeylessStrategy {
    /// Exact rotation over the partitions: 0, 1, 2, …, 0, 1, … Even spread, one
    /// message at a time, so batches stay small.
    RoundRobin,
    /// Fill a batch on one partition, then move on to another (the sticky partitioner
    /// of the Java client and librdkafka): fewer, larger requests. The default, for
    /// throughput.
    #[default]
    Sticky,
    /// A uniformly random partition for each message.
    Random,
}

impl KeylessStrategy {
    /// Every strategy, in the order the docs list them.
    pub const ALL: [KeylessStrategy; 3] = [
        KeylessStrategy::Sticky,
        KeylessStrategy::RoundRobin,
        KeylessStrategy::Random,
    ];

    /// The name the strategy parses from and prints as.
    pub const fn as_str(self) -> &'static str {
        match self {
            KeylessStrategy::RoundRobin => "round_robin",
            KeylessStrategy::Sticky => "sticky",
            KeylessStrategy::Random => "random",
        }
    }
}

impl FromStr for KeylessStrategy {
    type Err = ParseKeylessStrategyError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        KeylessStrategy::ALL
            .into_iter()
            .find(|strategy| strategy.as_str() == s)
            .ok_or_else(|| ParseKeylessStrategyError {
                input: s.to_string(),
            })
    }
}

impl fmt::Display for KeylessStrategy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A name that is not a [`KeylessStrategy`]; the message lists the valid names.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown keyless strategy `{input}`; use `sticky`, `round_robin` or `random`")]
pub struct ParseKeylessStrategyError {
    input: String,
}

/// A number of partitions the way a message says it: `1 partition`, `3 partitions`.
///
/// ```
/// use fastkafka::partition::PartitionCount;
///
/// assert_eq!(format!("with {}", PartitionCount(1)), "with 1 partition");
/// assert_eq!(format!("with {}", PartitionCount(3)), "with 3 partitions");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PartitionCount(pub i32);

impl fmt::Display for PartitionCount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = if self.0 == 1 { "" } else { "s" };
        write!(f, "{} partition{s}", self.0)
    }
}

/// A lock-free round-robin counter: successive calls give exactly 0, 1, …,
/// `partition_count - 1`, 0, … with no skip or repeat, also across threads (each
/// call gets the next slot) and however many calls are made.
///
/// ```
/// use fastkafka::partition::RoundRobin;
///
/// static NEXT: RoundRobin = RoundRobin::new();
/// let got: Vec<i32> = (0..5).map(|_| NEXT.next(3)).collect();
/// assert_eq!(got, [0, 1, 2, 0, 1]);
/// ```
#[derive(Debug, Default)]
pub struct RoundRobin(AtomicU32);

impl RoundRobin {
    /// A counter whose first partition is 0.
    pub const fn new() -> Self {
        RoundRobin(AtomicU32::new(0))
    }

    /// The next partition in `0..partition_count`; 0 when the count is not positive.
    ///
    /// When the count changes (partitions were added), the rotation continues from
    /// where it was, within the new range.
    pub fn next(&self, partition_count: i32) -> i32 {
        let Ok(count) = u32::try_from(partition_count) else {
            return 0;
        };
        if count == 0 {
            return 0;
        }
        // The counter holds the next partition itself, never a running total, so it
        // never wraps around at u32::MAX (where a plain `fetch_add % count` would
        // repeat or skip a partition unless the count is a power of two).
        let advance = |current: u32| {
            let current = current % count;
            Some(if current + 1 == count { 0 } else { current + 1 })
        };
        let (Ok(previous) | Err(previous)) =
            self.0
                .fetch_update(Ordering::Relaxed, Ordering::Relaxed, advance);
        (previous % count) as i32
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A second murmur2, written from the algorithm's description rather than from
    /// [`murmur2`]: an index walk over the bytes, Java's signed `int` arithmetic and
    /// `>>>`, and the tail read as one little-endian number. Agreement on random
    /// keys checks both.
    fn reference_murmur2(data: &[u8]) -> i32 {
        let m: i32 = 0x5bd1_e995;
        let ushr = |x: i32, n: u32| ((x as u32) >> n) as i32;
        let mut h: i32 = (0x9747_b28c_u32 as i32) ^ (data.len() as i32);
        let whole = data.len() / 4 * 4;
        let mut i = 0;
        while i < whole {
            let mut k = 0i32;
            for j in (0..4).rev() {
                k = (k << 8) | i32::from(data[i + j]);
            }
            k = k.wrapping_mul(m);
            k ^= ushr(k, 24);
            k = k.wrapping_mul(m);
            h = h.wrapping_mul(m);
            h ^= k;
            i += 4;
        }
        let tail = &data[whole..];
        if !tail.is_empty() {
            let mut t = 0i32;
            for &b in tail.iter().rev() {
                t = (t << 8) | i32::from(b);
            }
            h ^= t;
            h = h.wrapping_mul(m);
        }
        h ^= ushr(h, 13);
        h = h.wrapping_mul(m);
        h ^= ushr(h, 15);
        h
    }

    #[test]
    fn murmur2_matches_apache_kafkas_published_vectors() {
        // apache/kafka, clients/src/test/java/org/apache/kafka/common/utils/UtilsTest.java,
        // testMurmur2 (read at commit f55581dc73953c3509a4702433aeeeddc2970779).
        let cases: [(&[u8], i32); 6] = [
            (b"21", -973932308),
            (b"foobar", -790332482),
            (b"a-little-bit-long-string", -985981536),
            (b"a-little-bit-longer-string", -1486304829),
            (
                b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8",
                -58897971,
            ),
            (b"abc", 479470107), // in Kafka: new byte[] {'a', 'b', 'c'}
        ];
        for (key, hash) in cases {
            assert_eq!(murmur2(key), hash, "{}", String::from_utf8_lossy(key));
            assert_eq!(reference_murmur2(key), hash);
        }
    }

    #[test]
    fn murmur2_matches_librdkafkas_java_compatibility_vectors() {
        // confluentinc/librdkafka, src/rdmurmur2.c, unittest_murmur2
        // (`java_murmur2_results`): every tail length, and the empty key.
        let cases: [(&str, u32); 11] = [
            ("kafka", 0xd067_cf64),
            ("giberish123456789", 0x8f55_2b0c),
            ("1234", 0x9fc9_7b14),
            ("234", 0xe7c0_09ca),
            ("34", 0x8739_30da),
            ("4", 0x5a4b_5ca1),
            ("PreAmbleWillBeRemoved,ThePrePartThatIs", 0x7842_4f1c),
            ("reAmbleWillBeRemoved,ThePrePartThatIs", 0x4a62_b377),
            ("eAmbleWillBeRemoved,ThePrePartThatIs", 0xe0e4_e09e),
            ("AmbleWillBeRemoved,ThePrePartThatIs", 0x62b8_b43f),
            ("", 0x106e_08d9),
        ];
        for (key, hash) in cases {
            assert_eq!(murmur2(key.as_bytes()), hash as i32, "{key:?}");
        }
    }

    #[test]
    fn keys_land_where_the_java_client_puts_them() {
        // kafka-python, test/test_partitioner.py, test_murmur2_java_compatibility:
        // "compare with output from Kafka's org.apache.kafka.clients.producer.Partitioner",
        // 1000 partitions.
        let cases: [(&[u8], i32); 6] = [
            (b"", 681),
            (b"a", 524),
            (b"ab", 434),
            (b"abc", 107),
            (b"123456789", 566),
            (b"\x00 ", 742),
        ];
        for (key, partition) in cases {
            assert_eq!(partition_for_key(key, 1000), partition, "{key:?}");
        }
        // A negative hash is made positive by clearing the sign bit, not by abs():
        // murmur2("21") = -973932308; & 0x7fffffff = 1173551340; abs() would give 973932308.
        assert_eq!(partition_for_key(b"21", 10), 0);
        assert_eq!(partition_for_key(b"21", 7), 1173551340 % 7);
        assert_ne!(partition_for_key(b"21", 7), 973932308 % 7);
    }

    #[test]
    fn to_positive_clears_the_sign_bit() {
        assert_eq!(to_positive(0), 0);
        assert_eq!(to_positive(5), 5);
        assert_eq!(to_positive(-1), i32::MAX);
        assert_eq!(to_positive(i32::MIN), 0);
        assert_eq!(to_positive(i32::MAX), i32::MAX);
    }

    #[test]
    fn a_partition_count_below_one_gives_partition_zero_without_panicking() {
        assert_eq!(partition_for_key(b"user1", 0), 0);
        assert_eq!(partition_for_key(b"user1", -3), 0);
        assert_eq!(RoundRobin::new().next(0), 0);
        assert_eq!(RoundRobin::new().next(i32::MIN), 0);
    }

    proptest! {
        #[test]
        fn murmur2_agrees_with_an_independent_implementation(
            key in proptest::collection::vec(any::<u8>(), 0..300),
        ) {
            prop_assert_eq!(murmur2(&key), reference_murmur2(&key));
        }

        #[test]
        fn partitions_are_in_range_and_follow_the_positive_hash(
            key in proptest::collection::vec(any::<u8>(), 0..64),
            count in 1i32..=i32::MAX,
        ) {
            let p = partition_for_key(&key, count);
            prop_assert!((0..count).contains(&p));
            prop_assert_eq!(i64::from(p), i64::from(reference_murmur2(&key) & 0x7fff_ffff) % i64::from(count));
        }

        #[test]
        fn round_robin_visits_every_partition_in_order(count in 1i32..50, start in any::<u32>()) {
            let rr = RoundRobin(AtomicU32::new(start));
            let first = rr.next(count);
            for i in 1..(3 * count) {
                prop_assert_eq!(rr.next(count), (first + i) % count);
            }
        }
    }

    #[test]
    fn round_robin_rotates_exactly() {
        let rr = RoundRobin::new();
        let got: Vec<i32> = (0..7).map(|_| rr.next(3)).collect();
        assert_eq!(got, [0, 1, 2, 0, 1, 2, 0]);
        // Grown to 5 partitions: continues with the next partition, then wraps at 5.
        let got: Vec<i32> = (0..5).map(|_| rr.next(5)).collect();
        assert_eq!(got, [1, 2, 3, 4, 0]);
        // Shrunk to 2: stays in range.
        let got: Vec<i32> = (0..3).map(|_| rr.next(2)).collect();
        assert_eq!(got, [1, 0, 1]);
    }

    #[test]
    fn round_robin_does_not_stutter_where_a_u32_counter_would_wrap() {
        // A `fetch_add` counter at u32::MAX gives 3 % 3 == 0 ... (u32::MAX % 3 = 0, then
        // 0 % 3 = 0): partition 0 twice in a row. This counter never gets there.
        let rr = RoundRobin(AtomicU32::new(u32::MAX - 1));
        let first = rr.next(3);
        let got: Vec<i32> = (0..6).map(|_| rr.next(3)).collect();
        let expected: Vec<i32> = (1..7).map(|i| (first + i) % 3).collect();
        assert_eq!(got, expected);
    }

    #[test]
    fn round_robin_shares_out_evenly_across_threads() {
        const THREADS: usize = 4;
        const PER_THREAD: usize = 3 * 5_000;
        let rr = RoundRobin::new();
        let mut counts = [0usize; 3];
        std::thread::scope(|s| {
            let handles: Vec<_> = (0..THREADS)
                .map(|_| s.spawn(|| (0..PER_THREAD).map(|_| rr.next(3)).collect::<Vec<_>>()))
                .collect();
            for handle in handles {
                for p in handle.join().unwrap() {
                    counts[p as usize] += 1;
                }
            }
        });
        assert_eq!(counts, [THREADS * PER_THREAD / 3; 3]);
    }

    #[test]
    fn keyless_strategies_parse_and_print_their_names() {
        for strategy in KeylessStrategy::ALL {
            let name = strategy.to_string();
            assert_eq!(name.parse::<KeylessStrategy>(), Ok(strategy));
        }
        assert_eq!(KeylessStrategy::default(), KeylessStrategy::Sticky);
        let err = "round-robin".parse::<KeylessStrategy>().unwrap_err();
        assert_eq!(
            err.to_string(),
            "unknown keyless strategy `round-robin`; use `sticky`, `round_robin` or `random`"
        );
    }
}

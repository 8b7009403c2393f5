//! Partition routing rules, usable without a broker.
//!
//! Keyed messages go where the Java client puts them: `murmur2(key) & 0x7fffffff`
//! modulo the partition count. Keyless messages follow a [`KeylessStrategy`].

use std::fmt;
use std::str::FromStr;
use std::sync::atomic::{AtomicU32, Ordering};

/// Apache Kafka's murmur2 hash (the Java client's `Utils.murmur2`), seed `0x9747b28c`.
///
/// ```
/// assert_eq!(fastkafka::partition::murmur2(b"21"), -973932308);
/// ```
pub fn murmur2(data: &[u8]) -> i32 {
    const SEED: u32 = 0x9747_b28c;
    const M: u32 = 0x5bd1_e995;
    const R: u32 = 24;
    let length = data.len() as u32;
    let mut h: u32 = SEED ^ length;
    let mut chunks = data.chunks_exact(4);
    for chunk in &mut chunks {
        let mut k = u32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
        k = k.wrapping_mul(M);
        k ^= k >> R;
        k = k.wrapping_mul(M);
        h = h.wrapping_mul(M);
        h ^= k;
    }
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

/// The Java client's `Utils.toPositive`: clears the sign bit (not `abs`).
pub fn to_positive(n: i32) -> i32 {
    n & 0x7fff_ffff
}

/// The partition the Java client (and fastkafka) chooses for `key` in a topic with
/// `partition_count` partitions. Returns 0 when `partition_count` is not positive.
///
/// ```
/// use fastkafka::partition::partition_for_key;
/// let p = partition_for_key(b"user1", 3);
/// assert!((0..3).contains(&p));
/// ```
pub fn partition_for_key(key: &[u8], partition_count: i32) -> i32 {
    if partition_count <= 0 {
        return 0;
    }
    to_positive(murmur2(key)) % partition_count
}

/// Where keyless messages go.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum KeylessStrategy {
    /// Exact rotation: 0, 1, 2, …, wrapping around.
    RoundRobin,
    /// Fill a batch on one partition, then move on (librdkafka's sticky partitioner):
    /// fewer, larger requests; the default, for throughput.
    #[default]
    Sticky,
    /// A random partition per message.
    Random,
}

impl FromStr for KeylessStrategy {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "round_robin" => Ok(KeylessStrategy::RoundRobin),
            "sticky" => Ok(KeylessStrategy::Sticky),
            "random" => Ok(KeylessStrategy::Random),
            other => Err(format!(
                "unknown keyless strategy `{other}`; use `sticky`, `round_robin` or `random`"
            )),
        }
    }
}

impl fmt::Display for KeylessStrategy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            KeylessStrategy::RoundRobin => "round_robin",
            KeylessStrategy::Sticky => "sticky",
            KeylessStrategy::Random => "random",
        })
    }
}

/// A lock-free round-robin counter.
#[derive(Debug, Default)]
pub struct RoundRobin(AtomicU32);

impl RoundRobin {
    /// Starts at partition 0.
    pub const fn new() -> Self {
        RoundRobin(AtomicU32::new(0))
    }

    /// The next partition in `0..partition_count` (0 when the count is not positive).
    pub fn next(&self, partition_count: i32) -> i32 {
        if partition_count <= 0 {
            return 0;
        }
        (self.0.fetch_add(1, Ordering::Relaxed) % partition_count as u32) as i32
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A line-by-line transliteration of the Java client's `Utils.murmur2`, on signed
    /// 32-bit integers with Java's `>>>`, as an independent check of [`murmur2`].
    fn java_murmur2(data: &[u8]) -> i32 {
        let length = data.len() as i32;
        let seed: i32 = 0x9747_b28c_u32 as i32;
        let m: i32 = 0x5bd1_e995;
        let r = 24;
        let ushr = |x: i32, n: u32| ((x as u32) >> n) as i32;
        let byte = |i: i32| i32::from(data[i as usize]) & 0xff;
        let mut h = seed ^ length;
        for i in 0..length / 4 {
            let i4 = i * 4;
            let mut k = byte(i4)
                .wrapping_add(byte(i4 + 1) << 8)
                .wrapping_add(byte(i4 + 2) << 16)
                .wrapping_add(byte(i4 + 3) << 24);
            k = k.wrapping_mul(m);
            k ^= ushr(k, r);
            k = k.wrapping_mul(m);
            h = h.wrapping_mul(m);
            h ^= k;
        }
        let base = length & !3;
        let rest = length % 4;
        if rest == 3 {
            h ^= byte(base + 2) << 16;
        }
        if rest >= 2 {
            h ^= byte(base + 1) << 8;
        }
        if rest >= 1 {
            h ^= byte(base);
            h = h.wrapping_mul(m);
        }
        h ^= ushr(h, 13);
        h = h.wrapping_mul(m);
        h ^= ushr(h, 15);
        h
    }

    proptest! {
        #[test]
        fn murmur2_agrees_with_the_java_transliteration(key in proptest::collection::vec(any::<u8>(), 0..200)) {
            prop_assert_eq!(murmur2(&key), java_murmur2(&key));
        }

        #[test]
        fn partitions_are_in_range_and_follow_the_positive_hash(
            key in proptest::collection::vec(any::<u8>(), 0..64),
            count in 1i32..1000,
        ) {
            let p = partition_for_key(&key, count);
            prop_assert!((0..count).contains(&p));
            prop_assert_eq!(p, (java_murmur2(&key) & 0x7fff_ffff) % count);
        }
    }

    #[test]
    fn round_robin_rotates_exactly() {
        let rr = RoundRobin::new();
        let got: Vec<i32> = (0..7).map(|_| rr.next(3)).collect();
        assert_eq!(got, [0, 1, 2, 0, 1, 2, 0]);
        assert_eq!(RoundRobin::new().next(0), 0);
    }

    #[test]
    fn keyless_strategies_parse_and_print_their_names() {
        for s in ["round_robin", "sticky", "random"] {
            assert_eq!(s.parse::<KeylessStrategy>().unwrap().to_string(), s);
        }
        let err = "round-robin".parse::<KeylessStrategy>().unwrap_err();
        assert!(err.contains("round_robin"), "{err}");
    }

    #[test]
    fn murmur2_matches_apache_kafkas_published_vectors() {
        // Apache Kafka, clients/src/test/java/org/apache/kafka/common/utils/UtilsTest.java, testMurmur2.
        let cases: [(&[u8], i32); 6] = [
            (b"21", -973932308),
            (b"foobar", -790332482),
            (b"a-little-bit-long-string", -985981536),
            (b"a-little-bit-longer-string", -1486304829),
            (
                b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8",
                -58897971,
            ),
            (b"abc", 479470107),
        ];
        for (key, hash) in cases {
            assert_eq!(murmur2(key), hash, "{}", String::from_utf8_lossy(key));
        }
    }
}

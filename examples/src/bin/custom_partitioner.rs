//! Lab 4: a custom partitioner, `int(key) % partitions`. Keys 3, 2, 369 and 301 go to
//! partitions 0, 2, 0 and 1 of 3 (369 = 3 x 123, so 369 % 3 = 0).

use fastkafka::prelude::*;

// ANCHOR: partitioner
/// The key read as a decimal number, modulo the partition count. A key that is not a
/// number goes to partition -1, which fastkafka reports as an error to the caller.
pub fn by_number(key: Option<&[u8]>, partition_count: i32) -> i32 {
    key.and_then(|k| std::str::from_utf8(k).ok())
        .and_then(|k| k.trim().parse::<i64>().ok())
        .map_or(-1, |n| n.rem_euclid(i64::from(partition_count)) as i32)
}

#[produces(topic = "hello-world-4", partitioner = by_number)]
pub async fn send_numbered(key: &'static str, text: &'static str) -> KafkaEvent<String> {
    KafkaEvent::new(text.to_string()).key(key)
}
// ANCHOR_END: partitioner

pub fn app() -> FastKafka {
    FastKafka::builder()
        .title("Custom partitioner")
        .topic("hello-world-4", 3)
        // Three copies of each partition: one broker can fail (1 for a single-broker Kafka).
        .replication_factor(3)
        .build()
}

/// The four messages: key, value, and the partition the partitioner picks.
pub const PLAN: [(&str, &str, i32); 4] = [
    ("3", "Hello Partitioner", 0),
    ("2", "Hello Partitioner 2", 2),
    ("369", "Hello Partitioner 3", 0),
    ("301", "Hello Partitioner 4", 1),
];

#[run_in_background(restart = "never")]
async fn send_four() -> fastkafka::Result<()> {
    for (key, text, _) in PLAN {
        let d = send_numbered(key, text).await?.await?;
        tracing::info!(key, partition = d.partition, offset = d.offset, "sent");
    }
    Ok(())
}

fastkafka::main!(app);

//! Lab 1: writing to explicit partitions. Six messages to partitions 1, 1, 1, 2, 2, 0.

use fastkafka::prelude::*;

/// A numbered message.
#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
pub struct Numbered {
    /// Its number.
    pub number: u32,
}

pub fn app() -> FastKafka {
    FastKafka::builder()
        .title("Explicit partitions")
        .topic("hello-world-1", 3)
        // Three copies of each partition: one broker can fail (1 for a single-broker Kafka).
        .replication_factor(3)
        .build()
}

// ANCHOR: producer
/// Sends `number` to exactly `partition`; a partition the topic lacks is an error.
#[produces(topic = "hello-world-1")]
pub async fn send_to_partition(number: u32, partition: i32) -> KafkaEvent<Numbered> {
    KafkaEvent::new(Numbered { number }).partition(partition)
}
// ANCHOR_END: producer

/// The partitions the six messages go to, in order.
pub const PLAN: [(u32, i32); 6] = [(1, 1), (2, 1), (3, 1), (4, 2), (5, 2), (6, 0)];

/// Sends the six messages once.
#[run_in_background(restart = "never")]
async fn send_six() -> fastkafka::Result<()> {
    for (number, partition) in PLAN {
        let d = send_to_partition(number, partition).await?.await?;
        tracing::info!(number, partition = d.partition, offset = d.offset, "sent");
    }
    Ok(())
}

fastkafka::main!(app);

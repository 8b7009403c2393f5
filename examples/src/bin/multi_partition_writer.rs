//! Multi-partition writing: counter keys over a 2-partition topic, with a delivery
//! report per message (the notebook's `delivery_report` callback).
//!
//! ```shell
//! fastkafka run --num-workers 1 --kafka-broker embedded multi_partition_writer
//! ```

use fastkafka::prelude::*;

/// A count.
#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
pub struct Count {
    /// How many records were produced before this one.
    pub count: u64,
}

// ANCHOR: app
pub fn app() -> FastKafka {
    FastKafka::builder()
        .title("Multi-partition writer")
        .topic("counter", 2)
        // Three copies of each partition: one broker can fail (1 for a single-broker Kafka).
        .replication_factor(3)
        // Every message's delivery report, as confluent-kafka's `on_delivery` callback.
        .on_delivery(|report| match report.error {
            None => tracing::info!(
                "Produced record to topic {} partition [{}] @ offset {}",
                report.topic,
                report.partition,
                report.offset
            ),
            Some(error) => tracing::error!("Failed to deliver message: {error}"),
        })
        .build()
}
// ANCHOR_END: app

// ANCHOR: producer
/// One count, keyed by its number as text: the key decides the partition.
#[produces]
pub async fn to_counter(n: u64) -> KafkaEvent<Count> {
    KafkaEvent::new(Count { count: n }).key(n.to_string())
}
// ANCHOR_END: producer

/// Counts up, one record a second.
#[run_in_background]
async fn count_every_second() -> fastkafka::Result<()> {
    for n in 0.. {
        tracing::info!(key = n, value = %serde_json::json!({ "count": n }), "Producing record");
        drop(to_counter(n).await?);
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    Ok(())
}

fastkafka::main!(app);

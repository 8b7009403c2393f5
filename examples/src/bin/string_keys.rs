//! Lab 3: string keys with JSON values. `ping` x3 and `pong` x3: each key stays on one
//! partition.

use fastkafka::prelude::*;

/// A numbered message.
#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
pub struct Numbered {
    /// Its number.
    pub number: u32,
}

pub fn app() -> FastKafka {
    FastKafka::builder()
        .title("String keys")
        .topic("hello-world-3", 3)
        // Three copies of each partition: one broker can fail (1 for a single-broker Kafka).
        .replication_factor(3)
        .build()
}

// ANCHOR: producer
#[produces(topic = "hello-world-3")]
pub async fn send_keyed(key: &'static str, number: u32) -> KafkaEvent<Numbered> {
    KafkaEvent::new(Numbered { number }).key(key)
}
// ANCHOR_END: producer

/// The six messages: key and number.
pub const PLAN: [(&str, u32); 6] = [
    ("ping", 1),
    ("ping", 2),
    ("ping", 3),
    ("pong", 4),
    ("pong", 5),
    ("pong", 6),
];

#[run_in_background(restart = "never")]
async fn send_pings_and_pongs() -> fastkafka::Result<()> {
    for (key, number) in PLAN {
        let d = send_keyed(key, number).await?.await?;
        tracing::info!(
            key,
            number,
            partition = d.partition,
            offset = d.offset,
            "sent"
        );
    }
    Ok(())
}

fastkafka::main!(app);

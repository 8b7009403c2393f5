//! Consume, transform, produce: greetings from `hello_world` are upper-cased and sent to
//! `hello_world_upper` with the same key; messages that do not decode go to
//! `hello_world_dlq` with the error in a header.
//!
//! ```shell
//! fastkafka run --num-workers 2 --kafka-broker embedded uppercase_app
//! ```

use fastkafka::prelude::*;

/// A greeting.
#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
pub struct HelloWorld {
    /// Demo hello world message
    #[schemars(example = &"Hello")]
    pub msg: String,
}

// ANCHOR: app
pub fn app() -> FastKafka {
    FastKafka::builder()
        .title("Uppercase app")
        .description("Upper-cases greetings, keeping their keys")
        .topic("hello_world", 6)
        .topic("hello_world_upper", 6)
        // Three copies of each partition: one broker can fail (1 for a single-broker Kafka).
        .replication_factor(3)
        // A worker that dies is noticed after 20 s rather than librdkafka's 45 s
        // default, so its partitions move to the others sooner; and a session outlasts
        // the failover of the group's coordinator (the dead broker is fenced after the
        // brokers' broker.session.timeout.ms, 9 s by default, then another loads the
        // group: 8 to 12 s measured), so that such a failover moves no partition.
        .consumer_config("session.timeout.ms", "20000")
        .consumer_config("heartbeat.interval.ms", "2000")
        .build()
}
// ANCHOR_END: app

// ANCHOR: pipeline
/// Reads greetings; an undecodable one goes to `hello_world_dlq`.
#[consumes(dead_letter = "hello_world_dlq")]
pub async fn on_hello_world(msg: HelloWorld, meta: EventMetadata) -> fastkafka::Result<()> {
    let upper = HelloWorld {
        msg: msg.msg.to_uppercase(),
    };
    // Queued, not awaited: fastkafka commits this greeting only once the broker has
    // acknowledged its upper-cased copy (a crash in between means a redelivery, never
    // a lost message), while the next greetings are handled meanwhile.
    to_hello_world_upper(upper, meta.key).await?;
    Ok(())
}

/// Writes an upper-cased greeting with the key of the greeting it came from.
#[produces]
async fn to_hello_world_upper(msg: HelloWorld, key: Option<Vec<u8>>) -> KafkaEvent<HelloWorld> {
    let event = KafkaEvent::new(msg);
    match key {
        Some(key) => event.key(key),
        None => event,
    }
}
// ANCHOR_END: pipeline

fastkafka::main!(app);

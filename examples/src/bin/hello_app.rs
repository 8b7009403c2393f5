//! The app of FastKafka's "Defining a partition key" guide, in Rust.
//!
//! A producer that sends `HelloWorld` messages with the key `my_key` to the topic
//! `hello_world`, and a background task that calls it every second.
//!
//! Run it with no Kafka installed:
//!
//! ```shell
//! fastkafka run --num-workers 2 --kafka-broker embedded hello_app
//! ```

use fastkafka::prelude::*;

// ANCHOR: message
/// A greeting.
#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
pub struct HelloWorld {
    /// Demo hello world message
    #[schemars(example = &"Hello")]
    pub msg: String,
}
// ANCHOR_END: message

// ANCHOR: app
pub fn app() -> FastKafka {
    FastKafka::builder()
        .title("Demo Kafka producer app")
        .version("0.1.0")
        .description("Sends a keyed greeting every second")
        .broker(
            "demo_broker",
            Broker::new("localhost", 9092).description("local demo kafka broker"),
        )
        .build()
}
// ANCHOR_END: app

// ANCHOR: producer
/// Sends a greeting to the `hello_world` topic, always with the key `my_key`.
#[produces]
pub async fn to_hello_world(msg: String) -> KafkaEvent<HelloWorld> {
    KafkaEvent::new(HelloWorld { msg }).key(b"my_key")
}
// ANCHOR_END: producer

// ANCHOR: background
/// Says hello every second, and logs where each greeting landed.
#[run_in_background]
async fn hello_every_second() -> fastkafka::Result<()> {
    loop {
        // Queued at once: no broker round trip here.
        let pending = to_hello_world("Hello world!".into()).await?;
        // Acknowledged by the broker: topic, partition, offset.
        let delivery = pending.await?;
        tracing::info!(
            topic = %delivery.topic,
            partition = delivery.partition,
            offset = delivery.offset,
            "sent"
        );
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}
// ANCHOR_END: background

fastkafka::main!(app);

//! Lab 2: byte keys. Two `foo` messages with the raw payload `bar` land on one partition.

use fastkafka::prelude::*;

pub fn app() -> FastKafka {
    FastKafka::builder()
        .title("Byte keys")
        .topic("hello-world-2", 3)
        // Three copies of each partition: one broker can fail (1 for a single-broker Kafka).
        .replication_factor(3)
        .build()
}

// ANCHOR: producer
/// Raw bytes in, raw bytes out: a `Vec<u8>` payload is sent as it is, not as JSON.
#[produces(topic = "hello-world-2")]
pub async fn send_foo(value: Vec<u8>) -> KafkaEvent<Vec<u8>> {
    KafkaEvent::new(value).key(b"foo")
}
// ANCHOR_END: producer

#[run_in_background(restart = "never")]
async fn send_twice() -> fastkafka::Result<()> {
    for _ in 0..2 {
        let d = send_foo(b"bar".to_vec()).await?.await?;
        tracing::info!(
            key = "foo",
            partition = d.partition,
            offset = d.offset,
            "sent"
        );
    }
    Ok(())
}

fastkafka::main!(app);

//! Runs an example app in-process against a fresh embedded broker and reads back what
//! it wrote with a plain consumer.

#![allow(dead_code)]

use std::time::Duration;

use fastkafka::testing::{read_to_end, read_topic, Record};
use fastkafka::{EmbeddedBroker, FastKafka};

/// Starts `app`, waits until `topic` holds `count` records, stops the app, and returns
/// everything the topic holds then (so extra messages would show).
pub async fn run_until(app: FastKafka, topic: &str, count: usize) -> (EmbeddedBroker, Vec<Record>) {
    let _turn = fastkafka::testing::exclusive().await;
    let broker = EmbeddedBroker::start().unwrap();
    for (name, partitions) in app.declared_topics() {
        broker.create_topic(name, *partitions).unwrap();
    }
    let running = app.start(broker.bootstrap_servers()).await.unwrap();
    let bootstrap = broker.bootstrap_servers().to_string();
    let name = topic.to_string();
    tokio::task::spawn_blocking(move || {
        read_topic(&bootstrap, &name, count, Duration::from_secs(20))
    })
    .await
    .unwrap()
    .unwrap();
    let report = running.stop().await.unwrap();
    assert_eq!(report.deliveries.failed, 0);
    let records = read_to_end(broker.bootstrap_servers(), topic, Duration::from_secs(10)).unwrap();
    (broker, records)
}

/// The topic's partition count, as the broker says.
pub fn partition_count(bootstrap: &str, topic: &str) -> usize {
    use fastkafka::rdkafka::consumer::{BaseConsumer, Consumer};
    let c: BaseConsumer = fastkafka::rdkafka::ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .create()
        .unwrap();
    let md = c
        .fetch_metadata(Some(topic), Duration::from_secs(5))
        .unwrap();
    md.topics()[0].partitions().len()
}

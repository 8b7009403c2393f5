mod common;
#[allow(dead_code)]
#[path = "../src/bin/multi_partition_writer.rs"]
mod example;

use std::time::Duration;

use fastkafka::partition::partition_for_key;
use fastkafka::testing::read_to_end;
use fastkafka::EmbeddedBroker;

#[tokio::test(flavor = "multi_thread")]
async fn counter_keys_spread_over_both_partitions_as_the_java_client_would() {
    let broker = EmbeddedBroker::start().unwrap();
    broker.create_topic("counter", 2).unwrap();
    let running = example::app()
        .start(broker.bootstrap_servers())
        .await
        .unwrap();
    let mut deliveries = Vec::new();
    for n in 1000..1040 {
        deliveries.push((n, example::to_counter(n).await.unwrap().await.unwrap()));
    }
    running.stop().await.unwrap();
    assert_eq!(
        common::partition_count(broker.bootstrap_servers(), "counter"),
        2
    );
    let records = read_to_end(
        broker.bootstrap_servers(),
        "counter",
        Duration::from_secs(10),
    )
    .unwrap();
    for (n, d) in deliveries {
        let key = n.to_string();
        assert_eq!(
            d.partition,
            partition_for_key(key.as_bytes(), 2),
            "key {key}"
        );
        let r = records
            .iter()
            .find(|r| r.partition == d.partition && r.offset == d.offset)
            .unwrap();
        assert_eq!(r.key.as_deref(), Some(key.as_bytes()));
        assert_eq!(r.payload_text(), format!(r#"{{"count":{n}}}"#));
    }
    let used: std::collections::HashSet<i32> = records.iter().map(|r| r.partition).collect();
    assert_eq!(used.len(), 2, "both partitions are used");
}

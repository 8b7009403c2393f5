mod common;
#[allow(dead_code)]
#[path = "../src/bin/explicit_partitions.rs"]
mod example;

#[tokio::test(flavor = "multi_thread")]
async fn six_messages_land_on_partitions_1_1_1_2_2_0() {
    let (broker, records) = common::run_until(example::app(), "hello-world-1", 6).await;
    assert_eq!(
        common::partition_count(broker.bootstrap_servers(), "hello-world-1"),
        3
    );
    assert_eq!(records.len(), 6);
    for (number, partition) in example::PLAN {
        let r = records
            .iter()
            .find(|r| r.payload_text() == format!(r#"{{"number":{number}}}"#))
            .unwrap_or_else(|| panic!("message {number} missing: {records:?}"));
        assert_eq!(r.partition, partition, "message {number}");
        assert_eq!(r.key, None);
    }
}

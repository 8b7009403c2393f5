mod common;
#[allow(dead_code)]
#[path = "../src/bin/byte_keys.rs"]
mod example;

use fastkafka::partition::partition_for_key;

#[tokio::test(flavor = "multi_thread")]
async fn two_foo_messages_share_one_partition() {
    let (_broker, records) = common::run_until(example::app(), "hello-world-2", 2).await;
    assert_eq!(records.len(), 2);
    for r in &records {
        assert_eq!(r.key.as_deref(), Some(&b"foo"[..]));
        assert_eq!(
            r.payload.as_deref(),
            Some(&b"bar"[..]),
            "raw bytes, not JSON"
        );
        assert_eq!(r.partition, partition_for_key(b"foo", 3));
    }
}

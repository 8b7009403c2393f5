mod common;
#[allow(dead_code)]
#[path = "../src/bin/string_keys.rs"]
mod example;

use fastkafka::partition::partition_for_key;

#[tokio::test(flavor = "multi_thread")]
async fn each_key_stays_on_its_partition_in_order() {
    let (_broker, records) = common::run_until(example::app(), "hello-world-3", 6).await;
    assert_eq!(records.len(), 6);
    for key in ["ping", "pong"] {
        let mine: Vec<_> = records
            .iter()
            .filter(|r| r.key.as_deref() == Some(key.as_bytes()))
            .collect();
        assert_eq!(mine.len(), 3);
        assert!(mine
            .iter()
            .all(|r| r.partition == partition_for_key(key.as_bytes(), 3)));
        // Order per key is kept: offsets rise with the numbers.
        let numbers: Vec<String> = mine.iter().map(|r| r.payload_text()).collect();
        let expected: Vec<String> = example::PLAN
            .iter()
            .filter(|(k, _)| *k == key)
            .map(|(_, n)| format!(r#"{{"number":{n}}}"#))
            .collect();
        assert_eq!(numbers, expected);
    }
}

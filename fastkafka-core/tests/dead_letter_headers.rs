//! The `DeadLetter` message of the AsyncAPI document lists exactly the headers that
//! dead letters carry, with values its schema allows: records failing at each stage
//! (decode, handler, output), a tombstone, and a record too large for the dead-letter
//! topic are dead-lettered, read back from the broker and checked against the document.

use std::collections::BTreeSet;
use std::time::Duration;

use fastkafka::dead_letter_headers;
use fastkafka::embedded::EmbeddedBroker;
use fastkafka::prelude::*;
use fastkafka::rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use fastkafka::rdkafka::ClientConfig;
use fastkafka::testing::{capture_logs, eventually, read_to_end};
use serde_json::Value;

/// Over the producer's 1 MB `message.max.bytes`: it cannot be written.
const BIG: usize = 2 << 20;

#[derive(Deserialize, JsonSchema, Debug)]
struct Reading {
    celsius: f64,
}

#[produces(topic = "dl_big_out")]
async fn to_dl_big_out(bytes: Vec<u8>) -> Vec<u8> {
    bytes
}

/// Below zero: fails. Exactly 1: sends an output too large to be written, and ignores
/// the error (the output fails after the handler succeeded).
#[consumes(topic = "dl_in", dead_letter = "dl_dlq", retries = 0)]
async fn on_dl_in(reading: Reading) -> Result<(), String> {
    if reading.celsius < 0.0 {
        return Err("below zero".into());
    }
    if reading.celsius == 1.0 {
        let _ = to_dl_big_out(vec![b'x'; BIG]).await;
    }
    Ok(())
}

fn app() -> FastKafka {
    capture_logs();
    FastKafka::builder()
        .title("dead letter header tests")
        .build()
}

/// Sends the payloads (`None`: a tombstone) to `topic`, as they are.
fn produce(bootstrap: &str, topic: &str, payloads: &[Option<Vec<u8>>]) {
    let producer: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("message.max.bytes", "10000000")
        .create()
        .unwrap();
    for p in payloads {
        let record = BaseRecord::<(), [u8]>::to(topic);
        let record = match p {
            Some(p) => record.payload(&p[..]),
            None => record,
        };
        producer.send(record).map_err(|(e, _)| e).unwrap();
    }
    producer.flush(Duration::from_secs(30)).unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn every_header_a_dead_letter_carries_is_in_its_asyncapi_schema() {
    let broker = EmbeddedBroker::with_partitions(1).unwrap();
    for t in ["dl_in", "dl_dlq", "dl_big_out"] {
        broker.create_topic(t, 1).unwrap();
    }
    let bootstrap = broker.bootstrap_servers().to_string();
    let mut too_large = br#"{"celsius": -5, "padding": ""#.to_vec();
    too_large.extend(std::iter::repeat_n(b'x', BIG));
    too_large.extend(br#""}"#);
    produce(
        &bootstrap,
        "dl_in",
        &[
            Some(b"not json".to_vec()),
            Some(br#"{"celsius": -1}"#.to_vec()),
            Some(br#"{"celsius": 1}"#.to_vec()),
            None,
            Some(too_large),
        ],
    );
    let running = app().start(&bootstrap).await.unwrap();
    let b = bootstrap.clone();
    eventually("5 dead letters", Duration::from_secs(60), move || {
        read_to_end(&b, "dl_dlq", Duration::from_secs(1)).is_ok_and(|r| r.len() >= 5)
    })
    .await;
    running.stop().await.unwrap();
    let dead_letters = read_to_end(&bootstrap, "dl_dlq", Duration::from_secs(10)).unwrap();
    assert_eq!(dead_letters.len(), 5, "{dead_letters:?}");

    let doc = app().asyncapi();
    let schema = &doc["channels"]["dl_dlq"]["messages"]["DeadLetter"]["headers"];
    assert_eq!(schema["type"], "object", "{schema}");
    let properties = schema["properties"].as_object().unwrap();
    let required: Vec<&str> = schema["required"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();

    let mut written = BTreeSet::new();
    let mut stages = BTreeSet::new();
    for record in &dead_letters {
        for (name, value) in &record.headers {
            let value = String::from_utf8_lossy(value);
            let Some(property) = properties.get(name) else {
                panic!("a dead letter carries `{name}` = {value:?}, which the AsyncAPI document does not list: {schema}");
            };
            assert_eq!(property["type"], "string", "{name}");
            assert!(
                !property["description"].as_str().unwrap_or("").is_empty(),
                "{name} has no description"
            );
            if let Some(allowed) = property["enum"].as_array() {
                assert!(
                    allowed.iter().any(|a| a == value.as_ref()),
                    "{name} = {value:?}, not one of {allowed:?}"
                );
            }
            written.insert(name.clone());
        }
        for name in &required {
            assert!(
                record.header(name).is_some(),
                "a dead letter lacks the required {name}: {record:?}"
            );
        }
        stages.extend(record.header(dead_letter_headers::STAGE));
    }
    // Every stage and every optional header was written, and each is documented:
    // the document lists no header that is never written either.
    assert_eq!(
        stages,
        BTreeSet::from(["decode".into(), "handler".into(), "output".into()])
    );
    let documented: BTreeSet<String> = properties.keys().cloned().collect();
    assert_eq!(written, documented);
    assert_eq!(
        properties[dead_letter_headers::STAGE]["enum"],
        serde_json::json!(dead_letter_headers::STAGES)
    );
    for name in [
        dead_letter_headers::TOMBSTONE,
        dead_letter_headers::ORIGINAL_SIZE,
        dead_letter_headers::DEAD_LETTER_ERROR,
    ] {
        assert!(properties.contains_key(name), "{name}");
        assert!(
            !required.contains(&name),
            "{name} is not on every dead letter"
        );
    }
}

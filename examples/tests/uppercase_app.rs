#[allow(dead_code)]
#[path = "../src/bin/uppercase_app.rs"]
mod example;

use std::collections::HashMap;
use std::time::Duration;

use fastkafka::rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use fastkafka::rdkafka::ClientConfig;
use fastkafka::testing::{exclusive, read_topic};
use fastkafka::{dead_letter_headers, EmbeddedBroker};

/// Another client writes the input: plain rdkafka, no fastkafka.
fn produce_input(bootstrap: &str, records: &[(String, Vec<u8>)]) {
    let producer: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .create()
        .unwrap();
    for (key, payload) in records {
        loop {
            match producer.send(
                BaseRecord::<String, Vec<u8>>::to("hello_world")
                    .key(key)
                    .payload(payload),
            ) {
                Ok(()) => break,
                Err(_) => {
                    producer.poll(Duration::from_millis(10));
                }
            }
        }
        producer.poll(Duration::ZERO);
    }
    producer.flush(Duration::from_secs(30)).unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn greetings_are_upper_cased_with_their_keys_and_bad_ones_are_dead_lettered() {
    let _turn = exclusive().await;
    let broker = EmbeddedBroker::start().unwrap();
    let mut input = Vec::new();
    for i in 0..300 {
        input.push((
            format!("key-{}", i % 7),
            format!(r#"{{"msg":"hello number {i}"}}"#).into_bytes(),
        ));
        if i % 100 == 50 {
            input.push(("bad".to_string(), format!("not json {i}").into_bytes()));
        }
    }
    let bootstrap = broker.bootstrap_servers().to_string();
    let running = example::app().start(&bootstrap).await.unwrap();
    let b = bootstrap.clone();
    let input_copy = input.clone();
    tokio::task::spawn_blocking(move || produce_input(&b, &input_copy))
        .await
        .unwrap();

    let b = bootstrap.clone();
    let (upper, dlq) = tokio::task::spawn_blocking(move || {
        (
            read_topic(&b, "hello_world_upper", 300, Duration::from_secs(60)).unwrap(),
            read_topic(&b, "hello_world_dlq", 3, Duration::from_secs(30)).unwrap(),
        )
    })
    .await
    .unwrap();
    running.stop().await.unwrap();

    assert_eq!(upper.len(), 300);
    let mut per_key: HashMap<Vec<u8>, Vec<u64>> = HashMap::new();
    for r in &upper {
        let msg: example::HelloWorld =
            serde_json::from_slice(r.payload.as_deref().unwrap()).unwrap();
        let n: u64 = msg
            .msg
            .strip_prefix("HELLO NUMBER ")
            .unwrap()
            .parse()
            .unwrap();
        assert_eq!(
            r.key.as_deref(),
            Some(format!("key-{}", n % 7).as_bytes()),
            "key kept"
        );
        per_key.entry(r.key.clone().unwrap()).or_default().push(n);
    }
    for (key, numbers) in per_key {
        assert!(
            numbers.windows(2).all(|w| w[0] < w[1]),
            "order of {key:?}: {numbers:?}"
        );
    }

    assert_eq!(dlq.len(), 3);
    for r in &dlq {
        assert_eq!(r.key.as_deref(), Some(&b"bad"[..]));
        assert!(r.payload_text().starts_with("not json "));
        let header = |name: &str| r.header(name);
        assert!(
            header(dead_letter_headers::ERROR)
                .unwrap()
                .contains("invalid JSON"),
            "{r:?}"
        );
        assert_eq!(
            header(dead_letter_headers::STAGE).as_deref(),
            Some("decode")
        );
        assert_eq!(
            header(dead_letter_headers::TOPIC).as_deref(),
            Some("hello_world")
        );
        assert!(header(dead_letter_headers::OFFSET).is_some());
    }
}

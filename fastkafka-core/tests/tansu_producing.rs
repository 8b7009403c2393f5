//! Producer functions against Tansu, an independent Kafka-compatible broker: the topic
//! is created by the app, keys land where the Java client puts them, pinned partitions
//! are checked against the broker's metadata, and delivery reports match the log.

use std::time::Duration;

use fastkafka::partition::partition_for_key;
use fastkafka::prelude::*;
use fastkafka::testing::read_topic;
use fastkafka::Error;
use fastkafka_test_support::Tansu;

const PARTITIONS: i32 = 6;

#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
struct Visit {
    user: String,
    n: u32,
}

#[produces(topic = "visits")]
async fn send_visit(n: u32) -> KafkaEvent<Visit> {
    let user = format!("user{}", n % 37);
    KafkaEvent::new(Visit {
        user: user.clone(),
        n,
    })
    .key(user)
    .header("origin", "tansu-test")
}

#[produces(topic = "visits")]
async fn send_pinned(n: u32, partition: i32) -> KafkaEvent<Visit> {
    KafkaEvent::new(Visit {
        user: "pinned".into(),
        n,
    })
    .partition(partition)
}

#[tokio::test(flavor = "multi_thread")]
async fn keyed_and_pinned_messages_land_where_they_should_on_tansu() {
    let tansu = Tansu::start();
    let bootstrap = tansu.bootstrap();
    let running = FastKafka::builder()
        .title("tansu producing")
        .topic("visits", PARTITIONS)
        .build()
        .start(&bootstrap)
        .await
        .unwrap();

    let mut pending = Vec::new();
    for n in 0..300 {
        pending.push(send_visit(n).await.unwrap());
    }
    let mut deliveries = Vec::new();
    for p in pending {
        deliveries.push(p.await.unwrap());
    }
    let pinned = send_pinned(1000, 4).await.unwrap().await.unwrap();
    assert_eq!(pinned.partition, 4);
    // A partition the topic does not have: refused before sending, with the count.
    let err = send_pinned(1001, PARTITIONS).await.err().unwrap();
    assert!(matches!(err, Error::PartitionOutOfRange { .. }), "{err:?}");
    assert!(err.to_string().contains("6 partitions"), "{err}");
    running.stop().await.unwrap();

    let b = bootstrap.clone();
    let records =
        tokio::task::spawn_blocking(move || read_topic(&b, "visits", 301, Duration::from_secs(30)))
            .await
            .unwrap()
            .unwrap();
    assert_eq!(records.len(), 301, "exactly what was sent, nothing more");
    for record in &records {
        let visit: Visit = serde_json::from_slice(record.payload.as_deref().unwrap()).unwrap();
        if visit.user == "pinned" {
            assert_eq!((record.partition, visit.n), (4, 1000));
            assert_eq!(record.key, None);
            continue;
        }
        let key = record.key.as_deref().unwrap();
        assert_eq!(key, visit.user.as_bytes());
        assert_eq!(
            record.partition,
            partition_for_key(key, PARTITIONS),
            "{} on the Java client's partition",
            visit.user
        );
        assert_eq!(
            record.headers,
            vec![("origin".to_string(), b"tansu-test".to_vec())]
        );
        // The delivery report said where this very record is.
        let report = &deliveries[visit.n as usize];
        assert_eq!(
            (&*report.topic, report.partition, report.offset),
            ("visits", record.partition, record.offset)
        );
    }
    // Per-key order: each user's visits are in the order they were sent.
    for user in 0..37 {
        let ns: Vec<u32> = records
            .iter()
            .filter_map(|r| serde_json::from_slice::<Visit>(r.payload.as_deref()?).ok())
            .filter(|v| v.user == format!("user{user}"))
            .map(|v| v.n)
            .collect();
        assert!(ns.windows(2).all(|w| w[0] < w[1]), "user{user}: {ns:?}");
    }
}

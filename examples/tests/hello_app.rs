//! hello_app in-process and as a worker process, checked by reading the topic back.

// The bin keeps the `pub` items its guide shows.
#[allow(dead_code, unreachable_pub)]
#[path = "../src/bin/hello_app.rs"]
mod hello_app;

use std::process::{Command, Stdio};
use std::time::Duration;

use fastkafka::embedded::EmbeddedBroker;
use fastkafka::testing::{read_to_end, read_topic};
use hello_app::HelloWorld;

#[tokio::test(flavor = "multi_thread")]
async fn hello_app_sends_keyed_json_greetings_where_its_delivery_reports_say() {
    let broker = EmbeddedBroker::start().unwrap();
    let running = hello_app::app()
        .start(broker.bootstrap_servers())
        .await
        .unwrap();

    // The background task sends one greeting a second; call the producer directly too.
    let mut pending = Vec::new();
    for _ in 0..10 {
        pending.push(
            hello_app::to_hello_world("Hello world!".into())
                .await
                .unwrap(),
        );
    }
    let mut deliveries = Vec::new();
    for p in pending {
        deliveries.push(p.await.unwrap());
    }
    let bootstrap = broker.bootstrap_servers().to_string();
    // Wait for the background task's own greetings too.
    tokio::task::spawn_blocking(move || {
        read_topic(&bootstrap, "hello_world", 12, Duration::from_secs(15))
    })
    .await
    .unwrap()
    .unwrap();
    let report = running.stop().await.unwrap();

    // ANCHOR: read_back
    // `broker` is the EmbeddedBroker the app ran against; `report`, what it said when
    // it stopped.
    let records = read_to_end(
        broker.bootstrap_servers(),
        "hello_world",
        Duration::from_secs(10),
    )
    .unwrap();
    assert_eq!(records.len() as u64, report.deliveries.delivered);
    for r in &records {
        assert_eq!(r.key.as_deref(), Some(&b"my_key"[..]));
        assert_eq!(r.payload_text(), r#"{"msg":"Hello world!"}"#);
    }
    // ANCHOR_END: read_back
    assert!(records.len() >= 12);
    for r in &records {
        let msg: HelloWorld = serde_json::from_slice(r.payload.as_deref().unwrap()).unwrap();
        assert_eq!(
            msg,
            HelloWorld {
                msg: "Hello world!".into()
            }
        );
    }
    for d in &deliveries {
        assert_eq!(&*d.topic, "hello_world");
        assert!(
            records
                .iter()
                .any(|r| r.partition == d.partition && r.offset == d.offset),
            "no record at {d:?}"
        );
    }
}

#[test]
fn hello_app_exits_0_on_sigterm_without_losing_a_reported_message() {
    let broker = EmbeddedBroker::start().unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_hello_app"))
        .args(["run", "--kafka-broker", broker.bootstrap_servers()])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(2500));
    // SAFETY: our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let out = child.wait_with_output().unwrap();
    let logs = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{logs}");
    assert!(
        logs.contains("received shutdown signal signal=\"SIGTERM\""),
        "{logs}"
    );

    let reported: Vec<(i32, i64)> = logs
        .lines()
        .filter(|l| l.contains(" sent topic=hello_world"))
        .map(|l| {
            let field = |name: &str| -> i64 {
                let rest = &l[l.find(&format!(" {name}=")).unwrap() + name.len() + 2..];
                rest.split(' ').next().unwrap().parse().unwrap()
            };
            (field("partition") as i32, field("offset"))
        })
        .collect();
    assert!(reported.len() >= 2, "{logs}");
    let records = read_to_end(
        broker.bootstrap_servers(),
        "hello_world",
        Duration::from_secs(10),
    )
    .unwrap();
    for (partition, offset) in reported {
        assert!(records
            .iter()
            .any(|r| r.partition == partition && r.offset == offset));
    }
}

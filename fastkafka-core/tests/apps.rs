//! Several apps in one process, each made of its own functions and running against its
//! own broker: what each app's tasks produce lands on that app's broker. Checked at
//! both brokers.

use std::time::Duration;

use fastkafka::embedded::EmbeddedBroker;
use fastkafka::prelude::*;
use fastkafka::testing::{eventually, exclusive, read_to_end, send_payloads};
use fastkafka::Error;

const WAIT: Duration = Duration::from_secs(30);

/// In both apps: copies its input to `echo_out`.
#[consumes(topic = "echo_in")]
async fn on_echo_in(text: String) -> fastkafka::Result<()> {
    to_echo_out(text).await?;
    Ok(())
}

#[produces(topic = "echo_out")]
async fn to_echo_out(text: String) -> String {
    text
}

/// Only in app B.
#[consumes(topic = "only_b_in")]
async fn on_only_b_in(text: String) -> fastkafka::Result<()> {
    to_echo_out(format!("b:{text}")).await?;
    Ok(())
}

/// Only in app A: says hello once when the app starts.
#[run_in_background]
async fn announce() -> fastkafka::Result<()> {
    to_ticks("hello".into()).await?.await?;
    loop {
        tokio::time::sleep(Duration::from_secs(3600)).await;
    }
}

#[produces(topic = "ticks")]
async fn to_ticks(text: String) -> String {
    text
}

fn broker() -> EmbeddedBroker {
    let broker = EmbeddedBroker::with_partitions(1).unwrap();
    for t in ["echo_in", "echo_out", "only_b_in", "ticks"] {
        broker.create_topic(t, 1).unwrap();
    }
    broker
}

fn send(bootstrap: &str, topic: &str, texts: &[&str]) {
    send_payloads(bootstrap, topic, texts).unwrap();
}

fn texts(bootstrap: &str, topic: &str) -> Vec<String> {
    let mut t: Vec<String> = read_to_end(bootstrap, topic, Duration::from_secs(10))
        .unwrap()
        .iter()
        .map(|r| r.payload_text())
        .collect();
    t.sort();
    t
}

/// Waits until `topic` on `bootstrap` holds exactly `expected` (in any order).
async fn holds(bootstrap: &str, topic: &'static str, expected: &[&str]) {
    let (b, mut want) = (
        bootstrap.to_string(),
        expected.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
    );
    want.sort();
    let what = format!("{topic} on {bootstrap} to hold {want:?}");
    eventually(&what, WAIT, move || texts(&b, topic) == want).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn two_apps_run_side_by_side_each_sending_through_its_own_broker() {
    let _serial = exclusive().await;
    let (broker_a, broker_b) = (broker(), broker());
    let (a, b) = (broker_a.bootstrap_servers(), broker_b.bootstrap_servers());
    // ANCHOR: two_apps
    let app_a = FastKafka::builder()
        .title("app a")
        .only(["on_echo_in", "to_echo_out", "announce", "to_ticks"])
        .build();
    let app_b = FastKafka::builder()
        .title("app b")
        .only(["on_echo_in", "on_only_b_in", "to_echo_out"])
        .build();
    let running_a = app_a.start(a).await.unwrap();
    let running_b = app_b.start(b).await.unwrap();
    // ANCHOR_END: two_apps

    send(a, "echo_in", &["a1", "a2"]);
    send(b, "echo_in", &["b1"]);
    send(b, "only_b_in", &["x"]);
    // App A does not consume `only_b_in`: this stays unread.
    send(a, "only_b_in", &["y"]);
    holds(a, "echo_out", &["a1", "a2"]).await;
    holds(b, "echo_out", &["b1", "b:x"]).await;
    // Only app A runs `announce`.
    holds(a, "ticks", &["hello"]).await;
    assert!(texts(b, "ticks").is_empty());

    // From outside both apps: the first running app that has the function (A); or the
    // one asked for.
    to_echo_out("outside".into()).await.unwrap().await.unwrap();
    running_b
        .scope(async { to_echo_out("scoped".into()).await?.await })
        .await
        .unwrap();
    holds(a, "echo_out", &["a1", "a2", "outside"]).await;
    holds(b, "echo_out", &["b1", "b:x", "scoped"]).await;

    running_a.stop().await.unwrap();
    // With app A stopped, a call from outside has no app to go to.
    assert!(matches!(
        to_echo_out("late".into()).await,
        Err(Error::NotRunning { .. })
    ));
    // App B goes on, and its consumers still send through it.
    send(b, "echo_in", &["b2"]);
    holds(b, "echo_out", &["b1", "b2", "b:x", "scoped"]).await;
    running_b.stop().await.unwrap();
    assert_eq!(
        texts(a, "echo_out").len(),
        3,
        "nothing more reached broker A"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_handler_calling_a_producer_its_app_lacks_gives_up_at_once() {
    let _serial = exclusive().await;
    let broker = broker();
    let bootstrap = broker.bootstrap_servers();
    let running = FastKafka::builder()
        .title("no producer")
        .only(["on_echo_in"])
        .build()
        .start(bootstrap)
        .await
        .unwrap();
    send(bootstrap, "echo_in", &["lost"]);
    // Not retried: the app lacks the function, which no retry changes.
    let deadline = std::time::Instant::now() + WAIT;
    while running.consumer_counts().skipped < 1 {
        assert!(std::time::Instant::now() < deadline, "never given up");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(running.consumer_counts().handled, 0);
    running.stop().await.unwrap();
    assert!(texts(bootstrap, "echo_out").is_empty());
}

#[tokio::test]
async fn an_unknown_function_name_stops_the_start_and_lists_the_known_ones() {
    let err = FastKafka::builder()
        .only(["on_echo_in", "on_nothing"])
        .build()
        .start("embedded")
        .await
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("`on_nothing`"), "{err}");
    assert!(!err.contains("names `on_echo_in`"), "{err}");
    assert!(err.contains("`on_only_b_in`"), "{err}");
}

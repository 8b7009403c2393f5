//! Consume, transform, produce: a handler queues its outputs and returns; its input is
//! committed only once every output is acknowledged, and an output that fails fails
//! its input. Counted at the broker.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use fastkafka::dead_letter_headers;
use fastkafka::embedded::{EmbeddedBroker, KafkaRequest};
use fastkafka::prelude::*;
use fastkafka::rdkafka::types::RDKafkaRespErr;
use fastkafka::testing::{committed_offsets, eventually, exclusive, read_to_end, send_payloads};

const WAIT: Duration = Duration::from_secs(60);

/// Calls of `on_pipe_in` for inputs starting with `gated-`.
static GATED_CALLS: AtomicUsize = AtomicUsize::new(0);
/// Inputs starting with `gated-` wait in the handler until this is set.
static GATE_OPEN: AtomicBool = AtomicBool::new(false);

/// The upper-cased copy of an input.
#[produces(topic = "pipe_out")]
async fn to_pipe_out(text: String) -> String {
    text.to_uppercase()
}

/// Raw bytes to `pipe_out`: used for an output too large for the producer.
#[produces(topic = "pipe_out")]
async fn to_pipe_out_raw(bytes: Vec<u8>) -> Vec<u8> {
    bytes
}

/// Queues one output per input without awaiting its delivery.
#[consumes(topic = "pipe_in", dead_letter = "pipe_dlq", retries = 2)]
async fn on_pipe_in(text: String) -> fastkafka::Result<()> {
    if text.starts_with("gated-") {
        GATED_CALLS.fetch_add(1, Ordering::SeqCst);
        while !GATE_OPEN.load(Ordering::SeqCst) {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
    if text.starts_with("huge-returned-") {
        // The same output, but the handler passes the queueing error on with `?`: the
        // input fails at the output stage all the same.
        to_pipe_out_raw(vec![b'x'; 2_000_000]).await?;
        return Ok(());
    }
    if text.starts_with("huge-") {
        // Over the producer's 1 MB message.max.bytes: it cannot even be queued. The
        // handler ignores the error, and still its input must not count as processed.
        let _ = to_pipe_out_raw(vec![b'x'; 2_000_000]).await;
        return Ok(());
    }
    to_pipe_out(text).await?;
    Ok(())
}

/// A batch handler: one output per input, none awaited; a `huge-` input's output
/// cannot be queued, and the handler ignores that.
#[consumes(topic = "batch_in", max_batch = 16, dead_letter = "batch_dlq")]
async fn on_batch_in(texts: Vec<String>) -> fastkafka::Result<()> {
    for text in texts {
        if text.starts_with("huge-") {
            let _ = to_pipe_out_raw(vec![b'x'; 2_000_000]).await;
        } else {
            to_batch_out(text).await?;
        }
    }
    Ok(())
}

#[produces(topic = "batch_out")]
async fn to_batch_out(text: String) -> String {
    text.to_uppercase()
}

fn app() -> FastKafka {
    FastKafka::builder()
        .title("pipeline tests")
        // An output the broker does not take fails within half a second.
        .producer_config("message.timeout.ms", "500")
        .shutdown_grace(Duration::from_secs(2))
        .build()
}

fn broker() -> EmbeddedBroker {
    let broker = EmbeddedBroker::with_partitions(1).unwrap();
    for t in [
        "pipe_in",
        "pipe_out",
        "pipe_dlq",
        "batch_in",
        "batch_out",
        "batch_dlq",
    ] {
        broker.create_topic(t, 1).unwrap();
    }
    broker
}

fn produce(bootstrap: &str, topic: &str, texts: &[String]) {
    send_payloads(bootstrap, topic, texts).unwrap();
}

fn texts(prefix: &str, n: usize) -> Vec<String> {
    (0..n).map(|i| format!("{prefix}-{i}")).collect()
}

/// What the app's group committed for a 1-partition topic.
fn committed(bootstrap: &str, topic: &str) -> Option<i64> {
    committed_offsets(bootstrap, &app().group_id(), topic, 1).ok()?[0]
}

fn payloads(bootstrap: &str, topic: &str) -> Vec<String> {
    read_to_end(bootstrap, topic, Duration::from_secs(10))
        .unwrap()
        .iter()
        .map(|r| r.payload_text())
        .collect()
}

/// Waits until the group's committed offset of `topic` is `offset`.
async fn committed_reaches(bootstrap: &str, topic: &'static str, offset: i64) {
    let b = bootstrap.to_string();
    eventually(&format!("{topic} committed at {offset}"), WAIT, move || {
        committed(&b, topic) == Some(offset)
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn outputs_are_queued_not_awaited_and_an_input_whose_output_failed_is_dead_lettered() {
    let _serial = exclusive().await;
    let broker = broker();
    let bootstrap = broker.bootstrap_servers().to_string();
    let mut inputs = texts("msg", 300);
    inputs.insert(150, "huge-0".to_string());
    inputs.insert(200, "huge-returned-0".to_string());
    produce(&bootstrap, "pipe_in", &inputs);
    let running = app().start(&bootstrap).await.unwrap();

    committed_reaches(&bootstrap, "pipe_in", 302).await;
    // Every output is there once, in input order (one partition).
    let expected: Vec<String> = texts("msg", 300).iter().map(|t| t.to_uppercase()).collect();
    assert_eq!(payloads(&bootstrap, "pipe_out"), expected);
    // The input whose output could not be queued went to the dead-letter topic, marked
    // as failed at the output stage; it was not retried (the error is permanent).
    // So did the one whose handler returned the queueing error: the stage follows the
    // error, not the way the handler passed it on.
    // (A failed handler is dead-lettered at once, an ignored output's failure when its
    // input's turn comes: the two may arrive in either order.)
    let mut dead = read_to_end(&bootstrap, "pipe_dlq", Duration::from_secs(10)).unwrap();
    dead.sort_by_key(|r| r.payload_text());
    let dead_payloads: Vec<String> = dead.iter().map(|r| r.payload_text()).collect();
    assert_eq!(dead_payloads, ["huge-0", "huge-returned-0"], "{dead:?}");
    for r in &dead {
        assert_eq!(
            r.header(dead_letter_headers::STAGE).as_deref(),
            Some("output"),
            "{r:?}"
        );
    }
    let error = dead[0].header(dead_letter_headers::ERROR).unwrap();
    assert!(error.contains("an output failed"), "{error}");
    let error = dead[1].header(dead_letter_headers::ERROR).unwrap();
    assert!(error.contains("could not queue"), "{error}");
    let counts = running.consumer_counts();
    assert_eq!(
        (counts.handled, counts.dead_lettered),
        (300, 2),
        "{counts:?}"
    );
    running.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_stop_while_outputs_fail_commits_none_of_their_inputs_and_a_restart_delivers_them() {
    let _serial = exclusive().await;
    GATE_OPEN.store(false, Ordering::SeqCst);
    GATED_CALLS.store(0, Ordering::SeqCst);
    let broker = broker();
    let bootstrap = broker.bootstrap_servers().to_string();
    produce(&bootstrap, "pipe_in", &texts("before", 20));
    let running = app().start(&bootstrap).await.unwrap();
    committed_reaches(&bootstrap, "pipe_in", 20).await;

    // Ten more inputs, held in the handler until every produce request fails.
    produce(&bootstrap, "pipe_in", &texts("gated", 10));
    eventually("a gated input in the handler", WAIT, || {
        GATED_CALLS.load(Ordering::SeqCst) > 0
    })
    .await;
    broker.fail_requests(
        KafkaRequest::Produce,
        &vec![RDKafkaRespErr::RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS; 1_000_000],
    );
    GATE_OPEN.store(true, Ordering::SeqCst);
    // Each failed output (timed out after 500 ms) makes its input run again.
    eventually("a failed output retried", WAIT, || {
        GATED_CALLS.load(Ordering::SeqCst) > 10
    })
    .await;
    let report = running.stop().await.unwrap();
    assert!(report.consumed.failed_outputs > 0, "{report:?}");
    assert_eq!(
        committed(&bootstrap, "pipe_in"),
        Some(20),
        "no gated input may be committed: none of their outputs was acknowledged ({report:?})"
    );
    assert_eq!(payloads(&bootstrap, "pipe_out").len(), 20);

    // The broker takes writes again; a new run handles the gated inputs again.
    broker.clear_request_errors(KafkaRequest::Produce);
    let running = app().start(&bootstrap).await.unwrap();
    committed_reaches(&bootstrap, "pipe_in", 30).await;
    let out = payloads(&bootstrap, "pipe_out");
    for t in texts("gated", 10) {
        assert!(out.contains(&t.to_uppercase()), "{t} lost: {out:?}");
    }
    assert!(payloads(&bootstrap, "pipe_dlq").is_empty());
    running.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_batch_whose_output_failed_is_dead_lettered_whole_and_committed_only_then() {
    let _serial = exclusive().await;
    let broker = broker();
    let bootstrap = broker.bootstrap_servers().to_string();
    let mut inputs = texts("b", 100);
    inputs.insert(50, "huge-0".to_string());
    produce(&bootstrap, "batch_in", &inputs);
    let running = app().start(&bootstrap).await.unwrap();
    committed_reaches(&bootstrap, "batch_in", 101).await;
    // The batch holding the unqueueable output failed (permanently: not retried) and
    // went to the dead-letter topic whole; every other input came out.
    let dead = read_to_end(&bootstrap, "batch_dlq", Duration::from_secs(10)).unwrap();
    let huge = dead
        .iter()
        .find(|r| r.payload_text() == "huge-0")
        .unwrap_or_else(|| panic!("huge-0 not dead-lettered: {dead:?}"));
    assert_eq!(
        huge.header(dead_letter_headers::STAGE).as_deref(),
        Some("output")
    );
    // The batch's other outputs had been queued before the failure, and a permanent
    // failure is not retried: every output is there once, in input order.
    let expected: Vec<String> = texts("b", 100).iter().map(|t| t.to_uppercase()).collect();
    assert_eq!(payloads(&bootstrap, "batch_out"), expected);
    let counts = running.consumer_counts();
    assert_eq!(counts.failed_outputs, 1, "{counts:?}");
    assert_eq!(
        counts.handled + counts.dead_lettered,
        101,
        "every input settled once: {counts:?}"
    );
    running.stop().await.unwrap();
}

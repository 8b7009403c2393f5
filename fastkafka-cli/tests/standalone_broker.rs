//! Apps under `fastkafka run` against the standalone `fastkafka broker`, as a user runs
//! them: declared topics created, and a stop of several workers that processes nothing
//! twice. Counted at the broker.

mod common;

use std::collections::HashMap;
use std::process::Command;
use std::time::{Duration, Instant};

use common::*;
use fastkafka::rdkafka::consumer::{BaseConsumer, Consumer};
use fastkafka::rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use fastkafka::rdkafka::ClientConfig;
use fastkafka::testing::read_to_end;

fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

/// `fastkafka broker` on a free port, with its bootstrap address.
fn standalone_broker() -> (Watched, String) {
    let port = free_port();
    let broker =
        Watched::spawn(Command::new(fastkafka_bin()).args(["broker", "--port", &port.to_string()]));
    broker.wait_for_lines(
        |l| l.starts_with("bootstrap.servers="),
        1,
        Duration::from_secs(10),
    );
    (broker, format!("127.0.0.1:{port}"))
}

fn partitions(bootstrap: &str, topic: &str) -> usize {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("allow.auto.create.topics", "false")
        .create()
        .unwrap();
    consumer
        .fetch_metadata(Some(topic), Duration::from_secs(5))
        .ok()
        .and_then(|m| {
            m.topics()
                .iter()
                .find(|t| t.name() == topic && t.error().is_none())
                .map(|t| t.partitions().len())
        })
        .unwrap_or(0)
}

/// Messages in `topic` now (sum of high watermarks).
fn count(bootstrap: &str, topic: &str) -> i64 {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .create()
        .unwrap();
    (0..partitions(bootstrap, topic) as i32)
        .map(|p| {
            consumer
                .fetch_watermarks(topic, p, Duration::from_secs(5))
                .map_or(0, |(_, high)| high)
        })
        .sum()
}

fn wait_for(what: &str, timeout: Duration, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn supervise(app: &str, workers: usize, bootstrap: &str) -> Watched {
    Watched::spawn(&mut fastkafka_run(workers, bootstrap, &example_bin(app)))
}

/// Stops the supervisor with SIGINT; its output's warnings, errors and commit lines.
fn stop(mut run: Watched) -> String {
    run.signal(libc::SIGINT);
    let status = run.wait(Duration::from_secs(60));
    let output = run.output();
    assert!(status.success(), "{status}\n{output}");
    output
        .lines()
        .filter(|l| {
            l.contains("WARN")
                || l.contains("ERROR")
                || l.contains("commit")
                || l.contains("revoked")
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// uppercase_app declares `hello_world` and `hello_world_upper` with 6 partitions each;
/// the broker's own default is 3. Two workers are stopped while they work through
/// 20,000 greetings, then started again to finish: every greeting is upper-cased
/// exactly once.
#[test]
fn two_workers_create_their_topics_and_a_stop_in_the_middle_processes_nothing_twice() {
    const TOTAL: usize = 20_000;
    let (mut broker, bootstrap) = standalone_broker();

    let run = supervise("uppercase_app", 2, &bootstrap);
    wait_for("the app's topics", Duration::from_secs(30), || {
        partitions(&bootstrap, "hello_world") == 6
            && partitions(&bootstrap, "hello_world_upper") == 6
    });
    // Both workers are in the group, its 6 partitions split, before the greetings
    // arrive: a stop during the group's first rebalance could not commit.
    run.wait_for_split(2, 6, Duration::from_secs(30));

    // Greetings arrive over about 4 s, and the stop comes while they still arrive: the
    // app handles them faster than they come.
    let feeding = std::thread::spawn({
        let bootstrap = bootstrap.clone();
        move || {
            let producer: BaseProducer = ClientConfig::new()
                .set("bootstrap.servers", &bootstrap)
                .create()
                .unwrap();
            for i in 0..TOTAL {
                let (key, payload) = (format!("k{i}"), format!(r#"{{"msg":"hello {i}"}}"#));
                producer
                    .send(BaseRecord::to("hello_world").key(&key).payload(&payload))
                    .map_err(|(e, _)| e)
                    .unwrap();
                if i % 20 == 0 {
                    producer.poll(Duration::ZERO);
                    std::thread::sleep(Duration::from_millis(4));
                }
            }
            producer.flush(Duration::from_secs(30)).unwrap();
        }
    });

    // Stop in the middle of the work.
    wait_for("some greetings processed", Duration::from_secs(60), || {
        count(&bootstrap, "hello_world_upper") >= (TOTAL / 4) as i64
    });
    let first_run = stop(run);
    let after_stop = count(&bootstrap, "hello_world_upper");
    assert!(
        after_stop < TOTAL as i64,
        "the stop came too late to test anything"
    );
    feeding.join().unwrap();

    // Start again: the group resumes from what was committed.
    let run = supervise("uppercase_app", 2, &bootstrap);
    wait_for("every greeting processed", Duration::from_secs(120), || {
        count(&bootstrap, "hello_world_upper") >= TOTAL as i64
    });
    std::thread::sleep(Duration::from_secs(2));
    let second_run = stop(run);

    let out = read_to_end(&bootstrap, "hello_world_upper", Duration::from_secs(30)).unwrap();
    let mut seen: HashMap<Vec<u8>, usize> = HashMap::new();
    for r in &out {
        *seen.entry(r.key.clone().unwrap_or_default()).or_default() += 1;
        let i = String::from_utf8_lossy(r.key.as_deref().unwrap_or_default())[1..].to_string();
        assert_eq!(r.payload_text(), format!(r#"{{"msg":"HELLO {i}"}}"#));
    }
    let duplicated: usize = seen.values().map(|n| n - 1).sum();
    let missing = TOTAL - seen.len();
    println!(
        "sent {TOTAL}, found {} outputs ({after_stop} before the stop): {missing} lost, {duplicated} duplicated",
        out.len()
    );
    assert_eq!(missing, 0, "greetings never processed");
    assert_eq!(
        duplicated, 0,
        "greetings processed twice across the stop\nfirst run:\n{first_run}\nsecond run:\n{second_run}"
    );

    broker.signal(libc::SIGINT);
    assert!(broker.wait(Duration::from_secs(10)).success());
}

/// An app stopped cleanly and started again against the same `fastkafka broker` gets
/// its partitions back within seconds. greeting_counter keeps librdkafka's default
/// 45 s session timeout; the broker used to hold the group's next rebalance for 44 s
/// after its last member left, with nothing in the app's log.
#[test]
fn a_restart_after_a_clean_stop_gets_its_partitions_back_at_once() {
    let (mut broker, bootstrap) = standalone_broker();
    let assigned = |l: &str| l.contains("partitions assigned");
    // The app declares no topics: a first greeting creates the one it reads.
    let producer: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", &bootstrap)
        .create()
        .unwrap();
    producer
        .send(
            BaseRecord::to("greetings")
                .key("ann")
                .payload(r#"{"name":"ann"}"#),
        )
        .map_err(|(e, _)| e)
        .unwrap();
    producer.flush(Duration::from_secs(10)).unwrap();

    let run = supervise("greeting_counter", 2, &bootstrap);
    run.wait_for_lines(assigned, 2, Duration::from_secs(60));
    stop(run);

    let restarted = Instant::now();
    let run = supervise("greeting_counter", 2, &bootstrap);
    let joining = run.wait_for_lines(
        |l| l.contains("joining its group"),
        1,
        Duration::from_secs(30),
    );
    assert!(
        joining[0].contains(r#"group_id="greeting-counter""#),
        "the app says which group it joins: {joining:?}"
    );
    run.wait_for_lines(assigned, 2, Duration::from_secs(60));
    let took = restarted.elapsed();
    let output = stop(run);
    println!(
        "both workers had partitions {:.1} s after the restart",
        took.as_secs_f64()
    );
    assert!(
        took < Duration::from_secs(15),
        "the restarted workers waited {:.1} s for their partitions\n{output}",
        took.as_secs_f64()
    );

    broker.signal(libc::SIGINT);
    assert!(broker.wait(Duration::from_secs(10)).success());
}

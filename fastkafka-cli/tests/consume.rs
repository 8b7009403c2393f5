//! Consumers under `fastkafka run --num-workers 2`: the workers share the partitions as
//! one group, nothing is lost, order per key holds, and a killed worker loses nothing.

mod common;

use std::collections::{BTreeMap, HashSet};
use std::time::{Duration, Instant};

use common::*;
use fastkafka::rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use fastkafka::rdkafka::ClientConfig;
use fastkafka::testing::{read_to_end, Record};

const MESSAGES: usize = 10_000;
const KEYS: usize = 50;

fn start_uppercase_workers() -> (Watched, String) {
    let run = Watched::spawn(&mut fastkafka_run(
        2,
        "embedded",
        &example_bin("uppercase_app"),
    ));
    let bootstrap = run.embedded_bootstrap(Duration::from_secs(20));
    run.wait_for_split(2, 6, Duration::from_secs(30));
    (run, bootstrap)
}

/// 10,000 greetings over 50 keys from a plain rdkafka producer, plus `bad` undecodable
/// ones; `paced` spreads them over about 5 s, so that something happens while they
/// still arrive.
fn produce_greetings(bootstrap: &str, bad: usize, paced: bool) {
    let producer: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("linger.ms", "5")
        .create()
        .unwrap();
    let send = |key: String, payload: Vec<u8>| loop {
        match producer.send(
            BaseRecord::<String, Vec<u8>>::to("hello_world")
                .key(&key)
                .payload(&payload),
        ) {
            Ok(()) => {
                producer.poll(Duration::ZERO);
                break;
            }
            Err(_) => producer.poll(Duration::from_millis(5)),
        }
    };
    for i in 0..MESSAGES {
        send(
            format!("k{}", i % KEYS),
            format!(r#"{{"msg":"m{i}"}}"#).into_bytes(),
        );
        if bad > 0 && i % (MESSAGES / bad) == 0 {
            send("broken".into(), format!("not json {i}").into_bytes());
        }
        if paced && i % 10 == 0 {
            std::thread::sleep(Duration::from_millis(5));
        }
    }
    producer.flush(Duration::from_secs(60)).unwrap();
}

/// The greeting numbers in the output, per key, in output order.
fn outputs(records: &[Record]) -> BTreeMap<String, Vec<usize>> {
    let mut per_key: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    for r in records {
        let text = r.payload_text();
        let n: usize = text
            .strip_prefix(r#"{"msg":"M"#)
            .and_then(|t| t.strip_suffix(r#""}"#))
            .unwrap_or_else(|| panic!("unexpected output {text}"))
            .parse()
            .unwrap();
        let key = String::from_utf8(r.key.clone().unwrap()).unwrap();
        assert_eq!(key, format!("k{}", n % KEYS), "the key was not kept");
        per_key.entry(key).or_default().push(n);
    }
    per_key
}

fn wait_for_all_outputs(bootstrap: &str, run: &Watched) -> Vec<Record> {
    let deadline = Instant::now() + Duration::from_secs(180);
    loop {
        let records = read_to_end(bootstrap, "hello_world_upper", Duration::from_secs(20)).unwrap();
        let distinct: HashSet<usize> = outputs(&records).into_values().flatten().collect();
        if distinct.len() == MESSAGES {
            return records;
        }
        assert!(
            Instant::now() < deadline,
            "only {} of {MESSAGES} greetings came out; output:\n{}",
            distinct.len(),
            run.output()
        );
        std::thread::sleep(Duration::from_millis(500));
    }
}

#[test]
fn two_workers_share_the_partitions_and_process_every_message_once_in_key_order() {
    let (mut run, bootstrap) = start_uppercase_workers();
    let owners = assignment(&run.lines());
    let mut all: Vec<i32> = owners.values().flatten().copied().collect();
    all.sort();
    assert_eq!(
        all,
        vec![0, 1, 2, 3, 4, 5],
        "each partition has exactly one owner: {owners:?}"
    );

    produce_greetings(&bootstrap, 5, false);
    let records = wait_for_all_outputs(&bootstrap, &run);
    assert_eq!(records.len(), MESSAGES, "no greeting was processed twice");
    for (key, numbers) in outputs(&records) {
        assert!(
            numbers.windows(2).all(|w| w[0] < w[1]),
            "order of {key} broke: {numbers:?}"
        );
    }
    let dlq = read_to_end(&bootstrap, "hello_world_dlq", Duration::from_secs(10)).unwrap();
    assert_eq!(dlq.len(), 5);
    assert!(dlq.iter().all(|r| r.payload_text().starts_with("not json")
        && r.headers
            .iter()
            .any(|(n, v)| n == fastkafka::dead_letter_headers::ERROR && !v.is_empty())));
    // Both workers did part of the work.
    assert_eq!(assignment(&run.lines()).len(), 2, "{}", run.output());

    run.signal(libc::SIGTERM);
    assert!(
        run.wait(Duration::from_secs(60)).success(),
        "{}",
        run.output()
    );
}

#[test]
fn killing_a_worker_mid_stream_loses_nothing() {
    let (mut run, bootstrap) = start_uppercase_workers();
    let victim = *assignment(&run.lines()).keys().next().unwrap();
    let producer = std::thread::spawn({
        let bootstrap = bootstrap.clone();
        // Paced: the app keeps up with a burst, and the kill must come mid-stream.
        move || produce_greetings(&bootstrap, 0, true)
    });
    // Let processing get going, then kill one worker without warning.
    let deadline = Instant::now() + Duration::from_secs(60);
    while read_to_end(&bootstrap, "hello_world_upper", Duration::from_secs(10))
        .unwrap()
        .len()
        < 1000
    {
        assert!(
            Instant::now() < deadline,
            "processing never started:\n{}",
            run.output()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    send_signal(victim, libc::SIGKILL);
    let at_kill = read_to_end(&bootstrap, "hello_world_upper", Duration::from_secs(10))
        .unwrap()
        .len();
    assert!(
        at_kill < MESSAGES,
        "the kill came after every greeting was processed: it tests nothing"
    );
    producer.join().unwrap();

    let records = wait_for_all_outputs(&bootstrap, &run);
    assert!(records.len() >= MESSAGES);
    let output = run.output();
    assert!(
        output.contains(&format!("worker {victim} crashed")),
        "{output}"
    );
    run.signal(libc::SIGTERM);
    // The supervisor reports the crash in its exit code.
    assert_eq!(
        run.wait(Duration::from_secs(60)).code(),
        Some(1),
        "{}",
        run.output()
    );
}

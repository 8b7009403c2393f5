//! `fastkafka run`: supervised workers, checked at the broker.

mod common;

use std::collections::{BTreeSet, HashSet};
use std::process::Command;
use std::time::Duration;

use common::*;
use fastkafka::embedded::EmbeddedBroker;
use fastkafka::testing::{read_to_end, Record};

const HELLO: &str = r#"{"msg":"Hello world!"}"#;

fn is_sent(line: &str) -> bool {
    line.contains("sent topic=hello_world")
}

fn assert_hello_records(records: &[Record]) {
    assert!(!records.is_empty());
    for r in records {
        assert_eq!(r.key.as_deref(), Some(&b"my_key"[..]), "{r:?}");
        assert_eq!(r.payload_text(), HELLO);
    }
}

#[test]
fn two_workers_send_keyed_hello_messages_and_lose_none_on_sigterm() {
    let broker = EmbeddedBroker::start().unwrap();
    let mut run = Watched::spawn(&mut fastkafka_run(
        2,
        broker.bootstrap_servers(),
        &example_bin("hello_app"),
    ));
    // Both workers send, each line prefixed with its pid as it is written.
    let sent = run.wait_for_lines(is_sent, 6, Duration::from_secs(30));
    let pids: HashSet<u32> = sent.iter().filter_map(|l| worker_pid(l)).collect();
    assert_eq!(
        pids.len(),
        2,
        "expected lines from two workers:\n{}",
        run.output()
    );

    run.signal(libc::SIGTERM);
    let status = run.wait(Duration::from_secs(20));
    assert!(status.success(), "exit {status}; output:\n{}", run.output());
    let output = run.output();
    assert_supervisor_lines_are_marked(&run.lines());
    let has_line = |line: String| run.lines().contains(&line);
    assert!(
        has_line("[fastkafka] Starting process cleanup, this may take a few seconds...".into()),
        "{output}"
    );
    for pid in &pids {
        assert!(
            has_line(format!("[fastkafka] Terminating the process {pid}...")),
            "{output}"
        );
        assert!(
            has_line(format!("[fastkafka] Process {pid} terminated.")),
            "{output}"
        );
    }

    // Every delivery a worker reported is in the topic, with the key and payload.
    let records = read_to_end(
        broker.bootstrap_servers(),
        "hello_world",
        Duration::from_secs(10),
    )
    .unwrap();
    assert_hello_records(&records);
    let stored: BTreeSet<(i32, i64)> = records.iter().map(|r| (r.partition, r.offset)).collect();
    let reported: BTreeSet<(i32, i64)> = run
        .lines()
        .iter()
        .filter(|l| is_sent(l))
        .map(|l| reported_delivery(l).unwrap())
        .collect();
    assert!(reported.len() >= 6);
    assert!(
        reported.is_subset(&stored),
        "reported {reported:?}, stored {stored:?}"
    );
    // One key, one partition.
    assert_eq!(
        records
            .iter()
            .map(|r| r.partition)
            .collect::<HashSet<_>>()
            .len(),
        1
    );
}

/// Every line of `fastkafka run`'s output is a worker's (`[pid]: `) or the
/// supervisor's own (`[fastkafka] `), so a reader can tell which is which.
fn assert_supervisor_lines_are_marked(lines: &[String]) {
    let unmarked: Vec<&String> = lines
        .iter()
        .filter(|l| worker_pid(l).is_none() && !l.starts_with("[fastkafka] "))
        .collect();
    assert!(
        unmarked.is_empty(),
        "lines without [fastkafka] or [pid]: {unmarked:#?}"
    );
}

#[test]
fn the_embedded_broker_is_started_for_the_workers() {
    let mut run = Watched::spawn(&mut fastkafka_run(2, "embedded", &example_bin("hello_app")));
    let bootstrap = run.embedded_bootstrap(Duration::from_secs(10));
    run.wait_for_lines(is_sent, 4, Duration::from_secs(30));
    // Read while it runs: the broker lives in the supervisor.
    let records = read_to_end(&bootstrap, "hello_world", Duration::from_secs(10)).unwrap();
    assert!(records.len() >= 4);
    assert_hello_records(&records);
    run.signal(libc::SIGINT);
    assert!(
        run.wait(Duration::from_secs(20)).success(),
        "{}",
        run.output()
    );
}

#[test]
fn a_crashed_worker_is_restarted() {
    let marker = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("fastkafka-crashed-once-{}", std::process::id()));
    let _ = std::fs::remove_file(&marker);
    // Crashes on its first start, then runs until SIGTERM and exits 0.
    let script = fake_app(
        "crash_once_app",
        "localhost",
        &format!(
            "if [ ! -e {m} ]; then touch {m}; echo 'crashing now'; exit 3; fi\necho \"running as $$\"\ntrap 'echo stopping; exit 0' TERM\nwhile true; do sleep 0.1; done",
            m = marker.display()
        ),
    );

    let mut run = Watched::spawn(&mut fastkafka_run(1, "localhost:9", &script));
    run.wait_for_lines(|l| l.contains("running as"), 1, Duration::from_secs(15));
    let output = run.output();
    assert!(output.contains("crashing now"), "{output}");
    assert!(
        output.contains("crashed (exit status: 3); restarting it in 0.5 s"),
        "{output}"
    );
    run.signal(libc::SIGTERM);
    let status = run.wait(Duration::from_secs(10));
    // A worker failed during the run: the supervisor says so with its exit code.
    assert_eq!(status.code(), Some(1), "{}", run.output());
    assert!(run.output().contains("stopping"));
    std::fs::remove_file(&marker).ok();
}

#[test]
fn bad_arguments_get_one_clear_line_and_exit_code_2() {
    let cases: [(&[&str], &str); 3] = [
        (
            &["run", "--num-workers", "0", "hello_app"],
            "--num-workers must be at least 1",
        ),
        (
            &["run", "--num-workers", "1", "./no/such/app"],
            "APP `./no/such/app` does not exist",
        ),
        (
            &["broker", "--partitions", "0"],
            "--partitions must be at least 1",
        ),
    ];
    for (args, expected) in cases {
        let out = Command::new(fastkafka_bin()).args(args).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
        assert_eq!(stderr.trim().lines().count(), 1, "{args:?}: {stderr}");
    }
}

#[test]
fn an_unknown_broker_name_stops_the_run_with_exit_code_2() {
    let mut run = Watched::spawn(&mut fastkafka_run(2, "prod", &example_bin("hello_app")));
    let status = run.wait(Duration::from_secs(20));
    assert_eq!(status.code(), Some(2), "{}", run.output());
    let output = run.output();
    assert!(
        output.contains("unknown Kafka broker `prod`; this app knows `demo_broker`"),
        "{output}"
    );
}

#[test]
fn the_standalone_broker_prints_its_address_first_and_serves_a_fixed_port() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let mut broker = Watched::spawn(Command::new(fastkafka_bin()).args([
        "broker",
        "--port",
        &port.to_string(),
        "--partitions",
        "5",
    ]));
    let first = broker.wait_for_lines(|_| true, 1, Duration::from_secs(10));
    assert_eq!(first[0], format!("bootstrap.servers=127.0.0.1:{port}"));

    // An app run against it creates its topic with 5 partitions on first use.
    let bootstrap = format!("127.0.0.1:{port}");
    let mut app = Watched::spawn(Command::new(example_bin("hello_app")).args([
        "run",
        "--kafka-broker",
        &bootstrap,
    ]));
    app.wait_for_lines(is_sent, 2, Duration::from_secs(30));
    app.signal(libc::SIGTERM);
    assert!(
        app.wait(Duration::from_secs(20)).success(),
        "{}",
        app.output()
    );
    let consumer: fastkafka::rdkafka::consumer::BaseConsumer =
        fastkafka::rdkafka::ClientConfig::new()
            .set("bootstrap.servers", &bootstrap)
            .create()
            .unwrap();
    use fastkafka::rdkafka::consumer::Consumer;
    let metadata = consumer
        .fetch_metadata(Some("hello_world"), Duration::from_secs(5))
        .unwrap();
    assert_eq!(metadata.topics()[0].partitions().len(), 5);
    assert_hello_records(&read_to_end(&bootstrap, "hello_world", Duration::from_secs(10)).unwrap());

    broker.signal(libc::SIGINT);
    assert!(broker.wait(Duration::from_secs(10)).success());
}

#[test]
fn a_crash_loop_stops_the_supervisor_with_a_clear_error() {
    let script = fake_app("always_crashes", "localhost", "echo 'cannot start'\nexit 1");
    let mut run = Watched::spawn(&mut fastkafka_run(1, "localhost:9", &script));
    // Backoff 0.5 + 1 + 2 + 4 s between the five crashes.
    let status = run.wait(Duration::from_secs(30));
    assert_eq!(status.code(), Some(1), "{}", run.output());
    let output = run.output();
    assert_eq!(output.matches("cannot start").count(), 5, "{output}");
    assert!(
        output.contains("workers crashed 5 times within 60 s"),
        "{output}"
    );
    assert!(output.contains("giving up"), "{output}");
}

#[test]
fn a_second_ctrl_c_stops_a_worker_whose_flush_waits_on_an_unreachable_broker() {
    // Nothing listens on port 1: the worker's queued message would hold its flush for
    // the whole flush timeout (30 s) after the first signal.
    let mut run = Watched::spawn(&mut fastkafka_run(
        1,
        "127.0.0.1:1",
        &example_bin("hello_app"),
    ));
    run.wait_for_lines(
        |l| l.contains("starting background task"),
        1,
        Duration::from_secs(30),
    );
    std::thread::sleep(Duration::from_millis(300));
    run.signal(libc::SIGINT);
    run.wait_for_lines(
        |l| l.contains("a second Ctrl-C"),
        1,
        Duration::from_secs(10),
    );
    run.signal(libc::SIGINT);
    let status = run.wait(Duration::from_secs(15));
    let output = run.output();
    assert!(
        !status.success(),
        "a worker that lost messages is a failure:\n{output}"
    );
    assert!(
        output.contains("[fastkafka] Second signal: workers exit now"),
        "{output}"
    );
    assert!(
        output.contains("second shutdown signal: exiting now"),
        "{output}"
    );
    // The worker's exit code, as docs/production.md's table has it.
    assert!(
        output.contains(&format!(
            "ended with exit status: {}",
            fastkafka::protocol::exit::INTERRUPTED
        )),
        "{output}"
    );
    assert_eq!(
        status.code(),
        Some(fastkafka::protocol::exit::FAILURE.into())
    );
    // The unreachable broker was reported once, not once per retry.
    let unreachable = output.matches("cannot reach the Kafka broker").count();
    assert!(
        (1..=2).contains(&unreachable),
        "{unreachable} times:\n{output}"
    );
}

#[test]
fn without_kafka_broker_the_workers_use_the_apps_default_broker() {
    // order_service's default broker is `development` (localhost:9092).
    let mut run = Watched::spawn(Command::new(fastkafka_bin()).args([
        "run",
        "--num-workers",
        "1",
        example_bin("order_service").to_str().unwrap(),
    ]));
    let using = run.wait_for_lines(
        |l| l.contains("using Kafka broker"),
        1,
        Duration::from_secs(30),
    );
    assert!(using[0].contains("development"), "{}", run.output());
    assert!(
        run.output()
            .contains("with --kafka-broker development (the app's default)"),
        "{}",
        run.output()
    );
    run.signal(libc::SIGTERM);
    let status = run.wait(Duration::from_secs(20));
    assert!(status.success(), "exit {status}; output:\n{}", run.output());
}

#[test]
fn ctrl_c_with_stdout_closed_stops_every_worker_without_a_panic() {
    // `fastkafka run ... | head -n 2`: the reader leaves after two lines.
    let mut run = Watched::spawn_reading_stdout(
        &mut fastkafka_run(2, "embedded", &example_bin("hello_app")),
        2,
    );
    let sent = run.wait_for_lines(is_sent, 4, Duration::from_secs(30));
    let pids: Vec<u32> = sent
        .iter()
        .filter_map(|l| worker_pid(l))
        .collect::<HashSet<_>>()
        .into_iter()
        .collect();
    let _orphans = KillOnDrop(pids.clone());
    assert_eq!(pids.len(), 2, "{}", run.output());

    run.signal(libc::SIGINT);
    let status = run.wait(Duration::from_secs(30));
    let output = run.output();
    assert!(!output.contains("panicked"), "{output}");
    assert!(status.success(), "exit {status}; output:\n{output}");
    assert_eq!(
        still_running_after(&pids, Duration::from_secs(5)),
        Vec::<u32>::new(),
        "workers left running:\n{output}"
    );
}

#[test]
fn workers_stop_when_their_supervisor_is_killed() {
    let broker = EmbeddedBroker::start().unwrap();
    let mut run = Watched::spawn(&mut fastkafka_run(
        2,
        broker.bootstrap_servers(),
        &example_bin("hello_app"),
    ));
    let sent = run.wait_for_lines(is_sent, 4, Duration::from_secs(30));
    let pids: Vec<u32> = sent
        .iter()
        .filter_map(|l| worker_pid(l))
        .collect::<HashSet<_>>()
        .into_iter()
        .collect();
    let _orphans = KillOnDrop(pids.clone());
    assert_eq!(pids.len(), 2, "{}", run.output());

    // No cleanup can run: the workers learn of it from the kernel.
    run.signal(libc::SIGKILL);
    run.wait(Duration::from_secs(5));
    assert_eq!(
        still_running_after(&pids, Duration::from_secs(20)),
        Vec::<u32>::new(),
        "workers outlived their supervisor:\n{}",
        run.output()
    );
    // They stopped cleanly: what they sent is in the topic.
    assert_hello_records(
        &read_to_end(
            broker.bootstrap_servers(),
            "hello_world",
            Duration::from_secs(10),
        )
        .unwrap(),
    );
}

#[test]
fn a_program_that_is_not_an_app_is_one_clear_line_and_exit_code_2() {
    let not_an_app = "is not a fastkafka app (it did not answer the app handshake";
    let cases: [(&[&str], &[&str]); 4] = [
        (
            &["--kafka-broker", "embedded", "/bin/true"],
            &["APP `/bin/true`", not_an_app],
        ),
        (
            &["--kafka-broker", "localhost:1", "/bin/true"],
            &["APP `/bin/true`", not_an_app],
        ),
        (
            &["/bin/false"],
            &["APP `/bin/false`", not_an_app, "exit status: 1"],
        ),
        (
            &["/etc/passwd"],
            &["APP `/etc/passwd`", "Permission denied"],
        ),
    ];
    for (args, expected) in cases {
        let out = Command::new(fastkafka_bin())
            .args(["run", "--num-workers", "1"])
            .args(args)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        for text in expected {
            assert!(stderr.contains(text), "{args:?}: {stderr}");
        }
        assert_eq!(stderr.trim().lines().count(), 1, "{args:?}: {stderr}");
        assert!(out.stdout.is_empty(), "{args:?}: nothing started");
    }
}

#[test]
fn workers_stopped_by_the_supervisor_are_not_reported_as_errors() {
    // Worker 0 rejects its arguments; worker 1 is still starting (no signal handler
    // yet), so the supervisor's SIGTERM ends it.
    let app = fake_app(
        "rejects_then_stops",
        "localhost",
        "if [ \"$FASTKAFKA_WORKER\" = 0 ]; then sleep 1; echo 'error: unknown Kafka broker' >&2; exit 2; fi\necho \"starting as $$\"\nwhile true; do sleep 0.1; done",
    );
    let mut run = Watched::spawn(Command::new(fastkafka_bin()).args([
        "run",
        "--num-workers",
        "2",
        app.to_str().unwrap(),
    ]));
    let status = run.wait(Duration::from_secs(20));
    let output = run.output();
    assert_eq!(status.code(), Some(2), "{output}");
    let starting = run
        .lines()
        .iter()
        .find(|l| l.contains("starting as"))
        .and_then(|l| worker_pid(l))
        .expect("worker 1 started");
    assert!(
        output.contains(&format!("Process {starting} terminated.")),
        "{output}"
    );
    // The one error is the rejection; the stop that followed is none.
    assert!(!output.contains("ended with"), "{output}");
    let errors: Vec<&str> = output.lines().filter(|l| l.starts_with("error:")).collect();
    assert_eq!(errors.len(), 1, "{output}");
    assert!(errors[0].contains("rejected its arguments"), "{output}");
}

/// A worker that its broker refused (credentials, certificate) exits with
/// `fastkafka::protocol::exit::REFUSED`: the supervisor stops at once instead of restarting it
/// into a crash loop.
#[test]
fn a_worker_refused_by_its_broker_is_not_restarted() {
    let script = fake_app(
        "refused",
        "localhost",
        &format!(
            "echo 'error: broker refused the credentials'\nexit {}",
            fastkafka::protocol::exit::REFUSED
        ),
    );
    let mut run = Watched::spawn(Command::new(fastkafka_bin()).args([
        "run",
        "--num-workers",
        "1",
        "--kafka-broker",
        "localhost:9",
        script.to_str().unwrap(),
    ]));
    let status = run.wait(Duration::from_secs(20));
    assert_eq!(status.code(), Some(1), "{}", run.output());
    let output = run.output();
    assert_eq!(
        output.matches("refused the credentials").count(),
        1,
        "restarted: {output}"
    );
    assert!(
        output.contains("was refused by its Kafka broker")
            && output.contains("restarting cannot help"),
        "{output}"
    );
}

/// A start-up that fails for a reason that may pass (here the app's OAUTHBEARER token
/// function panics during the connection check, as one whose token service is down
/// would) exits `protocol::exit::FAILURE`, so `fastkafka run` restarts the worker. It
/// exited 2 (`USAGE`, "nothing to retry"), and the supervisor gave up at once.
#[test]
fn a_start_up_failure_worth_retrying_restarts_the_worker() {
    let app = example_bin("token_service_down");
    let mut run = Watched::spawn(Command::new(fastkafka_bin()).args([
        "run",
        "--num-workers",
        "1",
        app.to_str().unwrap(),
    ]));
    let restarting = run.wait_for_lines(
        |l| l.contains("restarting it in") || l.contains("rejected its arguments"),
        1,
        Duration::from_secs(20),
    );
    let output = run.output();
    assert!(
        restarting[0].contains(&format!(
            "crashed (exit status: {}); restarting it in 0.5 s",
            fastkafka::protocol::exit::FAILURE
        )),
        "{output}"
    );
    assert!(
        output.contains("error: the connection check did not finish: it panicked: the token service at auth.internal does not answer"),
        "the worker says what failed: {output}"
    );
    run.signal(libc::SIGTERM);
    let status = run.wait(Duration::from_secs(20));
    assert_eq!(
        status.code(),
        Some(fastkafka::protocol::exit::FAILURE.into()),
        "{output}"
    );
}

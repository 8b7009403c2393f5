//! An app started against a broker that is not there says at once which address
//! failed and why, once, and starts anyway: checked over the app's output, as a user
//! running it sees it.

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::*;

/// How soon the warning must come: the docs say "within a second" (a name that does
/// not resolve, a closed port); the margin is for a loaded machine.
const SOON: Duration = Duration::from_secs(3);

/// Runs `app run --kafka-broker BROKER` and waits for the line saying what failed at
/// `address`; returns it, how long it took, and the process.
fn first_warning(app: &str, broker: &str, address: &str) -> (String, Duration, Watched) {
    let started = Instant::now();
    let run = Watched::spawn(
        Command::new(example_bin(app))
            .args(["run", "--kafka-broker", broker])
            .env("RUST_LOG", "info"),
    );
    let wanted = format!("cannot reach the Kafka broker at {address}: ");
    let line = run
        .wait_for_lines(|l| l.contains(&wanted), 1, Duration::from_secs(20))
        .remove(0);
    (line, started.elapsed(), run)
}

/// A port on this machine where nothing listens.
fn closed_port() -> u16 {
    fastkafka::testing::free_port()
}

#[test]
fn a_name_that_does_not_resolve_and_a_closed_port_are_told_apart_at_once() {
    let port = closed_port();
    let refused = format!("127.0.0.1:{port}");
    let cases = [
        ("nohost.invalid:9092", "the host name does not resolve"),
        (refused.as_str(), "connection refused"),
    ];
    for (address, cause) in cases {
        let (line, took, run) = first_warning("hello_app", address, address);
        assert!(line.contains(cause), "{line}");
        assert!(took < SOON, "the warning took {took:?}:\n{}", run.output());
        // The app started anyway, and said it once: neither a second warning from
        // another client nor a bare "BrokerTransportFailure" follows.
        run.wait_for_lines(
            |l| l.contains("starting background task"),
            1,
            Duration::from_secs(10),
        );
        std::thread::sleep(Duration::from_secs(2));
        let output = run.output();
        assert_eq!(
            output.matches("cannot reach the Kafka broker").count(),
            1,
            "{output}"
        );
        assert!(!output.contains("not reachable yet"), "{output}");
    }
}

#[test]
fn an_app_with_declared_topics_gives_the_same_warning_then_says_it_waits() {
    let address = format!("127.0.0.1:{}", closed_port());
    let (line, took, run) = first_warning("uppercase_app", &address, &address);
    assert!(line.contains("connection refused"), "{line}");
    assert!(took < SOON, "the warning took {took:?}:\n{}", run.output());
    run.wait_for_lines(
        |l| l.contains("the app waits for the Kafka broker before it creates its declared topics"),
        1,
        Duration::from_secs(10),
    );
}

#[test]
fn each_bootstrap_address_is_named_with_what_failed_there() {
    let refused = format!("127.0.0.1:{}", closed_port());
    let bootstrap = format!("nohost.invalid:9092,{refused}");
    let (line, _, run) = first_warning("hello_app", &bootstrap, &refused);
    assert!(line.contains("connection refused"), "{line}");
    run.wait_for_lines(
        |l| l.contains("cannot reach the Kafka broker at nohost.invalid:9092: the host name does not resolve"),
        1,
        SOON,
    );
    // The start-up line names every address.
    let using = run.wait_for_lines(|l| l.contains("using Kafka broker"), 1, SOON);
    assert!(using[0].contains(&bootstrap), "{}", using[0]);
}

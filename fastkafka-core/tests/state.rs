//! App state and the Tester: consumers, background tasks and lifespan hooks take the
//! state an app is given or builds at start; an app lacking one does not start; Testers
//! run side by side without seeing each other's messages, and say what went wrong.

use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use fastkafka::prelude::*;
use fastkafka::testing::Tester;
use fastkafka::Error;
use futures::FutureExt;

/// What the functions saw, in order; the test keeps a handle on it.
#[derive(Clone, Default)]
struct Log(Arc<Mutex<Vec<String>>>);

impl Log {
    fn push(&self, line: impl Into<String>) {
        self.0.lock().unwrap().push(line.into());
    }
    fn lines(&self) -> Vec<String> {
        self.0.lock().unwrap().clone()
    }
}

/// Built at start.
struct Prefix(String);

/// Given to no app.
struct Missing;

#[consumes(topic = "state-in", group_id = "state-test")]
async fn on_state_in(msg: String, log: State<Log>, prefix: State<Prefix>) -> fastkafka::Result<()> {
    log.push(format!("consumed {msg}"));
    to_state_out(format!("{}{msg}", prefix.0)).await?;
    Ok(())
}

#[produces(topic = "state-out")]
async fn to_state_out(msg: String) -> String {
    msg
}

#[run_in_background(restart = "never")]
async fn state_ticker(log: State<Log>) {
    log.push("background");
}

/// Hands its output to a task it spawns, which stays in the app.
#[consumes(topic = "spawn-in", group_id = "state-test-spawn")]
async fn on_spawn_in(msg: String) {
    fastkafka::spawn(async move { to_state_out(format!("spawned {msg}")).await });
}

#[consumes(topic = "needs-missing", group_id = "state-test-missing")]
async fn on_needs_missing(msg: String, missing: State<Missing>) {
    let _ = (msg, missing);
}

fn app(log: &Log) -> FastKafka {
    FastKafka::builder()
        .title("State test")
        .only(["on_state_in", "to_state_out", "state_ticker"])
        .state(log.clone())
        .state_with(|| async { Ok::<_, std::io::Error>(Prefix(">".into())) })
        .on_startup(|log: State<Log>, prefix: State<Prefix>| async move {
            log.push(format!("startup with prefix {}", prefix.0));
        })
        .on_shutdown(|log: State<Log>| async move { log.push("shutdown") })
        .build()
}

/// The message `check` panics with; panics itself if `check` passes.
async fn panic_text(check: impl std::future::Future<Output = impl Sized>) -> String {
    let panic = AssertUnwindSafe(check)
        .catch_unwind()
        .await
        .err()
        .expect("the check must fail");
    panic.downcast_ref::<String>().cloned().unwrap_or_default()
}

#[tokio::test]
async fn consumers_background_tasks_and_hooks_take_the_apps_state() {
    let log = Log::default();
    let t = Tester::builder(app(&log))
        .background_tasks()
        .start()
        .await
        .unwrap();
    t.send("state-in", "a".to_string()).await.unwrap();
    let out = t.next::<String>("state-out").await.unwrap();
    assert_eq!(out.message, ">a");
    fastkafka::testing::eventually("the background task ran", Duration::from_secs(10), {
        let log = log.clone();
        move || log.lines().iter().any(|l| l == "background")
    })
    .await;
    t.stop().await.unwrap();
    let lines = log.lines();
    assert_eq!(
        lines.first().map(String::as_str),
        Some("startup with prefix >"),
        "{lines:?}"
    );
    assert_eq!(
        lines.last().map(String::as_str),
        Some("shutdown"),
        "{lines:?}"
    );
    assert!(lines.iter().any(|l| l == "consumed a"), "{lines:?}");
}

#[tokio::test]
async fn an_app_without_a_state_its_consumer_takes_does_not_start() {
    let app = FastKafka::builder().only(["on_needs_missing"]).build();
    let err = app
        .start("embedded")
        .await
        .err()
        .expect("the start must fail");
    match &err {
        Error::MissingState {
            function,
            type_name,
        } => {
            assert_eq!(function, "consumer `on_needs_missing`");
            assert_eq!(*type_name, "Missing");
        }
        other => panic!("{other:?}"),
    }
    let text = err.to_string();
    assert!(text.contains("FastKafka::builder().state(value)"), "{text}");
}

#[tokio::test]
async fn a_hook_taking_a_missing_state_stops_the_start_too() {
    let app = FastKafka::builder()
        .only(["to_state_out"])
        .on_startup(|missing: State<Missing>| async move {
            let _ = missing;
        })
        .build();
    let err = Tester::new(app).await.err().expect("the start must fail");
    assert!(
        matches!(&err, Error::MissingState { function, type_name }
            if function == "the startup hook" && type_name.ends_with("Missing")),
        "{err:?}"
    );
}

#[tokio::test]
async fn a_state_that_cannot_be_built_stops_the_start_with_its_error() {
    let app = FastKafka::builder()
        .only(["on_state_in", "to_state_out"])
        .state(Log::default())
        .state_with(|| async { Err::<Prefix, _>(std::io::Error::other("database down")) })
        .build();
    let err = Tester::new(app).await.err().expect("the start must fail");
    let text = format!("{err}: {:?}", std::error::Error::source(&err));
    assert!(
        text.contains("building the state") && text.contains("Prefix"),
        "{text}"
    );
    assert!(text.contains("database down"), "{text}");
}

#[tokio::test]
async fn testers_side_by_side_see_only_their_own_messages() {
    let (first_log, second_log) = (Log::default(), Log::default());
    let first = Tester::new(app(&first_log)).await.unwrap();
    let second = Tester::new(app(&second_log)).await.unwrap();
    first.send("state-in", "one".to_string()).await.unwrap();
    second.send("state-in", "two".to_string()).await.unwrap();
    first.expect("state-out", &">one".to_string()).await;
    second.expect("state-out", &">two".to_string()).await;
    first
        .expect_nothing("state-out", Duration::from_millis(300))
        .await;
    second
        .expect_nothing("state-out", Duration::from_millis(300))
        .await;
    assert_eq!(first.calls("on_state_in").len(), 1);
    assert_eq!(
        first.calls("on_state_in")[0].kind,
        fastkafka::testing::CallKind::Received
    );
    assert_eq!(
        first.calls("to_state_out")[0].kind,
        fastkafka::testing::CallKind::Sent
    );
    assert_eq!(second.calls("to_state_out")[0].payload, b">two");
    first.stop().await.unwrap();
    second.stop().await.unwrap();
    assert!(first_log.lines().contains(&"consumed one".to_string()));
    assert!(!first_log.lines().contains(&"consumed two".to_string()));
}

#[tokio::test]
async fn a_failed_expectation_says_what_arrived_instead_and_shows_the_apps_logs() {
    let log = Log::default();
    let t = Tester::builder(app(&log))
        .timeout(Duration::from_secs(2))
        .start()
        .await
        .unwrap();
    t.send("state-in", "b".to_string()).await.unwrap();
    let text = panic_text(t.expect("state-out", &">a".to_string())).await;
    assert!(text.contains(r#"expected on `state-out`: ">a""#), "{text}");
    assert!(text.contains(r#"arrived instead: ">b""#), "{text}");
    assert!(
        text.contains("log lines:") && text.contains("producer ready"),
        "{text}"
    );

    let nothing = t.next::<String>("state-out").await.unwrap_err().to_string();
    assert!(
        nothing.contains("nothing arrived on `state-out` within 2s"),
        "{nothing}"
    );
    assert!(
        nothing.contains("to_state_out sent to topic `state-out`"),
        "{nothing}"
    );

    let never = panic_text(t.expect_called_with("to_state_outt", &"x".to_string())).await;
    assert!(
        never.contains("the app has no function `to_state_outt`"),
        "{never}"
    );
    let misspelt = panic_text(async { t.assert_not_called("on_stat_in") }).await;
    assert!(
        misspelt.contains("the app has no function `on_stat_in`"),
        "{misspelt}"
    );
    let missing = panic_text(t.expect_nothing("state-outt", Duration::from_millis(200))).await;
    assert!(
        missing.contains("topic `state-outt` does not exist"),
        "{missing}"
    );
    t.stop().await.unwrap();
}

#[tokio::test]
async fn a_test_that_panics_with_a_running_tester_tears_it_down() {
    let log = Log::default();
    let app = app(&log);
    let test = tokio::spawn(async move {
        let t = Tester::new(app).await.unwrap();
        t.send("state-in", "before the panic".to_string())
            .await
            .unwrap();
        t.next::<String>("state-out").await.unwrap();
        panic!("the test failed");
    });
    // The Tester is dropped while the panic unwinds: its app stops (consumers leave,
    // producers flush) within the drop's bounded waits, so the test ends.
    let ended = tokio::time::timeout(Duration::from_secs(30), test)
        .await
        .expect("the panicking test hung in its teardown");
    assert!(ended.unwrap_err().is_panic());
    assert!(log
        .lines()
        .contains(&"consumed before the panic".to_string()));
}

#[test]
fn apps_testers_and_their_futures_can_move_between_threads() {
    fn send_sync<T: Send + Sync>() {}
    fn send<T: Send>(_: T) {}
    send_sync::<FastKafka>();
    send_sync::<fastkafka::RunningApp>();
    send_sync::<Tester>();
    send(Tester::new(app(&Log::default())));
    send(app(&Log::default()).start("embedded"));
    let tester: Option<&Tester> = None;
    if let Some(t) = tester {
        send(t.next::<String>("state-out"));
        send(t.call(async {}));
    }
}

#[tokio::test]
async fn a_task_spawned_with_fastkafka_spawn_sends_through_its_app() {
    let app = FastKafka::builder()
        .only(["on_spawn_in", "to_state_out"])
        .build();
    let t = Tester::new(app).await.unwrap();
    t.send("spawn-in", "x".to_string()).await.unwrap();
    t.expect("state-out", &"spawned x".to_string()).await;
    t.stop().await.unwrap();
}

#[tokio::test]
async fn a_module_without_functions_stops_the_start() {
    let app = FastKafka::builder()
        .include_module("crate::handlers")
        .build();
    let err = app
        .start("embedded")
        .await
        .err()
        .expect("the start must fail");
    let text = err.to_string();
    assert!(
        text.contains("include_module names `crate::handlers`") && text.contains("`state`"),
        "{text}"
    );
    // This file's functions are in module `state`: that path works.
    let t = Tester::builder(
        FastKafka::builder()
            .state(Log::default())
            .state_with(|| async { Ok::<_, std::io::Error>(Prefix("+".into())) })
            .build(),
    )
    .include_module(module_path!())
    .start()
    .await;
    // Every function of this file then, including one whose state is missing.
    assert!(matches!(t.err(), Some(Error::MissingState { .. })));
}

#[tokio::test]
async fn two_testers_of_one_test_share_its_turn_on_a_shared_broker() {
    // A broker outside the Testers: they run as on a real cluster (groups renamed,
    // reading from their start), and take turns with other tests, not with each other.
    let broker = fastkafka::embedded::EmbeddedBroker::start().unwrap();
    let shared = |log: &Log| Tester::builder(app(log)).broker(broker.bootstrap_servers());
    let (a, b) = (Log::default(), Log::default());
    let first = tokio::time::timeout(Duration::from_secs(60), shared(&a).start())
        .await
        .expect("the first Tester started")
        .unwrap();
    let second = tokio::time::timeout(Duration::from_secs(60), shared(&b).start())
        .await
        .expect("the second Tester of the test did not wait for the first")
        .unwrap();
    first.send("state-in", "shared".to_string()).await.unwrap();
    // Both apps read the topic, each in its own group: both answer.
    first.expect("state-out", &">shared".to_string()).await;
    first.expect("state-out", &">shared".to_string()).await;
    second.stop().await.unwrap();
    first.stop().await.unwrap();
    assert!(a.lines().contains(&"consumed shared".to_string()));
    assert!(b.lines().contains(&"consumed shared".to_string()));
}

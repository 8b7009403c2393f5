//! The log lines a test captures (`testing::capture_logs`, every `Tester`): plain text
//! where they end up in a file or a CI log, coloured on a terminal only. Checked over
//! the output of this test binary, run again as a child process.

use std::process::{Command, Output};

/// Set for the child run: the test that logs and fails.
const CHILD: &str = "FASTKAFKA_TEST_LOGS_CHILD";

/// A line the child logs, to find in its output.
const MARKER: &str = "captured-log-marker";

/// Logs through the Tester's logger and fails, so that the harness prints what it
/// captured. Does nothing unless run as the child.
#[test]
fn child_logs_and_fails() {
    if std::env::var_os(CHILD).is_none() {
        return;
    }
    fastkafka::testing::capture_logs();
    tracing::warn!(target: "fastkafka::runtime", topic = "orders", "{MARKER}");
    panic!("failing on purpose, so that the captured logs are shown");
}

/// Runs the child test through `runner` (the test binary and its arguments appended).
fn run_child(runner: &mut Command) -> Output {
    runner
        .env(CHILD, "1")
        .env_remove("NO_COLOR")
        .env("RUST_LOG", "fastkafka=debug")
        .output()
        .expect("the test binary runs")
}

fn child_args() -> Vec<String> {
    let exe = std::env::current_exe().unwrap();
    vec![
        exe.display().to_string(),
        "--exact".into(),
        "child_logs_and_fails".into(),
        "--test-threads=1".into(),
    ]
}

#[test]
fn a_failing_tests_captured_logs_have_no_colour_codes_in_a_file() {
    let args = child_args();
    // stdout and stderr are pipes here, as when `cargo test > log.txt` or in CI.
    let out = run_child(Command::new(&args[0]).args(&args[1..]));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success(), "the child fails:\n{stdout}");
    let line = stdout
        .lines()
        .find(|l| l.contains(MARKER))
        .unwrap_or_else(|| panic!("the captured line is shown:\n{stdout}"));
    assert!(!line.contains('\u{1b}'), "escape codes in {line:?}");
    assert!(
        line.contains("WARN fastkafka::runtime: captured-log-marker topic=\"orders\""),
        "{line:?}"
    );
    // The same with `--nocapture`, where the lines go straight to the file.
    let out = run_child(Command::new(&args[0]).args(&args[1..]).arg("--nocapture"));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains(MARKER), "{stdout}");
    assert!(!stdout.contains('\u{1b}'), "escape codes in:\n{stdout}");
}

#[test]
fn on_a_terminal_the_captured_logs_are_coloured() {
    // `script` runs the child on a pseudo-terminal (util-linux); skip where it is missing.
    if Command::new("script").arg("--version").output().is_err() {
        eprintln!("skipped: no `script` to give the child a terminal");
        return;
    }
    let command = child_args()
        .iter()
        .map(|a| format!("'{a}'"))
        .collect::<Vec<_>>()
        .join(" ");
    let out = run_child(Command::new("script").args(["-qec", &command, "/dev/null"]));
    let shown = String::from_utf8_lossy(&out.stdout);
    let line = shown
        .lines()
        .find(|l| l.contains(MARKER))
        .unwrap_or_else(|| panic!("the captured line is shown:\n{shown}"));
    assert!(line.contains('\u{1b}'), "no colour on a terminal: {line:?}");
}

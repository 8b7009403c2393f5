//! Running the `fastkafka` binary and apps as a user would, and watching their output.

#![allow(dead_code)]

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub(crate) fn fastkafka_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_fastkafka"))
}

/// `fastkafka run --num-workers WORKERS --kafka-broker BROKER APP`, to spawn.
pub(crate) fn fastkafka_run(workers: usize, broker: &str, app: &Path) -> Command {
    let mut command = Command::new(fastkafka_bin());
    command
        .args([
            "run",
            "--num-workers",
            &workers.to_string(),
            "--kafka-broker",
            broker,
        ])
        .arg(app);
    command
}

/// An example app binary, built by `cargo test --workspace` beside `fastkafka`.
pub(crate) fn example_bin(name: &str) -> PathBuf {
    let path = fastkafka_bin().with_file_name(name);
    assert!(
        path.is_file(),
        "{} is missing: run the tests with `cargo test --workspace` (or `cargo build -p fastkafka-examples` first)",
        path.display()
    );
    path
}

/// A child process whose stdout and stderr lines are collected as they come.
pub(crate) struct Watched {
    pub child: Child,
    lines: Arc<Mutex<Vec<String>>>,
}

impl Watched {
    pub(crate) fn spawn(command: &mut Command) -> Watched {
        Self::spawn_reading_stdout(command, usize::MAX)
    }

    /// Like `| head -n LINES`: reads that many lines of stdout, then closes it.
    pub(crate) fn spawn_reading_stdout(command: &mut Command, lines: usize) -> Watched {
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn");
        let collected = Arc::new(Mutex::new(Vec::new()));
        let out = child.stdout.take().unwrap();
        let err = child.stderr.take().unwrap();
        collect_lines(out, Arc::clone(&collected), lines);
        collect(err, Arc::clone(&collected));
        Watched {
            child,
            lines: collected,
        }
    }

    pub(crate) fn lines(&self) -> Vec<String> {
        self.lines.lock().unwrap().clone()
    }

    pub(crate) fn output(&self) -> String {
        self.lines().join("\n")
    }

    /// Waits until `count` lines match `pred`; panics with the output on timeout.
    pub(crate) fn wait_for_lines(
        &self,
        pred: impl Fn(&str) -> bool,
        count: usize,
        timeout: Duration,
    ) -> Vec<String> {
        let deadline = Instant::now() + timeout;
        loop {
            let matching: Vec<String> = self.lines().into_iter().filter(|l| pred(l)).collect();
            if matching.len() >= count {
                return matching;
            }
            if Instant::now() > deadline {
                panic!(
                    "timed out waiting for {count} matching lines; output:\n{}",
                    self.output()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The address the process printed as `bootstrap.servers=HOST:PORT` (the embedded
    /// broker it started); panics with the output after `timeout`.
    /// Waits until `workers` workers hold all `partitions` partitions between them, as
    /// their latest logged assignments say: the group is formed, no rebalance pending.
    pub(crate) fn wait_for_split(&self, workers: usize, partitions: usize, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        loop {
            let owners = assignment(&self.lines());
            if owners.len() == workers
                && owners.values().map(|p| p.len()).sum::<usize>() == partitions
            {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "the {workers} workers never split the {partitions} partitions:\n{}",
                self.output()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    pub(crate) fn embedded_bootstrap(&self, timeout: Duration) -> String {
        let line = self.wait_for_lines(|l| l.contains("bootstrap.servers="), 1, timeout);
        line[0]
            .split("bootstrap.servers=")
            .nth(1)
            .and_then(|rest| rest.split_whitespace().next())
            .expect("an address after bootstrap.servers=")
            .to_string()
    }

    /// Sends `sig` (a `libc::SIG*` number) to the process.
    pub(crate) fn signal(&self, sig: i32) {
        send_signal(self.child.id(), sig);
    }

    /// Waits for the exit; panics after `timeout`.
    pub(crate) fn wait(&mut self, timeout: Duration) -> ExitStatus {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                // Let the collector threads drain the pipes.
                std::thread::sleep(Duration::from_millis(100));
                return status;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!(
                    "process did not exit within {timeout:?}; output:\n{}",
                    self.output()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Watched {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn collect(stream: impl Read + Send + 'static, lines: Arc<Mutex<Vec<String>>>) {
    collect_lines(stream, lines, usize::MAX);
}

/// Collects the first `max` lines, then closes the stream.
fn collect_lines(stream: impl Read + Send + 'static, lines: Arc<Mutex<Vec<String>>>, max: usize) {
    std::thread::spawn(move || {
        for line in BufReader::new(stream)
            .lines()
            .map_while(Result::ok)
            .take(max)
        {
            lines.lock().unwrap().push(line);
        }
    });
}

/// A shell script standing in for an app: it answers the app handshake (`APP brokers`,
/// with `default` as its default broker) and runs `body` for anything else.
pub(crate) fn fake_app(name: &str, default: &str, body: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("fake-apps-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(
        &path,
        format!(
            "#!/bin/sh\nif [ \"$1\" = brokers ]; then echo '{{\"default\":\"{default}\",\"brokers\":[]}}'; exit 0; fi\n{body}\n"
        ),
    )
    .unwrap();
    std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    path
}

/// kill(2): `sig` (a `libc::SIG*` number) to `pid`; a process already gone is no error.
pub(crate) fn send_signal(pid: u32, sig: i32) {
    let signal = nix::sys::signal::Signal::try_from(sig).expect("a signal number");
    let pid = nix::unistd::Pid::from_raw(i32::try_from(pid).expect("a pid"));
    let _ = nix::sys::signal::kill(pid, signal);
}

/// Whether a process runs (a zombie does not: it only waits to be reaped).
pub(crate) fn is_running(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // The state follows the command name, which is in parentheses.
        Ok(stat) => stat
            .rsplit_once(") ")
            .is_some_and(|(_, rest)| !rest.starts_with('Z')),
        Err(_) => false,
    }
}

/// Waits until none of `pids` runs; the ones still running after `timeout`.
pub(crate) fn still_running_after(pids: &[u32], timeout: Duration) -> Vec<u32> {
    let deadline = Instant::now() + timeout;
    loop {
        let running: Vec<u32> = pids.iter().copied().filter(|p| is_running(*p)).collect();
        if running.is_empty() || Instant::now() > deadline {
            return running;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Kills the processes that are still running when dropped: a failing test leaves
/// no orphan behind.
pub(crate) struct KillOnDrop(pub Vec<u32>);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        for pid in &self.0 {
            if is_running(*pid) {
                send_signal(*pid, libc::SIGKILL);
            }
        }
    }
}

/// `(partition, offset)` from a log line like `... sent topic=hello_world partition=0 offset=3`.
pub(crate) fn reported_delivery(line: &str) -> Option<(i32, i64)> {
    let field = |name: &str| {
        let start = line.find(&format!(" {name}="))? + name.len() + 2;
        let rest = &line[start..];
        let end = rest.find(' ').unwrap_or(rest.len());
        rest[..end].trim_matches('"').parse::<i64>().ok()
    };
    Some((field("partition")? as i32, field("offset")?))
}

/// The `[pid]` prefix of a relayed worker line.
pub(crate) fn worker_pid(line: &str) -> Option<u32> {
    line.strip_prefix('[')?.split_once("]: ")?.0.parse().ok()
}

/// The latest assignment each worker logged: pid -> partitions.
pub(crate) fn assignment(lines: &[String]) -> HashMap<u32, Vec<i32>> {
    let mut owners: HashMap<u32, Vec<i32>> = HashMap::new();
    for line in lines {
        let Some(pid) = worker_pid(line) else {
            continue;
        };
        if line.contains("partitions revoked") {
            owners.remove(&pid);
        }
        if line.contains("partitions assigned") {
            let list = line
                .split("partitions=[")
                .nth(1)
                .and_then(|r| r.split(']').next())
                .unwrap_or("");
            let parts = list
                .split(", ")
                .filter_map(|p| p.trim().parse().ok())
                .collect();
            owners.insert(pid, parts);
        }
    }
    owners.retain(|_, p| !p.is_empty());
    owners
}

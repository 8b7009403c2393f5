//! Running the `fastkafka` binary and apps as a user would, and watching their output.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read};
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub fn fastkafka_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_fastkafka"))
}

/// An example app binary, built by `cargo test --workspace` beside `fastkafka`.
pub fn example_bin(name: &str) -> PathBuf {
    let path = fastkafka_bin().with_file_name(name);
    assert!(
        path.is_file(),
        "{} is missing: run the tests with `cargo test --workspace` (or `cargo build -p fastkafka-examples` first)",
        path.display()
    );
    path
}

/// A child process whose stdout and stderr lines are collected as they come.
pub struct Watched {
    pub child: Child,
    lines: Arc<Mutex<Vec<String>>>,
}

impl Watched {
    pub fn spawn(command: &mut Command) -> Watched {
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn");
        let lines = Arc::new(Mutex::new(Vec::new()));
        let out = child.stdout.take().unwrap();
        let err = child.stderr.take().unwrap();
        collect(out, Arc::clone(&lines));
        collect(err, Arc::clone(&lines));
        Watched { child, lines }
    }

    pub fn lines(&self) -> Vec<String> {
        self.lines.lock().unwrap().clone()
    }

    pub fn output(&self) -> String {
        self.lines().join("\n")
    }

    /// Waits until `count` lines match `pred`; panics with the output on timeout.
    pub fn wait_for_lines(
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

    pub fn signal(&self, sig: i32) {
        // SAFETY: our own child.
        unsafe {
            libc::kill(self.child.id() as i32, sig);
        }
    }

    /// Waits for the exit; panics after `timeout`.
    pub fn wait(&mut self, timeout: Duration) -> ExitStatus {
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
    std::thread::spawn(move || {
        for line in BufReader::new(stream).lines().map_while(Result::ok) {
            lines.lock().unwrap().push(line);
        }
    });
}

/// `(partition, offset)` from a log line like `... sent topic=hello_world partition=0 offset=3`.
pub fn reported_delivery(line: &str) -> Option<(i32, i64)> {
    let field = |name: &str| {
        let start = line.find(&format!(" {name}="))? + name.len() + 2;
        let rest = &line[start..];
        let end = rest.find(' ').unwrap_or(rest.len());
        rest[..end].trim_matches('"').parse::<i64>().ok()
    };
    Some((field("partition")? as i32, field("offset")?))
}

/// The `[pid]` prefix of a relayed worker line.
pub fn worker_pid(line: &str) -> Option<u32> {
    line.strip_prefix('[')?.split_once("]: ")?.0.parse().ok()
}

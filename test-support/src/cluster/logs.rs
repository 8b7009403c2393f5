//! Diagnostics of a [`KafkaCluster`]: how long it took to start, its brokers' memory
//! and logs, and the one line that describes it.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::KafkaCluster;

impl KafkaCluster {
    /// How long [`start`](Self::start) took, from the certificates to the last broker
    /// serving (not counting the class-data archive made on a machine's first start).
    pub fn started_in(&self) -> Duration {
        self.started_in
    }

    /// The resident memory of each broker's JVM in bytes (`None` for one that is not
    /// running), from `/proc/PID/status`.
    pub fn rss_bytes(&self) -> Vec<Option<u64>> {
        (0..self.broker_count())
            .map(|i| self.pid(i).and_then(rss_bytes_of))
            .collect()
    }

    /// The path of broker `index`'s log (its stdout and stderr, every run appended).
    pub fn log_path(&self, index: usize) -> PathBuf {
        self.lock()[index].log_path()
    }

    /// The last `lines` lines of broker `index`'s log.
    pub fn log_tail(&self, index: usize, lines: usize) -> String {
        tail(&self.log_path(index), lines)
    }

    /// One line on the cluster: version, brokers, start time and each JVM's memory.
    pub fn describe(&self) -> String {
        let rss: Vec<String> = self
            .rss_bytes()
            .iter()
            .map(|r| r.map_or("-".into(), |b| format!("{} MiB", b >> 20)))
            .collect();
        format!(
            "Apache Kafka {} cluster: {} brokers started in {:.1} s, RSS {}",
            crate::KAFKA_VERSION,
            self.broker_count(),
            self.started_in.as_secs_f64(),
            rss.join(" / ")
        )
    }
}

fn rss_bytes_of(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// The text of the file at `path` from byte `start` on; empty when it cannot be read.
pub(super) fn read_from(path: &Path, start: u64) -> String {
    use std::io::{Read, Seek, SeekFrom};
    let mut text = Vec::new();
    if let Ok(mut file) = File::open(path) {
        if file.seek(SeekFrom::Start(start)).is_ok() {
            let _ = file.read_to_end(&mut text);
        }
    }
    String::from_utf8_lossy(&text).into_owned()
}

pub(super) fn tail(path: &Path, lines: usize) -> String {
    let text = std::fs::read(path)
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_else(|e| format!("(cannot read {}: {e})", path.display()));
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

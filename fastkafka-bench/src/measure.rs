//! What a run measures: rate, CPU time per message, peak memory.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

pub(super) fn now_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64)
}

pub(super) fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    if v.is_empty() {
        0.0
    } else {
        v[v.len() / 2]
    }
}

/// CPU time (user + system) of this process so far.
pub(super) fn cpu_time() -> Duration {
    use nix::sys::resource::{getrusage, UsageWho};
    use nix::sys::time::TimeValLike;

    let Ok(usage) = getrusage(UsageWho::RUSAGE_SELF) else {
        return Duration::ZERO;
    };
    let micros = usage.user_time().num_microseconds() + usage.system_time().num_microseconds();
    Duration::from_micros(u64::try_from(micros).unwrap_or_default())
}

/// Peak resident set size of this process, in KiB.
pub(super) fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|n| n.parse().ok()))
        })
        .unwrap_or(0)
}

/// One measured run: messages per second and CPU microseconds per message.
#[derive(Clone, Copy)]
pub(super) struct Run {
    pub(super) rate: f64,
    pub(super) cpu_us: f64,
}

pub(super) fn measured(n: usize, elapsed: Duration, cpu: Duration) -> Run {
    Run {
        rate: n as f64 / elapsed.as_secs_f64(),
        cpu_us: cpu.as_secs_f64() * 1e6 / n as f64,
    }
}

//! One worker process: started after its backoff, its output relayed with a `[pid]: `
//! prefix, its exit reported to the supervisor; and the signals sent to it.

use std::io::Write;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::mpsc;

use super::Event;

/// kill(2) to a worker we spawned; at worst it is already gone, which is no error here.
pub(super) fn send_signal(pid: u32, sig: Signal) {
    if let Ok(pid) = i32::try_from(pid) {
        let _ = kill(Pid::from_raw(pid), sig);
    }
}

/// Starts one worker after `delay`, relays its output, reports its exit.
pub(super) async fn worker(
    slot: usize,
    binary: PathBuf,
    broker: String,
    embedded: bool,
    delay: Duration,
    events: mpsc::UnboundedSender<Event>,
) {
    let embedded_env = embedded.then(|| (fastkafka::protocol::EMBEDDED_BROKER_ENV, broker.clone()));
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
        if events.is_closed() {
            return;
        }
    }
    let mut command = Command::new(&binary);
    command
        .args(["run", "--kafka-broker", &broker])
        .env(fastkafka::protocol::WORKER_ENV, slot.to_string())
        .env(fastkafka::protocol::STOP_BARRIER_ENV, "1")
        .envs(embedded_env)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        // Own process group: a terminal's Ctrl-C reaches the supervisor only, which
        // forwards it, so no worker sees a signal twice.
        .process_group(0)
        .kill_on_drop(false);
    stop_with_supervisor(&mut command);
    let child = command.spawn();
    let mut child: Child = match child {
        Ok(c) => c,
        Err(error) => {
            let _ = events.send(Event::SpawnFailed { slot, error });
            return;
        }
    };
    let pid = child.id().unwrap_or_default();
    let stdin = child.stdin.take();
    let _ = events.send(Event::Started { slot, pid, stdin });
    let out = child
        .stdout
        .take()
        .map(|s| tokio::spawn(relay(s, pid, Some((slot, events.clone())))));
    let err = child
        .stderr
        .take()
        .map(|s| tokio::spawn(relay(s, pid, None)));
    let status = child.wait().await;
    for relay in [out, err].into_iter().flatten() {
        let _ = relay.await;
    }
    match status {
        Ok(status) => {
            let _ = events.send(Event::Exited { slot, pid, status });
        }
        Err(error) => {
            let _ = events.send(Event::SpawnFailed { slot, error });
        }
    }
}

/// Makes the worker get SIGTERM (a clean stop) when the supervisor dies, however it
/// dies: killed, or crashed. Linux only; elsewhere a worker outlives a killed supervisor.
///
/// `PR_SET_PDEATHSIG` fires when the thread that spawned the child ends, not the
/// process: workers are spawned from the runtime's worker threads, which live as long
/// as the supervisor.
#[cfg(target_os = "linux")]
fn stop_with_supervisor(command: &mut Command) {
    use nix::sys::prctl;
    use nix::unistd::getppid;

    let supervisor = Pid::this();
    // SAFETY: the closure runs in the forked child before exec, where only
    // async-signal-safe calls are allowed: prctl(2) and getppid(2) are plain system
    // calls, and nothing here allocates or takes a lock.
    unsafe {
        command.pre_exec(move || {
            prctl::set_pdeathsig(Signal::SIGTERM)?;
            // The supervisor died before the line above: nobody would signal us.
            if getppid() != supervisor {
                return Err(nix::errno::Errno::ESRCH.into());
            }
            Ok(())
        });
    }
}

#[cfg(not(target_os = "linux"))]
fn stop_with_supervisor(_command: &mut Command) {}

/// Copies a worker's output line by line, each with the `[pid]: ` prefix, as it comes:
/// its stdout (with its slot, where the stop protocol's line is taken out and reported)
/// to stdout, its stderr to stderr.
async fn relay(
    stream: impl AsyncRead + Unpin,
    pid: u32,
    stdout_of: Option<(usize, mpsc::UnboundedSender<Event>)>,
) {
    let to_stderr = stdout_of.is_none();
    let mut lines = BufReader::new(stream).split(b'\n');
    while let Ok(Some(line)) = lines.next_segment().await {
        let line = String::from_utf8_lossy(&line);
        let line = line.trim_end_matches('\r');
        if let Some((slot, events)) = &stdout_of {
            if line == fastkafka::protocol::COMMITTED_LINE {
                let _ = events.send(Event::Committed { slot: *slot });
                continue;
            }
        }
        if to_stderr {
            let mut out = std::io::stderr().lock();
            let _ = writeln!(out, "[{pid}]: {line}");
        } else {
            let mut out = std::io::stdout().lock();
            let _ = writeln!(out, "[{pid}]: {line}");
            let _ = out.flush();
        }
    }
}

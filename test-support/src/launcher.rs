//! Starts the JVMs so that none outlives the test process.
//!
//! `Drop` stops a cluster when a test ends or panics, but not when the test process
//! itself dies (SIGKILL, a harness timeout, an abort) nor for a cluster kept in a
//! `static`, whose `Drop` never runs. For those, each JVM is started with Linux's
//! `PR_SET_PDEATHSIG(SIGKILL)`: the kernel kills it when the thread that started it
//! exits. That thread must therefore live as long as the cluster, not be a test's thread
//! or a pool thread that may retire: every JVM of a cluster is started from one thread
//! of its own, which ends when the cluster is dropped or the process exits.

use std::io;
use std::process::{Child, Command};
use std::sync::mpsc;
use std::sync::Mutex;

type Request = (Command, mpsc::Sender<io::Result<Child>>);

/// A thread that starts processes tied to its own life.
pub(crate) struct Launcher {
    requests: Mutex<mpsc::Sender<Request>>,
}

impl Launcher {
    pub(crate) fn new(name: &str) -> Launcher {
        let (requests, incoming) = mpsc::channel::<Request>();
        std::thread::Builder::new()
            .name(name.to_owned())
            .spawn(move || {
                for (mut command, reply) in incoming {
                    let _ = reply.send(spawn_tied(&mut command));
                }
            })
            .expect("cannot start the JVM launcher thread");
        Launcher {
            requests: Mutex::new(requests),
        }
    }

    /// Starts `command` from the launcher's thread.
    pub(crate) fn spawn(&self, command: Command) -> io::Result<Child> {
        let (reply, answer) = mpsc::channel();
        self.requests
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .send((command, reply))
            .map_err(|_| io::Error::other("the JVM launcher thread has exited"))?;
        answer
            .recv()
            .map_err(|_| io::Error::other("the JVM launcher thread has exited"))?
    }
}

#[cfg(target_os = "linux")]
fn spawn_tied(command: &mut Command) -> io::Result<Child> {
    use std::os::unix::process::CommandExt;
    let parent = std::process::id() as libc::pid_t;
    // SAFETY: between fork and exec only async-signal-safe calls: prctl, getppid, _exit.
    unsafe {
        command.pre_exec(move || {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                return Err(io::Error::last_os_error());
            }
            // The parent may have died before prctl took effect.
            if libc::getppid() != parent {
                libc::_exit(1);
            }
            Ok(())
        });
    }
    command.spawn()
}

#[cfg(not(target_os = "linux"))]
fn spawn_tied(command: &mut Command) -> io::Result<Child> {
    command.spawn()
}

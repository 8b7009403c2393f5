//! Background tasks: started after producers, supervised, restarted, cancelled on shutdown.

use std::panic::AssertUnwindSafe;
use std::time::{Duration, Instant};

use futures::future::BoxFuture;
use futures::FutureExt;

use crate::backoff::Backoff;
use crate::error::{panic_message, BoxError};

/// What the runtime does when a background task fails (returns an error or panics).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RestartPolicy {
    /// Log the failure and start the task again after an exponential backoff
    /// (0.5 s, doubling up to 30 s; reset after a minute of healthy running).
    #[default]
    OnFailure,
    /// Log the failure and leave the task stopped: `#[run_in_background(restart = "never")]`.
    Never,
}

/// A background task, as `#[run_in_background]` registers it. Not written by hand.
#[doc(hidden)]
pub struct BackgroundTaskSpec {
    /// The function's name.
    pub name: &'static str,
    /// The module it is declared in (`module_path!()`).
    pub module: &'static str,
    /// The [`State`](crate::State)s it takes, in order.
    pub states: &'static [crate::state::StateNeed],
    /// What to do when it fails.
    pub restart: RestartPolicy,
    /// Calls the function.
    pub run: fn() -> BoxFuture<'static, Result<(), BoxError>>,
}

inventory::collect!(BackgroundTaskSpec);

/// Every `#[run_in_background]` function linked into this binary.
pub(crate) fn registered() -> impl Iterator<Item = &'static BackgroundTaskSpec> {
    inventory::iter::<BackgroundTaskSpec>.into_iter()
}

const INITIAL_BACKOFF: Duration = Duration::from_millis(500);
const MAX_BACKOFF: Duration = Duration::from_secs(30);
const HEALTHY_RUN: Duration = Duration::from_secs(60);

/// Runs one background task until it ends, restarting it on failure as its policy says.
/// Cancelling (dropping) this future cancels the task.
pub(crate) async fn supervise(task: &'static BackgroundTaskSpec) {
    let mut backoff = Backoff::new(INITIAL_BACKOFF, MAX_BACKOFF);
    loop {
        tracing::info!(task = task.name, "starting background task");
        let started = Instant::now();
        match AssertUnwindSafe((task.run)()).catch_unwind().await {
            Ok(Ok(())) => {
                tracing::info!(task = task.name, "background task finished");
                return;
            }
            Ok(Err(error)) => {
                tracing::error!(task = task.name, error = %error, "background task failed");
            }
            Err(panic) => {
                let panic = panic_message(panic.as_ref());
                tracing::error!(task = task.name, panic, "background task panicked");
            }
        }
        if task.restart == RestartPolicy::Never {
            tracing::warn!(
                task = task.name,
                "not restarting background task (restart = \"never\")"
            );
            return;
        }
        if started.elapsed() >= HEALTHY_RUN {
            backoff.reset();
        }
        let delay = backoff.next_delay();
        tracing::info!(
            task = task.name,
            delay_ms = delay.as_millis() as u64,
            "restarting background task"
        );
        tokio::time::sleep(delay).await;
    }
}

//! Shutdown signals: the first SIGINT or SIGTERM stops the app cleanly, a second one
//! exits at once.

use std::future::Future;

/// From now on, SIGINT or SIGTERM exits the process at once: the user pressed Ctrl-C
/// again while the app was shutting down (a broker that does not answer can hold the
/// flush for its whole timeout). The listeners exist before this returns, so a signal
/// sent right after is not missed.
pub(super) fn exit_on_second_signal() {
    let Some(next) = listen_for_shutdown() else {
        return;
    };
    tokio::spawn(async move {
        next.await;
        tracing::error!(
            "second shutdown signal: exiting now; messages still queued are lost, and messages consumed but not committed will be delivered again"
        );
        std::process::exit(crate::protocol::exit::INTERRUPTED.into());
    });
}

/// Completes on the first SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let Some(next) = listen_for_shutdown() else {
        tracing::error!("cannot listen for SIGINT/SIGTERM; the app will run until killed");
        return std::future::pending().await;
    };
    let name = next.await;
    tracing::info!(signal = name, "received shutdown signal");
}

/// Listens for SIGINT and SIGTERM from the moment it is called; the future completes
/// with the name of the next one. `None` if signals cannot be watched.
fn listen_for_shutdown() -> Option<impl Future<Output = &'static str>> {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut int), Ok(mut term)) = (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
    ) else {
        return None;
    };
    Some(async move {
        tokio::select! {
            _ = int.recv() => "SIGINT",
            _ = term.recv() => "SIGTERM",
        }
    })
}

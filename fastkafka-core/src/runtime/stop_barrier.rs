//! The two-phase stop of `fastkafka run`'s workers: commit, say so, and leave the
//! consumer groups only once every worker has committed.

use std::time::Duration;

use crate::protocol::{COMMITTED_LINE, STOP_BARRIER_ENV};

/// How long a worker waits for its supervisor's go-ahead to leave its groups.
const STOP_BARRIER_TIMEOUT: Duration = Duration::from_secs(30);

/// The second phase of a supervised stop. A worker's consumers share their groups with
/// the other workers' consumers; the first to leave a group rebalances it, and a broker
/// may refuse the others' final commits during that rebalance, so their last messages
/// would be processed twice. So each worker of `fastkafka run` says on stdout when it
/// has committed ([`COMMITTED_LINE`]) and leaves only once the supervisor, having heard
/// it from every worker, writes a line to its stdin (or closes it, or
/// [`STOP_BARRIER_TIMEOUT`] passes). Outside the supervisor this does nothing.
pub(super) async fn stop_barrier() {
    if std::env::var_os(STOP_BARRIER_ENV).is_none() {
        return;
    }
    {
        use std::io::Write;
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{COMMITTED_LINE}");
        let _ = out.flush();
    }
    tracing::debug!("committed; waiting for the other workers before leaving the group");
    let go = tokio::task::spawn_blocking(|| {
        let mut line = String::new();
        // A line or end of input: either way, the supervisor lets us go.
        let _ = std::io::stdin().read_line(&mut line);
    });
    if tokio::time::timeout(STOP_BARRIER_TIMEOUT, go)
        .await
        .is_err()
    {
        tracing::warn!(
            timeout_s = STOP_BARRIER_TIMEOUT.as_secs(),
            "the supervisor did not say the other workers committed; leaving the group anyway"
        );
    }
}

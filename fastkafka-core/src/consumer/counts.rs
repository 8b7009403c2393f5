//! What consumers did with the messages they read.

use std::sync::atomic::Ordering;

/// What consumers did with the messages they read, for [`RunningApp::consumer_counts`]
/// and the [`ShutdownReport`]: every message read is handled, dead-lettered or
/// skipped once it is committed.
///
/// [`RunningApp::consumer_counts`]: crate::RunningApp::consumer_counts
/// [`ShutdownReport`]: crate::ShutdownReport
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ConsumerCounts {
    /// Messages a handler returned `Ok` for, once every message it produced meanwhile
    /// was acknowledged.
    pub handled: u64,
    /// Messages sent to their function's dead-letter topic: undecodable, or the handler
    /// failed (after its retries, or at once for a permanent error).
    pub dead_lettered: u64,
    /// Of those, dead-lettered without their payload because the dead-letter topic
    /// refused it permanently (e.g. too large); see [`ORIGINAL_SIZE`](crate::dead_letter_headers::ORIGINAL_SIZE).
    pub dead_lettered_without_payload: u64,
    /// Messages given up on and committed without being handled or dead-lettered: no
    /// dead-letter topic is configured, or it refused even the record without payload.
    pub skipped: u64,
    /// Times a handler succeeded but a message it produced was not delivered: its input
    /// then failed like a failing handler (retried, then dead-lettered or skipped, and
    /// counted there too).
    pub failed_outputs: u64,
}

impl std::ops::AddAssign for ConsumerCounts {
    fn add_assign(&mut self, other: Self) {
        self.handled += other.handled;
        self.dead_lettered += other.dead_lettered;
        self.dead_lettered_without_payload += other.dead_lettered_without_payload;
        self.skipped += other.skipped;
        self.failed_outputs += other.failed_outputs;
    }
}

/// One consumer's [`ConsumerCounts`], updated by its partition tasks.
#[derive(Default)]
pub(crate) struct Counters {
    pub(super) handled: std::sync::atomic::AtomicU64,
    pub(super) dead_lettered: std::sync::atomic::AtomicU64,
    pub(super) dead_lettered_without_payload: std::sync::atomic::AtomicU64,
    pub(super) skipped: std::sync::atomic::AtomicU64,
    pub(super) failed_outputs: std::sync::atomic::AtomicU64,
}

impl Counters {
    pub(crate) fn snapshot(&self) -> ConsumerCounts {
        let without = self.dead_lettered_without_payload.load(Ordering::Relaxed);
        ConsumerCounts {
            handled: self.handled.load(Ordering::Relaxed),
            dead_lettered: self.dead_lettered.load(Ordering::Relaxed) + without,
            dead_lettered_without_payload: without,
            skipped: self.skipped.load(Ordering::Relaxed),
            failed_outputs: self.failed_outputs.load(Ordering::Relaxed),
        }
    }
}

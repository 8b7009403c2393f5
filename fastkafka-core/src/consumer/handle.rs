//! Calling the user's function: decoding, retries with backoff, tying what it produces
//! to its input, and handing what fails (the handler, or an output) to dead-lettering.

use std::any::Any;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use futures::FutureExt;
use tokio::sync::Notify;

use super::dead_letter::settle_failed;
use super::fetched::Fetched;
use super::retry_backoff;
use super::spec::{CallOneFn, EventMetadata, Handler, HandlerFn};
use super::Shared;
use crate::backoff::Backoff;
use crate::error::{panic_message, Error};
use crate::tracking::{OutputFailure, Outputs, Settled};

/// What became of an input (one message, or a batch).
pub(super) enum Outcome {
    /// The handler succeeded; the messages it produced may still be in flight. The
    /// input is settled when they are all acknowledged.
    Handled(Arc<Outputs>),
    /// Dead-lettered or skipped: settled now.
    Settled,
    /// The partition was stopped first: not settled, not to be committed.
    Stopped,
}

impl Outcome {
    fn settled(done: bool) -> Outcome {
        if done {
            Outcome::Settled
        } else {
            Outcome::Stopped
        }
    }
}

/// Handles one message for a function that takes one (`call`, its spec's
/// [`Handler::One`]): decode, call with retries, dead-letter or skip what fails. The
/// call runs in the scope of a fresh [`Outputs`] (which `wake` is told about when all
/// settle), so what it produces is tied to it.
pub(super) async fn handle_one(
    shared: &Shared,
    stop: &AtomicBool,
    m: &Fetched,
    call: CallOneFn,
    wake: &Arc<Notify>,
) -> Outcome {
    let spec = shared.spec;
    record_received(shared, m);
    let mut decoded = match (spec.decode)(m.payload()) {
        Ok(value) => Some(value),
        Err(error) => return Outcome::settled(settle_undecodable(shared, stop, m, &error).await),
    };
    let mut retries = Retries::new();
    loop {
        let meta = spec.with_metadata.then(|| m.metadata(&shared.topic));
        // The handler takes the message by value: decode afresh for a retry.
        let value = match decoded.take() {
            Some(value) => Ok(value),
            None => (spec.decode)(m.payload()),
        };
        let error = match value {
            Ok(value) => {
                let outputs = Outputs::new(Arc::clone(wake));
                let call = call(value, meta);
                match outputs.scope(AssertUnwindSafe(call).catch_unwind()).await {
                    Ok(Ok(())) => return Outcome::Handled(outputs),
                    Ok(Err(e)) => Failure::of(&*e),
                    Err(panic) => Failure::panic(panic.as_ref()),
                }
            }
            Err(e) => Failure::transient(e),
        };
        match retries.after_failure(shared, stop, m, 1, &error).await {
            Next::Again => {}
            Next::GiveUp => {
                let done = settle_failed(shared, stop, m, error.stage, &error.message).await;
                return Outcome::settled(done);
            }
            Next::Stopped => return Outcome::Stopped,
        }
    }
}

/// Handles a batch for a batch function (`call`, its spec's [`Handler::Batch`]):
/// decode, call with retries, dead-letter or skip what fails, as [`handle_one`] does.
/// Also returns the messages the handler was given (the batch less those that did not
/// decode, which are settled on their own).
pub(super) async fn handle(
    shared: &Shared,
    stop: &AtomicBool,
    messages: Vec<Fetched>,
    call: HandlerFn,
    wake: &Arc<Notify>,
) -> (Outcome, Vec<Fetched>) {
    let spec = shared.spec;
    // Undecodable messages are settled on their own; the rest go to the handler.
    let mut good = Vec::with_capacity(messages.len());
    let mut decoded = Vec::with_capacity(messages.len());
    for m in messages {
        record_received(shared, &m);
        match (spec.decode)(m.payload()) {
            Ok(value) => {
                decoded.push(value);
                good.push(m);
            }
            Err(error) => {
                if !settle_undecodable(shared, stop, &m, &error).await {
                    return (Outcome::Stopped, good);
                }
            }
        }
    }
    if good.is_empty() {
        return (Outcome::Settled, good);
    }
    let mut retries = Retries::new();
    loop {
        let metas: Vec<EventMetadata> = if spec.with_metadata {
            good.iter().map(|m| m.metadata(&shared.topic)).collect()
        } else {
            Vec::new()
        };
        // The handler takes the messages by value: decode afresh for a retry.
        let values = if decoded.is_empty() {
            good.iter()
                .filter_map(|m| (spec.decode)(m.payload()).ok())
                .collect()
        } else {
            std::mem::take(&mut decoded)
        };
        let outputs = Outputs::new(Arc::clone(wake));
        let call = AssertUnwindSafe(call(values, metas)).catch_unwind();
        let error = match outputs.scope(call).await {
            Ok(Ok(())) => return (Outcome::Handled(outputs), good),
            Ok(Err(e)) => Failure::of(&*e),
            Err(panic) => Failure::panic(panic.as_ref()),
        };
        match retries
            .after_failure(shared, stop, &good[0], good.len(), &error)
            .await
        {
            Next::Again => {}
            Next::GiveUp => {
                for m in &good {
                    if !settle_failed(shared, stop, m, error.stage, &error.message).await {
                        return (Outcome::Stopped, good);
                    }
                }
                return (Outcome::Settled, good);
            }
            Next::Stopped => return (Outcome::Stopped, good),
        }
    }
}

/// An input whose handler succeeded but whose output failed (after the producer's own
/// retries): it fails like a failing handler. The handler is called again under the
/// retry policy, each attempt awaited to its last output, then the input is
/// dead-lettered or skipped. True when settled; false when the partition stopped first.
pub(super) async fn retry_failed_output(
    shared: &Shared,
    stop: &AtomicBool,
    messages: &[Fetched],
    error: OutputFailure,
    wake: &Arc<Notify>,
) -> bool {
    let Some(first) = messages.first() else {
        return true;
    };
    shared.counts.failed_outputs.fetch_add(1, Ordering::Relaxed);
    let mut failure = Failure::output(&error);
    let mut retries = Retries::new();
    loop {
        match retries
            .after_failure(shared, stop, first, messages.len(), &failure)
            .await
        {
            Next::Again => {}
            Next::GiveUp => {
                for m in messages {
                    if !settle_failed(shared, stop, m, failure.stage, &failure.message).await {
                        return false;
                    }
                }
                return true;
            }
            Next::Stopped => return false,
        }
        let outputs = Outputs::new(Arc::clone(wake));
        failure = match call_again(shared, messages, &outputs).await {
            Err(failure) => failure,
            Ok(()) => loop {
                match outputs.settled() {
                    Settled::Pending => wake.notified().await,
                    Settled::Acknowledged => {
                        count_handled(shared, messages.len());
                        return true;
                    }
                    Settled::Failed(e) => {
                        shared.counts.failed_outputs.fetch_add(1, Ordering::Relaxed);
                        break Failure::output(&e);
                    }
                }
                if stop.load(Ordering::SeqCst) {
                    return false;
                }
            },
        };
    }
}

/// Counts inputs whose handler succeeded and whose outputs are all acknowledged.
pub(super) fn count_handled(shared: &Shared, inputs: usize) {
    shared
        .counts
        .handled
        .fetch_add(inputs as u64, Ordering::Relaxed);
}

/// Calls the handler once more with `messages` (decoded afresh), in the scope of
/// `outputs`.
async fn call_again(
    shared: &Shared,
    messages: &[Fetched],
    outputs: &Arc<Outputs>,
) -> Result<(), Failure> {
    let spec = shared.spec;
    let mut values = Vec::with_capacity(messages.len());
    for m in messages {
        values.push((spec.decode)(m.payload()).map_err(Failure::transient)?);
    }
    let metas: Vec<EventMetadata> = if spec.with_metadata {
        messages.iter().map(|m| m.metadata(&shared.topic)).collect()
    } else {
        Vec::new()
    };
    let call = match spec.handler {
        // A one-message function's input is one message.
        Handler::One(call_one) => match values.into_iter().next() {
            Some(value) => call_one(value, metas.into_iter().next()),
            None => return Ok(()),
        },
        Handler::Batch { call, .. } => call(values, metas),
    };
    match outputs.scope(AssertUnwindSafe(call).catch_unwind()).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(Failure::of(&*e)),
        Err(panic) => Err(Failure::panic(panic.as_ref())),
    }
}

/// Logs a message that does not decode, with where it sits, then dead-letters or
/// skips it; false when the partition was stopped first.
async fn settle_undecodable(shared: &Shared, stop: &AtomicBool, m: &Fetched, error: &str) -> bool {
    tracing::error!(
        topic = shared.spec.topic,
        partition = m.partition,
        offset = m.offset,
        error,
        "cannot decode message"
    );
    settle_failed(shared, stop, m, "decode", error).await
}

/// Why a handler call failed, and whether trying again could help.
struct Failure {
    message: String,
    /// A permanent fastkafka error (e.g. an output too large for the broker): the
    /// same call would fail the same way, so it is not retried.
    permanent: bool,
    /// The dead-letter stage it is filed under: `handler`, or `output` when what
    /// failed was a message the handler produced, whether the handler returned that
    /// error or ignored it.
    stage: &'static str,
}

impl Failure {
    fn of(error: &(dyn std::error::Error + Send + Sync + 'static)) -> Self {
        Failure {
            message: error.to_string(),
            permanent: Error::is_permanent_in(error),
            stage: if Error::is_output_failure_in(error) {
                "output"
            } else {
                "handler"
            },
        }
    }

    /// An output of the input failed: permanent when the output's error is.
    fn output(error: &OutputFailure) -> Self {
        Failure {
            message: format!("an output failed: {}", error.message),
            permanent: error.permanent,
            stage: "output",
        }
    }

    fn panic(payload: &(dyn Any + Send)) -> Self {
        Failure::transient(format!("panicked: {}", panic_message(payload)))
    }

    fn transient(message: String) -> Self {
        Failure {
            message,
            permanent: false,
            stage: "handler",
        }
    }
}

/// A failing handler's retries: up to `spec.retries`, with exponential backoff.
struct Retries {
    attempt: u32,
    backoff: Backoff,
}

/// What to do after a failed call.
enum Next {
    /// Call the handler again (the backoff has passed).
    Again,
    /// No retries left: dead-letter or skip.
    GiveUp,
    /// The partition was stopped while waiting: leave the message uncommitted.
    Stopped,
}

impl Retries {
    fn new() -> Self {
        Retries {
            attempt: 0,
            backoff: retry_backoff(),
        }
    }

    /// After a failed call for `messages` messages starting at `first`: logs the
    /// failure, waits out the backoff when a retry is left, and says what comes next.
    async fn after_failure(
        &mut self,
        shared: &Shared,
        stop: &AtomicBool,
        first: &Fetched,
        messages: usize,
        failure: &Failure,
    ) -> Next {
        let spec = shared.spec;
        let error = failure.message.as_str();
        if failure.permanent || self.attempt >= spec.retries {
            let what = if failure.permanent {
                "handler failed with a permanent error; giving up on the message without retrying"
            } else {
                "handler failed; giving up on the message"
            };
            tracing::error!(
                topic = spec.topic,
                partition = first.partition,
                offset = first.offset,
                messages,
                attempts = self.attempt + 1,
                error,
                "{what}"
            );
            return Next::GiveUp;
        }
        self.attempt += 1;
        let delay = self.backoff.next_delay();
        tracing::warn!(
            topic = spec.topic,
            partition = first.partition,
            offset = first.offset,
            attempt = self.attempt,
            retries = spec.retries,
            delay_ms = delay.as_millis() as u64,
            error,
            "handler failed; retrying"
        );
        tokio::time::sleep(delay).await;
        if stop.load(Ordering::SeqCst) {
            Next::Stopped
        } else {
            Next::Again
        }
    }
}

/// Under a Tester: records that the consumer received `m`.
fn record_received(shared: &Shared, m: &Fetched) {
    if let Some(recorder) = &shared.app.recorder {
        let meta = m.metadata(&shared.topic);
        recorder.record(crate::calls::Call {
            function: shared.spec.function,
            kind: crate::calls::CallKind::Received,
            topic: meta.topic.to_string(),
            key: meta.key,
            partition: Some(meta.partition),
            headers: meta.headers,
            payload: m.payload().unwrap_or_default().to_vec(),
        });
    }
}

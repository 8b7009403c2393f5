//! Ties the messages produced while a consumer handles an input to that input, so the
//! input is committed only once every one of them is acknowledged.
//!
//! The consumer runs each handler call inside [`Outputs::scope`]: a tokio task-local
//! names the input's [`Outputs`] for the whole call, nested `async fn`s included. Every
//! message a `#[produces]` function queues in that scope is counted there
//! ([`Outputs::current`], [`Outputs::add`]) and settled from its delivery report
//! ([`Outputs::settle`]): acknowledged, or failed with the error. The handler need not
//! await its deliveries; the consumer's partition task does, without holding up the
//! next input (see `consumer/partition.rs`).
//!
//! Messages queued from a task the handler spawns (`tokio::spawn`) are outside the
//! scope, as they are outside the handler's call: the input does not wait for them.
//!
//! Neither the consumer nor the producer module owns this: the consumer opens the
//! scope, the producer counts into it.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::Notify;

use crate::error::Error;
use crate::sync::LockUnpoisoned;

tokio::task_local! {
    /// The outputs of the input whose handler is running in this task.
    static CURRENT: Arc<Outputs>;
}

/// The messages produced while one input (or one batch) was handled.
pub(crate) struct Outputs {
    /// Queued and not yet acknowledged or failed.
    pending: AtomicUsize,
    /// The first failure, if any.
    failure: Mutex<Option<OutputFailure>>,
    /// Woken each time this input's last pending output settles: the partition task's.
    wake: Arc<Notify>,
}

/// Where an input's outputs stand.
pub(crate) enum Settled {
    /// Some are still in flight.
    Pending,
    /// All acknowledged (or there were none).
    Acknowledged,
    /// All settled, and at least one failed: the first failure.
    Failed(OutputFailure),
}

/// Why an output failed, as its input's failure needs it.
#[derive(Debug, Clone)]
pub(crate) struct OutputFailure {
    /// The error, as text.
    pub(crate) message: String,
    /// Whether retrying cannot help ([`Error::is_permanent`]).
    pub(crate) permanent: bool,
}

impl From<&Error> for OutputFailure {
    fn from(error: &Error) -> Self {
        OutputFailure {
            message: error.to_string(),
            permanent: error.is_permanent(),
        }
    }
}

impl Outputs {
    /// Outputs of a new input; `wake` is notified whenever they all have settled.
    pub(crate) fn new(wake: Arc<Notify>) -> Arc<Outputs> {
        Arc::new(Outputs {
            pending: AtomicUsize::new(0),
            failure: Mutex::new(None),
            wake,
        })
    }

    /// Runs `call` with these as the current outputs.
    pub(crate) async fn scope<F: std::future::Future>(self: &Arc<Self>, call: F) -> F::Output {
        CURRENT.scope(Arc::clone(self), call).await
    }

    /// The outputs of the input being handled in this task, if any.
    pub(crate) fn current() -> Option<Arc<Outputs>> {
        CURRENT.try_with(Arc::clone).ok()
    }

    /// One more message queued for this input.
    pub(crate) fn add(&self) {
        self.pending.fetch_add(1, Ordering::AcqRel);
    }

    /// A message of the input being handled in this task could not even be queued
    /// (it did not encode, the app lacks the function, its partition was out of range,
    /// ...): the input fails, even if its handler ignores the error.
    pub(crate) fn fail_current(error: &Error) {
        if let Some(outputs) = Outputs::current() {
            outputs.add();
            outputs.settle(Err(error));
        }
    }

    /// One of its messages was acknowledged (`Ok`) or failed for good (`Err`).
    pub(crate) fn settle(&self, outcome: Result<(), &Error>) {
        if let Err(e) = outcome {
            // Before the count drops, so that whoever sees it at zero sees the failure.
            self.failure
                .lock_unpoisoned()
                .get_or_insert_with(|| OutputFailure::from(e));
        }
        if self.pending.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.wake.notify_one();
        }
    }

    /// Where they stand now (asking again gives the same answer once all settled).
    pub(crate) fn settled(&self) -> Settled {
        if self.pending.load(Ordering::Acquire) > 0 {
            return Settled::Pending;
        }
        match &*self.failure.lock_unpoisoned() {
            Some(e) => Settled::Failed(e.clone()),
            None => Settled::Acknowledged,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failed(s: Settled) -> Option<String> {
        match s {
            Settled::Failed(e) => Some(e.message),
            _ => None,
        }
    }

    #[tokio::test]
    async fn an_input_settles_when_its_last_output_does_and_keeps_the_first_failure() {
        let wake = Arc::new(Notify::new());
        let outputs = Outputs::new(Arc::clone(&wake));
        assert!(matches!(outputs.settled(), Settled::Acknowledged));
        outputs
            .scope(async {
                let current = Outputs::current().unwrap();
                current.add();
                current.add();
                current.add();
            })
            .await;
        assert!(Outputs::current().is_none(), "outside the scope");
        outputs.settle(Ok(()));
        outputs.settle(Err(&Error::DeliveryLost { topic: "a".into() }));
        assert!(matches!(outputs.settled(), Settled::Pending));
        outputs.settle(Err(&Error::DeliveryLost { topic: "b".into() }));
        // The last one woke the partition task (the permit is stored).
        tokio::time::timeout(std::time::Duration::from_secs(1), wake.notified())
            .await
            .unwrap();
        let failure = failed(outputs.settled()).unwrap();
        assert!(failure.contains("`a`"), "{failure}");
        // Asked again, the same answer.
        assert_eq!(failed(outputs.settled()).unwrap(), failure);
    }

    #[tokio::test]
    async fn a_message_that_could_not_be_queued_fails_the_input_being_handled() {
        let outputs = Outputs::new(Arc::new(Notify::new()));
        let not_in_app = Error::NotInApp { function: "to_x" };
        // Outside any input: nothing to fail.
        Outputs::fail_current(&not_in_app);
        outputs
            .scope(async { Outputs::fail_current(&not_in_app) })
            .await;
        match outputs.settled() {
            Settled::Failed(f) => assert!(f.permanent && f.message.contains("to_x"), "{f:?}"),
            _ => panic!("the input did not fail"),
        }
    }

    #[tokio::test]
    async fn nested_calls_share_the_scope_and_spawned_tasks_do_not() {
        let outputs = Outputs::new(Arc::new(Notify::new()));
        async fn nested() -> bool {
            Outputs::current().is_some()
        }
        let (inside, spawned) = outputs
            .scope(async {
                let spawned = tokio::spawn(nested()).await.unwrap();
                (nested().await, spawned)
            })
            .await;
        assert!(inside);
        assert!(!spawned);
    }
}

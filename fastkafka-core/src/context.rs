//! What the tasks of one running app share: which app they belong to (so that a
//! producer function called there sends through that app's producers), the app's state
//! ([`State`](crate::State)), and, under a [`Tester`](crate::testing::Tester), what
//! records its calls. Several apps, each with its own broker, can so run in one process.
//!
//! The runtime runs every task of an app (its consumers' partition tasks, its
//! background tasks, its lifespan hooks) inside [`AppContext::scope`], a tokio
//! task-local. Outside any app's task (a test's own code, a thread or a `tokio::spawn`ed
//! task the app does not own), a producer function sends through its process-wide
//! slot: held by the first running app that has the function, until that app stops.

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use tracing::Instrument;

use crate::calls::Recorder;
use crate::error::{Error, Result};
use crate::producer::{ProducerSpec, TopicBinding};
use crate::sync::RwUnpoisoned;

tokio::task_local! {
    /// The app whose task is running.
    static CURRENT: Arc<AppContext>;
}

/// One running app, as its tasks see it.
pub(crate) struct AppContext {
    /// By the address of the function's (static) spec.
    bindings: HashMap<usize, Arc<TopicBinding>>,
    /// The process-wide slots this app took, with what it put there.
    slots: Vec<(&'static ProducerSpec, Arc<TopicBinding>)>,
    /// The app's state: given to the builder, then built at start.
    states: RwLock<States>,
    /// Under a Tester: records what the app's functions sent and received.
    pub(crate) recorder: Option<Arc<Recorder>>,
    /// The span every task of the app runs in (none outside a Tester).
    pub(crate) span: tracing::Span,
}

fn key(spec: &'static ProducerSpec) -> usize {
    spec as *const ProducerSpec as usize
}

/// How a starting app is set up, beyond its producers.
pub(crate) struct ContextSetup {
    pub(crate) states: States,
    /// Whether the app takes the process-wide slots of its functions (a Tester's
    /// apps do not: tests run side by side, each calls its own app through `scope`).
    pub(crate) take_slots: bool,
    pub(crate) recorder: Option<Arc<Recorder>>,
    pub(crate) span: tracing::Span,
}

impl AppContext {
    /// The context of a starting app. It takes the process-wide slot of each of its
    /// functions that no other running app holds (if `setup` says so).
    pub(crate) fn new(
        bindings: Vec<(&'static ProducerSpec, Arc<TopicBinding>)>,
        setup: ContextSetup,
    ) -> Arc<Self> {
        let slots = if setup.take_slots {
            bindings
                .iter()
                .filter(|(spec, binding)| spec.slot.bind_if_free(binding))
                .map(|(spec, binding)| (*spec, Arc::clone(binding)))
                .collect()
        } else {
            Vec::new()
        };
        Arc::new(AppContext {
            bindings: bindings.into_iter().map(|(s, b)| (key(s), b)).collect(),
            slots,
            states: RwLock::new(setup.states),
            recorder: setup.recorder,
            span: setup.span,
        })
    }

    /// Runs `task` as a task of this app.
    pub(crate) fn scope<F: std::future::Future>(
        self: &Arc<Self>,
        task: F,
    ) -> tokio::task::futures::TaskLocalFuture<Arc<AppContext>, tracing::instrument::Instrumented<F>>
    {
        CURRENT.scope(Arc::clone(self), task.instrument(self.span.clone()))
    }

    /// The app whose task is running, if any.
    pub(crate) fn current() -> Option<Arc<AppContext>> {
        CURRENT.try_with(Arc::clone).ok()
    }

    /// Where `spec` sends from the current task: through the current app's producer
    /// (`Err` if the app does not include the function), or `None` outside any app.
    pub(crate) fn current_binding(
        spec: &'static ProducerSpec,
    ) -> Option<Result<Arc<TopicBinding>>> {
        CURRENT
            .try_with(|app| {
                app.bindings
                    .get(&key(spec))
                    .cloned()
                    .ok_or(Error::NotInApp {
                        function: spec.function,
                    })
            })
            .ok()
    }

    /// The app's state of type `T`, if it has one.
    pub(crate) fn state<T: Send + Sync + 'static>(&self) -> Option<Arc<T>> {
        self.states.read_unpoisoned().get::<T>()
    }

    /// Adds state built at start.
    pub(crate) fn add_state(&self, states: States) {
        self.states.write_unpoisoned().extend(states);
    }

    /// Releases the process-wide slots this app holds (again: harmless). Calls from
    /// its own tasks still find their bindings until those tasks end.
    pub(crate) fn unbind(&self) {
        for (spec, binding) in &self.slots {
            spec.slot.unbind_if(binding);
        }
    }
}

impl Drop for AppContext {
    /// An app that never got to stop (its start failed, panicked or was cancelled)
    /// leaves no binding behind.
    fn drop(&mut self) {
        self.unbind();
    }
}

/// Spawns `task` on the tokio runtime, like `tokio::spawn`, as a task of the app whose
/// task calls this: a producer function called in it sends through that app (a task
/// spawned with `tokio::spawn` does not inherit the app, and sends through the
/// function's process-wide slot instead). Outside any app's task it is
/// `tokio::spawn`.
///
/// Messages the spawned task produces are not tied to the input a handler was
/// handling: the input may be committed before they are acknowledged.
///
/// ```no_run
/// use fastkafka::prelude::*;
///
/// #[produces]
/// async fn to_audit(line: String) -> String { line }
///
/// #[consumes]
/// async fn on_orders(order: String) {
///     // Later, and through this app even with several apps in the process.
///     fastkafka::spawn(async move { to_audit(order).await });
/// }
/// ```
pub fn spawn<F>(task: F) -> tokio::task::JoinHandle<F::Output>
where
    F: std::future::Future + Send + 'static,
    F::Output: Send + 'static,
{
    match AppContext::current() {
        Some(app) => tokio::spawn(app.scope(task)),
        None => tokio::spawn(task),
    }
}

/// The states of one app, by type: its context's store (`state.rs` reads it through
/// the current app's context).
#[derive(Default)]
pub(crate) struct States(HashMap<TypeId, Arc<dyn Any + Send + Sync>>);

impl States {
    pub(crate) fn insert<T: Send + Sync + 'static>(&mut self, value: Arc<T>) {
        self.0.insert(TypeId::of::<T>(), value);
    }

    pub(crate) fn get<T: Send + Sync + 'static>(&self) -> Option<Arc<T>> {
        let value = Arc::clone(self.0.get(&TypeId::of::<T>())?);
        value.downcast::<T>().ok()
    }

    pub(crate) fn has(&self, id: TypeId) -> bool {
        self.0.contains_key(&id)
    }

    pub(crate) fn extend(&mut self, other: States) {
        self.0.extend(other.0);
    }
}

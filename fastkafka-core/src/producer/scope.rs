//! Which running app a task belongs to, so that a producer function called there sends
//! through that app's producers: several apps, each with its own broker, can run in one
//! process at once.
//!
//! The runtime runs every task of an app (its consumers' partition tasks, its
//! background tasks, its startup hook) inside [`AppProducers::scope`], a tokio
//! task-local naming the app's bindings. Outside any app's task (a test's own code, a
//! thread or a `tokio::spawn`ed task the app does not own), a producer function sends
//! through its process-wide slot: held by the first running app that has the function,
//! until that app stops.

use std::collections::HashMap;
use std::sync::Arc;

use super::{ProducerSpec, TopicBinding};
use crate::error::{Error, Result};

tokio::task_local! {
    /// The producers of the app whose task is running.
    static CURRENT: Arc<AppProducers>;
}

/// One running app's producer functions, each bound to its broker's producer.
pub(crate) struct AppProducers {
    /// By the address of the function's (static) spec.
    bindings: HashMap<usize, Arc<TopicBinding>>,
    /// The process-wide slots this app took, with what it put there.
    slots: Vec<(&'static ProducerSpec, Arc<TopicBinding>)>,
}

fn key(spec: &'static ProducerSpec) -> usize {
    spec as *const ProducerSpec as usize
}

impl AppProducers {
    /// The bindings of a starting app. It takes the process-wide slot of each of its
    /// functions that no other running app holds.
    pub(crate) fn new(bindings: Vec<(&'static ProducerSpec, Arc<TopicBinding>)>) -> Arc<Self> {
        let slots = bindings
            .iter()
            .filter(|(spec, binding)| spec.slot.bind_if_free(binding))
            .map(|(spec, binding)| (*spec, Arc::clone(binding)))
            .collect();
        Arc::new(AppProducers {
            bindings: bindings.into_iter().map(|(s, b)| (key(s), b)).collect(),
            slots,
        })
    }

    /// Runs `task` as a task of this app.
    pub(crate) fn scope<F: std::future::Future>(
        self: &Arc<Self>,
        task: F,
    ) -> tokio::task::futures::TaskLocalFuture<Arc<AppProducers>, F> {
        CURRENT.scope(Arc::clone(self), task)
    }

    /// Where `spec` sends from the current task: through the current app's producer
    /// (`Err` if the app does not include the function), or `None` outside any app.
    pub(super) fn current_binding(
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

    /// Releases the process-wide slots this app holds (again: harmless). Calls from
    /// its own tasks still find their bindings until those tasks end.
    pub(crate) fn unbind(&self) {
        for (spec, binding) in &self.slots {
            spec.slot.unbind_if(binding);
        }
    }
}

impl Drop for AppProducers {
    /// An app that never got to stop (its start failed, panicked or was cancelled)
    /// leaves no binding behind.
    fn drop(&mut self) {
        self.unbind();
    }
}

//! Which running app a task belongs to, so that a producer function called there sends
//! through that app's producers: several apps, each with its own broker, can run in one
//! process at once.
//!
//! The runtime runs every task of an app (its consumers' partition tasks, its
//! background tasks, its startup hook) inside [`AppProducers::scope`], a tokio
//! task-local naming the app's bindings. Outside any app's task (a test's own code, a
//! thread the app does not own), a producer function sends through the app that holds
//! the process-wide slots: the first app started while no other ran, until it stops.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use super::{ProducerSpec, TopicBinding};
use crate::error::{Error, Result};
use crate::sync::LockUnpoisoned;

tokio::task_local! {
    /// The producers of the app whose task is running.
    static CURRENT: Arc<AppProducers>;
}

/// The app holding the process-wide producer slots, by [`AppProducers::id`].
static DEFAULT_APP: Mutex<Option<u64>> = Mutex::new(None);

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// One running app's producer functions, each bound to its broker's producer.
pub(crate) struct AppProducers {
    id: u64,
    /// By the address of the function's (static) spec.
    bindings: HashMap<usize, Arc<TopicBinding>>,
    /// The specs bound, for the process-wide slots.
    specs: Vec<&'static ProducerSpec>,
    /// Whether this app holds the process-wide slots.
    default: bool,
}

fn key(spec: &'static ProducerSpec) -> usize {
    spec as *const ProducerSpec as usize
}

impl AppProducers {
    /// The bindings of a starting app. It takes the process-wide slots if no other app
    /// holds them.
    pub(crate) fn new(bindings: Vec<(&'static ProducerSpec, Arc<TopicBinding>)>) -> Arc<Self> {
        let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
        let default = {
            let mut holder = DEFAULT_APP.lock_unpoisoned();
            let free = holder.is_none();
            if free {
                *holder = Some(id);
            }
            free
        };
        if default {
            for (spec, binding) in &bindings {
                spec.slot.bind(Arc::clone(binding));
            }
        }
        Arc::new(AppProducers {
            id,
            specs: bindings.iter().map(|(s, _)| *s).collect(),
            bindings: bindings.into_iter().map(|(s, b)| (key(s), b)).collect(),
            default,
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

    /// Stops sending: releases the process-wide slots if this app holds them. Calls
    /// from its own tasks still find their bindings until those tasks end.
    pub(crate) fn unbind(&self) {
        if !self.default {
            return;
        }
        for spec in &self.specs {
            spec.slot.unbind();
        }
        let mut holder = DEFAULT_APP.lock_unpoisoned();
        if *holder == Some(self.id) {
            *holder = None;
        }
    }
}

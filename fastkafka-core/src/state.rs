//! App state: values the app is given ([`FastKafkaBuilder::state`]) or builds at start
//! ([`FastKafkaBuilder::state_with`]), which consumers, background tasks and lifespan
//! hooks take as a [`State<T>`] argument.
//!
//! [`FastKafkaBuilder::state`]: crate::FastKafkaBuilder::state
//! [`FastKafkaBuilder::state_with`]: crate::FastKafkaBuilder::state_with

use std::any::TypeId;
use std::fmt;
use std::future::Future;
use std::ops::Deref;
use std::sync::Arc;

use futures::future::BoxFuture;

use crate::context::AppContext;
pub(crate) use crate::context::States;
use crate::error::{BoxError, Error, IntoTaskResult};

/// A value the app holds for its functions: a database pool, a client, a
/// configuration, a counter. A `#[consumes]` or `#[run_in_background]` function, or a
/// lifespan hook, takes it as an argument; the app gives it with
/// [`FastKafkaBuilder::state`](crate::FastKafkaBuilder::state) or builds it at start
/// with [`FastKafkaBuilder::state_with`](crate::FastKafkaBuilder::state_with). One
/// value per type, shared by every task of the app (wrap what changes in a `Mutex` or
/// an atomic). An app that lacks a state one of its functions takes does not start:
/// the error names the function and the type.
///
/// A state is per process and lives only in memory: it starts again with every start,
/// each worker of a group has its own, and a rebalance moves partitions to another
/// worker without it. What must follow a partition (a running total per key) is kept
/// by key, written where the next owner reads it (a compacted topic, a store), rebuilt
/// in [`FastKafkaBuilder::on_partitions_assigned`](crate::FastKafkaBuilder::on_partitions_assigned),
/// and updated idempotently, as messages are delivered at least once (see
/// `docs/consumers.md`, "State and rebalances", and `examples/src/bin/account_balances.rs`).
///
/// ```
/// use std::sync::atomic::{AtomicU64, Ordering};
/// use fastkafka::prelude::*;
///
/// #[derive(Default)]
/// struct Seen(AtomicU64);
///
/// #[consumes]
/// async fn on_greetings(msg: String, seen: State<Seen>) {
///     seen.0.fetch_add(1, Ordering::Relaxed);
///     let _ = msg;
/// }
///
/// let app = FastKafka::builder().state(Seen::default()).build();
/// # let _ = app;
/// ```
///
/// In a unit test, call the function with a state of your own: `State::new(value)`.
pub struct State<T: ?Sized>(Arc<T>);

impl<T> State<T> {
    /// A state holding `value`, e.g. to call a handler directly in a unit test.
    pub fn new(value: T) -> Self {
        State(Arc::new(value))
    }
}

impl<T: ?Sized> State<T> {
    /// The shared value, to keep beyond the call (e.g. to move into a spawned task).
    pub fn arc(&self) -> &Arc<T> {
        &self.0
    }
}

impl<T: ?Sized> From<Arc<T>> for State<T> {
    fn from(value: Arc<T>) -> Self {
        State(value)
    }
}

impl<T: ?Sized> Clone for State<T> {
    fn clone(&self) -> Self {
        State(Arc::clone(&self.0))
    }
}

impl<T: ?Sized> Deref for State<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for State<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("State").field(&&*self.0).finish()
    }
}

/// A state type a function takes, as the macros record it for the check at start.
#[doc(hidden)]
#[derive(Clone, Copy)]
pub struct StateNeed {
    /// `TypeId::of::<T>`.
    pub id: fn() -> TypeId,
    /// The type as the user wrote it.
    pub name: &'static str,
}

impl StateNeed {
    pub(crate) fn of<T: 'static>() -> Self {
        StateNeed {
            id: TypeId::of::<T>,
            name: std::any::type_name::<T>(),
        }
    }
}

/// Takes the state `T` of the app whose task is running, for `function`. Called by the
/// code `#[consumes]` and `#[run_in_background]` generate.
#[doc(hidden)]
pub fn state<T: Send + Sync + 'static>(function: &str) -> Result<State<T>, BoxError> {
    let Some(app) = AppContext::current() else {
        return Err(format!(
            "`{function}` takes `State<{}>` and was called outside a running app; call it with the state as an argument (`State::new(value)`), or through `Tester::call`",
            std::any::type_name::<T>()
        )
        .into());
    };
    app.state::<T>().map(State).ok_or_else(|| {
        Error::MissingState {
            function: function.to_string(),
            type_name: std::any::type_name::<T>(),
        }
        .into()
    })
}

/// A lifespan hook's code, its states taken from the app when it runs.
#[doc(hidden)]
pub type HookFn = Box<dyn FnOnce() -> BoxFuture<'static, Result<(), BoxError>> + Send>;

/// A lifespan hook as the app keeps it: what it takes, and its code.
pub(crate) struct Hook {
    pub(crate) needs: Vec<StateNeed>,
    /// In a `Mutex` only so that the app is `Sync` (the hook need not be): it is taken
    /// out once, by value.
    run: std::sync::Mutex<HookFn>,
}

impl Hook {
    pub(crate) fn new(needs: Vec<StateNeed>, run: HookFn) -> Self {
        Hook {
            needs,
            run: std::sync::Mutex::new(run),
        }
    }

    /// Runs the hook.
    pub(crate) fn call(self) -> BoxFuture<'static, Result<(), BoxError>> {
        let run = self.run.into_inner().unwrap_or_else(|e| e.into_inner());
        run()
    }
}

/// A function [`FastKafkaBuilder::on_startup`](crate::FastKafkaBuilder::on_startup) and
/// [`on_shutdown`](crate::FastKafkaBuilder::on_shutdown) accept: an async closure or
/// function taking nothing, or up to three [`State<T>`] arguments.
///
/// ```
/// use fastkafka::prelude::*;
///
/// struct Config { greeting: String }
///
/// let app = FastKafka::builder()
///     .state(Config { greeting: "hello".into() })
///     .on_startup(|config: State<Config>| async move {
///         println!("starting with {}", config.greeting);
///     })
///     .on_shutdown(|| async { println!("bye") })
///     .build();
/// # let _ = app;
/// ```
pub trait LifespanHook<Args>: Send + 'static {
    #[doc(hidden)]
    fn needs() -> Vec<StateNeed>;
    #[doc(hidden)]
    fn into_run(self, which: &'static str) -> HookFn;
}

impl<F, Fut, R> LifespanHook<()> for F
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: Future<Output = R> + Send + 'static,
    R: IntoTaskResult,
{
    fn needs() -> Vec<StateNeed> {
        Vec::new()
    }
    fn into_run(self, _which: &'static str) -> HookFn {
        Box::new(move || Box::pin(async move { self().await.into_task_result() }))
    }
}

macro_rules! hook_with_states {
    ($($state:ident),+) => {
        impl<F, Fut, R, $($state),+> LifespanHook<($(State<$state>,)+)> for F
        where
            F: FnOnce($(State<$state>),+) -> Fut + Send + 'static,
            Fut: Future<Output = R> + Send + 'static,
            R: IntoTaskResult,
            $($state: Send + Sync + 'static),+
        {
            fn needs() -> Vec<StateNeed> {
                vec![$(StateNeed::of::<$state>()),+]
            }
            #[allow(non_snake_case)]
            fn into_run(self, which: &'static str) -> HookFn {
                Box::new(move || {
                    Box::pin(async move {
                        $(let $state = state::<$state>(which)?;)+
                        self($($state),+).await.into_task_result()
                    })
                })
            }
        }
    };
}

hook_with_states!(A);
hook_with_states!(A, B);
hook_with_states!(A, B, C);

/// A state built at start by [`FastKafkaBuilder::state_with`](crate::FastKafkaBuilder::state_with).
pub(crate) struct StateBuilder {
    pub(crate) provides: StateNeed,
    /// In a `Mutex` only so that the app is `Sync`, as [`Hook::run`].
    build: std::sync::Mutex<BuildFn>,
}

type BuildFn = Box<dyn FnOnce() -> BoxFuture<'static, Result<States, BoxError>> + Send>;

impl StateBuilder {
    pub(crate) fn new<T, F, Fut, E>(build: F) -> Self
    where
        T: Send + Sync + 'static,
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = Result<T, E>> + Send + 'static,
        E: Into<BoxError>,
    {
        let build: BuildFn = Box::new(move || {
            Box::pin(async move {
                let value = build().await.map_err(Into::into)?;
                let mut states = States::default();
                states.insert(Arc::new(value));
                Ok(states)
            })
        });
        StateBuilder {
            provides: StateNeed::of::<T>(),
            build: std::sync::Mutex::new(build),
        }
    }

    /// Builds the state.
    pub(crate) fn build(self) -> BoxFuture<'static, Result<States, BoxError>> {
        let build = self.build.into_inner().unwrap_or_else(|e| e.into_inner());
        build()
    }
}

//! What a `#[run_in_background]` function is: its signature and arguments, checked and
//! read into a [`Task`] that says everything the generated code needs.

use syn::{Ident, ItemFn, Type};

use super::args::{BackgroundArgs, Restart};
use crate::errors::Errors;
use crate::signature::{arg_type, check_plain_async_fn, check_unit_or_result, state_type};

const EXAMPLE: &str = "async fn task() -> fastkafka::Result<()>";

/// A checked `#[run_in_background]` function.
pub(crate) struct Task<'a> {
    /// The user's function, emitted as written.
    pub(crate) func: &'a ItemFn,
    pub(crate) name: &'a Ident,
    /// The `T` of each `State<T>` argument, in order: its only arguments.
    pub(crate) states: Vec<&'a Type>,
    pub(crate) restart: Restart,
}

impl<'a> Task<'a> {
    /// Checks `func` and reads it into a `Task`; `Err` with every mistake found.
    pub(crate) fn from_fn(args: BackgroundArgs, func: &'a ItemFn) -> syn::Result<Self> {
        let mut errors = Errors::default();
        check_plain_async_fn(func, "run_in_background", EXAMPLE, &mut errors);
        let mut states = Vec::new();
        for arg in &func.sig.inputs {
            match arg_type(arg).and_then(state_type) {
                Some(ty) => states.push(ty),
                None => errors.spanned(
                    arg,
                    "a background task takes no arguments but app state, `State<T>`: the runtime starts it on its own; give what it needs to the app with `FastKafka::builder().state(value)` and take it as `State<T>`",
                ),
            }
        }
        check_unit_or_result(
            func,
            "a background task returns `()` or `Result<(), E>`; a failure is logged and the task restarted",
            &mut errors,
        );
        errors.finish()?;
        Ok(Task {
            func,
            name: &func.sig.ident,
            states,
            restart: args.restart,
        })
    }
}

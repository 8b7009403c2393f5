//! `#[run_in_background]`: the arguments (args.rs), the checked function (model.rs)
//! and the generated task (expand.rs).

mod args;
mod expand;
mod model;

pub(crate) use args::parse;

/// Checks the function with its arguments, then generates from what that found.
pub(crate) fn expand(
    args: args::BackgroundArgs,
    func: &syn::ItemFn,
) -> syn::Result<proc_macro2::TokenStream> {
    let task = model::Task::from_fn(args, func)?;
    Ok(expand::background_task(&task))
}

/// What the attribute goes on, for the error when it is on something else.
pub(crate) const USAGE: &str =
    "#[run_in_background] goes on an async fn with no arguments: `async fn task() -> fastkafka::Result<()>`";

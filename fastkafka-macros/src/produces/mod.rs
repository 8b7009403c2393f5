//! `#[produces]`: the arguments (args.rs), the checked function (model.rs) and the
//! generated producer and its stand-in (expand.rs).

mod args;
mod expand;
mod model;

pub(crate) use args::parse;
pub(crate) use expand::stand_in;

/// Checks the function with its arguments, then generates from what that found.
pub(crate) fn expand(
    args: args::ProducesArgs,
    func: &syn::ItemFn,
) -> syn::Result<proc_macro2::TokenStream> {
    let producer = model::Producer::from_fn(args, func)?;
    Ok(expand::producer(&producer))
}

/// What the attribute goes on, for the error when it is on something else.
pub(crate) const USAGE: &str =
    "#[produces] goes on an async fn: `async fn to_topic(...) -> KafkaEvent<T>`";

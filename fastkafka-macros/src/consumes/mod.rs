//! `#[consumes]`: the arguments (args.rs), the checked function (model.rs) and the
//! generated consumer (expand.rs).

mod args;
mod expand;
mod model;

pub(crate) use args::parse;

/// Checks the function with its arguments, then generates from what that found.
pub(crate) fn expand(
    args: args::ConsumesArgs,
    func: &syn::ItemFn,
) -> syn::Result<proc_macro2::TokenStream> {
    let consumer = model::Consumer::from_fn(args, func)?;
    Ok(expand::consumer(&consumer))
}

/// What the attribute goes on, for the error when it is on something else.
pub(crate) const USAGE: &str =
    "#[consumes] goes on an async fn: `async fn on_topic(msg: T, meta: EventMetadata)`";

//! Attribute macros for fastkafka: `#[produces]` and `#[run_in_background]`.
//!
//! Use them through the `fastkafka` crate, which documents them. Generated code names
//! the runtime only through `::fastkafka::__private`.

use proc_macro::TokenStream;

mod background;
mod consumes;
mod errors;
mod produces;
mod signature;

/// See `fastkafka::produces`.
#[proc_macro_attribute]
pub fn produces(args: TokenStream, item: TokenStream) -> TokenStream {
    produces::expand(args.into(), item.into()).into()
}

/// See `fastkafka::consumes`.
#[proc_macro_attribute]
pub fn consumes(args: TokenStream, item: TokenStream) -> TokenStream {
    consumes::expand(args.into(), item.into()).into()
}

/// See `fastkafka::run_in_background`.
#[proc_macro_attribute]
pub fn run_in_background(args: TokenStream, item: TokenStream) -> TokenStream {
    background::expand(args.into(), item.into()).into()
}

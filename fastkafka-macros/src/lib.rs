//! Attribute macros for fastkafka: `#[produces]`, `#[consumes]` and
//! `#[run_in_background]`.
//!
//! Use them through the `fastkafka` crate, which documents them. Generated code names
//! the runtime through `::fastkafka::__private`, and the public types a user's code
//! sees (`PendingDelivery`, `KafkaEvent`, `Result`, `RestartPolicy`) by their public
//! paths.
//!
//! Layout: `driver.rs` is the one entry point of every attribute; each attribute has a
//! folder with `args.rs` (its arguments), `model.rs` (the function and its arguments,
//! checked: everything the expansion needs) and `expand.rs` (what it generates, quoted
//! from the model alone);
//! `signature.rs` holds the checks they share, `errors.rs` the error collector and
//! `private.rs` the runtime's hidden path;
//! `headers/` is `header(..)`, which `#[produces]` and `#[consumes]` share.

use proc_macro::TokenStream;

mod background;
mod consumes;
mod driver;
mod errors;
mod headers;
mod private;
mod produces;
mod signature;

use driver::Attribute;

/// See `fastkafka::produces`.
#[proc_macro_attribute]
pub fn produces(args: TokenStream, item: TokenStream) -> TokenStream {
    Attribute {
        usage: produces::USAGE,
        parse: produces::parse,
        expand: produces::expand,
        stand_in: produces::stand_in,
    }
    .run(args.into(), item.into())
    .into()
}

/// See `fastkafka::consumes`.
#[proc_macro_attribute]
pub fn consumes(args: TokenStream, item: TokenStream) -> TokenStream {
    Attribute {
        usage: consumes::USAGE,
        parse: consumes::parse,
        expand: consumes::expand,
        stand_in: driver::unchanged,
    }
    .run(args.into(), item.into())
    .into()
}

/// See `fastkafka::run_in_background`.
#[proc_macro_attribute]
pub fn run_in_background(args: TokenStream, item: TokenStream) -> TokenStream {
    Attribute {
        usage: background::USAGE,
        parse: background::parse,
        expand: background::expand,
        stand_in: driver::unchanged,
    }
    .run(args.into(), item.into())
    .into()
}

//! `#[produces]`: parse the arguments (args.rs), check the function, generate (expand.rs).

mod args;
mod expand;

pub(crate) use args::check_topic_name;

use proc_macro2::TokenStream;

pub(crate) fn expand(args: TokenStream, item: TokenStream) -> TokenStream {
    let func: syn::ItemFn =
        match syn::parse2(item.clone()) {
            Ok(f) => f,
            Err(_) => return crate::errors::with_item(
                item.clone(),
                syn::Error::new_spanned(
                    item,
                    "#[produces] goes on an async fn: `async fn to_topic(...) -> KafkaEvent<T>`",
                ),
            ),
        };
    match args::parse(args).and_then(|args| expand::producer(args, &func)) {
        Ok(tokens) => tokens,
        Err(err) => crate::errors::with_item(expand::stand_in(&func), err),
    }
}

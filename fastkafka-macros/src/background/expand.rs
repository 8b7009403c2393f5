//! Code generation for `#[run_in_background]`: the function stays as written and is
//! registered with the runtime.

use proc_macro2::TokenStream;
use quote::{quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{ItemFn, Type};

use super::args::{BackgroundArgs, Restart};
use crate::errors::Errors;
use crate::signature::{
    arg_type, check_plain_async_fn, last_segment, return_type, state_arguments, state_type,
};

const EXAMPLE: &str = "async fn task() -> fastkafka::Result<()>";

pub(crate) fn background_task(args: BackgroundArgs, func: &ItemFn) -> syn::Result<TokenStream> {
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
    if let Some(ret) = return_type(func) {
        let is_unit = matches!(ret, Type::Tuple(t) if t.elems.is_empty());
        let is_result = matches!(last_segment(ret), Some((name, _)) if name == "Result");
        if !is_unit && !is_result {
            errors.spanned(
                ret,
                "a background task returns `()` or `Result<(), E>`; a failure is logged and the task restarted",
            );
        }
    }
    errors.finish()?;

    let name = &func.sig.ident;
    let name_str = name.to_string();
    let restart = match args.restart {
        Restart::OnFailure => quote!(::fastkafka::RestartPolicy::OnFailure),
        Restart::Never => quote!(::fastkafka::RestartPolicy::Never),
    };
    let private = quote!(::fastkafka::__private);
    let (fetch_states, state_args, state_needs) = state_arguments(&states, &name_str);
    let call = quote_spanned! {func.sig.output.span()=>
        #private::IntoTaskResult::into_task_result(#name(#(#state_args),*).await)
    };
    Ok(quote! {
        #func
        #private::inventory::submit! {
            #private::BackgroundTaskSpec {
                name: #name_str,
                module: ::core::module_path!(),
                states: #state_needs,
                restart: #restart,
                run: || ::std::boxed::Box::pin(async {
                    #fetch_states
                    #call
                }),
            }
        }
    })
}

//! Code generation for `#[run_in_background]`: the function stays as written and is
//! registered with the runtime.

use proc_macro2::TokenStream;
use quote::{quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{ItemFn, Type};

use super::args::{BackgroundArgs, Restart};
use crate::errors::Errors;
use crate::signature::{check_plain_async_fn, last_segment, return_type};

const EXAMPLE: &str = "async fn task() -> fastkafka::Result<()>";

pub(crate) fn background_task(args: BackgroundArgs, func: &ItemFn) -> syn::Result<TokenStream> {
    let mut errors = Errors::default();
    check_plain_async_fn(func, "run_in_background", EXAMPLE, &mut errors);
    if !func.sig.inputs.is_empty() {
        errors.spanned(
            &func.sig.inputs,
            "a background task takes no arguments: the runtime starts it on its own; keep what it needs in a static (e.g. `std::sync::OnceLock`) or build it inside the task",
        );
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
    let call = quote_spanned! {func.sig.output.span()=>
        #private::IntoTaskResult::into_task_result(#name().await)
    };
    Ok(quote! {
        #func
        #private::inventory::submit! {
            #private::BackgroundTaskSpec {
                name: #name_str,
                restart: #restart,
                run: || ::std::boxed::Box::pin(async { #call }),
            }
        }
    })
}

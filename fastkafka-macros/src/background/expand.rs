//! Code generation for `#[run_in_background]`, from the checked [`Task`]: the function
//! stays as written and is registered with the runtime.

use proc_macro2::TokenStream;
use quote::{quote, quote_spanned};
use syn::spanned::Spanned;

use crate::private::private;

use super::args::Restart;
use super::model::Task;
use crate::signature::state_arguments;

/// The function, and beside it the registration of its `BackgroundTaskSpec`.
pub(crate) fn background_task(task: &Task<'_>) -> TokenStream {
    let Task {
        func,
        name,
        states,
        restart,
    } = task;
    let name_str = name.to_string();
    let restart = match restart {
        Restart::OnFailure => quote!(::fastkafka::RestartPolicy::OnFailure),
        Restart::Never => quote!(::fastkafka::RestartPolicy::Never),
    };
    let (fetch_states, state_args, state_needs) = state_arguments(states, &name_str);
    let call = quote_spanned! {func.sig.output.span()=>
        #private::IntoTaskResult::into_task_result(#name(#(#state_args),*).await)
    };
    quote! {
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
    }
}

//! Code generation for `#[consumes]`, from the checked [`Consumer`]: the function stays
//! as written; a registration decodes messages and calls it.

use proc_macro2::TokenStream;
use quote::{quote, quote_spanned};
use syn::spanned::Spanned;

use crate::private::private;

use super::model::{Consumer, Handler};
use crate::signature::state_arguments;

/// The function, and beside it its `ConsumerSpec` and registration.
pub(crate) fn consumer(c: &Consumer<'_>) -> TokenStream {
    let Consumer {
        func,
        name,
        topic,
        message_ty,
        handler: _,
        with_meta,
        states,
        description,
        json_decoder,
        group_id,
        auto_offset_reset,
        broker,
        dead_letter,
        retries,
        config,
        headers,
    } = c;
    let name_str = name.to_string();
    let opt = |lit: &Option<syn::LitStr>| match lit {
        Some(l) => quote!(::core::option::Option::Some(#l)),
        None => quote!(::core::option::Option::None),
    };
    let group_id = opt(group_id);
    let auto_offset_reset = opt(auto_offset_reset);
    let broker = opt(broker);
    let dead_letter = opt(dead_letter);
    let headers = crate::headers::expand(headers);
    let config = config.iter().map(|(k, v)| quote!((#k, #v)));
    let message_type_name = quote!(#message_ty).to_string().replace(' ', "");
    let schema = quote_spanned! {message_ty.span()=> #private::incoming_schema_of::<#message_ty> };
    let decode = decode(c);
    let (fetch_states, state_args, state_needs) = state_arguments(states, &name_str);
    let (call_one_fn, handler) = handler_of(c, &fetch_states, state_args);

    quote! {
        #func
        const _: () = {
            #call_one_fn
            static __FASTKAFKA_CONSUMER: #private::ConsumerSpec = #private::ConsumerSpec {
                function: #name_str,
                module: ::core::module_path!(),
                states: #state_needs,
                topic: #topic,
                group_id: #group_id,
                auto_offset_reset: #auto_offset_reset,
                broker: #broker,
                description: #description,
                headers: #headers,
                message_type: #message_type_name,
                schema: #schema,
                with_metadata: #with_meta,
                dead_letter: #dead_letter,
                retries: #retries,
                config: &[#(#config),*],
                decode: #decode,
                json_decoder: #json_decoder,
                handler: #handler,
            };
            #private::inventory::submit! { #private::ConsumerRef(&__FASTKAFKA_CONSUMER) }
        };
    }
}

/// The spec's `decode`: one payload into the message type.
fn decode(c: &Consumer<'_>) -> TokenStream {
    let message_ty = c.message_ty;
    // The probe picks the decoding by type (see `DecodeProbe`); `decoder = "json"` leaves
    // the raw decodings out of scope, so that `String` and `Vec<u8>` are read as JSON.
    let raw = (!c.json_decoder).then(|| quote!(DecodeRaw as _,));
    quote! {
        |payload| {
            #[allow(unused_imports)]
            use #private::{#raw DecodeJson as _, DecodeUnsupported as _};
            #private::DecodeProbe::<#message_ty>::new().fk_decode(payload)
        }
    }
}

/// The spec's `handler`, and the item it names, if any: a one-message function's
/// `__fastkafka_call_one`, which takes the decoded message without `Vec`s.
/// `fetch_states` takes the function's `State<T>`s from the app, bound to `state_args`.
fn handler_of(
    c: &Consumer<'_>,
    fetch_states: &TokenStream,
    state_args: Vec<TokenStream>,
) -> (TokenStream, TokenStream) {
    let (name, message_ty, with_meta) = (c.name, c.message_ty, c.with_meta);
    let batch = c.handler.is_batch();
    let mut args = vec![if batch {
        quote!(messages)
    } else {
        quote!(message)
    }];
    if with_meta {
        args.push(if batch { quote!(metas) } else { quote!(meta) });
    }
    args.extend(state_args);
    let invoke = if with_meta && !batch {
        quote! {{
            let ::core::option::Option::Some(meta) = meta else {
                return ::core::result::Result::Ok(());
            };
            #fetch_states
            #name(#(#args),*)
        }}
    } else {
        quote! {{
            #fetch_states
            #name(#(#args),*)
        }}
    };
    let call = quote_spanned! {c.func.sig.output.span()=>
        #private::IntoTaskResult::into_task_result(#invoke.await)
    };
    match &c.handler {
        Handler::Batch {
            max_batch,
            max_wait_ms,
        } => (
            quote!(),
            quote! {
                #private::Handler::Batch {
                    call: |decoded, metas| {
                        ::std::boxed::Box::pin(async move {
                            #[allow(unused_variables)]
                            let metas = metas;
                            let messages = #private::take::<#message_ty>(decoded);
                            #call
                        })
                    },
                    max_batch: #max_batch,
                    max_wait: ::core::time::Duration::from_millis(#max_wait_ms),
                }
            },
        ),
        Handler::One => (
            quote! {
                fn __fastkafka_call_one(
                    decoded: #private::Decoded,
                    meta: ::core::option::Option<#private::EventMetadata>,
                ) -> #private::BoxFuture<'static, ::core::result::Result<(), #private::BoxError>> {
                    ::std::boxed::Box::pin(async move {
                        #[allow(unused_variables)]
                        let meta = meta;
                        let ::core::option::Option::Some(message) =
                            #private::take_one::<#message_ty>(decoded)
                        else {
                            return ::core::result::Result::Ok(());
                        };
                        #call
                    })
                }
            },
            quote!(#private::Handler::One(__fastkafka_call_one)),
        ),
    }
}

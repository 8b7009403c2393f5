//! Code generation for `#[consumes]`: the function stays as written; a registration
//! decodes messages and calls it.

use proc_macro2::TokenStream;
use quote::{quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{FnArg, ItemFn, Type};

use super::args::ConsumesArgs;
use crate::errors::Errors;
use crate::signature::{
    arg_type, batch_element, check_plain_async_fn, doc_text, last_segment, return_type,
    state_arguments, state_type, topic_of,
};

const EXAMPLE: &str = "async fn on_topic(msg: T, meta: EventMetadata) -> fastkafka::Result<()>";

/// What to write instead of a borrowed message type: the message is decoded for the
/// function and handed over, so the function owns it.
fn by_value(reference: &syn::TypeReference) -> String {
    let elem = &reference.elem;
    let elem_text = quote!(#elem).to_string().replace(' ', "");
    let owned = match &**elem {
        Type::Path(p) if p.path.is_ident("str") => "String",
        Type::Slice(s) if matches!(&*s.elem, Type::Path(p) if p.path.is_ident("u8")) => "Vec<u8>",
        _ => &elem_text,
    };
    let mutability = if reference.mutability.is_some() {
        "mut "
    } else {
        ""
    };
    let written = format!("&{mutability}{elem_text}");
    format!("a #[consumes] function owns the messages it receives: write `{owned}` instead of `{written}`")
}

fn is_metadata(ty: &Type) -> bool {
    matches!(last_segment(ty), Some((name, None)) if name == "EventMetadata")
}

pub(crate) fn consumer(args: ConsumesArgs, func: &ItemFn) -> syn::Result<TokenStream> {
    let mut errors = Errors::default();
    check_plain_async_fn(func, "consumes", EXAMPLE, &mut errors);
    let name = &func.sig.ident;
    let name_str = name.to_string();
    let topic = topic_of(args.topic.as_ref(), name, "on_", "consumes", &mut errors);

    let inputs: Vec<&FnArg> = func.sig.inputs.iter().collect();
    let Some(first) = inputs.first().and_then(|a| arg_type(a)) else {
        return Err(errors.fail(syn::Error::new_spanned(
            &func.sig,
            "a #[consumes] function takes the message: `msg: T`, optionally followed by `meta: EventMetadata`; or a batch `msgs: Vec<T>` with `metas: Vec<EventMetadata>`",
        )));
    };
    if state_type(first).is_some() {
        errors.spanned(first, "the message comes first, app state after it: `async fn on_topic(msg: T, state: State<S>)`");
    }
    let (message_ty, batch) = match batch_element(first) {
        Some(elem) => (elem, true),
        None => (first, false),
    };
    if let Type::Reference(reference) = message_ty {
        errors.spanned(message_ty, by_value(reference));
    }
    let states: Vec<&Type> = inputs
        .iter()
        .skip(1)
        .filter_map(|a| arg_type(a))
        .filter_map(state_type)
        .collect();
    let with_meta = match inputs.get(1).and_then(|a| arg_type(a)) {
        Some(ty) if state_type(ty).is_some() => false,
        // Already reported: the message is missing from its place.
        Some(_) if state_type(first).is_some() => false,
        None => false,
        Some(ty) => {
            let ok = if batch {
                batch_element(ty).is_some_and(is_metadata)
            } else {
                is_metadata(ty)
            };
            if !ok {
                let expected = if batch {
                    "Vec<EventMetadata>"
                } else {
                    "EventMetadata"
                };
                errors.spanned(ty, format!("the second argument of a #[consumes] function is the message's metadata: write `meta: {expected}` (or take app state: `State<T>`)"));
            }
            true
        }
    };
    for arg in inputs.iter().skip(if with_meta { 2 } else { 1 }) {
        if state_type(first).is_none() && arg_type(arg).and_then(state_type).is_none() {
            errors.spanned(arg, "after the message and its `EventMetadata`, a #[consumes] function takes only app state: `State<T>`, given with `FastKafka::builder().state(value)`");
        }
    }
    if let Some(ret) = return_type(func) {
        let is_unit = matches!(ret, Type::Tuple(t) if t.elems.is_empty());
        let is_result = matches!(last_segment(ret), Some((n, _)) if n == "Result");
        if !is_unit && !is_result {
            errors.spanned(ret, "a #[consumes] function returns `()` or `Result<(), E>`; an error is retried, then dead-lettered or skipped");
        }
    }
    if let Some(decoder) = &args.decoder {
        let wanted = match decoder.value().as_str() {
            "string" => Some("String"),
            "bytes" => Some("Vec"),
            _ => None,
        };
        let is_vec_u8 = matches!(last_segment(message_ty), Some((n, Some(e))) if n == "Vec" && matches!(last_segment(e), Some((u, None)) if u == "u8"));
        let matches = match wanted {
            Some("String") => matches!(last_segment(message_ty), Some((n, None)) if n == "String"),
            Some(_) => is_vec_u8,
            None => true,
        };
        if !matches {
            errors.spanned(
                decoder,
                format!(
                    "decoder = \"{}\" needs the message type `{}`",
                    decoder.value(),
                    if wanted == Some("String") {
                        "String"
                    } else {
                        "Vec<u8>"
                    }
                ),
            );
        }
    }
    if let (Some(max_batch), false) = (&args.max_batch, batch) {
        errors.spanned(
            max_batch,
            "max_batch applies to batch consumers: take `msgs: Vec<T>`",
        );
    }
    errors.finish()?;

    let private = quote!(::fastkafka::__private);
    let opt = |lit: &Option<syn::LitStr>| match lit {
        Some(l) => quote!(::core::option::Option::Some(#l)),
        None => quote!(::core::option::Option::None),
    };
    let group_id = opt(&args.group_id);
    let auto_offset_reset = opt(&args.auto_offset_reset);
    let broker = opt(&args.broker);
    let dead_letter = opt(&args.dead_letter);
    let description = args
        .description
        .as_ref()
        .map(|d| d.value())
        .unwrap_or_else(|| doc_text(&func.attrs));
    let headers = crate::headers::expand(&args.headers);
    let retries = args.retries.as_ref().map_or(quote!(3), |l| quote!(#l));
    let max_batch = args.max_batch.as_ref().map_or(quote!(100), |l| quote!(#l));
    let max_wait_ms = args
        .max_wait_ms
        .as_ref()
        .map_or(quote!(100), |l| quote!(#l));
    let config = args.config.iter().map(|(k, v)| quote!((#k, #v)));
    let message_type_name = quote!(#message_ty).to_string().replace(' ', "");
    let schema = quote_spanned! {message_ty.span()=> #private::incoming_schema_of::<#message_ty> };
    let json_decoder = args.decoder.as_ref().is_some_and(|d| d.value() == "json");
    // The probe picks the decoding by type (see `DecodeProbe`); `decoder = "json"` leaves
    // the raw decodings out of scope, so that `String` and `Vec<u8>` are read as JSON.
    let raw = (!json_decoder).then(|| quote!(DecodeRaw as _,));
    let decode = quote! {
        |payload| {
            #[allow(unused_imports)]
            use #private::{#raw DecodeJson as _, DecodeUnsupported as _};
            #private::DecodeProbe::<#message_ty>::new().fk_decode(payload)
        }
    };
    let (fetch_states, state_args, state_needs) = state_arguments(&states, &name_str);
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
    let call = quote_spanned! {func.sig.output.span()=>
        #private::IntoTaskResult::into_task_result(#invoke.await)
    };
    // One message at a time (not a batch): `call_one` takes the decoded message
    // without the `Vec`s of `call`, which goes through it.
    let (call_fn, call_one, call_one_fn) = if batch {
        (
            quote! {
                |decoded, metas| {
                    ::std::boxed::Box::pin(async move {
                        #[allow(unused_variables)]
                        let metas = metas;
                        let messages = #private::take::<#message_ty>(decoded);
                        #call
                    })
                }
            },
            quote!(::core::option::Option::None),
            quote!(),
        )
    } else {
        (
            quote! {
                |decoded, metas| match decoded.into_iter().next() {
                    ::core::option::Option::Some(decoded) => {
                        __fastkafka_call_one(decoded, metas.into_iter().next())
                    }
                    ::core::option::Option::None => {
                        ::std::boxed::Box::pin(async { ::core::result::Result::Ok(()) })
                    }
                }
            },
            quote!(::core::option::Option::Some(__fastkafka_call_one)),
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
        )
    };

    Ok(quote! {
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
                batch: #batch,
                with_metadata: #with_meta,
                max_batch: #max_batch,
                max_wait: ::core::time::Duration::from_millis(#max_wait_ms),
                dead_letter: #dead_letter,
                retries: #retries,
                config: &[#(#config),*],
                decode: #decode,
                json_decoder: #json_decoder,
                call: #call_fn,
                call_one: #call_one,
            };
            #private::inventory::submit! { #private::ConsumerRef(&__FASTKAFKA_CONSUMER) }
        };
    })
}

//! Code generation for `#[produces]`, from the checked [`Producer`]: the function is
//! rewritten to send what its body returns; and the stand-in emitted when it cannot be.

use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote, quote_spanned};
use syn::spanned::Spanned;

use crate::private::private;
use syn::ItemFn;

use super::model::{Producer, Shape};
use crate::signature::return_type;

/// What the function returns after the macro: one pending delivery, or one per message
/// of a batch.
fn output(shape: &Shape<'_>) -> TokenStream {
    match shape {
        Shape::Plain(_) | Shape::Event(_) => quote!(::fastkafka::PendingDelivery),
        Shape::Batch(_) | Shape::EventBatch(_) => {
            quote!(::std::vec::Vec<::fastkafka::PendingDelivery>)
        }
    }
}

/// The function as the macro would have made it, for when its arguments or signature
/// are wrong: an `async fn` returning `fastkafka::Result<PendingDelivery>` (or the
/// batch's `Vec`), so that its callers' `.await?` type-checks and the user sees only
/// the error about the attribute. The body is kept, unused, so that mistakes in it
/// are still reported; calling the function panics (it cannot compile anyway).
pub(crate) fn stand_in(func: &ItemFn) -> TokenStream {
    let ret = return_type(func);
    let output = match ret {
        Some(ret) => output(&Shape::of(ret)),
        None => quote!(::fastkafka::PendingDelivery),
    };
    let annotation = ret.map(|ret| quote!(: #ret));
    let ItemFn {
        attrs,
        vis,
        sig,
        block,
    } = func;
    let (fn_token, name, generics, inputs) =
        (&sig.fn_token, &sig.ident, &sig.generics, &sig.inputs);
    let where_clause = &generics.where_clause;
    quote! {
        #(#attrs)*
        #[allow(unreachable_code, unused_variables)]
        #vis async #fn_token #name #generics(#inputs) -> ::fastkafka::Result<#output>
        #where_clause
        {
            let _ = async move {
                let _ #annotation = async move #block.await;
            };
            ::core::unimplemented!("#[produces] reported an error for this function")
        }
    }
}

/// The function rewritten to send what its body returns, with its `ProducerSpec` and
/// registration inside.
pub(crate) fn producer(p: &Producer<'_>) -> TokenStream {
    let Producer {
        func,
        name,
        topic,
        ret,
        shape,
        description,
        broker,
        partitioner,
        keyless,
        headers,
    } = p;
    let name_str = name.to_string();
    let message_ty = shape.message();
    let broker = match broker {
        Some(b) => quote!(::core::option::Option::Some(#b)),
        None => quote!(::core::option::Option::None),
    };
    let (partitioner, partitioner_name) = match partitioner {
        Some(path) => {
            let written = quote!(#path).to_string().replace(' ', "");
            (
                quote_spanned! {path.span()=> #private::custom_partitioner(#path)},
                quote!(::core::option::Option::Some(#written)),
            )
        }
        None => (
            quote!(::core::option::Option::None),
            quote!(::core::option::Option::None),
        ),
    };
    let keyless = match keyless {
        Some(variant) => {
            let variant = format_ident!("{}", variant);
            quote!(::core::option::Option::Some(#private::KeylessStrategy::#variant))
        }
        None => quote!(::core::option::Option::None),
    };
    let headers = crate::headers::expand(headers);
    let batch = shape.is_batch();
    let keyed = shape.is_keyed();
    let message_type_name = quote!(#message_ty).to_string().replace(' ', "");

    let spec = format_ident!("__FASTKAFKA_PRODUCER");
    let event = format_ident!("__fastkafka_event", span = Span::mixed_site());
    // Spanned at the user's message type, so a missing derive is reported there.
    let schema = quote_spanned! {message_ty.span()=>
        #private::schema_of::<#message_ty>
    };
    let encode = quote! {
        |__fastkafka_message| #private::EncodeProbe(__fastkafka_message).fk_encode(#topic)
    };
    let output = output(shape);
    let send = match shape {
        Shape::Plain(_) => quote! {
            let #event = ::fastkafka::KafkaEvent::new(#event).try_map(#encode)?;
            #private::produce(&#spec, #event).await
        },
        Shape::Event(_) => quote! {
            let #event = #event.try_map(#encode)?;
            #private::produce(&#spec, #event).await
        },
        Shape::Batch(_) => quote! {
            let #event = #event
                .into_iter()
                .map(|m| ::fastkafka::KafkaEvent::new(m).try_map(#encode))
                .collect::<::fastkafka::Result<::std::vec::Vec<_>>>()?;
            #private::produce_batch(&#spec, #event).await
        },
        Shape::EventBatch(_) => quote! {
            let ::fastkafka::KafkaEvent { message, key, partition, headers, timestamp } = #event;
            let #event = message
                .into_iter()
                .map(|m| {
                    let mut e = ::fastkafka::KafkaEvent::new(m).try_map(#encode)?;
                    e.key = key.clone();
                    e.partition = partition;
                    e.headers = headers.clone();
                    e.timestamp = timestamp;
                    ::core::result::Result::Ok(e)
                })
                .collect::<::fastkafka::Result<::std::vec::Vec<_>>>()?;
            #private::produce_batch(&#spec, #event).await
        },
    };

    let attrs = &func.attrs;
    let vis = &func.vis;
    let sig = &func.sig;
    let (asyncness, fn_token, inputs) = (&sig.asyncness, &sig.fn_token, &sig.inputs);
    let block = &func.block;
    let ret_span = ret.span();
    let user_ret = quote_spanned!(ret_span=> #ret);

    quote! {
        #(#attrs)*
        #vis #asyncness #fn_token #name(#inputs) -> ::fastkafka::Result<#output> {
            static #spec: #private::ProducerSpec = #private::ProducerSpec {
                module: ::core::module_path!(),
                function: #name_str,
                topic: #topic,
                broker: #broker,
                description: #description,
                headers: #headers,
                batch: #batch,
                keyed: #keyed,
                schema: #schema,
                message_type: #message_type_name,
                partitioner: #partitioner,
                partitioner_name: #partitioner_name,
                keyless: #keyless,
                slot: #private::ProducerSlot::new(),
            };
            #private::inventory::submit! { #private::ProducerRef(&#spec) }
            #[allow(unused_imports)]
            use #private::{EncodeJson as _, EncodeRaw as _};
            let #event: #user_ret = async move #block.await;
            #send
        }
    }
}

//! What a `#[consumes]` function is: its signature and arguments, checked and read into
//! a [`Consumer`] that says everything the generated code needs, so that `expand.rs`
//! only quotes it. Every mistake is reported at the user's tokens, all at once.

use proc_macro2::Span;
use syn::{FnArg, Ident, ItemFn, LitInt, LitStr, Type};

use super::args::ConsumesArgs;
use crate::errors::Errors;
use crate::headers::HeaderArg;
use crate::signature::{
    arg_type, batch_element, check_plain_async_fn, check_unit_or_result, doc_text, last_segment,
    state_type, topic_of,
};

const EXAMPLE: &str = "async fn on_topic(msg: T, meta: EventMetadata) -> fastkafka::Result<()>";

/// A checked `#[consumes]` function.
pub(crate) struct Consumer<'a> {
    /// The user's function, emitted as written.
    pub(crate) func: &'a ItemFn,
    pub(crate) name: &'a Ident,
    pub(crate) topic: String,
    /// The type of one message (of a batch function, the `Vec`'s element).
    pub(crate) message_ty: &'a Type,
    /// One message at a time, or batches.
    pub(crate) handler: Handler,
    /// Whether the second argument is `EventMetadata` (a batch's `Vec<EventMetadata>`).
    pub(crate) with_meta: bool,
    /// The `T` of each `State<T>` argument, in order.
    pub(crate) states: Vec<&'a Type>,
    /// `description = "..."`, else the doc comment.
    pub(crate) description: String,
    /// `decoder = "json"`: a `String` or `Vec<u8>` message is read as JSON too.
    pub(crate) json_decoder: bool,
    pub(crate) group_id: Option<LitStr>,
    pub(crate) auto_offset_reset: Option<LitStr>,
    pub(crate) broker: Option<LitStr>,
    pub(crate) dead_letter: Option<LitStr>,
    /// `retries = n`, else 3.
    pub(crate) retries: LitInt,
    pub(crate) config: Vec<(LitStr, LitStr)>,
    pub(crate) headers: Vec<HeaderArg>,
}

/// How the function takes its messages.
pub(crate) enum Handler {
    /// `msg: T`.
    One,
    /// `msgs: Vec<T>`, with `max_batch` (else 100) and `max_wait_ms` (else 100).
    Batch {
        max_batch: LitInt,
        max_wait_ms: LitInt,
    },
}

impl Handler {
    pub(crate) fn is_batch(&self) -> bool {
        matches!(self, Handler::Batch { .. })
    }
}

/// What to write instead of a borrowed message type: the message is decoded for the
/// function and handed over, so the function owns it.
fn by_value(reference: &syn::TypeReference) -> String {
    let elem = &reference.elem;
    let elem_text = quote::quote!(#elem).to_string().replace(' ', "");
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

/// A default for a numeric argument left out.
fn default_int(value: &str) -> LitInt {
    LitInt::new(value, Span::call_site())
}

impl<'a> Consumer<'a> {
    /// Checks `func` and `args` and reads them into a `Consumer`; `Err` with every
    /// mistake found.
    pub(crate) fn from_fn(args: ConsumesArgs, func: &'a ItemFn) -> syn::Result<Self> {
        let mut errors = Errors::default();
        check_plain_async_fn(func, "consumes", EXAMPLE, &mut errors);
        let name = &func.sig.ident;
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
        check_unit_or_result(
            func,
            "a #[consumes] function returns `()` or `Result<(), E>`; an error is retried, then dead-lettered or skipped",
            &mut errors,
        );
        if let Some(decoder) = &args.decoder {
            check_decoder(decoder, message_ty, &mut errors);
        }
        if let (Some(max_batch), false) = (&args.max_batch, batch) {
            errors.spanned(
                max_batch,
                "max_batch applies to batch consumers: take `msgs: Vec<T>`",
            );
        }
        errors.finish()?;

        let ConsumesArgs {
            topic: _,
            group_id,
            auto_offset_reset,
            broker,
            description,
            decoder,
            dead_letter,
            retries,
            max_batch,
            max_wait_ms,
            config,
            headers,
        } = args;
        let handler = if batch {
            Handler::Batch {
                max_batch: max_batch.unwrap_or_else(|| default_int("100")),
                max_wait_ms: max_wait_ms.unwrap_or_else(|| default_int("100")),
            }
        } else {
            // `max_wait_ms` has no effect on a function taking one message.
            Handler::One
        };
        Ok(Consumer {
            func,
            name,
            topic,
            message_ty,
            handler,
            with_meta,
            states,
            description: description.map_or_else(|| doc_text(&func.attrs), |d| d.value()),
            json_decoder: decoder.is_some_and(|d| d.value() == "json"),
            group_id,
            auto_offset_reset,
            broker,
            dead_letter,
            retries: retries.unwrap_or_else(|| default_int("3")),
            config,
            headers,
        })
    }
}

/// `decoder = "string"` needs a `String` message, `"bytes"` a `Vec<u8>` (`args.rs` has
/// refused any other name but `"json"`).
fn check_decoder(decoder: &LitStr, message_ty: &Type, errors: &mut Errors) {
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

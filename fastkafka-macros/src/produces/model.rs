//! What a `#[produces]` function is: its signature and arguments, checked and read into
//! a [`Producer`] that says everything the generated code needs, so that `expand.rs`
//! only quotes it. Every mistake is reported at the user's tokens, all at once.

use syn::{Ident, ItemFn, LitStr, Type};

use super::args::ProducesArgs;
use crate::errors::Errors;
use crate::headers::HeaderArg;
use crate::signature::{
    batch_element, check_plain_async_fn, doc_text, last_segment, return_type, topic_of,
};

const EXAMPLE: &str = "async fn to_topic(...) -> KafkaEvent<T>";

/// A checked `#[produces]` function.
pub(crate) struct Producer<'a> {
    /// The user's function, whose body the generated function runs.
    pub(crate) func: &'a ItemFn,
    pub(crate) name: &'a Ident,
    pub(crate) topic: String,
    /// The return type as written: what the user's body gives.
    pub(crate) ret: &'a Type,
    /// What that return type sends.
    pub(crate) shape: Shape<'a>,
    /// `description = "..."`, else the doc comment.
    pub(crate) description: String,
    pub(crate) broker: Option<LitStr>,
    /// `partitioner = path::to::fn`.
    pub(crate) partitioner: Option<syn::Path>,
    /// `keyless = "..."`, as `KeylessStrategy` names its variant.
    pub(crate) keyless: Option<&'static str>,
    pub(crate) headers: Vec<HeaderArg>,
}

/// What the function returns, read from its return type.
pub(crate) enum Shape<'a> {
    /// `T`: one message, no key.
    Plain(&'a Type),
    /// `KafkaEvent<T>`.
    Event(&'a Type),
    /// `Vec<T>`: a batch, one message per element.
    Batch(&'a Type),
    /// `KafkaEvent<Vec<T>>`: a batch whose messages share key, partition and headers.
    EventBatch(&'a Type),
}

impl<'a> Shape<'a> {
    /// The shape of the return type `ty`.
    pub(crate) fn of(ty: &'a Type) -> Self {
        match last_segment(ty) {
            Some((name, Some(inner))) if name == "KafkaEvent" => match batch_element(inner) {
                Some(elem) => Shape::EventBatch(elem),
                None => Shape::Event(inner),
            },
            _ => match batch_element(ty) {
                Some(elem) => Shape::Batch(elem),
                None => Shape::Plain(ty),
            },
        }
    }

    /// The type of one message.
    pub(crate) fn message(&self) -> &'a Type {
        match self {
            Shape::Plain(t) | Shape::Event(t) | Shape::Batch(t) | Shape::EventBatch(t) => t,
        }
    }

    /// Each call sends several messages.
    pub(crate) fn is_batch(&self) -> bool {
        matches!(self, Shape::Batch(_) | Shape::EventBatch(_))
    }

    /// Its messages may carry a key or a pinned partition.
    pub(crate) fn is_keyed(&self) -> bool {
        matches!(self, Shape::Event(_) | Shape::EventBatch(_))
    }
}

impl<'a> Producer<'a> {
    /// Checks `func` and `args` and reads them into a `Producer`; `Err` with every
    /// mistake found.
    pub(crate) fn from_fn(args: ProducesArgs, func: &'a ItemFn) -> syn::Result<Self> {
        let mut errors = Errors::default();
        check_plain_async_fn(func, "produces", EXAMPLE, &mut errors);
        let name = &func.sig.ident;

        let topic = topic_of(args.topic.as_ref(), name, "to_", "produces", &mut errors);

        let Some(ret) = return_type(func) else {
            return Err(errors.fail(syn::Error::new_spanned(
                &func.sig,
                "a #[produces] function returns the message it sends: add `-> KafkaEvent<T>` (with a key), `-> T`, or `-> Vec<T>` for a batch",
            )));
        };
        if let Type::Tuple(t) = ret {
            if t.elems.is_empty() {
                errors.spanned(ret, "a #[produces] function returns the message it sends, not `()`: write `-> KafkaEvent<T>` or `-> T`");
            }
        }
        errors.finish()?;

        let ProducesArgs {
            topic: _,
            broker,
            description,
            partitioner,
            keyless,
            headers,
        } = args;
        Ok(Producer {
            func,
            name,
            topic,
            ret,
            shape: Shape::of(ret),
            description: description.map_or_else(|| doc_text(&func.attrs), |d| d.value()),
            broker,
            partitioner,
            keyless: keyless.map(|(_, variant)| variant),
            headers,
        })
    }
}

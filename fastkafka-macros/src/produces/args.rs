//! What `#[produces(...)]` accepts: `topic`, `broker`, `description`, `partitioner`,
//! `keyless`, and `header(..)` once per documented header.

use proc_macro2::TokenStream;
use syn::LitStr;

use crate::errors::Errors;
use crate::headers::{self, HeaderArg};
use crate::signature::check_topic_name;

/// The parsed arguments of `#[produces(...)]`.
#[derive(Default)]
pub(crate) struct ProducesArgs {
    pub(crate) topic: Option<LitStr>,
    pub(crate) broker: Option<LitStr>,
    pub(crate) description: Option<LitStr>,
    pub(crate) partitioner: Option<syn::Path>,
    pub(crate) keyless: Option<(LitStr, &'static str)>,
    /// `header(..)`, in order.
    pub(crate) headers: Vec<HeaderArg>,
}

const EXPECTED: &str = "expected `topic = \"...\"`, `broker = \"...\"`, `description = \"...\"`, `partitioner = path::to::fn`, `keyless = \"sticky\" | \"round_robin\" | \"random\"` or `header(name = \"...\", ..)`";

/// The keyless strategies, as written and as named in `KeylessStrategy`.
const KEYLESS: &[(&str, &str)] = &[
    ("sticky", "Sticky"),
    ("round_robin", "RoundRobin"),
    ("random", "Random"),
];

pub(crate) fn parse(args: TokenStream) -> syn::Result<ProducesArgs> {
    let mut out = ProducesArgs::default();
    let mut errors = Errors::default();
    let parser = syn::meta::parser(|meta| {
        if meta.path.is_ident("header") {
            out.headers.extend(headers::parse(&meta, &mut errors)?);
            return Ok(());
        }
        if meta.path.is_ident("partitioner") {
            let path: syn::Path = meta.value()?.parse()?;
            if out.partitioner.is_some() {
                errors.spanned(&path, "this argument is given twice; keep one");
            }
            out.partitioner = Some(path);
            return Ok(());
        }
        if meta.path.is_ident("keyless") {
            let value: LitStr = meta.value()?.parse()?;
            match KEYLESS.iter().find(|(written, _)| *written == value.value()) {
                Some((_, variant)) => out.keyless = Some((value, variant)),
                None => errors.spanned(
                    &value,
                    format!(
                        "unknown keyless strategy `{}`; write `keyless = \"sticky\"` (the default), `\"round_robin\"` or `\"random\"`",
                        value.value()
                    ),
                ),
            }
            return Ok(());
        }
        let slot = if meta.path.is_ident("topic") {
            &mut out.topic
        } else if meta.path.is_ident("broker") {
            &mut out.broker
        } else if meta.path.is_ident("description") {
            &mut out.description
        } else {
            let path = &meta.path;
            let name = quote::quote!(#path).to_string().replace(' ', "");
            return Err(meta.error(headers::unknown_argument("produces", &name, EXPECTED)));
        };
        let value: LitStr = meta.value()?.parse()?;
        if slot.is_some() {
            errors.spanned(&value, "this argument is given twice; keep one");
        }
        *slot = Some(value);
        Ok(())
    });
    if let Err(e) = syn::parse::Parser::parse2(parser, args) {
        // With the mistakes found before it (an argument given twice, ...).
        return Err(errors.fail(e));
    }
    if let Some(topic) = &out.topic {
        if let Err(why) = check_topic_name(&topic.value()) {
            errors.spanned(topic, why);
        }
    }
    headers::check_unique(&out.headers, &mut errors);
    if let Some(broker) = &out.broker {
        if broker.value().trim().is_empty() {
            errors.spanned(broker, "the broker name is empty; name a broker the app defines with `.broker(\"name\", Broker::new(..))`");
        }
    }
    errors.finish()?;
    Ok(out)
}

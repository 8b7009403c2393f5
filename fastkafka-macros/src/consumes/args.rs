//! What `#[consumes(...)]` accepts.

use proc_macro2::TokenStream;
use syn::{LitInt, LitStr};

use crate::errors::Errors;
use crate::headers::{self, HeaderArg};
use crate::signature::check_topic_name;

/// The parsed arguments of `#[consumes(...)]`.
#[derive(Default)]
pub(crate) struct ConsumesArgs {
    pub(crate) topic: Option<LitStr>,
    pub(crate) group_id: Option<LitStr>,
    pub(crate) auto_offset_reset: Option<LitStr>,
    pub(crate) broker: Option<LitStr>,
    pub(crate) description: Option<LitStr>,
    pub(crate) decoder: Option<LitStr>,
    pub(crate) dead_letter: Option<LitStr>,
    pub(crate) retries: Option<LitInt>,
    pub(crate) max_batch: Option<LitInt>,
    pub(crate) max_wait_ms: Option<LitInt>,
    pub(crate) config: Vec<(LitStr, LitStr)>,
    /// `header(..)`, in order.
    pub(crate) headers: Vec<HeaderArg>,
}

const EXPECTED: &str = "expected one of `topic`, `group_id`, `auto_offset_reset`, `broker`, `description`, `decoder`, `dead_letter`, `retries`, `max_batch`, `max_wait_ms`, `config = [(\"key\", \"value\"), ..]`, `header(name = \"...\", ..)`";

const OFFSET_RESETS: &[&str] = &[
    "earliest",
    "latest",
    "error",
    "smallest",
    "largest",
    "beginning",
    "end",
];

pub(crate) fn parse(args: TokenStream) -> syn::Result<ConsumesArgs> {
    let mut out = ConsumesArgs::default();
    let mut errors = Errors::default();
    let parser = syn::meta::parser(|meta| {
        macro_rules! once {
            ($slot:expr, $ty:ty) => {{
                let value: $ty = meta.value()?.parse()?;
                if $slot.is_some() {
                    errors.spanned(&value, "this argument is given twice; keep one");
                }
                $slot = Some(value);
                return Ok(());
            }};
        }
        let p = &meta.path;
        if p.is_ident("header") {
            out.headers.extend(headers::parse(&meta, &mut errors)?);
            return Ok(());
        }
        if p.is_ident("topic") {
            once!(out.topic, LitStr)
        } else if p.is_ident("group_id") {
            once!(out.group_id, LitStr)
        } else if p.is_ident("auto_offset_reset") {
            once!(out.auto_offset_reset, LitStr)
        } else if p.is_ident("broker") {
            once!(out.broker, LitStr)
        } else if p.is_ident("description") {
            once!(out.description, LitStr)
        } else if p.is_ident("decoder") {
            once!(out.decoder, LitStr)
        } else if p.is_ident("dead_letter") {
            once!(out.dead_letter, LitStr)
        } else if p.is_ident("retries") {
            once!(out.retries, LitInt)
        } else if p.is_ident("max_batch") {
            once!(out.max_batch, LitInt)
        } else if p.is_ident("max_wait_ms") {
            once!(out.max_wait_ms, LitInt)
        } else if p.is_ident("config") {
            let array: syn::ExprArray = meta.value()?.parse()?;
            for elem in &array.elems {
                match pair(elem) {
                    Some(kv) => out.config.push(kv),
                    None => errors.spanned(
                        elem,
                        "write each property as a pair of strings: `(\"fetch.min.bytes\", \"1\")`",
                    ),
                }
            }
            Ok(())
        } else {
            let name = quote::quote!(#p).to_string().replace(' ', "");
            Err(meta.error(headers::unknown_argument("consumes", &name, EXPECTED)))
        }
    });
    if let Err(e) = syn::parse::Parser::parse2(parser, args) {
        // With the mistakes found before it (an argument given twice, ...).
        return Err(errors.fail(e));
    }
    headers::check_unique(&out.headers, &mut errors);
    for lit in [&out.topic, &out.dead_letter].into_iter().flatten() {
        if let Err(why) = check_topic_name(&lit.value()) {
            errors.spanned(lit, why);
        }
    }
    if let Some(reset) = &out.auto_offset_reset {
        if !OFFSET_RESETS.contains(&reset.value().as_str()) {
            errors.spanned(reset, format!("unknown auto_offset_reset `{}`; write \"earliest\" (the default), \"latest\" or \"error\"", reset.value()));
        }
    }
    if let Some(decoder) = &out.decoder {
        if !["json", "string", "bytes"].contains(&decoder.value().as_str()) {
            errors.spanned(
                decoder,
                format!(
                    "unknown decoder `{}`; write \"json\", \"string\" or \"bytes\"",
                    decoder.value()
                ),
            );
        }
    }
    if let Some(group) = &out.group_id {
        if group.value().trim().is_empty() {
            errors.spanned(group, "the group id is empty; name the consumer group, or leave group_id out to use the app's");
        }
    }
    for (lit, min) in [
        (&out.retries, 0u64),
        (&out.max_batch, 1),
        (&out.max_wait_ms, 0),
    ] {
        if let Some(lit) = lit {
            match lit.base10_parse::<u64>() {
                Ok(n) if n >= min => {}
                _ => errors.spanned(lit, format!("expected a whole number of at least {min}")),
            }
        }
    }
    errors.finish()?;
    Ok(out)
}

fn pair(expr: &syn::Expr) -> Option<(LitStr, LitStr)> {
    let syn::Expr::Tuple(t) = expr else {
        return None;
    };
    let mut it = t.elems.iter();
    let (Some(k), Some(v), None) = (it.next(), it.next(), it.next()) else {
        return None;
    };
    let lit = |e: &syn::Expr| match e {
        syn::Expr::Lit(syn::ExprLit {
            lit: syn::Lit::Str(s),
            ..
        }) => Some(s.clone()),
        _ => None,
    };
    Some((lit(k)?, lit(v)?))
}

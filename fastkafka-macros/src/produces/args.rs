//! What `#[produces(...)]` accepts: `topic`, `broker`, `description`.

use proc_macro2::TokenStream;
use syn::LitStr;

use crate::errors::Errors;

/// The parsed arguments of `#[produces(...)]`.
#[derive(Default)]
pub(crate) struct ProducesArgs {
    pub(crate) topic: Option<LitStr>,
    pub(crate) broker: Option<LitStr>,
    pub(crate) description: Option<LitStr>,
}

const EXPECTED: &str = "expected `topic = \"...\"`, `broker = \"...\"` or `description = \"...\"`";

pub(crate) fn parse(args: TokenStream) -> syn::Result<ProducesArgs> {
    let mut out = ProducesArgs::default();
    let mut errors = Errors::default();
    let parser = syn::meta::parser(|meta| {
        let slot = if meta.path.is_ident("topic") {
            &mut out.topic
        } else if meta.path.is_ident("broker") {
            &mut out.broker
        } else if meta.path.is_ident("description") {
            &mut out.description
        } else {
            let path = &meta.path;
            let name = quote::quote!(#path).to_string().replace(' ', "");
            return Err(meta.error(format!("unknown #[produces] argument `{name}`; {EXPECTED}")));
        };
        let value: LitStr = meta.value()?.parse()?;
        if slot.is_some() {
            errors.spanned(&value, "this argument is given twice; keep one");
        }
        *slot = Some(value);
        Ok(())
    });
    syn::parse::Parser::parse2(parser, args)?;
    if let Some(topic) = &out.topic {
        if let Err(why) = check_topic_name(&topic.value()) {
            errors.spanned(topic, why);
        }
    }
    if let Some(broker) = &out.broker {
        if broker.value().trim().is_empty() {
            errors.spanned(broker, "the broker name is empty; name a broker the app defines with `.broker(\"name\", Broker::new(..))`");
        }
    }
    errors.finish()?;
    Ok(out)
}

/// Kafka's own rule for topic names: 1 to 249 of `[a-zA-Z0-9._-]`, not `.` or `..`.
pub(crate) fn check_topic_name(topic: &str) -> Result<(), String> {
    if topic.is_empty() {
        return Err("the topic name is empty; write `topic = \"my_topic\"`".into());
    }
    if topic == "." || topic == ".." {
        return Err(format!("`{topic}` is not a valid Kafka topic name"));
    }
    if topic.len() > 249 {
        return Err(format!(
            "a Kafka topic name has at most 249 characters; this one has {}",
            topic.len()
        ));
    }
    if let Some(bad) = topic
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')))
    {
        return Err(format!(
            "`{topic}` is not a valid Kafka topic name: {bad:?} is not allowed; use letters, digits, `.`, `_` and `-`"
        ));
    }
    Ok(())
}

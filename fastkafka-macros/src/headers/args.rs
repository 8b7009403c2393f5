//! What `header(..)` accepts: `name = "..."` (required), `description = "..."`, the
//! values as `enum = ["a", "b"]` or `schema = Type` (default: any text), and
//! `required`.

use syn::meta::ParseNestedMeta;
use syn::{LitStr, Type};

use crate::errors::Errors;

/// How a header is declared, shown when `header` is misused.
const SYNTAX: &str = "header(name = \"reason\", description = \"...\", enum = [\"hot\", \"cold\"])";

const EXPECTED: &str = "expected `name = \"...\"`, `description = \"...\"`, `enum = [\"a\", \"b\"]`, `schema = Type` or `required`";

/// The error for an unknown argument `name` of `#[macro_name]`; for `headers`, how
/// to declare them instead.
pub(crate) fn unknown_argument(macro_name: &str, name: &str, expected: &str) -> String {
    if name == "headers" {
        format!("write one `header(..)` per header: `{SYNTAX}`")
    } else {
        format!("unknown #[{macro_name}] argument `{name}`; {expected}")
    }
}

/// One `header(..)`.
pub(crate) struct HeaderArg {
    pub(crate) name: LitStr,
    pub(crate) description: Option<LitStr>,
    pub(crate) values: Values,
    pub(crate) required: bool,
}

/// The values a header takes.
pub(crate) enum Values {
    /// Any text (neither `enum` nor `schema` given).
    Text,
    /// `enum = ["a", "b"]`.
    OneOf(Vec<LitStr>),
    /// `schema = Type`: the type's JSON schema.
    Schema(Type),
}

/// Parses the `(..)` after `header`; mistakes inside it go to `errors`, so the other
/// arguments are still checked. `None` when no header can be made of it.
pub(crate) fn parse(
    meta: &ParseNestedMeta<'_>,
    errors: &mut Errors,
) -> syn::Result<Option<HeaderArg>> {
    if !meta.input.peek(syn::token::Paren) {
        return Err(meta.error(format!("declare a header in parentheses: `{SYNTAX}`")));
    }
    let mut name: Option<LitStr> = None;
    let mut description: Option<LitStr> = None;
    let mut one_of: Option<(syn::ExprArray, Vec<LitStr>)> = None;
    let mut schema: Option<Type> = None;
    let mut required = false;
    meta.parse_nested_meta(|inner| {
        let p = &inner.path;
        if p.is_ident("name") || p.is_ident("description") {
            let value: LitStr = inner.value()?.parse()?;
            let slot = if p.is_ident("name") {
                &mut name
            } else {
                &mut description
            };
            if slot.is_some() {
                errors.spanned(&value, "this argument is given twice; keep one");
            }
            *slot = Some(value);
        } else if p.is_ident("enum") {
            let array: syn::ExprArray = inner.value()?.parse()?;
            let mut values = Vec::new();
            for elem in &array.elems {
                match elem {
                    syn::Expr::Lit(syn::ExprLit {
                        lit: syn::Lit::Str(s),
                        ..
                    }) => values.push(s.clone()),
                    _ => errors.spanned(
                        elem,
                        "a header's value is text: write each value as a string, e.g. `enum = [\"hot\", \"cold\"]`",
                    ),
                }
            }
            if array.elems.is_empty() {
                errors.spanned(&array, "list the values the header takes: `enum = [\"hot\", \"cold\"]`");
            }
            if one_of.is_some() {
                errors.spanned(&array, "this argument is given twice; keep one");
            }
            one_of = Some((array, values));
        } else if p.is_ident("schema") {
            let ty: Type = inner.value()?.parse()?;
            if schema.is_some() {
                errors.spanned(&ty, "this argument is given twice; keep one");
            }
            schema = Some(ty);
        } else if p.is_ident("required") {
            if inner.input.peek(syn::Token![=]) {
                let value: syn::LitBool = inner.value()?.parse()?;
                required = value.value;
            } else {
                required = true;
            }
        } else {
            let name = quote::quote!(#p).to_string().replace(' ', "");
            return Err(inner.error(format!("unknown header argument `{name}`; {EXPECTED}")));
        }
        Ok(())
    })?;
    let Some(name) = name else {
        errors.spanned(
            &meta.path,
            format!("a header needs its name: write `{SYNTAX}`"),
        );
        return Ok(None);
    };
    if let Err(why) = check_header_name(&name.value()) {
        errors.spanned(&name, why);
    }
    let values = match (one_of, schema) {
        (Some(_), Some(ty)) => {
            errors.spanned(
                &ty,
                "give the header's values as `enum = [..]` or as `schema = Type`, not both",
            );
            Values::Text
        }
        (Some((_, values)), None) => Values::OneOf(values),
        (None, Some(ty)) => Values::Schema(ty),
        (None, None) => Values::Text,
    };
    Ok(Some(HeaderArg {
        name,
        description,
        values,
        required,
    }))
}

/// A header name the docs can show: not empty, no control characters.
fn check_header_name(name: &str) -> Result<(), String> {
    if name.trim().is_empty() {
        return Err("the header name is empty; write `name = \"reason\"`".into());
    }
    if name.chars().any(char::is_control) {
        return Err(format!(
            "the header name {name:?} has a control character; use printable characters"
        ));
    }
    Ok(())
}

/// An error at each header declared again under a name already declared.
pub(crate) fn check_unique(headers: &[HeaderArg], errors: &mut Errors) {
    for (i, header) in headers.iter().enumerate() {
        let name = header.name.value();
        if headers[..i].iter().any(|h| h.name.value() == name) {
            errors.spanned(
                &header.name,
                format!("the header `{name}` is declared twice; keep one `header(name = \"{name}\", ..)`"),
            );
        }
    }
}

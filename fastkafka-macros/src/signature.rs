//! Checks shared by the macros: what kind of function they accept.

use syn::{FnArg, ItemFn, ReturnType, Type};

use crate::errors::Errors;

/// An `async fn` with no generics and no `self`: what every fastkafka macro annotates.
pub(crate) fn check_plain_async_fn(
    func: &ItemFn,
    macro_name: &str,
    example: &str,
    errors: &mut Errors,
) {
    let sig = &func.sig;
    if sig.asyncness.is_none() {
        errors.spanned(
            sig.fn_token,
            format!("#[{macro_name}] needs an `async fn`; write `{example}`"),
        );
    }
    if !sig.generics.params.is_empty() || sig.generics.where_clause.is_some() {
        errors.spanned(
            &sig.generics,
            format!("#[{macro_name}] functions cannot be generic: the registered function needs concrete types; write the concrete message type instead"),
        );
    }
    if let Some(FnArg::Receiver(receiver)) = sig.inputs.first() {
        errors.spanned(
            receiver,
            format!("#[{macro_name}] goes on a free function, not a method; move it out of the impl block"),
        );
    }
    if let Some(variadic) = &sig.variadic {
        errors.spanned(
            variadic,
            format!("#[{macro_name}] functions cannot be variadic"),
        );
    }
}

/// The return type, if the function has one.
pub(crate) fn return_type(func: &ItemFn) -> Option<&Type> {
    match &func.sig.output {
        ReturnType::Default => None,
        ReturnType::Type(_, ty) => Some(ty),
    }
}

/// The last path segment's name and its single generic argument, e.g. `KafkaEvent<T>`
/// gives `("KafkaEvent", Some(T))`.
pub(crate) fn last_segment(ty: &Type) -> Option<(String, Option<&Type>)> {
    let Type::Path(path) = ty else { return None };
    if path.qself.is_some() {
        return None;
    }
    let seg = path.path.segments.last()?;
    let arg = match &seg.arguments {
        syn::PathArguments::AngleBracketed(args) if args.args.len() == 1 => match &args.args[0] {
            syn::GenericArgument::Type(t) => Some(t),
            _ => None,
        },
        _ => None,
    };
    Some((seg.ident.to_string(), arg))
}

/// The doc comment's text, lines joined with newlines and trimmed.
pub(crate) fn doc_text(attrs: &[syn::Attribute]) -> String {
    let lines: Vec<String> = attrs
        .iter()
        .filter(|a| a.path().is_ident("doc"))
        .filter_map(|a| match &a.meta {
            syn::Meta::NameValue(nv) => match &nv.value {
                syn::Expr::Lit(syn::ExprLit {
                    lit: syn::Lit::Str(s),
                    ..
                }) => Some(s.value().trim().to_string()),
                _ => None,
            },
            _ => None,
        })
        .collect();
    lines.join("\n").trim().to_string()
}

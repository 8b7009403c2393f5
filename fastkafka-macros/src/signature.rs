//! Checks and reading shared by the macros: what kind of function they accept, the
//! topic a name or argument gives, the types of arguments and batches.

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

/// A function that returns nothing, `()` or a `Result` (of any error type: the
/// generated code turns it into a task result); else `message` at the return type.
pub(crate) fn check_unit_or_result(func: &ItemFn, message: &str, errors: &mut Errors) {
    if let Some(ret) = return_type(func) {
        let is_unit = matches!(ret, Type::Tuple(t) if t.elems.is_empty());
        let is_result = matches!(last_segment(ret), Some((name, _)) if name == "Result");
        if !is_unit && !is_result {
            errors.spanned(ret, message);
        }
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

/// The topic of a function: the `topic = "..."` argument, or else its name without
/// `prefix` (`to_` for producers, `on_` for consumers). An error at the name when
/// neither gives a valid topic (an empty string stands in, so checking goes on).
pub(crate) fn topic_of(
    explicit: Option<&syn::LitStr>,
    name: &syn::Ident,
    prefix: &str,
    macro_name: &str,
    errors: &mut Errors,
) -> String {
    if let Some(topic) = explicit {
        return topic.value();
    }
    let name_str = name.to_string();
    match name_str.strip_prefix(prefix) {
        Some(t) if check_topic_name(t).is_ok() => t.to_string(),
        _ => {
            errors.spanned(
                name,
                format!("cannot take a topic from the name `{name_str}`: name the function `{prefix}<topic>` or write #[{macro_name}(topic = \"...\")]"),
            );
            String::new()
        }
    }
}

/// The type of a function argument (`None` for `self`).
pub(crate) fn arg_type(arg: &FnArg) -> Option<&Type> {
    match arg {
        FnArg::Typed(t) => Some(&t.ty),
        FnArg::Receiver(_) => None,
    }
}

/// `Vec<X>` where `X` is not `u8` (a `Vec<u8>` is one raw-bytes message, not a batch).
pub(crate) fn batch_element(ty: &Type) -> Option<&Type> {
    match last_segment(ty) {
        Some((name, Some(elem))) if name == "Vec" => {
            let is_u8 = matches!(last_segment(elem), Some((n, None)) if n == "u8");
            (!is_u8).then_some(elem)
        }
        _ => None,
    }
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

/// `T` of an argument written `State<T>`: app state.
pub(crate) fn state_type(ty: &Type) -> Option<&Type> {
    match last_segment(ty) {
        Some((name, Some(inner))) if name == "State" => Some(inner),
        _ => None,
    }
}

/// For the `State<T>` arguments of `function`: the statements that take them from the
/// app (each an early `Err` return when it lacks one), the names they are bound to,
/// and the list of their types for the check at start.
pub(crate) fn state_arguments(
    states: &[&Type],
    function: &str,
) -> (
    proc_macro2::TokenStream,
    Vec<proc_macro2::TokenStream>,
    proc_macro2::TokenStream,
) {
    use quote::{format_ident, quote, quote_spanned};
    use syn::spanned::Spanned;

    use crate::private::private;
    let idents: Vec<syn::Ident> = (0..states.len())
        .map(|i| format_ident!("__fastkafka_state{i}"))
        .collect();
    let fetch = states.iter().zip(&idents).map(|(ty, id)| {
        quote_spanned! {ty.span()=>
            let #id = #private::state::<#ty>(#function)?;
        }
    });
    let needs = states.iter().map(|ty| {
        let name = type_name(ty);
        quote_spanned! {ty.span()=>
            #private::StateNeed { id: ::core::any::TypeId::of::<#ty>, name: #name }
        }
    });
    (
        quote!(#(#fetch)*),
        idents.iter().map(|id| quote!(#id)).collect(),
        quote!(&[#(#needs),*]),
    )
}

/// A type as the user wrote it, with the spaces the token printer adds taken out where
/// Rust would not put them (`Arc<Mutex<X>>`, `crate::Foo`, `&'static str`).
pub(crate) fn type_name(ty: &Type) -> String {
    let mut name = quote::quote!(#ty).to_string();
    for (spaced, tight) in [
        (" :: ", "::"),
        (":: ", "::"),
        (" < ", "<"),
        ("< ", "<"),
        (" <", "<"),
        (" >", ">"),
        (" ,", ","),
        ("& ", "&"),
        ("' ", "'"),
    ] {
        name = name.replace(spaced, tight);
    }
    name
}

//! The declared headers as the function's spec lists them: a `&[HeaderSpec]`.

use proc_macro2::TokenStream;
use quote::{quote, quote_spanned};
use syn::spanned::Spanned;

use crate::private::private;

use super::args::{HeaderArg, Values};

/// `&[HeaderSpec { .. }, ..]` for the spec's `headers` field.
pub(crate) fn header_specs(headers: &[HeaderArg]) -> TokenStream {
    let specs = headers.iter().map(|h| {
        let name = &h.name;
        let description = h
            .description
            .as_ref()
            .map(|d| d.value())
            .unwrap_or_default();
        let required = h.required;
        let values = match &h.values {
            Values::Text => quote!(#private::HeaderValues::Text),
            Values::OneOf(values) => quote!(#private::HeaderValues::OneOf(&[#(#values),*])),
            // Spanned at the user's type, so a missing `JsonSchema` is reported there.
            Values::Schema(ty) => quote_spanned! {ty.span()=>
                #private::HeaderValues::Schema(#private::header_schema_of::<#ty>)
            },
        };
        quote! {
            #private::HeaderSpec {
                name: #name,
                description: #description,
                values: #values,
                required: #required,
            }
        }
    });
    quote!(&[#(#specs),*])
}

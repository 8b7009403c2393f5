//! The one entry point of every attribute: parse the item as a function, parse the
//! arguments, generate; on any error, keep the user's item (or a stand-in with the
//! signature the attribute would have given it) next to the errors, so the rest of
//! their crate still type-checks and only the real mistakes are reported.

use proc_macro2::TokenStream;
use syn::ItemFn;

/// One attribute macro: how it reads its arguments, what it generates, and what
/// stands in for the function when it cannot.
pub(crate) struct Attribute<A> {
    /// What the attribute goes on, said when it is on something else.
    pub(crate) usage: &'static str,
    pub(crate) parse: fn(TokenStream) -> syn::Result<A>,
    pub(crate) expand: fn(A, &ItemFn) -> syn::Result<TokenStream>,
    /// The item emitted beside the errors: the function unchanged, or one whose
    /// signature matches what callers expect from the generated one.
    pub(crate) stand_in: fn(&ItemFn) -> TokenStream,
}

impl<A> Attribute<A> {
    pub(crate) fn run(&self, args: TokenStream, item: TokenStream) -> TokenStream {
        let func: ItemFn = match syn::parse2(item.clone()) {
            Ok(f) => f,
            Err(_) => {
                let err = syn::Error::new_spanned(&item, self.usage);
                return with_item(item, err);
            }
        };
        match (self.parse)(args).and_then(|args| (self.expand)(args, &func)) {
            Ok(tokens) => tokens,
            Err(err) => with_item((self.stand_in)(&func), err),
        }
    }
}

/// The function unchanged: the stand-in of attributes whose generated function keeps
/// the user's signature.
pub(crate) fn unchanged(func: &ItemFn) -> TokenStream {
    quote::quote!(#func)
}

/// `item` followed by the errors.
fn with_item(item: TokenStream, err: syn::Error) -> TokenStream {
    let errors = err.to_compile_error();
    quote::quote! { #item #errors }
}

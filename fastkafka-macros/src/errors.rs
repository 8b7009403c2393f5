//! Collects several compile errors so the user sees all of them at once.

use proc_macro2::TokenStream;

/// Errors found so far; combined into one `compile_error!` stream.
#[derive(Default)]
pub(crate) struct Errors(Option<syn::Error>);

impl Errors {
    pub(crate) fn push(&mut self, err: syn::Error) {
        match &mut self.0 {
            Some(first) => first.combine(err),
            None => self.0 = Some(err),
        }
    }

    pub(crate) fn spanned(
        &mut self,
        tokens: impl quote::ToTokens,
        message: impl std::fmt::Display,
    ) {
        self.push(syn::Error::new_spanned(tokens, message));
    }

    /// `Err` with every error if there were any.
    pub(crate) fn finish(self) -> syn::Result<()> {
        self.0.map_or(Ok(()), Err)
    }
}

/// The user's item unchanged, followed by the errors, so that the rest of their crate
/// still type-checks against the item and only the real mistakes are reported.
pub(crate) fn with_item(item: TokenStream, err: syn::Error) -> TokenStream {
    let errors = err.to_compile_error();
    quote::quote! { #item #errors }
}

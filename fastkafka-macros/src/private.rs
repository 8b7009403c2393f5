//! The one path through which generated code names the runtime, as serde_derive's
//! `private` is: `#private` in a `quote!` is `::fastkafka::__private`.

use proc_macro2::TokenStream;
use quote::{quote, ToTokens};

/// `::fastkafka::__private`; named in lower case so that `quote!` reads `#private`.
#[allow(non_camel_case_types)]
pub(crate) struct private;

impl ToTokens for private {
    fn to_tokens(&self, tokens: &mut TokenStream) {
        tokens.extend(quote!(::fastkafka::__private));
    }
}

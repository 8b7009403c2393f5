//! What `#[run_in_background(...)]` accepts: `restart = "on_failure" | "never"`.

use proc_macro2::TokenStream;
use syn::LitStr;

/// The restart policy named by the user.
#[derive(Default, Clone, Copy)]
pub(crate) enum Restart {
    #[default]
    OnFailure,
    Never,
}

/// The parsed arguments of `#[run_in_background(...)]`.
#[derive(Default)]
pub(crate) struct BackgroundArgs {
    pub(crate) restart: Restart,
}

pub(crate) fn parse(args: TokenStream) -> syn::Result<BackgroundArgs> {
    let mut out = BackgroundArgs::default();
    let parser = syn::meta::parser(|meta| {
        if meta.path.is_ident("restart") {
            let value: LitStr = meta.value()?.parse()?;
            out.restart = match value.value().as_str() {
                "on_failure" => Restart::OnFailure,
                "never" => Restart::Never,
                other => {
                    return Err(syn::Error::new_spanned(
                        &value,
                        format!("unknown restart policy `{other}`; write `restart = \"on_failure\"` (the default) or `restart = \"never\"`"),
                    ))
                }
            };
            Ok(())
        } else {
            let path = &meta.path;
            let name = quote::quote!(#path).to_string().replace(' ', "");
            Err(meta.error(format!(
                "unknown #[run_in_background] argument `{name}`; expected `restart = \"never\"` or `restart = \"on_failure\"`"
            )))
        }
    });
    syn::parse::Parser::parse2(parser, args)?;
    Ok(out)
}

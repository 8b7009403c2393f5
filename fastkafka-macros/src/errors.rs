//! Collects several compile errors so the user sees all of them at once.

/// Errors found so far; combined into one `compile_error!` stream.
///
/// Must end with [`Errors::finish`]: dropping it unchecked is a bug in the macro (errors
/// found would be lost, and the user would get a confusing expansion instead), so it
/// panics, as serde_derive's `Ctxt` does.
#[derive(Default)]
pub(crate) struct Errors {
    found: Option<syn::Error>,
    checked: bool,
}

impl Errors {
    pub(crate) fn push(&mut self, err: syn::Error) {
        match &mut self.found {
            Some(first) => first.combine(err),
            None => self.found = Some(err),
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
    pub(crate) fn finish(mut self) -> syn::Result<()> {
        self.checked = true;
        self.found.take().map_or(Ok(()), Err)
    }

    /// Every error so far and `last`, when the caller cannot go on.
    pub(crate) fn fail(mut self, last: syn::Error) -> syn::Error {
        self.push(last);
        match self.finish() {
            Err(all) => all,
            Ok(()) => unreachable!("an error was just pushed"),
        }
    }
}

impl Drop for Errors {
    fn drop(&mut self) {
        if !self.checked && !std::thread::panicking() {
            panic!("fastkafka-macros: Errors dropped without finish(); this is a bug in the macro");
        }
    }
}

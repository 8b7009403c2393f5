//! The client context every librdkafka client of the app has: logs through a
//! [`ClientLog`], OAUTHBEARER tokens from the app's token function.

use rdkafka::ClientContext;

use super::log::ClientLog;
use crate::security::OAuthHook;

/// The target of the connection check's and the token seeding's log lines: the module
/// they came from before `client/` existed (`connect.rs`), kept so that `RUST_LOG`
/// filters and log readers see the same name.
pub(super) const CONNECT_LOG_TARGET: &str = "fastkafka::connect";

/// The context of a client that needs no delivery reports or rebalances: logs, errors
/// and OAUTHBEARER tokens.
pub(crate) struct ClientCtx {
    pub(crate) log: ClientLog,
    pub(crate) oauth: OAuthHook,
}

/// Implements librdkafka's `ClientContext` for a context type with a `log: ClientLog`
/// and an `oauth: OAuthHook` field: logs through the first, OAUTHBEARER tokens from the
/// second. Every client context of the app (producer, consumer, start-up clients) is
/// one.
macro_rules! logged_client_context {
    ($context:ty) => {
        impl rdkafka::ClientContext for $context {
            const ENABLE_REFRESH_OAUTH_TOKEN: bool = true;

            fn log(&self, level: rdkafka::config::RDKafkaLogLevel, fac: &str, message: &str) {
                self.log.log(level, fac, message);
            }

            fn error(&self, error: rdkafka::error::KafkaError, reason: &str) {
                self.log.error(error, reason);
            }

            fn generate_oauth_token(
                &self,
                config: Option<&str>,
            ) -> std::result::Result<rdkafka::client::OAuthToken, Box<dyn std::error::Error>> {
                self.oauth.token(config)
            }
        }
    };
}
pub(crate) use logged_client_context;

logged_client_context!(ClientCtx);

/// Gives `client` its first OAUTHBEARER token from the app's token function, for a
/// client whose main queue nothing polls (an admin client, a metadata probe): the
/// token request librdkafka queues there would wait forever. Does nothing without a
/// token function.
pub(crate) fn seed_token<C: ClientContext>(client: &rdkafka::client::Client<C>, oauth: &OAuthHook) {
    if oauth.0.is_none() {
        return;
    }
    let token = match oauth.token(None) {
        Ok(token) => token,
        Err(_) => return, // logged by the hook; the client reports the refusal
    };
    let (Ok(value), Ok(principal)) = (
        std::ffi::CString::new(token.token),
        std::ffi::CString::new(token.principal_name),
    ) else {
        tracing::error!(target: CONNECT_LOG_TARGET, "the OAUTHBEARER token or principal contains a NUL byte");
        return;
    };
    let mut errstr = [0 as std::ffi::c_char; 512];
    // SAFETY: the client pointer is alive for this call; the strings are NUL-terminated
    // and outlive it; no extensions (null, 0); errstr is writable for its length.
    let code = unsafe {
        rdkafka_sys::rd_kafka_oauthbearer_set_token(
            client.native_ptr(),
            value.as_ptr(),
            token.lifetime_ms,
            principal.as_ptr(),
            std::ptr::null_mut(),
            0,
            errstr.as_mut_ptr(),
            errstr.len(),
        )
    };
    if code != rdkafka_sys::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR {
        // SAFETY: librdkafka wrote a NUL-terminated message into errstr.
        let why = unsafe { std::ffi::CStr::from_ptr(errstr.as_ptr()) }.to_string_lossy();
        tracing::error!(target: CONNECT_LOG_TARGET, error = %why, "librdkafka refused the OAUTHBEARER token");
    }
}

impl rdkafka::consumer::ConsumerContext for ClientCtx {}

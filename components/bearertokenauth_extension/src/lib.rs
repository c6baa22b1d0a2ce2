//! The `bearertokenauth` extension, with the contrib extension's keys: a static token
//! that receivers check (`auth: {authenticator: bearertokenauth}` on a protocol) and
//! exporters send (`auth: {authenticator: bearertokenauth}` on the exporter).
//!
//! Built, it registers both sides under its id in `weir_api::auth::Authenticators`;
//! receivers and exporters find it there when they start. A receiver compares the
//! header against every configured token in constant time. See README.md.

mod config;
mod token;

use std::sync::Arc;

use async_trait::async_trait;
use hyper::header::{HeaderName, HeaderValue};
use hyper::HeaderMap;
use weir_api::auth::{constant_time_eq, ClientAuthenticator, ServerAuthenticator};
use weir_api::{
    BuildContext, BuildError, ComponentProblem, Extension, ExtensionContext, ExtensionFactory,
    FactoryInfo, RunningComponent, Stability, StartError, Value,
};

pub use config::Config;
pub use token::Tokens;

/// The component type name in configuration.
pub const TYPE_NAME: &str = "bearertokenauth";

/// The factory the registry lists.
pub fn factory() -> Arc<dyn ExtensionFactory> {
    Arc::new(Factory)
}

struct Factory;

impl ExtensionFactory for Factory {
    fn info(&self) -> FactoryInfo {
        FactoryInfo {
            type_name: TYPE_NAME,
            aliases: &[],
            signals: &[],
            stability: Stability::Beta,
            description: "Bearer token authentication: checked by receivers, sent by exporters.",
        }
    }

    fn check(&self, config: &Value) -> Vec<ComponentProblem> {
        config::check(config)
    }

    fn build(&self, ctx: BuildContext, config: &Value) -> Result<Box<dyn Extension>, BuildError> {
        let config: Config = weir_api::config::parse_valid(config)?;
        let auth = Arc::new(BearerToken::new(&config).map_err(BuildError)?);
        let id = ctx.id.to_string();
        let authenticators = ctx.telemetry.authenticators();
        authenticators.register_server(&id, auth.clone());
        authenticators.register_client(&id, auth);
        Ok(Box::new(Running))
    }
}

/// Both sides of the extension.
pub struct BearerToken {
    header: HeaderName,
    tokens: Tokens,
}

impl BearerToken {
    pub fn new(config: &Config) -> Result<Self, String> {
        let header =
            HeaderName::from_bytes(config.header.as_bytes()).map_err(|e| format!("header: {e}"))?;
        Ok(Self {
            header,
            tokens: Tokens::new(config)?,
        })
    }
}

impl ServerAuthenticator for BearerToken {
    fn authenticate(&self, headers: &HeaderMap) -> Result<(), String> {
        let Some(sent) = headers.get(&self.header) else {
            return Err(format!(
                "missing or empty authorization header: {}",
                self.header
            ));
        };
        let accepted = self.tokens.values();
        if accepted
            .iter()
            .any(|value| constant_time_eq(value.as_bytes(), sent.as_bytes()))
        {
            Ok(())
        } else {
            Err("scheme or token does not match".into())
        }
    }
}

impl ClientAuthenticator for BearerToken {
    fn headers(&self) -> Result<Vec<(HeaderName, HeaderValue)>, String> {
        let values = self.tokens.values();
        let first = values.first().map(String::as_str).unwrap_or_default();
        let mut value = HeaderValue::from_str(first)
            .map_err(|_| "bearertokenauth: the token is not a valid header value".to_string())?;
        value.set_sensitive(true);
        Ok(vec![(self.header.clone(), value)])
    }
}

/// Nothing runs: the work happens in the receivers' and exporters' requests.
struct Running;

#[async_trait]
impl Extension for Running {
    async fn start(self: Box<Self>, ctx: ExtensionContext) -> Result<RunningComponent, StartError> {
        Ok(Box::pin(async move { ctx.shutdown.cancelled().await }))
    }
}

#[cfg(test)]
mod tests;

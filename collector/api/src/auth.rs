//! Authenticator extensions and the components that use them, kept apart.
//!
//! An authenticator (`bearertokenauth`, `basicauth`) is an extension. When it is built it
//! registers itself under its component id in the process's [`Authenticators`]
//! (reached through [`crate::telemetry::Telemetry::authenticators`], which every
//! component is handed). A receiver protocol or an exporter that says
//! `auth: {authenticator: NAME}` looks NAME up there when it starts, after every
//! extension has been built. So neither side names the other, and the engine names
//! neither: it only builds extensions before starting anything, as it always has.
//!
//! - [`ServerAuthenticator`]: checks a request's headers (HTTP headers or gRPC
//!   metadata). A refusal is answered 401 / UNAUTHENTICATED by the receiver and counted
//!   as `weir_receiver_refused_requests_total{reason="unauthenticated"}`.
//! - [`ClientAuthenticator`]: the headers an exporter adds to every request, through
//!   [`ClientAuth`].

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use hyper::header::{HeaderName, HeaderValue};
use hyper::HeaderMap;
use serde::Deserialize;

/// `auth` on a receiver protocol or an exporter: the Collector's `configauth` shape.
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct AuthSettings {
    /// The id of an authenticator extension, e.g. `bearertokenauth` or `basicauth/server`.
    pub authenticator: String,
}

impl AuthSettings {
    /// The problem with the section, if any, with paths starting at `auth`.
    pub fn problems(&self) -> Vec<weir_config::ComponentProblem> {
        if self.authenticator.trim().is_empty() {
            vec![weir_config::ComponentProblem {
                path: vec!["auth".into(), "authenticator".into()],
                message: "auth needs `authenticator`: the id of an authenticator extension \
                          (e.g. bearertokenauth) listed in service.extensions"
                    .into(),
                suggestion: None,
            }]
        } else {
            Vec::new()
        }
    }
}

/// Checks incoming requests (the Collector's `extensionauth.Server`).
pub trait ServerAuthenticator: Send + Sync {
    /// `Ok` when the headers carry valid credentials; otherwise why not, for the
    /// debug log and the answer's message. Header names are lowercase (HTTP/2 and gRPC
    /// metadata always are; hyper lowercases HTTP/1 names).
    fn authenticate(&self, headers: &HeaderMap) -> Result<(), String>;
}

/// Adds credentials to outgoing requests (the Collector's `extensionauth.HTTPClient`
/// and `GRPCClient`).
pub trait ClientAuthenticator: Send + Sync {
    /// The headers to set on the next request. Called per request, so a token read
    /// from a file that changed is picked up.
    fn headers(&self) -> Result<Vec<(HeaderName, HeaderValue)>, String>;
}

#[derive(Default)]
struct Entry {
    server: Option<Arc<dyn ServerAuthenticator>>,
    client: Option<Arc<dyn ClientAuthenticator>>,
}

/// The authenticators of one Weir process, by extension id. Cloning shares it.
#[derive(Clone, Default)]
pub struct Authenticators {
    entries: Arc<Mutex<HashMap<String, Entry>>>,
}

impl std::fmt::Debug for Authenticators {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<String> = self.lock().keys().cloned().collect();
        f.debug_struct("Authenticators")
            .field("ids", &names)
            .finish()
    }
}

impl Authenticators {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Entry>> {
        self.entries
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Registers `id`'s server side (called by the extension when it is built).
    pub fn register_server(&self, id: &str, authenticator: Arc<dyn ServerAuthenticator>) {
        self.lock().entry(id.to_string()).or_default().server = Some(authenticator);
    }

    /// Registers `id`'s client side (called by the extension when it is built).
    pub fn register_client(&self, id: &str, authenticator: Arc<dyn ClientAuthenticator>) {
        self.lock().entry(id.to_string()).or_default().client = Some(authenticator);
    }

    /// The server authenticator `id`, or a message saying why there is none.
    pub fn server(&self, id: &str) -> Result<Arc<dyn ServerAuthenticator>, String> {
        let entries = self.lock();
        match entries.get(id) {
            Some(Entry {
                server: Some(server),
                ..
            }) => Ok(server.clone()),
            Some(_) => Err(format!(
                "authenticator `{id}` cannot check incoming requests (it is configured for \
                 clients only, e.g. basicauth with client_auth instead of htpasswd)"
            )),
            None => Err(not_found(id)),
        }
    }

    /// The client authenticator `id`, or a message saying why there is none.
    pub fn client(&self, id: &str) -> Result<Arc<dyn ClientAuthenticator>, String> {
        let entries = self.lock();
        match entries.get(id) {
            Some(Entry {
                client: Some(client),
                ..
            }) => Ok(client.clone()),
            Some(_) => Err(format!(
                "authenticator `{id}` cannot add credentials to outgoing requests (it is \
                 configured for servers only, e.g. basicauth with htpasswd instead of client_auth)"
            )),
            None => Err(not_found(id)),
        }
    }
}

/// An exporter's `auth`: the authenticator is found when the exporter starts (every
/// extension has been built by then) and adds its headers to every request.
#[derive(Clone, Default)]
pub struct ClientAuth {
    id: Option<String>,
    authenticators: Authenticators,
    resolved: Arc<std::sync::OnceLock<Arc<dyn ClientAuthenticator>>>,
}

impl std::fmt::Debug for ClientAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientAuth").field("id", &self.id).finish()
    }
}

impl ClientAuth {
    /// `settings` is the exporter's `auth`, if any; `telemetry` the one it was built with.
    pub fn new(settings: Option<&AuthSettings>, telemetry: &crate::telemetry::Telemetry) -> Self {
        Self {
            id: settings.map(|s| s.authenticator.clone()),
            authenticators: telemetry.authenticators().clone(),
            resolved: Arc::default(),
        }
    }

    /// Whether `auth` is configured.
    pub fn is_set(&self) -> bool {
        self.id.is_some()
    }

    /// Finds the authenticator: a missing one fails the exporter's start, naming it.
    pub fn start(&self) -> Result<(), crate::StartError> {
        self.get()
            .map(|_| ())
            .map_err(|e| crate::StartError(format!("auth: {e}")))
    }

    fn get(&self) -> Result<Option<Arc<dyn ClientAuthenticator>>, String> {
        let Some(id) = &self.id else {
            return Ok(None);
        };
        if let Some(found) = self.resolved.get() {
            return Ok(Some(found.clone()));
        }
        let found = self.authenticators.client(id)?;
        Ok(Some(self.resolved.get_or_init(|| found).clone()))
    }

    /// Sets the authenticator's headers on `headers` (nothing without `auth`).
    pub fn apply(&self, headers: &mut HeaderMap) -> Result<(), String> {
        if let Some(authenticator) = self.get()? {
            for (name, value) in authenticator.headers()? {
                headers.insert(name, value);
            }
        }
        Ok(())
    }
}

fn not_found(id: &str) -> String {
    format!(
        "authenticator `{id}` not found: configure it under `extensions:` and list it in \
         `service.extensions`"
    )
}

/// Compares two byte strings in time that depends only on their lengths, so a wrong
/// token cannot be guessed byte by byte from response times.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Fixed(&'static str);

    impl ServerAuthenticator for Fixed {
        fn authenticate(&self, headers: &HeaderMap) -> Result<(), String> {
            match headers.get("authorization") {
                Some(v) if constant_time_eq(v.as_bytes(), self.0.as_bytes()) => Ok(()),
                _ => Err("wrong".into()),
            }
        }
    }

    impl ClientAuthenticator for Fixed {
        fn headers(&self) -> Result<Vec<(HeaderName, HeaderValue)>, String> {
            Ok(vec![(
                HeaderName::from_static("authorization"),
                HeaderValue::from_static(self.0),
            )])
        }
    }

    #[test]
    fn lookups_by_id_and_side() {
        let all = Authenticators::default();
        let shared = all.clone();
        shared.register_server("bearertokenauth", Arc::new(Fixed("Bearer x")));
        shared.register_client("basicauth/client", Arc::new(Fixed("Basic y")));

        let server = all.server("bearertokenauth").unwrap();
        let mut headers = HeaderMap::new();
        assert!(server.authenticate(&headers).is_err());
        headers.insert("authorization", HeaderValue::from_static("Bearer x"));
        assert!(server.authenticate(&headers).is_ok());

        assert!(all.client("basicauth/client").unwrap().headers().is_ok());
        let missing = all.server("oidc").err().unwrap();
        assert!(missing.contains("service.extensions"), "{missing}");
        let wrong_side = all.server("basicauth/client").err().unwrap();
        assert!(wrong_side.contains("clients only"), "{wrong_side}");
        assert!(all.client("bearertokenauth").is_err());
    }

    #[test]
    fn client_auth_resolves_at_start_and_sets_headers() {
        let telemetry = crate::telemetry::Telemetry::new();
        let none = ClientAuth::new(None, &telemetry);
        let mut headers = HeaderMap::new();
        none.start().unwrap();
        none.apply(&mut headers).unwrap();
        assert!(headers.is_empty());

        let settings = AuthSettings {
            authenticator: "bearertokenauth/out".into(),
        };
        let auth = ClientAuth::new(Some(&settings), &telemetry);
        assert!(auth.start().unwrap_err().0.contains("not found"));
        telemetry
            .authenticators()
            .register_client("bearertokenauth/out", Arc::new(Fixed("Bearer t")));
        auth.start().unwrap();
        auth.apply(&mut headers).unwrap();
        assert_eq!(headers["authorization"], "Bearer t");
    }

    #[test]
    fn constant_time_comparison() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"abcd"));
    }

    #[test]
    fn an_empty_authenticator_is_a_problem() {
        assert!(AuthSettings::default().problems()[0]
            .message
            .contains("service.extensions"));
        let set = AuthSettings {
            authenticator: "bearertokenauth".into(),
        };
        assert!(set.problems().is_empty());
    }
}

//! The `basicauth` extension, with the contrib extension's keys: HTTP Basic
//! authentication. With `htpasswd` it checks receivers' requests
//! (`auth: {authenticator: basicauth}` on a protocol); with `client_auth` it adds the
//! credentials to an exporter's requests (`auth: {authenticator: basicauth/client}`).
//!
//! Built, it registers the side it is configured for under its id in
//! `weir_api::auth::Authenticators`. The htpasswd material is read at build, so a
//! missing file or an unreadable line fails startup naming it. See README.md.

mod config;
mod htpasswd;

use std::sync::Arc;

use async_trait::async_trait;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use hyper::header::{HeaderName, HeaderValue, AUTHORIZATION};
use hyper::HeaderMap;
use weir_api::auth::{ClientAuthenticator, ServerAuthenticator};
use weir_api::{
    BuildContext, BuildError, ComponentProblem, Extension, ExtensionContext, ExtensionFactory,
    FactoryInfo, RunningComponent, Stability, StartError, Value,
};

pub use config::{ClientAuth, Config, Htpasswd};
pub use htpasswd::{apr1, Users};

/// The component type name in configuration.
pub const TYPE_NAME: &str = "basicauth";

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
            description:
                "HTTP Basic authentication: htpasswd for receivers, credentials for exporters.",
        }
    }

    fn check(&self, config: &Value) -> Vec<ComponentProblem> {
        config::check(config)
    }

    fn build(&self, ctx: BuildContext, config: &Value) -> Result<Box<dyn Extension>, BuildError> {
        let config: Config = weir_api::config::parse_valid(config)?;
        let id = ctx.id.to_string();
        let authenticators = ctx.telemetry.authenticators();
        if let Some(htpasswd) = &config.htpasswd {
            let server = BasicAuthServer::new(htpasswd).map_err(BuildError)?;
            authenticators.register_server(&id, Arc::new(server));
        }
        if let Some(client) = &config.client_auth {
            authenticators.register_client(&id, Arc::new(BasicAuthClient::new(client)?));
        }
        Ok(Box::new(Running))
    }
}

/// The server side: checks `Authorization: Basic ...` against the htpasswd users.
pub struct BasicAuthServer {
    users: Users,
}

impl BasicAuthServer {
    pub fn new(settings: &Htpasswd) -> Result<Self, String> {
        let mut users = Users::default();
        if !settings.file.is_empty() {
            let text = std::fs::read_to_string(&settings.file)
                .map_err(|e| format!("htpasswd.file: cannot read `{}`: {e}", settings.file))?;
            users.parse(&text, "htpasswd.file")?;
        }
        users.parse(&settings.inline, "htpasswd.inline")?;
        if users.is_empty() {
            tracing::warn!(
                "basicauth: the htpasswd material holds no user; every request will be refused"
            );
        }
        Ok(Self { users })
    }
}

impl ServerAuthenticator for BasicAuthServer {
    fn authenticate(&self, headers: &HeaderMap) -> Result<(), String> {
        let value = headers
            .get(AUTHORIZATION)
            .ok_or("no basic auth provided")?
            .to_str()
            .map_err(|_| "invalid authorization format")?;
        const PREFIX: &str = "basic ";
        if value.len() < PREFIX.len() || !value[..PREFIX.len()].eq_ignore_ascii_case(PREFIX) {
            return Err("invalid authorization scheme prefix".into());
        }
        let decoded = STANDARD
            .decode(value[PREFIX.len()..].trim())
            .map_err(|_| "invalid authorization format")?;
        let decoded = String::from_utf8(decoded).map_err(|_| "invalid authorization format")?;
        let (user, password) = decoded
            .split_once(':')
            .ok_or("invalid authorization format")?;
        if self.users.matches(user, password) {
            Ok(())
        } else {
            Err("invalid credentials".into())
        }
    }
}

/// The client side: one `Authorization: Basic ...` value.
pub struct BasicAuthClient {
    value: HeaderValue,
}

impl BasicAuthClient {
    pub fn new(settings: &ClientAuth) -> Result<Self, BuildError> {
        let encoded = STANDARD.encode(format!("{}:{}", settings.username, settings.password));
        let mut value = HeaderValue::from_str(&format!("Basic {encoded}"))
            .map_err(|e| BuildError(format!("client_auth: {e}")))?;
        value.set_sensitive(true);
        Ok(Self { value })
    }
}

impl ClientAuthenticator for BasicAuthClient {
    fn headers(&self) -> Result<Vec<(HeaderName, HeaderValue)>, String> {
        Ok(vec![(AUTHORIZATION, self.value.clone())])
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
mod tests {
    use super::*;

    fn yaml(text: &str) -> Value {
        serde_yaml_ng::from_str(text).unwrap()
    }

    fn basic(user_password: &str) -> HeaderMap {
        let mut map = HeaderMap::new();
        map.insert(
            AUTHORIZATION,
            HeaderValue::from_str(&format!("Basic {}", STANDARD.encode(user_password))).unwrap(),
        );
        map
    }

    #[test]
    fn checks_name_the_key() {
        let paths = |text: &str| -> Vec<String> {
            config::check(&yaml(text))
                .into_iter()
                .map(|p| p.path.join("."))
                .collect()
        };
        assert_eq!(paths("{}"), ["htpasswd"]);
        assert_eq!(paths("{htpasswd: {}}"), ["htpasswd"]);
        assert_eq!(
            paths("{htpasswd: {inline: 'a:b'}, client_auth: {username: a}}"),
            ["client_auth"]
        );
        assert_eq!(
            paths("{client_auth: {username: 'a:b'}}"),
            ["client_auth.username"]
        );
        assert_eq!(paths("{htpasswd: {fil: x}}"), ["htpasswd.fil"]);
        assert!(paths("{client_auth: {username: u, password: p}}").is_empty());
    }

    #[test]
    fn the_server_checks_htpasswd_users() {
        let server = BasicAuthServer::new(&Htpasswd {
            file: String::new(),
            inline: "alice:$apr1$r31....$gnsoqlxyxQQ0Ot5JCwiei.\nbob:plain\n".into(),
        })
        .unwrap();
        assert!(server.authenticate(&basic("alice:secret")).is_ok());
        assert!(server.authenticate(&basic("bob:plain")).is_ok());
        assert_eq!(
            server.authenticate(&basic("alice:wrong")).unwrap_err(),
            "invalid credentials"
        );
        assert!(server.authenticate(&HeaderMap::new()).is_err());
        let mut bearer = HeaderMap::new();
        bearer.insert(AUTHORIZATION, HeaderValue::from_static("Bearer x"));
        assert_eq!(
            server.authenticate(&bearer).unwrap_err(),
            "invalid authorization scheme prefix"
        );
        let mut garbage = HeaderMap::new();
        garbage.insert(AUTHORIZATION, HeaderValue::from_static("basic !!!"));
        assert!(server.authenticate(&garbage).is_err());
    }

    #[test]
    fn inline_lines_win_over_the_file() {
        let dir = std::env::temp_dir().join(format!("weir-basicauth-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("htpasswd");
        std::fs::write(&file, "carol:from-file\ndave:dave-pass\n").unwrap();
        let server = BasicAuthServer::new(&Htpasswd {
            file: file.display().to_string(),
            inline: "carol:from-inline".into(),
        })
        .unwrap();
        assert!(server.authenticate(&basic("carol:from-inline")).is_ok());
        assert!(server.authenticate(&basic("carol:from-file")).is_err());
        assert!(server.authenticate(&basic("dave:dave-pass")).is_ok());
        let missing = BasicAuthServer::new(&Htpasswd {
            file: dir.join("missing").display().to_string(),
            inline: String::new(),
        })
        .err()
        .unwrap();
        assert!(
            missing.starts_with("htpasswd.file: cannot read"),
            "{missing}"
        );
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn the_client_sends_what_the_server_accepts() {
        let client = BasicAuthClient::new(&ClientAuth {
            username: "erin".into(),
            password: "pa:ss".into(),
        })
        .unwrap();
        let headers: HeaderMap = client.headers().unwrap().into_iter().collect();
        let server = BasicAuthServer::new(&Htpasswd {
            file: String::new(),
            inline: "erin:pa:ss".into(),
        })
        .unwrap();
        assert!(server.authenticate(&headers).is_ok());
    }
}

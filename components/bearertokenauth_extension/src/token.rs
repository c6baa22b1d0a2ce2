//! The header values: `scheme token`, from the config or a file that may change.
//!
//! A file is looked at again at most once per [`RECHECK`], on use: when its
//! modification time changed, it is read again (a Kubernetes secret rotated in place).
//! A file that cannot be read keeps the values in use, logged as a warning.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use crate::config::Config;

/// How often a token file's modification time is checked.
pub const RECHECK: Duration = Duration::from_secs(1);

/// The accepted (server) and sent (client, the first) header values.
pub struct Tokens {
    scheme: String,
    file: Option<PathBuf>,
    state: Mutex<State>,
}

struct State {
    values: Arc<Vec<String>>,
    checked: Instant,
    modified: Option<SystemTime>,
}

impl Tokens {
    /// Reads the file now, if there is one, so a missing file fails the build naming it.
    pub fn new(config: &Config) -> Result<Self, String> {
        let file = (!config.filename.is_empty()).then(|| PathBuf::from(&config.filename));
        let (tokens, modified) = match &file {
            Some(path) => read(path)?,
            None if !config.tokens.is_empty() => (config.tokens.clone(), None),
            None => (vec![config.token.clone()], None),
        };
        if file.is_some() && (!config.token.is_empty() || !config.tokens.is_empty()) {
            tracing::warn!("bearertokenauth: a filename is set; token and tokens are ignored");
        }
        Ok(Self {
            scheme: config.scheme.clone(),
            state: Mutex::new(State {
                values: Arc::new(values(&config.scheme, &tokens)),
                checked: Instant::now(),
                modified,
            }),
            file,
        })
    }

    /// The current header values, re-reading the file when it changed.
    pub fn values(&self) -> Arc<Vec<String>> {
        let mut state = self
            .state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(path) = &self.file {
            if state.checked.elapsed() >= RECHECK {
                state.checked = Instant::now();
                let modified = std::fs::metadata(path).and_then(|m| m.modified()).ok();
                if modified != state.modified {
                    match read(path) {
                        Ok((tokens, modified)) => {
                            tracing::info!(file = %path.display(), "bearertokenauth: token file reloaded");
                            state.values = Arc::new(values(&self.scheme, &tokens));
                            state.modified = modified;
                        }
                        Err(err) => tracing::warn!(error = %err,
                            "bearertokenauth: reading the token file failed; the previous token stays in use"),
                    }
                }
            }
        }
        state.values.clone()
    }
}

fn values(scheme: &str, tokens: &[String]) -> Vec<String> {
    tokens
        .iter()
        .map(|token| {
            if scheme.is_empty() {
                token.clone()
            } else {
                format!("{scheme} {token}")
            }
        })
        .collect()
}

/// The tokens in a file, one per non-empty line, and its modification time.
fn read(path: &PathBuf) -> Result<(Vec<String>, Option<SystemTime>), String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("filename: cannot read `{}`: {e}", path.display()))?;
    let tokens: Vec<String> = text
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .map(str::to_string)
        .collect();
    if tokens.is_empty() {
        return Err(format!("filename: `{}` holds no token", path.display()));
    }
    let modified = std::fs::metadata(path).and_then(|m| m.modified()).ok();
    Ok((tokens, modified))
}

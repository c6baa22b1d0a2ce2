//! htpasswd entries: `user:hash` lines, with the hashes Apache's `htpasswd` writes and
//! the Collector's library reads: `$apr1$` (MD5-crypt, the tool's default), `$2y$`/
//! `$2a$`/`$2b$` (bcrypt), `{SHA}` and `{SSHA}`, and plain text. A line Weir cannot
//! read (e.g. `crypt(3)` DES or `$5$`/`$6$`) fails the build naming its line, rather
//! than locking that user out silently.

use std::collections::HashMap;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use md5::{Digest, Md5};
use weir_api::auth::constant_time_eq;

/// One user's stored hash.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Hash {
    Apr1 { salt: String, encoded: String },
    Bcrypt(String),
    Sha(Vec<u8>),
    Ssha { digest: Vec<u8>, salt: Vec<u8> },
    Plain(String),
}

/// Users and their hashes.
#[derive(Clone, Debug, Default)]
pub struct Users {
    users: HashMap<String, Hash>,
}

impl Users {
    /// Parses htpasswd text; `origin` names it in errors (`htpasswd.file`).
    pub fn parse(&mut self, text: &str, origin: &str) -> Result<(), String> {
        for (number, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (user, stored) = line
                .split_once(':')
                .ok_or_else(|| format!("{origin} line {}: expected `user:hash`", number + 1))?;
            let hash = parse_hash(stored)
                .map_err(|e| format!("{origin} line {} (user `{user}`): {e}", number + 1))?;
            self.users.insert(user.to_string(), hash);
        }
        Ok(())
    }

    pub fn len(&self) -> usize {
        self.users.len()
    }

    pub fn is_empty(&self) -> bool {
        self.users.is_empty()
    }

    /// Whether `password` is `user`'s.
    pub fn matches(&self, user: &str, password: &str) -> bool {
        let Some(hash) = self.users.get(user) else {
            return false;
        };
        match hash {
            Hash::Plain(stored) => constant_time_eq(stored.as_bytes(), password.as_bytes()),
            Hash::Sha(digest) => constant_time_eq(digest, &sha1(&[password.as_bytes()])),
            Hash::Ssha { digest, salt } => {
                constant_time_eq(digest, &sha1(&[password.as_bytes(), salt]))
            }
            Hash::Apr1 { salt, encoded } => {
                constant_time_eq(encoded.as_bytes(), apr1(password, salt).as_bytes())
            }
            Hash::Bcrypt(stored) => bcrypt::verify(password, stored).unwrap_or(false),
        }
    }
}

fn parse_hash(stored: &str) -> Result<Hash, String> {
    if let Some(rest) = stored.strip_prefix("$apr1$") {
        let (salt, _) = rest
            .split_once('$')
            .ok_or("an $apr1$ hash needs `$apr1$salt$hash`")?;
        return Ok(Hash::Apr1 {
            salt: salt.to_string(),
            encoded: stored.to_string(),
        });
    }
    if ["$2y$", "$2a$", "$2b$"]
        .iter()
        .any(|prefix| stored.starts_with(prefix))
    {
        return Ok(Hash::Bcrypt(stored.to_string()));
    }
    if let Some(encoded) = stored.strip_prefix("{SHA}") {
        let digest = STANDARD
            .decode(encoded)
            .map_err(|e| format!("{{SHA}} hash is not base64: {e}"))?;
        return Ok(Hash::Sha(digest));
    }
    if let Some(encoded) = stored.strip_prefix("{SSHA}") {
        let bytes = STANDARD
            .decode(encoded)
            .map_err(|e| format!("{{SSHA}} hash is not base64: {e}"))?;
        if bytes.len() <= 20 {
            return Err("{SSHA} hash is too short".into());
        }
        let (digest, salt) = bytes.split_at(20);
        return Ok(Hash::Ssha {
            digest: digest.to_vec(),
            salt: salt.to_vec(),
        });
    }
    if stored.starts_with('$') {
        return Err(format!(
            "hash scheme `{}` is not supported; use htpasswd -m ($apr1$), -B (bcrypt) or -s ({{SHA}})",
            stored.split('$').nth(1).unwrap_or_default()
        ));
    }
    Ok(Hash::Plain(stored.to_string()))
}

fn sha1(parts: &[&[u8]]) -> Vec<u8> {
    let mut context = ring::digest::Context::new(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY);
    for part in parts {
        context.update(part);
    }
    context.finish().as_ref().to_vec()
}

const CRYPT64: &[u8; 64] = b"./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// Apache's MD5-crypt: `$apr1$<salt>$<22 characters>`.
pub fn apr1(password: &str, salt: &str) -> String {
    const MAGIC: &str = "$apr1$";
    let salt = &salt[..salt.len().min(8)];
    let pw = password.as_bytes();

    let alternate = Md5::new()
        .chain_update(pw)
        .chain_update(salt)
        .chain_update(pw)
        .finalize();
    let mut context = Md5::new()
        .chain_update(pw)
        .chain_update(MAGIC)
        .chain_update(salt);
    let mut left = pw.len();
    while left > 0 {
        let take = left.min(16);
        context.update(&alternate[..take]);
        left -= take;
    }
    let mut bits = pw.len();
    while bits > 0 {
        if bits & 1 == 1 {
            context.update([0u8]);
        } else {
            context.update(&pw[..1]);
        }
        bits >>= 1;
    }
    let mut digest = context.finalize();
    for round in 0..1000 {
        let mut next = Md5::new();
        if round & 1 == 1 {
            next.update(pw);
        } else {
            next.update(digest);
        }
        if round % 3 != 0 {
            next.update(salt);
        }
        if round % 7 != 0 {
            next.update(pw);
        }
        if round & 1 == 1 {
            next.update(digest);
        } else {
            next.update(pw);
        }
        digest = next.finalize();
    }

    let mut out = format!("{MAGIC}{salt}$");
    let mut put = |value: u32, chars: usize| {
        let mut value = value;
        for _ in 0..chars {
            out.push(char::from(CRYPT64[(value & 0x3f) as usize]));
            value >>= 6;
        }
    };
    let d = |i: usize| u32::from(digest[i]);
    for (a, b, c) in [(0, 6, 12), (1, 7, 13), (2, 8, 14), (3, 9, 15), (4, 10, 5)] {
        put((d(a) << 16) | (d(b) << 8) | d(c), 4);
    }
    put(d(11), 2);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn apr1_matches_openssl() {
        // From `openssl passwd -apr1 -salt ...`.
        assert_eq!(
            apr1("secret", "r31...."),
            "$apr1$r31....$gnsoqlxyxQQ0Ot5JCwiei."
        );
        assert_eq!(
            apr1("pässwörd", "abcdefgh"),
            "$apr1$abcdefgh$030j6I3f1zNCF9tihqdd11"
        );
        assert_eq!(apr1("", "x"), "$apr1$x$tMwYqBfQwi3FYAr0aJc8M/");
    }

    #[test]
    fn every_supported_scheme_checks_the_password() {
        let bcrypt_hash = bcrypt::hash("b-pass", 4).unwrap();
        let text = format!(
            "# a comment\n\
             apr:$apr1$r31....$gnsoqlxyxQQ0Ot5JCwiei.\n\
             sha:{{SHA}}5en6G6MezRroT3XKqkdPOmY/BfQ=\n\
             plain:p-pass\n\
             bc:{bcrypt_hash}\n"
        );
        let mut users = Users::default();
        users.parse(&text, "htpasswd.inline").unwrap();
        assert_eq!(users.len(), 4);
        assert!(users.matches("apr", "secret"));
        assert!(!users.matches("apr", "Secret"));
        assert!(users.matches("sha", "secret"));
        assert!(!users.matches("sha", "secret2"));
        assert!(users.matches("plain", "p-pass"));
        assert!(!users.matches("plain", "p-pas"));
        assert!(users.matches("bc", "b-pass"));
        assert!(!users.matches("bc", "b-pas"));
        assert!(!users.matches("nobody", "secret"));
    }

    #[test]
    fn ssha_uses_its_salt() {
        let salt = b"NaCl";
        let mut bytes = sha1(&[b"pw", salt]);
        bytes.extend_from_slice(salt);
        let mut users = Users::default();
        users
            .parse(&format!("u:{{SSHA}}{}", STANDARD.encode(bytes)), "x")
            .unwrap();
        assert!(users.matches("u", "pw"));
        assert!(!users.matches("u", "pw2"));
    }

    #[test]
    fn unreadable_lines_are_named() {
        let mut users = Users::default();
        let err = users
            .parse("ok:pass\nsha512:$6$salt$hash\n", "htpasswd.file")
            .unwrap_err();
        assert!(
            err.starts_with("htpasswd.file line 2 (user `sha512`)"),
            "{err}"
        );
        let err = users.parse("no-colon\n", "htpasswd.inline").unwrap_err();
        assert!(err.contains("line 1"), "{err}");
    }
}

use std::time::Duration;

use super::*;

fn yaml(text: &str) -> Value {
    serde_yaml_ng::from_str(text).unwrap()
}

fn parse(text: &str) -> Config {
    weir_api::config::parse_valid(&yaml(text)).unwrap()
}

fn headers(name: &str, value: &str) -> HeaderMap {
    let mut map = HeaderMap::new();
    map.insert(
        HeaderName::from_bytes(name.as_bytes()).unwrap(),
        HeaderValue::from_str(value).unwrap(),
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
    assert_eq!(paths("{}"), ["token"]);
    assert_eq!(paths("{token: a, tokens: [b]}"), ["tokens"]);
    assert_eq!(paths("{token: a, header: 'bad header'}"), ["header"]);
    assert_eq!(paths("{tokn: a}"), ["tokn"]);
    assert!(paths("{filename: /x}").is_empty());
}

#[test]
fn the_server_accepts_the_scheme_and_any_token() {
    let auth = BearerToken::new(&parse("{tokens: [one, two]}")).unwrap();
    assert!(auth
        .authenticate(&headers("authorization", "Bearer one"))
        .is_ok());
    assert!(auth
        .authenticate(&headers("authorization", "Bearer two"))
        .is_ok());
    assert!(auth
        .authenticate(&headers("authorization", "Bearer three"))
        .is_err());
    assert!(auth.authenticate(&headers("authorization", "one")).is_err());
    let missing = auth.authenticate(&HeaderMap::new()).unwrap_err();
    assert!(missing.contains("missing"), "{missing}");
}

#[test]
fn custom_header_and_no_scheme() {
    let auth = BearerToken::new(&parse("{token: s3cret, scheme: '', header: X-Api-Key}")).unwrap();
    assert!(auth.authenticate(&headers("x-api-key", "s3cret")).is_ok());
    assert!(auth
        .authenticate(&headers("authorization", "s3cret"))
        .is_err());
    let sent = auth.headers().unwrap();
    assert_eq!(sent[0].0.as_str(), "x-api-key");
    assert_eq!(sent[0].1, "s3cret");
}

#[test]
fn the_client_sends_the_first_token() {
    let auth = BearerToken::new(&parse("{tokens: [one, two]}")).unwrap();
    let sent = auth.headers().unwrap();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].0, hyper::header::AUTHORIZATION);
    assert_eq!(sent[0].1, "Bearer one");
    assert!(sent[0].1.is_sensitive());
}

#[test]
fn a_token_file_is_read_and_reloaded_when_it_changes() {
    let dir = std::env::temp_dir().join(format!("weir-bearer-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("token");
    std::fs::write(&file, "first\n").unwrap();
    let config = parse(&format!("{{filename: '{}'}}", file.display()));
    let auth = BearerToken::new(&config).unwrap();
    assert!(auth
        .authenticate(&headers("authorization", "Bearer first"))
        .is_ok());

    // A new token with a different modification time.
    std::fs::write(&file, "second\n").unwrap();
    let later = std::time::SystemTime::now() + Duration::from_secs(5);
    std::fs::File::options()
        .write(true)
        .open(&file)
        .unwrap()
        .set_modified(later)
        .unwrap();
    let mut reloaded = false;
    for _ in 0..40 {
        std::thread::sleep(Duration::from_millis(100));
        if auth
            .authenticate(&headers("authorization", "Bearer second"))
            .is_ok()
        {
            reloaded = true;
            break;
        }
    }
    assert!(reloaded, "the changed token file is read again");
    assert!(auth
        .authenticate(&headers("authorization", "Bearer first"))
        .is_err());

    let missing = parse("{filename: /nonexistent/weir-token}");
    let err = BearerToken::new(&missing).err().unwrap();
    assert!(err.contains("cannot read"), "{err}");
    std::fs::remove_dir_all(&dir).ok();
}

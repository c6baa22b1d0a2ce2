use std::time::Duration;

use hyper::Request;
use tokio_util::sync::CancellationToken;
use weir_api::ComponentId;

use super::*;

fn yaml(text: &str) -> Value {
    serde_yaml_ng::from_str(text).unwrap()
}

#[test]
fn collector_keys_and_defaults() {
    let c: PprofConfig = weir_api::config::parse_valid(&Value::Null).unwrap();
    assert_eq!(c.endpoint, "127.0.0.1:1777");
    assert_eq!(c.save_to_file, None);
    let c: PprofConfig = weir_api::config::parse_valid(&yaml(
        "endpoint: 127.0.0.1:0\nblock_profile_fraction: 3\nmutex_profile_fraction: 5\nsave_to_file: /tmp/x.prof",
    ))
    .unwrap();
    assert_eq!(c.block_profile_fraction, 3);
    let problems = PprofFactory.check(&yaml("endpiont: x"));
    assert_eq!(problems[0].path, ["endpiont"]);
    assert_eq!(
        PprofFactory.check(&yaml("endpoint: ''"))[0].path,
        ["endpoint"]
    );
    assert_eq!(
        PprofFactory.check(&yaml("transport: unix"))[0].path,
        ["transport"]
    );
}

#[test]
fn seconds_as_go_reads_them() {
    assert_eq!(seconds(None), 30);
    assert_eq!(seconds(Some("seconds=5")), 5);
    assert_eq!(seconds(Some("debug=1&seconds=2")), 2);
    assert_eq!(seconds(Some("seconds=0")), 30);
    assert_eq!(seconds(Some("seconds=x")), 30);
}

fn get(uri: &str) -> Request<()> {
    Request::get(uri).body(()).unwrap()
}

async fn body(response: hyper::Response<http_body_util::Full<bytes::Bytes>>) -> (u16, Vec<u8>) {
    use http_body_util::BodyExt;
    let status = response.status().as_u16();
    (
        status,
        response
            .into_body()
            .collect()
            .await
            .unwrap()
            .to_bytes()
            .to_vec(),
    )
}

/// One test for everything that takes the process-wide profiler, so no two run at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serves_a_cpu_profile_and_one_at_a_time() {
    let token = CancellationToken::new();
    // Keep a thread busy so there is something to sample.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let spinning = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut x = 0u64;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                x = x.wrapping_mul(31).wrapping_add(7);
            }
            x
        })
    };
    // One at a time: while a profile runs, a request is answered as Go answers it.
    let held = crate::profile::start().unwrap();
    let request = get("/debug/pprof/profile?seconds=1");
    let (status, text) = body(respond(&request, token.clone()).await).await;
    assert_eq!(status, 500);
    assert!(String::from_utf8_lossy(&text).contains("already in use"));
    drop(held);

    let first = respond(&request, token.clone()).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    spinning.join().unwrap();
    let (status, bytes) = body(first).await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&bytes));
    assert_eq!(&bytes[..2], &[0x1f, 0x8b], "gzipped, like Go's");
    let mut decoded = Vec::new();
    std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&bytes[..]), &mut decoded)
        .unwrap();
    let profile = <pprof::protos::Profile as pprof::protos::Message>::decode(&decoded[..]).unwrap();
    let strings = &profile.string_table;
    let types: Vec<&str> = profile
        .sample_type
        .iter()
        .map(|t| strings[t.ty as usize].as_str())
        .collect();
    assert_eq!(types, ["samples", "cpu"], "Go's CPU profile sample types");
    assert!(!profile.sample.is_empty(), "a busy thread was sampled");

    // A profile stops when Weir shuts down.
    token.cancel();
    let long = get("/debug/pprof/profile?seconds=20");
    let (status, _) = body(respond(&long, token).await).await;
    assert_eq!(status, 500);

    // save_to_file: profiled from start to shutdown, written then; meanwhile the
    // endpoint's profiler is in use, as in Go.
    let dir = std::env::temp_dir().join(format!("weir-pprof-save-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("cpu.pprof");
    let section = yaml(&format!(
        "endpoint: 127.0.0.1:0\nsave_to_file: {}",
        file.display()
    ));
    let extension = PprofFactory
        .build(
            weir_api::BuildContext {
                id: ComponentId::new(TYPE_NAME, None),
                telemetry: weir_api::telemetry::Telemetry::new(),
            },
            &section,
        )
        .unwrap();
    let (_health, watch) = tokio::sync::watch::channel(weir_api::HealthState::Running);
    let shutdown = CancellationToken::new();
    let running = extension
        .start(weir_api::ExtensionContext {
            health: watch,
            shutdown: shutdown.clone(),
        })
        .await
        .unwrap();
    let busy = get("/debug/pprof/profile?seconds=1");
    assert_eq!(
        body(respond(&busy, CancellationToken::new()).await).await.0,
        500
    );
    tokio::time::sleep(Duration::from_millis(200)).await;
    shutdown.cancel();
    running.await;
    let saved = std::fs::read(&file).unwrap();
    let profile = <pprof::protos::Profile as pprof::protos::Message>::decode(&saved[..]).unwrap();
    assert_eq!(profile.sample_type.len(), 2);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn other_paths() {
    let token = CancellationToken::new();
    let index = get("/debug/pprof/");
    let (status, text) = body(respond(&index, token.clone()).await).await;
    assert_eq!(status, 200);
    assert!(String::from_utf8_lossy(&text).contains("profile?seconds="));
    let heap = get("/debug/pprof/heap");
    let (status, text) = body(respond(&heap, token.clone()).await).await;
    assert_eq!(status, 404);
    assert!(String::from_utf8_lossy(&text).contains("Go runtime profile"));
    let metrics = get("/metrics");
    assert_eq!(body(respond(&metrics, token.clone()).await).await.0, 404);
    let too_long = get("/debug/pprof/profile?seconds=99999");
    assert_eq!(body(respond(&too_long, token.clone()).await).await.0, 400);
    let post = Request::post("/debug/pprof/profile").body(()).unwrap();
    assert_eq!(body(respond(&post, token).await).await.0, 405);
}

#[tokio::test]
async fn a_busy_port_fails_the_start_naming_it() {
    let first = PprofServer::bind("127.0.0.1:0").await.unwrap();
    let taken = first.local_addr().to_string();
    let err = PprofServer::bind(&taken).await.unwrap_err();
    assert!(
        err.0.contains(&format!("pprof: cannot listen on {taken}")),
        "{}",
        err.0
    );
}

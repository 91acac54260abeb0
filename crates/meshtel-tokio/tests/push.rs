//! The pusher against an HTTP server on loopback that answers from a script: headers and
//! body, retries with a fresh snapshot on 5xx, dropped connections and timeouts, 4xx as
//! permanent, the body limit, connection refused, and the flush at shutdown; each checked
//! on the wire and in the `meshtel_push_*` metrics.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use meshtel_metrics::{Format, Registry};
use meshtel_tokio::push::{Backoff, PushConfig, PushError, PushTarget, Pusher};
use tokio::net::TcpListener;

/// What the server does with one request.
#[derive(Debug, Clone, Copy)]
enum Answer {
    Status(u16),
    /// Answer 200 after this long.
    Hang(Duration),
    /// Close the connection without an answer.
    Drop,
}

#[derive(Debug)]
struct Seen {
    path: String,
    headers: hyper::HeaderMap,
    body: Bytes,
}

#[derive(Default)]
struct Script {
    answers: Mutex<VecDeque<Answer>>,
    seen: Mutex<Vec<Seen>>,
}

async fn serve(script: Vec<Answer>) -> (SocketAddr, Arc<Script>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let state = Arc::new(Script {
        answers: Mutex::new(script.into()),
        seen: Mutex::default(),
    });
    let shared = Arc::clone(&state);
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let state = Arc::clone(&shared);
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |req| answer(Arc::clone(&state), req));
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    (addr, state)
}

async fn answer(state: Arc<Script>, req: Request<Incoming>) -> Result<Response<Full<Bytes>>, std::io::Error> {
    let path = req.uri().to_string();
    let headers = req.headers().clone();
    let body = req.into_body().collect().await.unwrap().to_bytes();
    state.seen.lock().unwrap().push(Seen { path, headers, body });
    let next = state.answers.lock().unwrap().pop_front().unwrap_or(Answer::Status(200));
    let status = match next {
        Answer::Status(s) => s,
        Answer::Hang(d) => {
            tokio::time::sleep(d).await;
            200
        }
        Answer::Drop => return Err(std::io::Error::other("dropped by the script")),
    };
    let mut response = Response::new(Full::new(Bytes::from_static(b"scripted answer")));
    *response.status_mut() = hyper::StatusCode::from_u16(status).unwrap();
    Ok(response)
}

/// An encoder whose snapshot is the value of a counter that the test increments, as text.
fn counter_encoder(counter: &Arc<AtomicI64>) -> impl FnMut(i64, &mut Vec<u8>) -> Result<(), Infallible> + use<> {
    let counter = Arc::clone(counter);
    move |_ts, out| {
        out.extend_from_slice(counter.load(Ordering::SeqCst).to_string().as_bytes());
        Ok(())
    }
}

fn config() -> PushConfig {
    PushConfig {
        interval: Duration::from_secs(3600),
        timeout: Duration::from_millis(300),
        backoff: Backoff {
            initial: Duration::from_millis(10),
            max: Duration::from_millis(40),
            max_retries: 3,
        },
        ..PushConfig::default()
    }
}

/// The value of the `meshtel_push_*` sample whose name and labels start with `prefix`.
fn sample(health: &Registry, prefix: &str) -> f64 {
    let text = health.render_to_string(Format::Prometheus);
    let line = text
        .lines()
        .find(|l| l.starts_with(prefix))
        .unwrap_or_else(|| panic!("no sample {prefix} in\n{text}"));
    line.rsplit(' ').next().unwrap().parse().unwrap()
}

async fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    for _ in 0..500 {
        if done() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("timed out waiting for {what}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn remote_write_headers_and_body_on_the_wire() {
    let (addr, script) = serve(vec![]).await;
    let health = Registry::default();
    let counter = Arc::new(AtomicI64::new(42));
    let target =
        PushTarget::remote_write("rw", &format!("http://{addr}/api/v1/write"), counter_encoder(&counter)).unwrap();
    let handle = Pusher::new(config(), &health).unwrap().target(target).spawn();
    wait_for("the first push", || script.seen.lock().unwrap().len() == 1).await;
    {
        let seen = script.seen.lock().unwrap();
        let first = &seen[0];
        assert_eq!(first.path, "/api/v1/write");
        assert_eq!(first.headers["content-encoding"], "snappy");
        assert_eq!(first.headers["content-type"], "application/x-protobuf");
        assert_eq!(first.headers["x-prometheus-remote-write-version"], "0.1.0");
        assert_eq!(first.headers["host"], addr.to_string());
        assert_eq!(&first.body[..], b"42");
    }
    wait_for("the success to be counted", || {
        sample(&health, "meshtel_push_successes_total{target=\"rw\"}") == 1.0
    })
    .await;
    assert!(sample(&health, "meshtel_push_last_success_timestamp_seconds{target=\"rw\"}") > 1.7e9);
    assert_eq!(sample(&health, "meshtel_push_sent_bytes_total{target=\"rw\"}"), 2.0);
    counter.store(43, Ordering::SeqCst);
    let flushed = handle.shutdown().await;
    assert!(matches!(&flushed[..], [(name, Ok(()))] if name == "rw"), "{flushed:?}");
    let seen = script.seen.lock().unwrap();
    assert_eq!(seen.len(), 2, "the first push and the flush, nothing else");
    assert_eq!(&seen[1].body[..], b"43", "the flush sends the newest snapshot");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn otlp_path_and_headers() {
    let (addr, script) = serve(vec![]).await;
    let health = Registry::default();
    let counter = Arc::new(AtomicI64::new(1));
    let target = PushTarget::otlp("otlp", &format!("http://{addr}"), counter_encoder(&counter)).unwrap();
    let handle = Pusher::new(config(), &health).unwrap().target(target).spawn();
    wait_for("the first push", || script.seen.lock().unwrap().len() == 1).await;
    drop(handle.shutdown().await);
    let seen = script.seen.lock().unwrap();
    assert_eq!(seen[0].path, "/v1/metrics");
    assert_eq!(seen[0].headers["content-type"], "application/x-protobuf");
    assert!(!seen[0].headers.contains_key("content-encoding"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retries_re_encode_the_latest_snapshot_after_5xx_drops_and_timeouts() {
    let script = vec![Answer::Status(503), Answer::Drop, Answer::Hang(Duration::from_secs(2))];
    let (addr, script) = serve(script).await;
    let health = Registry::default();
    let counter = Arc::new(AtomicI64::new(0));
    let snapshots = Arc::clone(&counter);
    // Every encoding sees a newer value, as a live registry would between attempts.
    let encoder = move |_ts: i64, out: &mut Vec<u8>| -> Result<(), Infallible> {
        let n = snapshots.fetch_add(1, Ordering::SeqCst);
        out.extend_from_slice(n.to_string().as_bytes());
        Ok(())
    };
    let target = PushTarget::remote_write("rw", &format!("http://{addr}/w"), encoder).unwrap();
    let handle = Pusher::new(config(), &health).unwrap().target(target).spawn();
    wait_for("the success after three failures", || {
        sample(&health, "meshtel_push_successes_total{target=\"rw\"}") == 1.0
    })
    .await;
    assert_eq!(sample(&health, "meshtel_push_attempts_total{target=\"rw\"}"), 4.0);
    for (reason, n) in [
        ("server_error", 1.0),
        ("transport", 1.0),
        ("timeout", 1.0),
        ("client_error", 0.0),
    ] {
        let got = sample(
            &health,
            &format!("meshtel_push_failures_total{{target=\"rw\",reason=\"{reason}\"}}"),
        );
        assert_eq!(got, n, "{reason}");
    }
    assert_eq!(sample(&health, "meshtel_push_gave_up_total{target=\"rw\"}"), 0.0);
    drop(handle.shutdown().await);
    let seen = script.seen.lock().unwrap();
    let bodies: Vec<&[u8]> = seen.iter().map(|s| &s.body[..]).collect();
    assert_eq!(
        bodies,
        [&b"0"[..], b"1", b"2", b"3", b"4"],
        "each attempt a fresh snapshot, then the flush"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_4xx_is_permanent_and_counted() {
    let (addr, script) = serve(vec![Answer::Status(400)]).await;
    let health = Registry::default();
    let counter = Arc::new(AtomicI64::new(7));
    let target = PushTarget::remote_write("rw", &format!("http://{addr}/w"), counter_encoder(&counter)).unwrap();
    let handle = Pusher::new(config(), &health).unwrap().target(target).spawn();
    wait_for("the push to be given up", || {
        sample(&health, "meshtel_push_gave_up_total{target=\"rw\"}") == 1.0
    })
    .await;
    assert_eq!(sample(&health, "meshtel_push_attempts_total{target=\"rw\"}"), 1.0);
    assert_eq!(
        sample(
            &health,
            "meshtel_push_failures_total{target=\"rw\",reason=\"client_error\"}"
        ),
        1.0
    );
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(script.seen.lock().unwrap().len(), 1, "no retry after a 400");
    drop(handle.shutdown().await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_connections_retry_a_bounded_number_of_times() {
    let addr = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap()
    };
    let health = Registry::default();
    let counter = Arc::new(AtomicI64::new(7));
    let target = PushTarget::remote_write("rw", &format!("http://{addr}/w"), counter_encoder(&counter)).unwrap();
    let handle = Pusher::new(config(), &health).unwrap().target(target).spawn();
    wait_for("the push to be given up", || {
        sample(&health, "meshtel_push_gave_up_total{target=\"rw\"}") == 1.0
    })
    .await;
    assert_eq!(
        sample(&health, "meshtel_push_attempts_total{target=\"rw\"}"),
        4.0,
        "1 + max_retries"
    );
    assert_eq!(
        sample(&health, "meshtel_push_failures_total{target=\"rw\",reason=\"connect\"}"),
        4.0
    );
    let flushed = handle.shutdown().await;
    assert!(matches!(&flushed[0].1, Err(PushError::Connect { .. })), "{flushed:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_cuts_a_backoff_short_and_flushes_once() {
    let addr = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap()
    };
    let health = Registry::default();
    let counter = Arc::new(AtomicI64::new(7));
    let target = PushTarget::remote_write("rw", &format!("http://{addr}/w"), counter_encoder(&counter)).unwrap();
    let config = PushConfig {
        interval: Duration::from_millis(50),
        backoff: Backoff {
            initial: Duration::from_secs(60),
            max: Duration::from_secs(60),
            max_retries: 5,
        },
        ..config()
    };
    let handle = Pusher::new(config, &health).unwrap().target(target).spawn();
    wait_for("the first failure", || {
        sample(&health, "meshtel_push_failures_total{target=\"rw\",reason=\"connect\"}") == 1.0
    })
    .await;
    // The pusher now waits 30-60 s before its retry: shutdown must not.
    let flushed = tokio::time::timeout(Duration::from_secs(5), handle.shutdown())
        .await
        .expect("shutdown waited for the backoff");
    assert!(matches!(&flushed[0].1, Err(PushError::Connect { .. })), "{flushed:?}");
    assert_eq!(
        sample(&health, "meshtel_push_attempts_total{target=\"rw\"}"),
        2.0,
        "the attempt and the flush"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_over_the_limit_is_not_sent() {
    let (addr, script) = serve(vec![]).await;
    let health = Registry::default();
    let encoder = |_ts: i64, out: &mut Vec<u8>| -> Result<(), Infallible> {
        out.resize(2048, b'x');
        Ok(())
    };
    let target = PushTarget::remote_write("rw", &format!("http://{addr}/w"), encoder).unwrap();
    let config = PushConfig {
        max_body_bytes: 1024,
        ..config()
    };
    let handle = Pusher::new(config, &health).unwrap().target(target).spawn();
    wait_for("the push to be given up", || {
        sample(&health, "meshtel_push_gave_up_total{target=\"rw\"}") == 1.0
    })
    .await;
    assert_eq!(
        sample(
            &health,
            "meshtel_push_failures_total{target=\"rw\",reason=\"too_large\"}"
        ),
        1.0
    );
    let flushed = handle.shutdown().await;
    assert!(
        matches!(
            &flushed[0].1,
            Err(PushError::TooLarge {
                size: 2048,
                limit: 1024,
                ..
            })
        ),
        "{flushed:?}"
    );
    assert!(script.seen.lock().unwrap().is_empty());
}

#[test]
fn urls_are_checked() {
    let none = |_ts: i64, _out: &mut Vec<u8>| Ok::<(), Infallible>(());
    let err = PushTarget::remote_write("rw", "https://example.com/api/v1/push", none).unwrap_err();
    assert!(err.to_string().contains("scheme \"https\""), "{err}");
    let err = PushTarget::remote_write("rw", "not a url", none).unwrap_err();
    assert!(err.to_string().contains("not a valid URI"), "{err}");
    let t = PushTarget::otlp("o", "http://collector:4318/custom/path", none).unwrap();
    assert_eq!(t.url(), "http://collector:4318/custom/path");
}

//! Allocations per request through the layer: a small constant, independent of how many
//! labels the plugin computes. Counted by a global allocator, per thread, on a current-thread
//! runtime.

mod common;
#[path = "../../../testing/counting_alloc.rs"]
mod counting_alloc;

use std::convert::Infallible;

use bytes::Bytes;
use common::*;
use http::{Request, Response};
use http_body_util::{BodyExt, Full};
use meshtel::PluginConfig;
use meshtel_tower::RequestBody;
use tower::{Service, ServiceBuilder, ServiceExt};

async fn app<B>(_req: Request<B>) -> Result<Response<Full<Bytes>>, Infallible> {
    let mut response = Response::new(Full::new(Bytes::from_static(b"ok")));
    response
        .headers_mut()
        .insert("content-type", http::HeaderValue::from_static("text/plain"));
    Ok(response)
}

fn requests(n: usize) -> Vec<Request<Full<Bytes>>> {
    let header = http::HeaderValue::from_str(&header_of(&client_record())).unwrap();
    (0..n)
        .map(|_| {
            let mut r = Request::post(http::Uri::from_static("/ratings/1"))
                .header("host", http::HeaderValue::from_static("ratings:9080"))
                .body(Full::new(Bytes::from_static(b"hello")))
                .unwrap();
            r.headers_mut().insert("x-envoy-peer-metadata", header.clone());
            r
        })
        .collect()
}

async fn drive<S, B>(svc: S, req: Request<Full<Bytes>>)
where
    S: Service<Request<Full<Bytes>>, Response = Response<B>>,
    S::Error: std::fmt::Debug,
    B: http_body::Body + Unpin,
    B::Error: std::fmt::Debug,
{
    let mut body = svc.oneshot(req).await.unwrap().into_body();
    while let Some(frame) = body.frame().await {
        frame.unwrap();
    }
}

/// Allocations per request, after a warm-up, of `svc` on a current-thread runtime.
fn per_request<S, B>(svc: &S) -> u64
where
    S: Service<Request<Full<Bytes>>, Response = Response<B>> + Clone,
    S::Error: std::fmt::Debug,
    B: http_body::Body + Unpin,
    B::Error: std::fmt::Debug,
{
    const N: usize = 50;
    let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    let warm = requests(3);
    let measured = requests(N);
    rt.block_on(async {
        for req in warm {
            drive(svc.clone(), req).await;
        }
    });
    // The requests are driven inside the count; the runtime is current-thread, so every
    // allocation they make is this thread's.
    let (n, ()) = counting_alloc::allocations_in(|| {
        rt.block_on(async {
            for req in measured {
                drive(svc.clone(), req).await;
            }
        });
    });
    n as u64 / N as u64
}

fn extra_labels() -> PluginConfig {
    let dims: Vec<String> = (0..12).map(|i| format!(r#""x_label_{i}": "request.method""#)).collect();
    PluginConfig::from_json(&format!(r#"{{"metrics": [{{"dimensions": {{{}}}}}]}}"#, dims.join(","))).unwrap()
}

#[test]
fn allocations_per_request_do_not_grow_with_the_label_count() {
    let bare = per_request(&ServiceBuilder::new().service_fn(app));
    let (_r1, standard) = inbound(&PluginConfig::default());
    let (r2, more) = inbound(&extra_labels());
    let with_standard = per_request(
        &ServiceBuilder::new()
            .layer(layer(&standard))
            .service_fn(app::<RequestBody<Full<Bytes>>>),
    );
    let with_more = per_request(
        &ServiceBuilder::new()
            .layer(layer(&more))
            .service_fn(app::<RequestBody<Full<Bytes>>>),
    );
    assert!(
        value(&r2, "istio_requests_total", &[("x_label_11", "POST")]) > 50.0,
        "the extra labels are computed"
    );
    println!("allocations per request: bare {bare}, layer with 25 labels {with_standard}, with 37 labels {with_more}");
    assert_eq!(
        with_standard, with_more,
        "no allocation proportional to the label count"
    );
    // What the layer allocates per request: the request meter shared by the two bodies
    // (one `Arc`), and nothing else (the request's URI and `Host` are shared `Bytes` here, as
    // hyper's parsed ones are; a uniquely owned one is copied once when cloned).
    assert_eq!(with_standard - bare, 1);
}

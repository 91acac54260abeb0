//! `tower`: one HTTP request through a tower service, in memory on a current-thread runtime:
//! call the service with a request and drain the response body. `meshtel` has the
//! meshtel-tower layer (inbound, the peer header decoded once per connection and then
//! cached, its own headers added to the response, the request recorded at the end of the
//! body); `bare` is the same service without the layer.

use std::convert::Infallible;
use std::hint::black_box;
use std::sync::Arc;

use bytes::Bytes;
use criterion::{Criterion, criterion_group, criterion_main};
use http::{HeaderValue, Request, Response};
use http_body::Body;
use http_body_util::{BodyExt, Full};
use meshtel::{LocalNode, PluginConfig, Reporter, StatsPlugin};
use meshtel_metrics::Registry;
use meshtel_tower::{MeshtelLayer, Telemetry};
use meshtel_wire::workload::WorkloadMetadata;
use serde_json::json;
use tower::{Service, ServiceBuilder, ServiceExt};

async fn app<B>(_req: Request<B>) -> Result<Response<Full<Bytes>>, Infallible> {
    let mut response = Response::new(Full::new(Bytes::from_static(b"{\"stars\":5}")));
    response
        .headers_mut()
        .insert("content-type", HeaderValue::from_static("application/json"));
    Ok(response)
}

fn record(workload: &str, service: &str) -> WorkloadMetadata {
    let mut r = WorkloadMetadata::default();
    r.workload = workload.into();
    r.namespace = "default".into();
    r.service = service.into();
    r.app = service.into();
    r.version = "v1".into();
    r.cluster = "Kubernetes".into();
    r
}

fn request(peer: &HeaderValue) -> Request<Full<Bytes>> {
    let mut req = Request::get(http::Uri::from_static("/ratings/0"))
        .header("host", HeaderValue::from_static("ratings:9080"))
        .body(Full::new(Bytes::new()))
        .unwrap();
    req.headers_mut().insert("x-envoy-peer-metadata", peer.clone());
    req.headers_mut().insert(
        "x-envoy-peer-metadata-id",
        HeaderValue::from_static("sidecar~10.0.0.1~pp.default~default.svc.cluster.local"),
    );
    req
}

async fn once<S, B>(svc: &S, req: Request<Full<Bytes>>)
where
    S: Service<Request<Full<Bytes>>, Response = Response<B>> + Clone,
    S::Error: std::fmt::Debug,
    B: Body + Unpin,
    B::Error: std::fmt::Debug,
{
    let mut body = svc.clone().oneshot(req).await.unwrap().into_body();
    while let Some(frame) = body.frame().await {
        black_box(frame.unwrap());
    }
}

fn request_bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    let registry = Registry::default();
    let node = json!({"WORKLOAD_NAME": "ratings-v1", "NAMESPACE": "default", "CLUSTER_ID": "Kubernetes",
        "LABELS": {"app": "ratings", "version": "v1", "service.istio.io/canonical-name": "ratings"}});
    let plugin = StatsPlugin::new(
        LocalNode::from_json(&node),
        Reporter::Inbound,
        &PluginConfig::default(),
        &registry,
    )
    .unwrap();
    let telemetry = Telemetry::new(plugin)
        .with_local_peer(
            &record("ratings-v1", "ratings"),
            "sidecar~10.0.0.2~ratings-v1.default~default.svc.cluster.local",
        )
        .unwrap();
    let peer = HeaderValue::from_str(&meshtel_wire::header::encode_peer_header(
        &record("productpage-v1", "productpage").to_struct(),
    ))
    .unwrap();
    let meshtel = ServiceBuilder::new()
        .layer(MeshtelLayer::new(Arc::new(telemetry)))
        .service_fn(app);
    let bare = ServiceBuilder::new().service_fn(app);

    let mut group = c.benchmark_group("tower/request");
    group.bench_function("meshtel", |b| b.iter(|| rt.block_on(once(&meshtel, request(&peer)))));
    group.bench_function("bare", |b| b.iter(|| rt.block_on(once(&bare, request(&peer)))));
    group.finish();
}

criterion_group!(benches, request_bench);
criterion_main!(benches);

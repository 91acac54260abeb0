//! `meshtel demo`: a real two-sidecar mesh on loopback (`docs/reference/telemetry.md`,
//! `docs/reference/wire.md`).
//!
//! One process: an HTTP backend, a gRPC backend (`grpc.health.v1.Health` and
//! `meshtel.demo.v1.Echo`) and a TCP echo backend; a server sidecar (inbound) in front of
//! them; a client sidecar (outbound); mutual TLS between the sidecars with certificates
//! generated at start (SPIFFE identities) and Istio's ALPN lists (`istio-h2` when the
//! application speaks HTTP/2); the TCP prefix exchange for TCP and the
//! `x-envoy-peer-metadata` headers for HTTP and gRPC; a plain client that talks to the
//! server sidecar without TLS; a metrics endpoint per sidecar; a load generator; and a
//! summary read back from the metrics. Every listener bounds slow and idle peers
//! (`limits.rs`).

mod backend;
mod grpc;
mod limits;
mod load;
pub(crate) mod metrics;
mod pki;
mod push;
mod sidecar;
mod upstream;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Args;
use meshtel::{PluginConfig, Reporter};
use meshtel_metrics::Format;
use meshtel_tokio::alpn::{AlpnList, HttpVersion};
use serde_json::json;

pub(crate) use self::limits::parse_duration;
use self::limits::{Limits, Timeout, TimeoutCounts};
use self::load::Targets;
use self::sidecar::{Backends, Sidecar, Upstream};

/// Arguments of `meshtel demo`.
#[derive(Debug, Args)]
pub(crate) struct DemoArgs {
    /// HTTP requests the load generator sends through the client sidecar (a tenth as many
    /// go straight to the server sidecar, without TLS).
    #[arg(long, default_value_t = 200)]
    requests: u64,
    /// TCP connections through the client sidecar.
    #[arg(long, default_value_t = 20)]
    connections: u64,
    /// Where the metrics server listens (`/client/metrics`, `/server/metrics`).
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:0")]
    metrics_addr: SocketAddr,
    /// Keep serving (metrics and the mesh) after the load, until interrupted.
    #[arg(long)]
    serve: bool,
    /// Seed of the request mix and payload sizes.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Write what the load generator sent and saw (the ground truth) as JSON.
    #[arg(long, value_name = "FILE")]
    truth: Option<PathBuf>,
    /// Rounds of gRPC calls through the client sidecar, five calls each (a health check,
    /// unary, server-, client- and bidi-streaming); by default one per 20 --requests.
    #[arg(long, value_name = "N")]
    grpc_rounds: Option<u64>,
    /// Write the mesh's addresses as JSON, once it listens (for other clients).
    #[arg(long, value_name = "FILE")]
    endpoints: Option<PathBuf>,
    /// Write the mesh CA and the client sidecar's certificate and key (DER) into DIR, so
    /// that outside peers can speak mTLS to the server sidecar.
    #[arg(long, value_name = "DIR")]
    pki_dir: Option<PathBuf>,
    /// Use the mesh CA and both sidecars' certificates and keys in DIR (DER: `ca.der`,
    /// `client.der`, `client.key.der`, `server.der`, `server.key.der`) instead of generating
    /// them, to share a trust root with outside sidecars.
    #[arg(long, value_name = "DIR")]
    pki_from: Option<PathBuf>,
    /// Send the client sidecar's mTLS traffic to ADDR (another mesh's server sidecar, such
    /// as an Envoy) instead of this demo's server sidecar, which keeps serving.
    #[arg(long, value_name = "ADDR")]
    upstream: Option<SocketAddr>,
    /// Close a connection whose HTTP/1 request head does not arrive in time (500ms, 2s, 2.5).
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = parse_duration)]
    header_read_timeout: Duration,
    /// Close a connection with no request in flight and no byte either way for this long.
    #[arg(long, value_name = "DURATION", default_value = "60s", value_parser = parse_duration)]
    idle_timeout: Duration,
    /// Close a connection whose TLS handshake or TCP prefix exchange takes longer.
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = parse_duration)]
    exchange_timeout: Duration,
    /// Push both sidecars' registries to this Prometheus remote-write URL
    /// (`http://HOST:PORT/api/v1/write`); external labels job, pod, namespace, cluster tell
    /// them apart.
    #[arg(long, value_name = "URL")]
    remote_write: Option<String>,
    /// Push both sidecars' registries to this OTLP/HTTP URL (`http://HOST:4318`, /v1/metrics
    /// by default); resource attributes service.name, k8s.pod.name, ... tell them apart.
    #[arg(long, value_name = "URL")]
    otlp: Option<String>,
    /// Give the sidecars' `meshtel_demo_upstream_duration_seconds` native (exponential)
    /// buckets besides the classic ones: the protobuf exposition (a Prometheus with
    /// `--enable-feature=native-histograms` asks for it), remote write and OTLP carry them.
    /// A receiver without native-histogram support refuses remote-write requests that carry them.
    #[arg(long)]
    native_histograms: bool,
    /// Time between pushes.
    #[arg(long, value_name = "DURATION", default_value = "1s", value_parser = parse_duration)]
    push_interval: Duration,
    /// Bound on one push attempt (connect, send, response).
    #[arg(long, value_name = "DURATION", default_value = "5s", value_parser = parse_duration)]
    push_timeout: Duration,
}

impl DemoArgs {
    fn limits(&self) -> Limits {
        Limits {
            header_read: self.header_read_timeout,
            idle: self.idle_timeout,
            exchange: self.exchange_timeout,
        }
    }

    fn options(&self) -> Result<MeshOptions, String> {
        let pki = self.pki_from.as_deref().map(pki::load_der).transpose()?;
        Ok(MeshOptions {
            limits: self.limits(),
            pki,
            upstream: self.upstream,
            native: self.native_histograms,
            placement: Placement::default(),
        })
    }
}

/// How [`start_mesh_with`] starts the mesh.
#[derive(Debug, Default)]
pub(crate) struct MeshOptions {
    /// Bounds on slow and idle peers.
    pub(crate) limits: Limits,
    /// The certificates (`--pki-from`); generated when absent.
    pub(crate) pki: Option<pki::Pki>,
    /// Where the client sidecar's mTLS goes (`--upstream`); the server sidecar when absent.
    pub(crate) upstream: Option<SocketAddr>,
    /// Native buckets on the sidecars' `meshtel_demo_upstream_duration_seconds` histograms
    /// (`--native-histograms`).
    pub(crate) native: bool,
    /// Where each sidecar runs.
    pub(crate) placement: Placement,
}

/// The runtimes the sidecars run on: each its own (the CLI, one worker thread per sidecar
/// as an Envoy with `--concurrency 1`), or, for a handle left `None`, the caller's.
///
/// A sidecar's accept loop runs on its runtime, and so do the tasks it spawns per
/// connection and stream: a request crosses threads only where it crosses a socket. On one
/// shared multi-thread runtime, the two sidecars' and the backends' tasks wake each other
/// across its workers; on this machine that cost about half again as much CPU per request
/// (`docs/performance.md`).
#[derive(Clone, Debug, Default)]
pub(crate) struct Placement {
    pub(crate) client: Option<tokio::runtime::Handle>,
    pub(crate) server: Option<tokio::runtime::Handle>,
}

impl Placement {
    /// A listener on loopback, registered with the runtime of `handle` (the caller's when
    /// `None`): its readiness then comes from the runtime that accepts on it.
    async fn bind(handle: Option<&tokio::runtime::Handle>) -> std::io::Result<(tokio::net::TcpListener, SocketAddr)> {
        match handle {
            Some(handle) => handle.spawn(backend::bind()).await.map_err(std::io::Error::other)?,
            None => backend::bind().await,
        }
    }

    fn spawn<F>(handle: Option<&tokio::runtime::Handle>, task: F)
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        match handle {
            Some(handle) => drop(handle.spawn(task)),
            None => drop(tokio::spawn(task)),
        }
    }
}

/// One runtime of one worker thread for a sidecar.
fn sidecar_runtime(name: &str) -> Result<tokio::runtime::Runtime, String> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name(name)
        .enable_all()
        .build()
        .map_err(|e| format!("starting the {name} runtime: {e}"))
}

fn client_node() -> serde_json::Value {
    json!({
        "NAME": "productpage-v1-84975bc778-pxz2w", "NAMESPACE": "default", "WORKLOAD_NAME": "productpage-v1",
        "CLUSTER_ID": "client-cluster", "ISTIO_VERSION": "1.24.0",
        "OWNER": "kubernetes://apis/apps/v1/namespaces/default/deployments/productpage-v1",
        "LABELS": {"app": "productpage", "version": "v1", "service.istio.io/canonical-name": "productpage",
                   "service.istio.io/canonical-revision": "v1"}
    })
}

fn server_node() -> serde_json::Value {
    json!({
        "NAME": "ratings-v1-5f8d", "NAMESPACE": "default", "WORKLOAD_NAME": "ratings-v1",
        "CLUSTER_ID": "server-cluster", "ISTIO_VERSION": "1.24.0",
        "OWNER": "kubernetes://apis/apps/v1/namespaces/default/deployments/ratings-v1",
        "LABELS": {"app": "ratings", "version": "v1", "service.istio.io/canonical-name": "ratings",
                   "service.istio.io/canonical-revision": "v1"}
    })
}

/// The running mesh: addresses and the two sidecars.
pub(crate) struct Mesh {
    pub(crate) client: Arc<Sidecar>,
    pub(crate) server: Arc<Sidecar>,
    pub(crate) targets: Targets,
    pub(crate) backends: Backends,
    pub(crate) pki: Arc<pki::Pki>,
}

#[allow(
    clippy::needless_pass_by_value,
    reason = "a `map_err` adapter takes the error by value"
)]
fn io(e: std::io::Error) -> String {
    format!("binding a loopback port: {e}")
}

/// Starts backends and sidecars on ephemeral loopback ports, with the default limits.
#[cfg(test)]
pub(crate) async fn start_mesh() -> Result<Mesh, String> {
    start_mesh_with(MeshOptions::default()).await
}

/// Starts backends and sidecars on ephemeral loopback ports.
pub(crate) async fn start_mesh_with(options: MeshOptions) -> Result<Mesh, String> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let limits = options.limits;
    let pki = Arc::new(match options.pki {
        Some(pki) => pki,
        None => pki::generate()?,
    });
    let config = PluginConfig::from_json(r#"{"tcp_reporting_duration": "1s"}"#).map_err(|e| e.to_string())?;
    let client = Arc::new(
        Sidecar::new(
            &client_node(),
            "sidecar~127.0.0.1~productpage-v1-84975bc778-pxz2w.default~default.svc.cluster.local",
            Reporter::Outbound,
            &pki.client,
            &config,
            options.native,
        )?
        .with_limits(limits),
    );
    let server = Arc::new(
        Sidecar::new(
            &server_node(),
            "sidecar~127.0.0.1~ratings-v1-5f8d.default~default.svc.cluster.local",
            Reporter::Inbound,
            &pki.server,
            &config,
            options.native,
        )?
        .with_limits(limits),
    );

    let (http_l, http) = backend::bind().await.map_err(io)?;
    let (grpc_l, grpc) = backend::bind().await.map_err(io)?;
    let (echo_l, tcp) = backend::bind().await.map_err(io)?;
    tokio::spawn(backend::http(http_l));
    tokio::spawn(grpc::serve(grpc_l));
    tokio::spawn(backend::echo(echo_l));
    let backends = Backends { http, grpc, tcp };

    let placement = options.placement;
    let (server_l, server_addr) = Placement::bind(placement.server.as_ref()).await.map_err(io)?;
    Placement::spawn(
        placement.server.as_ref(),
        sidecar::serve_inbound(Arc::clone(&server), server_l, pki.server_config()?, backends),
    );

    let upstream = Upstream {
        addr: options.upstream.unwrap_or(server_addr),
        http: pki.client_config(&pki.client, AlpnList::ClientHttp(HttpVersion::Http11).names())?,
        h2: pki.client_config(&pki.client, AlpnList::ClientHttp(HttpVersion::H2).names())?,
        tcp: pki.client_config(&pki.client, AlpnList::InMeshWithMxc.names())?,
    };
    let (client_http_l, client_http) = Placement::bind(placement.client.as_ref()).await.map_err(io)?;
    let (client_tcp_l, client_tcp) = Placement::bind(placement.client.as_ref()).await.map_err(io)?;
    Placement::spawn(
        placement.client.as_ref(),
        sidecar::serve_outbound_http(Arc::clone(&client), client_http_l, upstream.clone()),
    );
    Placement::spawn(
        placement.client.as_ref(),
        sidecar::serve_outbound_tcp(Arc::clone(&client), client_tcp_l, upstream),
    );
    Ok(Mesh {
        client,
        server,
        targets: Targets {
            client_http,
            client_tcp,
            server: server_addr,
        },
        backends,
        pki,
    })
}

pub(crate) fn run(args: &DemoArgs) -> Result<(), String> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| format!("starting the runtime: {e}"))?;
    let client = sidecar_runtime("client-sidecar")?;
    let server = sidecar_runtime("server-sidecar")?;
    let placement = Placement {
        client: Some(client.handle().clone()),
        server: Some(server.handle().clone()),
    };
    // The sidecar runtimes outlive the demo and are dropped here, outside any runtime.
    runtime.block_on(demo(args, placement))
}

async fn demo(args: &DemoArgs, placement: Placement) -> Result<(), String> {
    let mut options = args.options()?;
    options.placement = placement;
    let mesh = start_mesh_with(options).await?;
    let metrics_listener = tokio::net::TcpListener::bind(args.metrics_addr)
        .await
        .map_err(|e| format!("binding --metrics-addr {}: {e}", args.metrics_addr))?;
    let metrics_addr = metrics_listener.local_addr().map_err(io)?;
    let pushing = push::start(args, &mesh)?;
    let mut registries = vec![
        ("client", mesh.client.registry.clone()),
        ("server", mesh.server.registry.clone()),
    ];
    if let Some(p) = &pushing {
        registries.push(("push", p.health.clone()));
    }
    let registries = Arc::new(registries);
    let metrics_timeouts = Arc::new(TimeoutCounts::default());
    tokio::spawn(metrics::serve(
        metrics_listener,
        registries,
        args.limits(),
        Arc::clone(&metrics_timeouts),
    ));

    println!("meshtel demo: a two-sidecar mesh on 127.0.0.1");
    println!(
        "  backends        http {}   grpc {}   tcp echo {}",
        mesh.backends.http, mesh.backends.grpc, mesh.backends.tcp
    );
    println!(
        "  server sidecar  ratings-v1, inbound, {}   on {} (mTLS + ALPN, or plaintext)",
        mesh.pki.server.spiffe, mesh.targets.server
    );
    println!(
        "  client sidecar  productpage-v1, outbound, {}   http+grpc {}   tcp {}",
        mesh.pki.client.spiffe, mesh.targets.client_http, mesh.targets.client_tcp
    );
    if let Some(upstream) = args.upstream {
        println!("  client upstream {upstream} (--upstream: another mesh's server sidecar)");
    }
    println!("  metrics         http://{metrics_addr}/client/metrics");
    println!("                  http://{metrics_addr}/server/metrics");
    if let Some(p) = &pushing {
        for target in &p.targets {
            println!("  push            {target}");
        }
        println!("                  health at http://{metrics_addr}/push/metrics");
    }
    let limits = args.limits();
    println!(
        "  limits          header read {:?}, idle {:?}, exchange {:?}",
        limits.header_read, limits.idle, limits.exchange
    );
    println!();
    if let Some(dir) = &args.pki_dir {
        mesh.pki.write_der(dir)?;
    }
    if let Some(path) = &args.endpoints {
        write_endpoints(path, &mesh, metrics_addr)?;
    }

    let started = Instant::now();
    let load = load::Load {
        requests: args.requests,
        connections: args.connections,
        grpc_rounds: args.grpc_rounds.unwrap_or(args.requests / 20),
        seed: args.seed,
    };
    let truth = load::run(mesh.targets, load).await;
    settle(&mesh, truth.tcp_connections).await;
    println!();
    print_summary(&mesh, &truth, started.elapsed(), &metrics_timeouts);
    if let Some(path) = &args.truth {
        let text = serde_json::to_string_pretty(&truth).map_err(|e| e.to_string())?;
        std::fs::write(path, text).map_err(|e| format!("writing {}: {e}", path.display()))?;
    }
    if args.serve {
        println!("\nserving the mesh and the metrics until interrupted (Ctrl-C or SIGTERM)");
        stop_signal().await;
        println!("\nstopping");
    }
    if let Some(pushing) = pushing {
        println!();
        push::finish(pushing).await;
    }
    Ok(())
}

/// Completes at Ctrl-C (SIGINT) or SIGTERM, so that `--serve` stops like a sidecar: the
/// pushers send their last snapshot before the process exits.
async fn stop_signal() {
    #[cfg(unix)]
    if let Ok(mut term) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
        return;
    }
    // No SIGTERM handler (or not Unix): Ctrl-C alone. Should even that fail to install,
    // the demo serves on, as before signals were handled.
    if tokio::signal::ctrl_c().await.is_err() {
        std::future::pending::<()>().await;
    }
}

/// Writes the mesh's addresses (`--endpoints`), whole or not at all (a rename).
fn write_endpoints(path: &std::path::Path, mesh: &Mesh, metrics: SocketAddr) -> Result<(), String> {
    let text = json!({
        "client_http": mesh.targets.client_http.to_string(),
        "client_grpc": mesh.targets.client_http.to_string(),
        "client_tcp": mesh.targets.client_tcp.to_string(),
        "server_plain": mesh.targets.server.to_string(),
        "metrics": metrics.to_string(),
        "client_metrics": format!("http://{metrics}/client/metrics"),
        "server_metrics": format!("http://{metrics}/server/metrics"),
        "http_backend": mesh.backends.http.to_string(),
        "grpc_backend": mesh.backends.grpc.to_string(),
        "tcp_backend": mesh.backends.tcp.to_string(),
    });
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, format!("{text:#}\n")).map_err(|e| format!("writing {}: {e}", tmp.display()))?;
    std::fs::rename(&tmp, path).map_err(|e| format!("writing {}: {e}", path.display()))
}

/// Waits (up to 5 s) until both sidecars have recorded every TCP connection's close.
async fn settle(mesh: &Mesh, connections: u64) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        let closed = |sc: &Sidecar| {
            let s = metrics::samples(&sc.registry.render_to_string(Format::Prometheus));
            metrics::sum_by(&s, "istio_tcp_connections_closed_total", &[])
                .values()
                .sum::<f64>() as u64
        };
        if closed(&mesh.client) >= connections && closed(&mesh.server) >= connections {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn print_summary(mesh: &Mesh, truth: &load::Truth, elapsed: Duration, metrics_timeouts: &TimeoutCounts) {
    println!(
        "load done in {:.2} s: {} mesh requests, {} plain requests, {} TCP connections ({} bytes echoed), {} gRPC calls",
        elapsed.as_secs_f64(),
        truth.mesh_requests.values().sum::<u64>(),
        truth.plain_requests.values().sum::<u64>(),
        truth.tcp_connections,
        truth.tcp_bytes,
        truth.grpc.total()
    );
    let sidecars = [("client", &mesh.client), ("server", &mesh.server)];
    let samples: Vec<(&str, Vec<metrics::Sample>)> = sidecars
        .iter()
        .map(|(name, sc)| {
            (
                *name,
                metrics::samples(&sc.registry.render_to_string(Format::Prometheus)),
            )
        })
        .collect();
    println!();
    print_requests(&samples, "http", "code", "response_code");
    if truth.grpc.total() > 0 {
        println!();
        print_requests(&samples, "grpc", "grpc", "grpc_response_status");
        let (sent, received) = truth.grpc.messages();
        for (name, s) in &samples {
            let total = |m: &str| metrics::sum_by(s, m, &[]).values().sum::<f64>();
            println!(
                "{name} grpc messages: request={}, response={} (load generator: sent {sent}, received {received})",
                total("istio_request_messages_total"),
                total("istio_response_messages_total")
            );
        }
    }
    println!();
    print_tcp(&samples);
    println!();
    for (name, s) in &samples {
        let outcomes: Vec<String> = metrics::sum_by(s, "meshtel_demo_peer_exchange_total", &["outcome"])
            .into_iter()
            .filter(|(_, n)| *n > 0.0)
            .map(|(k, n)| format!("{}={n}", k[0]))
            .collect();
        println!("{name} peer exchanges: {}", outcomes.join(", "));
    }
    for (name, s) in &samples {
        let by = metrics::sum_by(s, "meshtel_demo_timeouts_total", &["reason"]);
        let all: Vec<String> = Timeout::ALL
            .iter()
            .map(|t| {
                let n = by.get(&vec![t.label().to_owned()]).copied().unwrap_or(0.0);
                format!("{}={n}", t.label())
            })
            .collect();
        println!("{name} slow/idle peers closed: {}", all.join(", "));
    }
    let all: Vec<String> = Timeout::ALL
        .iter()
        .map(|t| format!("{}={}", t.label(), metrics_timeouts.get(*t)))
        .collect();
    println!("metrics listener slow/idle peers closed: {}", all.join(", "));
}

/// The request table of one protocol (`http` or `grpc`), by reporter, security policy and
/// `status_label` (`response_code` or `grpc_response_status`).
fn print_requests(samples: &[(&str, Vec<metrics::Sample>)], protocol: &str, heading: &str, status_label: &str) {
    println!(
        "{:<8} {:<12} {:<20} {:>6} {:>9} {:>11}",
        "sidecar", "reporter", "security", heading, "requests", "p50/p99 ms"
    );
    for (name, s) in samples {
        let by = metrics::sum_by(
            s,
            "istio_requests_total",
            &[
                "request_protocol",
                "reporter",
                "connection_security_policy",
                status_label,
            ],
        );
        for (key, n) in by.into_iter().filter(|(k, _)| k[0] == protocol) {
            let filter = [
                ("request_protocol", protocol),
                ("reporter", key[1].as_str()),
                ("connection_security_policy", key[2].as_str()),
                (status_label, key[3].as_str()),
            ];
            let p50 = metrics::quantile(s, "istio_request_duration_milliseconds", &filter, 0.5).unwrap_or_default();
            let p99 = metrics::quantile(s, "istio_request_duration_milliseconds", &filter, 0.99).unwrap_or_default();
            println!(
                "{name:<8} {:<12} {:<20} {:>6} {:>9} {:>11}",
                key[1],
                key[2],
                key[3],
                n,
                format!("{p50}/{p99}")
            );
        }
    }
}

fn print_tcp(samples: &[(&str, Vec<metrics::Sample>)]) {
    println!(
        "{:<8} {:<12} {:>8} {:>8} {:>10} {:>10}",
        "sidecar", "reporter", "opened", "closed", "sent", "received"
    );
    for (name, s) in samples {
        let one = |m: &str| metrics::sum_by(s, m, &["reporter"]);
        for (key, opened) in one("istio_tcp_connections_opened_total") {
            let get = |m: &str| one(m).get(&key).copied().unwrap_or(0.0);
            println!(
                "{name:<8} {:<12} {:>8} {:>8} {:>10} {:>10}",
                key[0],
                opened,
                get("istio_tcp_connections_closed_total"),
                get("istio_tcp_sent_bytes_total"),
                get("istio_tcp_received_bytes_total")
            );
        }
    }
}

#[cfg(test)]
mod tests;

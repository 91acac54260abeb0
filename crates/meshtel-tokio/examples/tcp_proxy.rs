//! A small inbound TCP proxy: the peer metadata exchange on each downstream connection,
//! then the bytes copied to an upstream, metered into Istio's TCP metrics.
//!
//! ```sh
//! # Self-contained: an echo upstream, the proxy and a client sidecar on loopback; prints
//! # the proxy's TCP metrics.
//! cargo run -p meshtel-tokio --example tcp_proxy
//!
//! # Serve: proxy LISTEN to UPSTREAM until interrupted, printing the TCP metrics after each
//! # connection. Clients must run the exchange (e.g. another copy of this example's client).
//! cargo run -p meshtel-tokio --example tcp_proxy -- serve 127.0.0.1:15006 127.0.0.1:9000
//! ```
//!
//! There is no TLS here, so the proxy runs the exchange as if `istio-peer-exchange` had been
//! negotiated; with rustls, pass the negotiated protocol instead (feature `rustls`:
//! `meshtel_tokio::tls::TlsFacts::alpn`).

use std::error::Error;
use std::net::SocketAddr;
use std::sync::Arc;

use meshtel::{ConnectionFacts, LocalNode, PluginConfig, Reporter, StatsPlugin, TcpRouting};
use meshtel_metrics::{Format, Registry};
use meshtel_tokio::{Exchanged, Meter, PeerExchange, PeerOutcome, Role};
use meshtel_wire::workload::{WorkloadMetadata, WorkloadType};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

type BoxError = Box<dyn Error + Send + Sync>;

const MXC: Option<&[u8]> = Some(meshtel_wire::alpn::ISTIO_PEER_EXCHANGE.as_bytes());

fn workload(name: &str, app: &str) -> WorkloadMetadata {
    let mut w = WorkloadMetadata::default();
    w.workload = name.into();
    w.namespace = "default".into();
    w.cluster = "Kubernetes".into();
    w.app = app.into();
    w.service = app.into();
    w.version = "v1".into();
    w.revision = "v1".into();
    w.workload_type = WorkloadType::Deployment;
    w
}

/// The proxy's side: its plugin (inbound reporter) and its exchange.
#[derive(Debug, Clone)]
struct Proxy {
    meter: Meter,
    exchange: PeerExchange,
    upstream: SocketAddr,
}

impl Proxy {
    fn new(registry: &Registry, upstream: SocketAddr) -> Result<Self, BoxError> {
        let node = LocalNode::from_json(&serde_json::json!({
            "NAMESPACE": "default", "WORKLOAD_NAME": "ratings-v1", "CLUSTER_ID": "Kubernetes",
            "LABELS": {"app": "ratings", "version": "v1"}
        }));
        let config = PluginConfig::from_yaml("tcp_reporting_duration: 5s")?;
        let plugin = StatsPlugin::new(node, Reporter::Inbound, &config, registry)?;
        let exchange = PeerExchange::for_workload(
            &workload("ratings-v1", "ratings"),
            "sidecar~10.0.0.2~ratings-v1.default~default.svc.cluster.local",
        )?;
        Ok(Self {
            meter: Meter::new(Arc::new(plugin)),
            exchange,
            upstream,
        })
    }

    /// One downstream connection: exchange, meter, copy both ways. The metered stream
    /// records its close when the copy ends, or when it is dropped on an error.
    async fn connection(&self, downstream: TcpStream) -> Result<(), BoxError> {
        let Exchanged { outcome, stream, .. } = self.exchange.run(Role::Server, downstream, MXC).await?;
        if let PeerOutcome::Rejected(why) = &outcome {
            // A frame that timed out or was cut off: not a mesh peer we can serve.
            return Err(why.to_string().into());
        }
        let routing = TcpRouting {
            cluster_name: Some("inbound|9000||".into()),
            ..TcpRouting::default()
        };
        let mut downstream = self.meter.meter(stream, ConnectionFacts::default(), routing);
        downstream.resolve(outcome.into_peer());
        let mut upstream = match TcpStream::connect(self.upstream).await {
            Ok(s) => s,
            Err(e) => {
                downstream.set_response_flags(&["UF"]);
                return Err(e.into());
            }
        };
        tokio::io::copy_bidirectional(&mut downstream, &mut upstream).await?;
        Ok(())
    }

    async fn serve(self, listener: TcpListener, registry: Arc<Registry>, report: bool) {
        loop {
            let Ok((stream, from)) = listener.accept().await else {
                continue;
            };
            let (proxy, registry) = (self.clone(), Arc::clone(&registry));
            tokio::spawn(async move {
                if let Err(e) = proxy.connection(stream).await {
                    eprintln!("connection from {from}: {e}");
                }
                if report {
                    print_tcp_metrics(&registry);
                }
            });
        }
    }
}

fn print_tcp_metrics(registry: &Registry) {
    for line in registry.render_to_string(Format::Prometheus).lines() {
        if line.starts_with("istio_tcp_") {
            println!("{line}");
        }
    }
}

/// A client sidecar's connection: exchange, send `message`, read the echo to the end.
async fn client(proxy: SocketAddr, message: &[u8]) -> Result<Vec<u8>, BoxError> {
    let exchange = PeerExchange::for_workload(
        &workload("productpage-v1", "productpage"),
        "sidecar~10.0.0.1~productpage-v1.default~default.svc.cluster.local",
    )?;
    let stream = TcpStream::connect(proxy).await?;
    let Exchanged {
        outcome, mut stream, ..
    } = exchange.run(Role::Client, stream, MXC).await?;
    println!("client: the proxy is {:?}", outcome.peer().map(|p| p.workload.as_str()));
    stream.write_all(message).await?;
    stream.shutdown().await?;
    let mut echo = Vec::new();
    stream.read_to_end(&mut echo).await?;
    Ok(echo)
}

/// An echo server: the upstream of the self-contained run.
async fn echo_upstream() -> Result<SocketAddr, BoxError> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            tokio::spawn(async move {
                let (mut r, mut w) = s.split();
                let _ = tokio::io::copy(&mut r, &mut w).await;
                let _ = w.shutdown().await;
            });
        }
    });
    Ok(addr)
}

async fn self_contained() -> Result<(), BoxError> {
    let registry = Arc::new(Registry::default());
    let proxy = Proxy::new(&registry, echo_upstream().await?)?;
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(proxy.serve(listener, Arc::clone(&registry), false));
    let mut total = 0;
    for i in 0..3 {
        let message = format!("hello #{i} through the mesh").into_bytes();
        let echo = client(addr, &message).await?;
        assert_eq!(echo, message);
        total += message.len();
    }
    // The proxy's tasks record the close as they finish: give them a moment.
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    println!("3 connections, {total} bytes each way; the proxy's TCP metrics:");
    print_tcp_metrics(&registry);
    Ok(())
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.as_slice() {
        [] => self_contained().await,
        [cmd, listen, upstream] if cmd == "serve" => {
            let registry = Arc::new(Registry::default());
            let proxy = Proxy::new(&registry, upstream.parse()?)?;
            let listener = TcpListener::bind(listen.as_str()).await?;
            println!("proxying {} to {upstream}", listener.local_addr()?);
            proxy.serve(listener, registry, true).await;
            Ok(())
        }
        _ => Err("usage: tcp_proxy [serve LISTEN UPSTREAM]".into()),
    }
}

//! The load generator: HTTP requests (a seeded mix of paths and response codes) and TCP
//! connections through the client sidecar, and plain requests straight to the server
//! sidecar. What it counts is the ground truth the metrics are checked against.

use std::collections::BTreeMap;
use std::net::SocketAddr;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper::Request;
use hyper_util::rt::TokioIo;
use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// What the load generator sent and saw.
#[derive(Debug, Default, Clone, Serialize, PartialEq, Eq)]
pub(crate) struct Truth {
    /// Mesh requests (through the client sidecar) by response code.
    pub(crate) mesh_requests: BTreeMap<u16, u64>,
    /// Plain requests (straight to the server sidecar) by response code.
    pub(crate) plain_requests: BTreeMap<u16, u64>,
    /// TCP connections completed.
    pub(crate) tcp_connections: u64,
    /// Bytes the TCP clients wrote (and read back from the echo service).
    pub(crate) tcp_bytes: u64,
    /// gRPC calls through the client sidecar, by method and status.
    pub(crate) grpc: super::grpc::GrpcTruth,
}

/// How much load to send.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Load {
    /// HTTP requests through the client sidecar (a tenth as many plain ones).
    pub(crate) requests: u64,
    /// TCP connections through the client sidecar.
    pub(crate) connections: u64,
    /// Rounds of five gRPC calls through the client sidecar.
    pub(crate) grpc_rounds: u64,
    /// Seed of the request mix and payload sizes.
    pub(crate) seed: u64,
}

/// A small deterministic generator (SplitMix64), so `--seed` reproduces a run.
#[derive(Debug, Clone)]
pub(crate) struct Rng(u64);

impl Rng {
    pub(crate) const fn new(seed: u64) -> Self {
        Self(seed)
    }

    pub(crate) fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

/// The path of mesh request `i`: mostly 200s, some 404/503/201/500.
fn path(rng: &mut Rng) -> String {
    match rng.next() % 20 {
        0 | 1 => "/status/404".into(),
        2 => "/status/503".into(),
        3 => "/status/201".into(),
        4 => "/status/500".into(),
        n => format!("/ratings/{n}"),
    }
}

async fn http_client(addr: SocketAddr) -> Option<hyper::client::conn::http1::SendRequest<Empty<Bytes>>> {
    let stream = TcpStream::connect(addr).await.ok()?;
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await.ok()?;
    tokio::spawn(conn);
    Some(sender)
}

async fn requests(addr: SocketAddr, paths: Vec<String>, bar: ProgressBar) -> BTreeMap<u16, u64> {
    let mut by_code = BTreeMap::new();
    let mut sender = None;
    for path in paths {
        if sender.is_none() {
            sender = http_client(addr).await;
        }
        let Some(s) = sender.as_mut() else { break };
        let Ok(req) = Request::builder()
            .uri(&path)
            .header("host", "ratings:9080")
            .header("user-agent", "meshtel-demo")
            .body(Empty::new())
        else {
            continue;
        };
        if s.ready().await.is_err() {
            sender = None;
            continue;
        }
        match s.send_request(req).await {
            Ok(resp) => {
                let code = resp.status().as_u16();
                let _ = resp.into_body().collect().await;
                *by_code.entry(code).or_insert(0) += 1;
            }
            Err(_) => sender = None,
        }
        bar.inc(1);
    }
    by_code
}

async fn tcp_connection(addr: SocketAddr, size: usize) -> Option<u64> {
    let mut stream = TcpStream::connect(addr).await.ok()?;
    let payload: Vec<u8> = (0..size).map(|i| (i % 251) as u8).collect();
    stream.write_all(&payload).await.ok()?;
    let mut back = vec![0u8; size];
    stream.read_exact(&mut back).await.ok()?;
    stream.shutdown().await.ok()?;
    let mut rest = Vec::new();
    let _ = stream.read_to_end(&mut rest).await;
    (back == payload).then_some(size as u64)
}

/// Where the load goes.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Targets {
    pub(crate) client_http: SocketAddr,
    pub(crate) client_tcp: SocketAddr,
    pub(crate) server: SocketAddr,
}

/// Runs the whole load: `requests` mesh requests over four connections, a tenth as many
/// plain requests, `connections` TCP connections and `grpc_rounds` rounds of gRPC calls
/// (over one HTTP/2 connection), with a progress bar.
pub(crate) async fn run(targets: Targets, load: Load) -> Truth {
    let Load {
        requests: requests_n,
        connections,
        grpc_rounds,
        seed,
    } = load;
    let plain_n = requests_n.div_ceil(10);
    let bar = ProgressBar::new(requests_n + plain_n + connections + grpc_rounds);
    bar.set_style(
        ProgressStyle::with_template("{spinner} load [{bar:40}] {pos}/{len} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    let mut rng = Rng::new(seed);
    let paths: Vec<String> = (0..requests_n).map(|_| path(&mut rng)).collect();
    let lanes = 4;
    let mut tasks = Vec::new();
    for lane in 0..lanes {
        let mine: Vec<String> = paths.iter().skip(lane).step_by(lanes).cloned().collect();
        tasks.push(tokio::spawn(requests(targets.client_http, mine, bar.clone())));
    }
    let plain_paths: Vec<String> = (0..plain_n).map(|_| path(&mut rng)).collect();
    let plain = tokio::spawn(requests(targets.server, plain_paths, bar.clone()));
    let sizes: Vec<usize> = (0..connections).map(|_| 1 + (rng.next() % 4096) as usize).collect();
    let mut tcp = Vec::new();
    for size in sizes {
        let bar = bar.clone();
        tcp.push(tokio::spawn(async move {
            let done = tcp_connection(targets.client_tcp, size).await;
            bar.inc(1);
            done
        }));
    }
    let grpc = {
        let bar = bar.clone();
        tokio::spawn(async move { super::grpc::run(targets.client_http, grpc_rounds, &bar).await })
    };
    let mut truth = Truth::default();
    for t in tasks {
        for (code, n) in t.await.unwrap_or_default() {
            *truth.mesh_requests.entry(code).or_insert(0) += n;
        }
    }
    truth.plain_requests = plain.await.unwrap_or_default();
    for t in tcp {
        if let Ok(Some(bytes)) = t.await {
            truth.tcp_connections += 1;
            truth.tcp_bytes += bytes;
        }
    }
    truth.grpc = grpc.await.unwrap_or_default();
    bar.finish_with_message("done");
    truth
}

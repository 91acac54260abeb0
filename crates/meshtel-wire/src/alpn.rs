//! ALPN protocol lists of the Istio control plane (`docs/reference/wire.md` §5).
//!
//! The TCP prefix exchange runs iff the TLS-negotiated protocol is exactly
//! [`ISTIO_PEER_EXCHANGE`].

/// Both ends run the TCP prefix exchange.
pub const ISTIO_PEER_EXCHANGE: &str = "istio-peer-exchange";
/// In-mesh mTLS traffic.
pub const ISTIO: &str = "istio";
/// Client detected HTTP/1.0.
pub const ISTIO_HTTP10: &str = "istio-http/1.0";
/// Client detected HTTP/1.1.
pub const ISTIO_HTTP11: &str = "istio-http/1.1";
/// Client detected HTTP/2.
pub const ISTIO_H2: &str = "istio-h2";
/// HTTP/2.
pub const H2: &str = "h2";
/// HTTP/1.1.
pub const HTTP11: &str = "http/1.1";
/// HTTP/1.0.
pub const HTTP10: &str = "http/1.0";

/// `ALPNInMeshWithMxc`: client TLS to in-mesh TCP clusters with exchange.
pub const IN_MESH_WITH_MXC: &[&str] = &[ISTIO_PEER_EXCHANGE, ISTIO];
/// `ALPNInMeshH2WithMxc`: the same for HTTP/2 clusters.
pub const IN_MESH_H2_WITH_MXC: &[&str] = &[ISTIO_PEER_EXCHANGE, ISTIO, H2];
/// `ALPNInMesh`: client TLS without exchange.
pub const IN_MESH: &[&str] = &[ISTIO];
/// `ALPNInMeshH2`: the same for HTTP/2.
pub const IN_MESH_H2: &[&str] = &[ISTIO, H2];
/// `ALPNDownstreamWithMxc`: server TLS on inbound TCP chains with exchange.
pub const DOWNSTREAM_WITH_MXC: &[&str] = &[ISTIO_PEER_EXCHANGE, H2, HTTP11];
/// `ALPNDownstream` / `ALPNHttp`: server TLS otherwise.
pub const DOWNSTREAM: &[&str] = &[H2, HTTP11];
/// `mtlsTCPWithMxcALPNs`: inbound chain match for TCP from a sidecar.
pub const MTLS_TCP_WITH_MXC: &[&str] = &[ISTIO_PEER_EXCHANGE, ISTIO];
/// `mtlsHTTPALPNs`: inbound chain match for HTTP from a sidecar.
pub const MTLS_HTTP: &[&str] = &[ISTIO_HTTP10, ISTIO_HTTP11, ISTIO_H2];
/// `allIstioMtlsALPNs`: inbound chains of ports declared HTTP or TCP.
pub const ALL_ISTIO_MTLS: &[&str] = &[ISTIO, ISTIO_PEER_EXCHANGE, ISTIO_HTTP10, ISTIO_HTTP11, ISTIO_H2];

/// Whether the negotiated protocol means the TCP prefix exchange runs:
/// exactly `istio-peer-exchange`, nothing else (no ALPN, `istio`, `h2`, ...).
///
/// ```
/// use meshtel_wire::alpn::runs_exchange;
/// assert!(runs_exchange(Some(b"istio-peer-exchange")));
/// assert!(!runs_exchange(Some(b"istio")));
/// assert!(!runs_exchange(None));
/// ```
#[must_use]
pub fn runs_exchange(negotiated: Option<&[u8]>) -> bool {
    negotiated == Some(ISTIO_PEER_EXCHANGE.as_bytes())
}

/// HTTP version of an upstream request, for the client ALPN rewrite.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum HttpVersion {
    /// HTTP/1.0.
    Http10,
    /// HTTP/1.1.
    Http11,
    /// HTTP/2.
    H2,
}

/// The client ALPN list an outbound HTTP filter sets per upstream protocol
/// (unless the cluster's `istio.alpn_override` is `"false"`).
///
/// ```
/// use meshtel_wire::alpn::{client_alpn_for_http, HttpVersion};
/// assert_eq!(client_alpn_for_http(HttpVersion::H2), &["istio-h2", "istio", "h2"]);
/// ```
#[must_use]
pub const fn client_alpn_for_http(version: HttpVersion) -> &'static [&'static str] {
    match version {
        HttpVersion::Http10 => &[ISTIO_HTTP10, ISTIO, HTTP10],
        HttpVersion::Http11 => &[ISTIO_HTTP11, ISTIO, HTTP11],
        HttpVersion::H2 => &[ISTIO_H2, ISTIO, H2],
    }
}

//! Istio's ALPN lists (`docs/reference/wire.md` §5) as the `Vec<Vec<u8>>` that
//! `rustls::ClientConfig::alpn_protocols` and `rustls::ServerConfig::alpn_protocols` take.
//!
//! ```
//! use meshtel_tokio::alpn::AlpnList;
//! // A client sidecar connecting to an in-mesh TCP service, with the exchange:
//! assert_eq!(AlpnList::InMeshWithMxc.protocols(), vec![b"istio-peer-exchange".to_vec(), b"istio".to_vec()]);
//! ```

use meshtel_wire::alpn;
pub use meshtel_wire::alpn::HttpVersion;

/// One of the control plane's ALPN lists, by its control-plane name.
///
/// ```
/// use meshtel_tokio::alpn::AlpnList;
/// assert_eq!(AlpnList::DownstreamWithMxc.names(), ["istio-peer-exchange", "h2", "http/1.1"]);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum AlpnList {
    /// `ALPNInMeshWithMxc`: client TLS to in-mesh TCP clusters with the exchange.
    InMeshWithMxc,
    /// `ALPNInMeshH2WithMxc`: the same for HTTP/2 clusters.
    InMeshH2WithMxc,
    /// `ALPNInMesh`: client TLS without the exchange.
    InMesh,
    /// `ALPNInMeshH2`: the same for HTTP/2.
    InMeshH2,
    /// `ALPNDownstreamWithMxc`: server TLS on inbound TCP chains with the exchange.
    DownstreamWithMxc,
    /// `ALPNDownstream` / `ALPNHttp`: server TLS otherwise.
    Downstream,
    /// `mtlsTCPWithMxcALPNs`: inbound filter-chain match for TCP from a sidecar.
    MtlsTcpWithMxc,
    /// `mtlsHTTPALPNs`: inbound filter-chain match for HTTP from a sidecar.
    MtlsHttp,
    /// `allIstioMtlsALPNs`: inbound chains of ports declared HTTP or TCP.
    AllIstioMtls,
    /// The client list an outbound HTTP filter sets for an upstream of this HTTP version.
    ClientHttp(HttpVersion),
}

impl AlpnList {
    /// The protocol names, in order.
    ///
    /// ```
    /// use meshtel_tokio::alpn::{AlpnList, HttpVersion};
    /// assert_eq!(AlpnList::ClientHttp(HttpVersion::H2).names(), ["istio-h2", "istio", "h2"]);
    /// ```
    #[must_use]
    pub const fn names(self) -> &'static [&'static str] {
        match self {
            Self::InMeshWithMxc => alpn::IN_MESH_WITH_MXC,
            Self::InMeshH2WithMxc => alpn::IN_MESH_H2_WITH_MXC,
            Self::InMesh => alpn::IN_MESH,
            Self::InMeshH2 => alpn::IN_MESH_H2,
            Self::DownstreamWithMxc => alpn::DOWNSTREAM_WITH_MXC,
            Self::Downstream => alpn::DOWNSTREAM,
            Self::MtlsTcpWithMxc => alpn::MTLS_TCP_WITH_MXC,
            Self::MtlsHttp => alpn::MTLS_HTTP,
            Self::AllIstioMtls => alpn::ALL_ISTIO_MTLS,
            Self::ClientHttp(version) => alpn::client_alpn_for_http(version),
        }
    }

    /// The protocols as rustls takes them.
    ///
    /// ```
    /// use meshtel_tokio::alpn::AlpnList;
    /// assert_eq!(AlpnList::Downstream.protocols(), vec![b"h2".to_vec(), b"http/1.1".to_vec()]);
    /// ```
    #[must_use]
    pub fn protocols(self) -> Vec<Vec<u8>> {
        self.names().iter().map(|p| p.as_bytes().to_vec()).collect()
    }

    /// Whether the list offers `istio-peer-exchange`.
    ///
    /// ```
    /// use meshtel_tokio::alpn::AlpnList;
    /// assert!(AlpnList::InMeshWithMxc.offers_exchange());
    /// assert!(!AlpnList::InMesh.offers_exchange());
    /// ```
    #[must_use]
    pub fn offers_exchange(self) -> bool {
        self.names().contains(&alpn::ISTIO_PEER_EXCHANGE)
    }
}

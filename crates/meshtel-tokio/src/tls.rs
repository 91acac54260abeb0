//! Connection facts from a rustls connection (feature `rustls`;
//! `docs/reference/telemetry.md` §4.4).
//!
//! rustls does not hand back the certificate this side presented, so the local identity
//! comes from the caller: the leaf certificate it configured
//! ([`TlsFacts::from_connection`]), whose first URI SAN is the local principal.

use meshtel::{ConnectionFacts, Tls};
use rustls::CommonState;
use rustls::pki_types::CertificateDer;

/// What the TLS handshake established: the negotiated ALPN protocol, the first URI SAN
/// (the SPIFFE principal) of each side's certificate, and whether the peer authenticated.
///
/// ```
/// use meshtel_tokio::tls::TlsFacts;
/// let facts = TlsFacts::new(Some(b"istio-peer-exchange".to_vec()), "spiffe://td/ns/a/sa/x", "spiffe://td/ns/b/sa/y");
/// assert!(facts.is_mutual());
/// assert!(facts.runs_exchange());
/// assert_eq!(facts.connection_facts().tls.unwrap().peer_san, "spiffe://td/ns/b/sa/y");
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TlsFacts {
    alpn: Option<Vec<u8>>,
    local_san: String,
    peer_san: String,
    peer_authenticated: bool,
}

impl TlsFacts {
    /// Facts given directly (`""`: no URI SAN). The peer counts as authenticated when it
    /// has a principal.
    ///
    /// ```
    /// use meshtel_tokio::tls::TlsFacts;
    /// assert!(!TlsFacts::new(None, "spiffe://td/ns/a/sa/x", "").is_mutual());
    /// ```
    #[must_use]
    pub fn new(alpn: Option<Vec<u8>>, local_san: impl Into<String>, peer_san: impl Into<String>) -> Self {
        let peer_san = peer_san.into();
        Self {
            alpn,
            local_san: local_san.into(),
            peer_authenticated: !peer_san.is_empty(),
            peer_san,
        }
    }

    /// Reads a connection after its handshake: a `ClientConnection` or `ServerConnection`
    /// (or the second element of a `tokio_rustls` stream's `get_ref()`), and the leaf
    /// certificate this side presented, if any.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer, ServerName};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let key = rcgen::KeyPair::generate()?;
    /// # let mut params = rcgen::CertificateParams::new(vec!["ratings.default".to_owned()])?;
    /// # params.subject_alt_names.push(rcgen::SanType::URI("spiffe://td/ns/default/sa/ratings".try_into()?));
    /// # let cert = params.self_signed(&key)?.der().clone();
    /// # let mut roots = rustls::RootCertStore::empty();
    /// # roots.add(cert.clone())?;
    /// # let mut server = rustls::ServerConfig::builder()
    /// #     .with_no_client_auth()
    /// #     .with_single_cert(vec![cert.clone()], PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())))?;
    /// # server.alpn_protocols = meshtel_tokio::alpn::AlpnList::DownstreamWithMxc.protocols();
    /// # let mut client = rustls::ClientConfig::builder().with_root_certificates(roots).with_no_client_auth();
    /// # client.alpn_protocols = meshtel_tokio::alpn::AlpnList::InMeshWithMxc.protocols();
    /// # let (a, b) = tokio::io::duplex(1 << 16);
    /// # let connect = tokio_rustls::TlsConnector::from(Arc::new(client)).connect(ServerName::try_from("ratings.default")?, a);
    /// # let accept = tokio_rustls::TlsAcceptor::from(Arc::new(server)).accept(b);
    /// # let (client_stream, server_stream) = tokio::try_join!(connect, accept)?;
    /// use meshtel_tokio::tls::TlsFacts;
    /// let (_, session) = server_stream.get_ref();
    /// let facts = TlsFacts::from_connection(session, Some(&cert));
    /// assert_eq!(facts.alpn(), Some(&b"istio-peer-exchange"[..]));
    /// # drop(client_stream);
    /// # Ok(())
    /// # }
    /// ```
    #[must_use]
    pub fn from_connection(connection: &CommonState, local_certificate: Option<&CertificateDer<'_>>) -> Self {
        let peer = connection.peer_certificates().and_then(<[CertificateDer<'_>]>::first);
        Self {
            alpn: connection.alpn_protocol().map(<[u8]>::to_vec),
            local_san: local_certificate.and_then(|c| first_uri_san(c)).unwrap_or_default(),
            peer_san: peer.and_then(|c| first_uri_san(c)).unwrap_or_default(),
            peer_authenticated: peer.is_some(),
        }
    }

    /// [`TlsFacts::from_connection`] for a `tokio_rustls` server stream (an inbound
    /// sidecar), with the leaf certificate the server presents.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer, ServerName};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let key = rcgen::KeyPair::generate()?;
    /// # let mut params = rcgen::CertificateParams::new(vec!["ratings.default".to_owned()])?;
    /// # params.subject_alt_names.push(rcgen::SanType::URI("spiffe://td/ns/default/sa/ratings".try_into()?));
    /// # let cert = params.self_signed(&key)?.der().clone();
    /// # let mut roots = rustls::RootCertStore::empty();
    /// # roots.add(cert.clone())?;
    /// # let mut server = rustls::ServerConfig::builder()
    /// #     .with_no_client_auth()
    /// #     .with_single_cert(vec![cert.clone()], PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())))?;
    /// # server.alpn_protocols = meshtel_tokio::alpn::AlpnList::DownstreamWithMxc.protocols();
    /// # let mut client = rustls::ClientConfig::builder().with_root_certificates(roots).with_no_client_auth();
    /// # client.alpn_protocols = meshtel_tokio::alpn::AlpnList::InMeshWithMxc.protocols();
    /// # let (a, b) = tokio::io::duplex(1 << 16);
    /// # let connect = tokio_rustls::TlsConnector::from(Arc::new(client)).connect(ServerName::try_from("ratings.default")?, a);
    /// # let accept = tokio_rustls::TlsAcceptor::from(Arc::new(server)).accept(b);
    /// # let (client_stream, server_stream) = tokio::try_join!(connect, accept)?;
    /// let facts = meshtel_tokio::tls::TlsFacts::from_server_stream(&server_stream, Some(&cert));
    /// assert!(facts.runs_exchange());
    /// assert_eq!(facts.local_principal(), "spiffe://td/ns/default/sa/ratings");
    /// assert!(!facts.peer_authenticated(), "the client presented no certificate");
    /// # drop(client_stream);
    /// # Ok(())
    /// # }
    /// ```
    #[must_use]
    pub fn from_server_stream<IO>(
        stream: &tokio_rustls::server::TlsStream<IO>,
        local_certificate: Option<&CertificateDer<'_>>,
    ) -> Self {
        Self::from_connection(stream.get_ref().1, local_certificate)
    }

    /// [`TlsFacts::from_connection`] for a `tokio_rustls` client stream (an outbound
    /// sidecar), with the leaf certificate the client presents, if any.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer, ServerName};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let key = rcgen::KeyPair::generate()?;
    /// # let mut params = rcgen::CertificateParams::new(vec!["ratings.default".to_owned()])?;
    /// # params.subject_alt_names.push(rcgen::SanType::URI("spiffe://td/ns/default/sa/ratings".try_into()?));
    /// # let cert = params.self_signed(&key)?.der().clone();
    /// # let mut roots = rustls::RootCertStore::empty();
    /// # roots.add(cert.clone())?;
    /// # let mut server = rustls::ServerConfig::builder()
    /// #     .with_no_client_auth()
    /// #     .with_single_cert(vec![cert.clone()], PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())))?;
    /// # server.alpn_protocols = meshtel_tokio::alpn::AlpnList::DownstreamWithMxc.protocols();
    /// # let mut client = rustls::ClientConfig::builder().with_root_certificates(roots).with_no_client_auth();
    /// # client.alpn_protocols = meshtel_tokio::alpn::AlpnList::InMeshWithMxc.protocols();
    /// # let (a, b) = tokio::io::duplex(1 << 16);
    /// # let connect = tokio_rustls::TlsConnector::from(Arc::new(client)).connect(ServerName::try_from("ratings.default")?, a);
    /// # let accept = tokio_rustls::TlsAcceptor::from(Arc::new(server)).accept(b);
    /// # let (client_stream, server_stream) = tokio::try_join!(connect, accept)?;
    /// let facts = meshtel_tokio::tls::TlsFacts::from_client_stream(&client_stream, None);
    /// assert_eq!(facts.alpn(), Some(&b"istio-peer-exchange"[..]));
    /// assert_eq!(facts.peer_principal(), "spiffe://td/ns/default/sa/ratings");
    /// # drop(server_stream);
    /// # Ok(())
    /// # }
    /// ```
    #[must_use]
    pub fn from_client_stream<IO>(
        stream: &tokio_rustls::client::TlsStream<IO>,
        local_certificate: Option<&CertificateDer<'_>>,
    ) -> Self {
        Self::from_connection(stream.get_ref().1, local_certificate)
    }

    /// The negotiated ALPN protocol: what [`crate::PeerExchange::run`] takes.
    ///
    /// ```
    /// use meshtel_tokio::tls::TlsFacts;
    /// assert_eq!(TlsFacts::new(Some(b"h2".to_vec()), "", "").alpn(), Some(&b"h2"[..]));
    /// ```
    #[must_use]
    pub fn alpn(&self) -> Option<&[u8]> {
        self.alpn.as_deref()
    }

    /// Whether the negotiated protocol is `istio-peer-exchange`.
    ///
    /// ```
    /// use meshtel_tokio::tls::TlsFacts;
    /// assert!(!TlsFacts::new(Some(b"istio".to_vec()), "", "").runs_exchange());
    /// ```
    #[must_use]
    pub fn runs_exchange(&self) -> bool {
        meshtel_wire::alpn::runs_exchange(self.alpn())
    }

    /// The first URI SAN of the local certificate, `""` without one.
    ///
    /// ```
    /// use meshtel_tokio::tls::TlsFacts;
    /// assert_eq!(TlsFacts::new(None, "spiffe://td/ns/a/sa/x", "").local_principal(), "spiffe://td/ns/a/sa/x");
    /// ```
    #[must_use]
    pub fn local_principal(&self) -> &str {
        &self.local_san
    }

    /// The first URI SAN of the peer's certificate, `""` without one.
    ///
    /// ```
    /// use meshtel_tokio::tls::TlsFacts;
    /// assert_eq!(TlsFacts::new(None, "", "spiffe://td/ns/b/sa/y").peer_principal(), "spiffe://td/ns/b/sa/y");
    /// ```
    #[must_use]
    pub fn peer_principal(&self) -> &str {
        &self.peer_san
    }

    /// Whether the peer presented a certificate.
    ///
    /// ```
    /// use meshtel_tokio::tls::TlsFacts;
    /// assert!(TlsFacts::new(None, "", "spiffe://td/ns/b/sa/y").peer_authenticated());
    /// ```
    #[must_use]
    pub const fn peer_authenticated(&self) -> bool {
        self.peer_authenticated
    }

    /// Mutual TLS as the plugin counts it (`connection_security_policy="mutual_tls"`): both
    /// sides have a principal.
    ///
    /// ```
    /// use meshtel_tokio::tls::TlsFacts;
    /// assert!(!TlsFacts::new(None, "", "spiffe://td/ns/b/sa/y").is_mutual());
    /// ```
    #[must_use]
    pub fn is_mutual(&self) -> bool {
        !self.local_san.is_empty() && !self.peer_san.is_empty()
    }

    /// The plugin's TLS facts.
    ///
    /// ```
    /// use meshtel_tokio::tls::TlsFacts;
    /// let tls = TlsFacts::new(None, "spiffe://td/ns/a/sa/x", "").tls();
    /// assert_eq!(tls.local_san, "spiffe://td/ns/a/sa/x");
    /// ```
    #[must_use]
    pub fn tls(&self) -> Tls {
        Tls {
            local_san: self.local_san.clone(),
            peer_san: self.peer_san.clone(),
        }
    }

    /// Connection facts with this TLS (add the peer with [`crate::Metered::resolve`]).
    ///
    /// ```
    /// use meshtel_tokio::tls::TlsFacts;
    /// assert!(TlsFacts::default().connection_facts().tls.is_some());
    /// ```
    #[must_use]
    pub fn connection_facts(&self) -> ConnectionFacts {
        ConnectionFacts::default().with_tls(Some(self.tls()))
    }
}

/// The first URI SAN of a DER certificate; `None` for an unparsable certificate or one
/// without a URI SAN.
///
/// ```
/// let cert = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
/// let mut params = cert;
/// params.subject_alt_names.push(rcgen::SanType::URI("spiffe://td/ns/a/sa/x".try_into().unwrap()));
/// let key = rcgen::KeyPair::generate().unwrap();
/// let der = params.self_signed(&key).unwrap().der().clone();
/// assert_eq!(meshtel_tokio::tls::first_uri_san(&der).as_deref(), Some("spiffe://td/ns/a/sa/x"));
/// assert_eq!(meshtel_tokio::tls::first_uri_san(b"not a certificate"), None);
/// ```
#[must_use]
pub fn first_uri_san(der: &[u8]) -> Option<String> {
    let (_, cert) = x509_parser::parse_x509_certificate(der).ok()?;
    let san = cert.subject_alternative_name().ok()??;
    san.value.general_names.iter().find_map(|name| match name {
        x509_parser::extensions::GeneralName::URI(uri) => Some((*uri).to_owned()),
        _ => None,
    })
}

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
    /// use meshtel_tokio::tls::TlsFacts;
    /// # fn facts(tls: &tokio_rustls::server::TlsStream<tokio::net::TcpStream>, leaf: &rustls::pki_types::CertificateDer<'_>) -> TlsFacts {
    /// let (_, session) = tls.get_ref();
    /// TlsFacts::from_connection(session, Some(leaf))
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

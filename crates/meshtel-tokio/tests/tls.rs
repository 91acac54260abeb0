//! Feature `rustls`: facts from real handshakes over in-memory streams, then the exchange
//! and metering over the TLS streams.

mod common;

use std::sync::Arc;

use common::*;
use meshtel::{Reporter, TcpRouting};
use meshtel_tokio::alpn::AlpnList;
use meshtel_tokio::tls::{TlsFacts, first_uri_san};
use meshtel_tokio::{PeerOutcome, Role};
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair, SanType};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName};
use rustls::server::WebPkiClientVerifier;
use rustls::{ClientConfig, RootCertStore, ServerConfig};
use tokio::io::{AsyncReadExt, AsyncWriteExt, duplex};
use tokio_rustls::{TlsAcceptor, TlsConnector};

const CLIENT_SPIFFE: &str = "spiffe://cluster.local/ns/default/sa/productpage";
const SERVER_SPIFFE: &str = "spiffe://cluster.local/ns/default/sa/ratings";
const SERVER_DNS: &str = "ratings.default.svc.cluster.local";

struct Identity {
    cert: CertificateDer<'static>,
    key: Vec<u8>,
}

impl Identity {
    fn key(&self) -> PrivateKeyDer<'static> {
        PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(self.key.clone()))
    }
}

struct Pki {
    roots: Arc<RootCertStore>,
    client: Identity,
    server: Identity,
}

fn leaf(issuer: &CertifiedIssuer<'_, KeyPair>, spiffe: &str, dns: Option<&str>) -> Identity {
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(dns.map(|d| vec![d.to_owned()]).unwrap_or_default()).unwrap();
    params.subject_alt_names.push(SanType::URI(spiffe.try_into().unwrap()));
    let cert = params.signed_by(&key, issuer).unwrap();
    Identity {
        cert: cert.der().clone(),
        key: key.serialize_der(),
    }
}

fn pki() -> Pki {
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let issuer = CertifiedIssuer::self_signed(ca, KeyPair::generate().unwrap()).unwrap();
    let mut roots = RootCertStore::empty();
    roots.add(issuer.der().clone()).unwrap();
    Pki {
        roots: Arc::new(roots),
        client: leaf(&issuer, CLIENT_SPIFFE, None),
        server: leaf(&issuer, SERVER_SPIFFE, Some(SERVER_DNS)),
    }
}

fn server_config(pki: &Pki, mutual: bool, alpn: AlpnList) -> Arc<ServerConfig> {
    let builder = ServerConfig::builder();
    let builder = if mutual {
        builder.with_client_cert_verifier(WebPkiClientVerifier::builder(Arc::clone(&pki.roots)).build().unwrap())
    } else {
        builder.with_no_client_auth()
    };
    let mut config = builder
        .with_single_cert(vec![pki.server.cert.clone()], pki.server.key())
        .unwrap();
    config.alpn_protocols = alpn.protocols();
    Arc::new(config)
}

fn client_config(pki: &Pki, mutual: bool, alpn: AlpnList) -> Arc<ClientConfig> {
    let builder = ClientConfig::builder().with_root_certificates(Arc::clone(&pki.roots));
    let mut config = if mutual {
        builder
            .with_client_auth_cert(vec![pki.client.cert.clone()], pki.client.key())
            .unwrap()
    } else {
        builder.with_no_client_auth()
    };
    config.alpn_protocols = alpn.protocols();
    Arc::new(config)
}

type Streams = (
    tokio_rustls::client::TlsStream<tokio::io::DuplexStream>,
    tokio_rustls::server::TlsStream<tokio::io::DuplexStream>,
);

async fn handshake(client: Arc<ClientConfig>, server: Arc<ServerConfig>) -> Streams {
    let (a, b) = duplex(1 << 16);
    let name = ServerName::try_from(SERVER_DNS).unwrap();
    let (c, s) = tokio::join!(
        TlsConnector::from(client).connect(name, a),
        TlsAcceptor::from(server).accept(b)
    );
    (c.unwrap(), s.unwrap())
}

#[tokio::test]
async fn mutual_tls_with_the_exchange_alpn() {
    let pki = pki();
    let (c, s) = handshake(
        client_config(&pki, true, AlpnList::InMeshWithMxc),
        server_config(&pki, true, AlpnList::DownstreamWithMxc),
    )
    .await;
    let client_facts = TlsFacts::from_connection(c.get_ref().1, Some(&pki.client.cert));
    let server_facts = TlsFacts::from_server_stream(&s, Some(&pki.server.cert));
    assert_eq!(client_facts.alpn(), Some(&b"istio-peer-exchange"[..]));
    assert!(client_facts.runs_exchange() && server_facts.runs_exchange());
    assert_eq!(
        (client_facts.local_principal(), client_facts.peer_principal()),
        (CLIENT_SPIFFE, SERVER_SPIFFE)
    );
    assert_eq!(
        (server_facts.local_principal(), server_facts.peer_principal()),
        (SERVER_SPIFFE, CLIENT_SPIFFE)
    );
    assert!(server_facts.peer_authenticated() && server_facts.is_mutual());

    // The exchange over TLS, then the inbound side metered with the TLS facts.
    let (registry, meter) = plugin(Reporter::Inbound);
    let (client, server) = (client_exchange(), server_exchange());
    let (c, s) = tokio::try_join!(
        client.run(Role::Client, c, client_facts.alpn()),
        server.run(Role::Server, s, server_facts.alpn())
    )
    .unwrap();
    assert!(matches!(&c.outcome, PeerOutcome::Found(p) if p.metadata == server_record()));
    let mut conn = meter.meter(s.stream, server_facts.connection_facts(), TcpRouting::default());
    conn.resolve(s.outcome.into_peer());
    let mut app = c.stream;
    app.write_all(b"over mtls").await.unwrap();
    app.shutdown().await.unwrap();
    let mut got = Vec::new();
    conn.read_to_end(&mut got).await.unwrap();
    assert_eq!(got, b"over mtls");
    drop(conn);
    let (labels, closed) = samples(&registry, CLOSED).remove(0);
    assert_eq!(closed, 1);
    assert!(
        labels.contains(r#"connection_security_policy="mutual_tls""#),
        "{labels}"
    );
    assert!(
        labels.contains(&format!(r#"source_principal="{CLIENT_SPIFFE}""#)),
        "{labels}"
    );
    assert!(labels.contains(r#"source_workload="productpage-v1""#), "{labels}");
    assert_eq!(total(&registry, RECEIVED), 9);
}

#[tokio::test]
async fn server_only_tls_is_not_mutual() {
    let pki = pki();
    let (c, s) = handshake(
        client_config(&pki, false, AlpnList::InMesh),
        server_config(&pki, false, AlpnList::MtlsTcpWithMxc),
    )
    .await;
    let server_facts = TlsFacts::from_connection(s.get_ref().1, Some(&pki.server.cert));
    let client_facts = TlsFacts::from_client_stream(&c, None);
    assert_eq!(server_facts.alpn(), Some(&b"istio"[..]), "the only protocol in common");
    assert!(!server_facts.peer_authenticated() && !server_facts.is_mutual());
    assert_eq!(server_facts.peer_principal(), "");
    assert_eq!(client_facts.peer_principal(), SERVER_SPIFFE);
    assert!(!client_facts.is_mutual(), "no local certificate");
    let done = server_exchange()
        .run(Role::Server, s, server_facts.alpn())
        .await
        .unwrap();
    assert_eq!(done.outcome, PeerOutcome::Disabled);
}

#[tokio::test]
async fn http_alpn_is_negotiated_but_does_not_run_the_exchange() {
    let pki = pki();
    let (_c, s) = handshake(
        client_config(
            &pki,
            true,
            AlpnList::ClientHttp(meshtel_tokio::alpn::HttpVersion::Http11),
        ),
        server_config(&pki, true, AlpnList::MtlsHttp),
    )
    .await;
    let facts = TlsFacts::from_connection(s.get_ref().1, None);
    assert_eq!(facts.alpn(), Some(&b"istio-http/1.1"[..]));
    assert!(!facts.runs_exchange());
    assert_eq!(facts.local_principal(), "", "no local certificate given");
}

#[test]
fn uri_san_of_the_generated_certificates() {
    let pki = pki();
    assert_eq!(first_uri_san(&pki.client.cert).as_deref(), Some(CLIENT_SPIFFE));
    assert_eq!(first_uri_san(&pki.server.cert).as_deref(), Some(SERVER_SPIFFE));
}

#[test]
fn every_list_matches_the_wire_spec() {
    use meshtel_tokio::alpn::HttpVersion;
    let cases: [(AlpnList, &[&str]); 12] = [
        (AlpnList::InMeshWithMxc, &["istio-peer-exchange", "istio"]),
        (AlpnList::InMeshH2WithMxc, &["istio-peer-exchange", "istio", "h2"]),
        (AlpnList::InMesh, &["istio"]),
        (AlpnList::InMeshH2, &["istio", "h2"]),
        (AlpnList::DownstreamWithMxc, &["istio-peer-exchange", "h2", "http/1.1"]),
        (AlpnList::Downstream, &["h2", "http/1.1"]),
        (AlpnList::MtlsTcpWithMxc, &["istio-peer-exchange", "istio"]),
        (AlpnList::MtlsHttp, &["istio-http/1.0", "istio-http/1.1", "istio-h2"]),
        (
            AlpnList::AllIstioMtls,
            &[
                "istio",
                "istio-peer-exchange",
                "istio-http/1.0",
                "istio-http/1.1",
                "istio-h2",
            ],
        ),
        (
            AlpnList::ClientHttp(HttpVersion::Http10),
            &["istio-http/1.0", "istio", "http/1.0"],
        ),
        (
            AlpnList::ClientHttp(HttpVersion::Http11),
            &["istio-http/1.1", "istio", "http/1.1"],
        ),
        (AlpnList::ClientHttp(HttpVersion::H2), &["istio-h2", "istio", "h2"]),
    ];
    for (list, names) in cases {
        let want: Vec<Vec<u8>> = names.iter().map(|n| n.as_bytes().to_vec()).collect();
        assert_eq!(list.protocols(), want, "{list:?}");
        assert_eq!(
            list.offers_exchange(),
            names.contains(&"istio-peer-exchange"),
            "{list:?}"
        );
    }
}

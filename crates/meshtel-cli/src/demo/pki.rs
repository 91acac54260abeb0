//! Certificates generated at start: a mesh CA and one SPIFFE identity per sidecar, and the
//! rustls configurations with Istio's ALPN lists.

use std::sync::Arc;

use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair, SanType};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName};
use rustls::server::WebPkiClientVerifier;
use rustls::{ClientConfig, RootCertStore, ServerConfig};

/// The DNS name the server sidecar's certificate carries (rustls verifies it).
pub(crate) const SERVER_DNS: &str = "ratings.default.svc.cluster.local";

/// One workload's certificate chain and key.
#[derive(Debug)]
pub(crate) struct Identity {
    pub(crate) chain: Vec<CertificateDer<'static>>,
    key: Vec<u8>,
    /// `spiffe://cluster.local/ns/<namespace>/sa/<account>`.
    pub(crate) spiffe: String,
}

impl Identity {
    fn key(&self) -> PrivateKeyDer<'static> {
        PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(self.key.clone()))
    }
}

/// The mesh's trust root and its two identities.
#[derive(Debug)]
pub(crate) struct Pki {
    roots: Arc<RootCertStore>,
    ca: CertificateDer<'static>,
    pub(crate) client: Identity,
    pub(crate) server: Identity,
}

fn err(e: impl std::fmt::Display) -> String {
    format!("certificate generation: {e}")
}

fn leaf(issuer: &CertifiedIssuer<'_, KeyPair>, spiffe: &str, dns: Option<&str>) -> Result<Identity, String> {
    let key = KeyPair::generate().map_err(err)?;
    let mut params = CertificateParams::new(dns.map(|d| vec![d.to_owned()]).unwrap_or_default()).map_err(err)?;
    params
        .subject_alt_names
        .push(SanType::URI(spiffe.try_into().map_err(err)?));
    let cert = params.signed_by(&key, issuer).map_err(err)?;
    Ok(Identity {
        chain: vec![cert.der().clone()],
        key: key.serialize_der(),
        spiffe: spiffe.to_owned(),
    })
}

/// A fresh CA and the identities `spiffe://cluster.local/ns/default/sa/{productpage,ratings}`.
pub(crate) fn generate() -> Result<Pki, String> {
    let mut ca = CertificateParams::new(Vec::<String>::new()).map_err(err)?;
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(rcgen::DnType::CommonName, "meshtel demo mesh CA");
    let issuer = CertifiedIssuer::self_signed(ca, KeyPair::generate().map_err(err)?).map_err(err)?;
    let mut roots = RootCertStore::empty();
    roots.add(issuer.der().clone()).map_err(err)?;
    Ok(Pki {
        roots: Arc::new(roots),
        ca: issuer.der().clone(),
        client: leaf(&issuer, "spiffe://cluster.local/ns/default/sa/productpage", None)?,
        server: leaf(
            &issuer,
            "spiffe://cluster.local/ns/default/sa/ratings",
            Some(SERVER_DNS),
        )?,
    })
}

/// The DER files [`load_der`] reads from a directory.
const DER_FILES: [&str; 5] = ["ca.der", "client.der", "client.key.der", "server.der", "server.key.der"];

/// A mesh PKI made elsewhere (`meshtel demo --pki-from DIR`): the CA and both sidecars'
/// certificates and PKCS#8 keys as DER files in `dir` (`ca.der`, `client.der`,
/// `client.key.der`, `server.der`, `server.key.der`), so that the demo's sidecars and
/// outside peers (Envoy sidecars, in `scripts/envoy-mesh.sh`) share one trust root. Each
/// identity's SPIFFE ID is its certificate's first URI SAN.
pub(crate) fn load_der(dir: &std::path::Path) -> Result<Pki, String> {
    let mut files = Vec::with_capacity(DER_FILES.len());
    for name in DER_FILES {
        let path = dir.join(name);
        files.push(std::fs::read(&path).map_err(|e| format!("--pki-from: reading {}: {e}", path.display()))?);
    }
    let [ca, client, client_key, server, server_key] =
        <[Vec<u8>; 5]>::try_from(files).map_err(|_| "--pki-from: expected five files".to_owned())?;
    let identity = |cert: Vec<u8>, key: Vec<u8>, name: &str| {
        let spiffe = meshtel_tokio::tls::first_uri_san(&cert)
            .ok_or_else(|| format!("--pki-from: {} has no URI SAN (a SPIFFE ID)", dir.join(name).display()))?;
        Ok::<_, String>(Identity {
            chain: vec![CertificateDer::from(cert)],
            key,
            spiffe,
        })
    };
    let ca = CertificateDer::from(ca);
    let mut roots = RootCertStore::empty();
    roots
        .add(ca.clone())
        .map_err(|e| format!("--pki-from: {}: {e}", dir.join("ca.der").display()))?;
    Ok(Pki {
        roots: Arc::new(roots),
        ca,
        client: identity(client, client_key, "client.der")?,
        server: identity(server, server_key, "server.der")?,
    })
}

impl Pki {
    /// Writes the mesh CA and the client sidecar's identity as DER into `dir` (`ca.der`,
    /// `client.der`, `client.key.der`, PKCS#8), for peers from outside the process (the
    /// fault run's hostile mTLS peers; `meshtel demo --pki-dir`).
    pub(crate) fn write_der(&self, dir: &std::path::Path) -> Result<(), String> {
        let write = |name: &str, bytes: &[u8]| {
            let path = dir.join(name);
            std::fs::write(&path, bytes).map_err(|e| format!("writing {}: {e}", path.display()))
        };
        std::fs::create_dir_all(dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
        write("ca.der", &self.ca)?;
        write("client.der", &self.client.chain[0])?;
        write("client.key.der", &self.client.key)
    }

    /// The server sidecar: mutual TLS required, ALPN as an inbound chain with exchange
    /// (`istio-peer-exchange`, then the HTTP protocols; `docs/reference/wire.md` §5).
    pub(crate) fn server_config(&self) -> Result<Arc<ServerConfig>, String> {
        let verifier = WebPkiClientVerifier::builder(Arc::clone(&self.roots))
            .build()
            .map_err(err)?;
        let mut config = ServerConfig::builder()
            .with_client_cert_verifier(verifier)
            .with_single_cert(self.server.chain.clone(), self.server.key())
            .map_err(err)?;
        config.alpn_protocols = [
            meshtel_wire::alpn::ISTIO_PEER_EXCHANGE,
            meshtel_wire::alpn::ISTIO_HTTP11,
            meshtel_wire::alpn::ISTIO_H2,
            "h2",
            "http/1.1",
        ]
        .iter()
        .map(|p| p.as_bytes().to_vec())
        .collect();
        Ok(Arc::new(config))
    }

    /// A client sidecar connection offering `alpn`, presenting `identity`.
    pub(crate) fn client_config(&self, identity: &Identity, alpn: &[&str]) -> Result<Arc<ClientConfig>, String> {
        let mut config = ClientConfig::builder()
            .with_root_certificates(Arc::clone(&self.roots))
            .with_client_auth_cert(identity.chain.clone(), identity.key())
            .map_err(err)?;
        config.alpn_protocols = alpn.iter().map(|p| p.as_bytes().to_vec()).collect();
        Ok(Arc::new(config))
    }
}

/// The server name the client sidecar verifies.
pub(crate) fn server_name() -> Result<ServerName<'static>, String> {
    ServerName::try_from(SERVER_DNS).map_err(err)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Writes a generated PKI the way `--pki-from` reads it.
    fn write_all(pki: &Pki, dir: &std::path::Path) {
        pki.write_der(dir).unwrap();
        std::fs::write(dir.join("server.der"), &pki.server.chain[0]).unwrap();
        std::fs::write(dir.join("server.key.der"), &pki.server.key).unwrap();
    }

    #[test]
    fn load_der_reads_what_was_made_elsewhere() {
        let dir = tempfile::tempdir().unwrap();
        let made = generate().unwrap();
        write_all(&made, dir.path());
        let loaded = load_der(dir.path()).unwrap();
        assert_eq!(loaded.client.spiffe, "spiffe://cluster.local/ns/default/sa/productpage");
        assert_eq!(loaded.server.spiffe, "spiffe://cluster.local/ns/default/sa/ratings");
        assert_eq!(loaded.ca, made.ca);
        // The loaded identities make working rustls configurations.
        loaded.server_config().unwrap();
        loaded.client_config(&loaded.client, &["istio-h2"]).unwrap();
    }

    #[test]
    fn load_der_names_what_is_missing_or_wrong() {
        let dir = tempfile::tempdir().unwrap();
        let made = generate().unwrap();
        write_all(&made, dir.path());
        std::fs::remove_file(dir.path().join("server.key.der")).unwrap();
        let err = load_der(dir.path()).unwrap_err();
        assert!(err.contains("server.key.der"), "{err}");
        // A certificate without a URI SAN (the CA's) is no identity.
        write_all(&made, dir.path());
        std::fs::write(dir.path().join("client.der"), &made.ca).unwrap();
        let err = load_der(dir.path()).unwrap_err();
        assert!(err.contains("client.der") && err.contains("URI SAN"), "{err}");
    }
}

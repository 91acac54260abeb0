"""A two-Envoy mesh on loopback (run through scripts/envoy-mesh.sh; docs/envoy-mesh.md).

Starts, in this order:

- a PKI made with openssl: a mesh CA and two SPIFFE identities, the client sidecar's
  (spiffe://cluster.local/ns/default/sa/productpage) and the server sidecar's
  (spiffe://cluster.local/ns/default/sa/ratings, DNS ratings.default.svc.cluster.local),
  as PEM for Envoy and DER for `meshtel demo --pki-from` (reused when --pki-dir holds one);
- the backends: `meshtel demo --serve --requests 0 --connections 0` (its HTTP backend and
  TCP echo service; its own sidecars stay idle);
- a server-side Envoy: one mTLS listener, TLS inspector, filter chains matched on ALPN
  (`istio-peer-exchange` -> TCP proxy to the echo service; the HTTP ALPNs -> an HTTP
  connection manager routing to the HTTP backend);
- a client-side Envoy: an HTTP listener (HTTP/1.1 and h2c) and a TCP listener, with clusters
  to the server-side Envoy over mTLS offering Istio's ALPN lists (HTTP/2 between the
  sidecars: `istio-h2, istio, h2`; TCP: `istio-peer-exchange, istio`);

each Envoy with its own node id and node metadata (examples/envoy/*-node.json) and, unless
--no-meshtel, the meshtel proxy-wasm module as HTTP and network filter with the
`stats_config` that `meshtel envoy bootstrap` prints. Writes the endpoints file once every
listener answers, then runs until SIGTERM or SIGINT and stops everything it started.
"""

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TRUST_DOMAIN = "cluster.local"
CLIENT_SPIFFE = "spiffe://cluster.local/ns/default/sa/productpage"
SERVER_SPIFFE = "spiffe://cluster.local/ns/default/sa/ratings"
SERVER_DNS = "ratings.default.svc.cluster.local"
CLIENT_NODE_ID = "sidecar~127.0.0.1~productpage-v1-84975bc778-pxz2w.default~default.svc.cluster.local"
SERVER_NODE_ID = "sidecar~127.0.0.1~ratings-v1-5f8d.default~default.svc.cluster.local"
# The clusters are named as Istio names them, and as the native demo's routes do.
OUT_HTTP = "outbound|9080||ratings.default.svc.cluster.local"
OUT_TCP = "outbound|9000||ratings.default.svc.cluster.local"
IN_HTTP = "inbound|9080||"
IN_TCP = "inbound|9000||"
SERVICES = {"istio": {"services": [{"host": SERVER_DNS, "name": "ratings", "namespace": "default"}]}}
# Istio's ALPN lists (docs/reference/wire.md section 5).
ALPN_CLIENT_H2 = ["istio-h2", "istio", "h2"]
ALPN_CLIENT_TCP = ["istio-peer-exchange", "istio"]
ALPN_SERVER_HTTP_MATCH = ["istio-http/1.1", "istio-h2", "istio", "h2", "http/1.1"]
START_TIMEOUT_S = 60


class MeshError(Exception):
    """A step of the mesh's start-up failed; the message says which."""


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def sock(port):
    return {"socket_address": {"address": "127.0.0.1", "port_value": port}}


def run(cmd, **kw):
    done = subprocess.run(cmd, capture_output=True, text=True, check=False, **kw)
    if done.returncode != 0:
        raise MeshError(f"{' '.join(map(str, cmd))} failed ({done.returncode}): {done.stderr.strip()}")
    return done.stdout


# ---------------------------------------------------------------------------------------
# PKI


def make_pki(pki):
    """The mesh CA and both identities in `pki` (kept when already there)."""
    names = ["ca.der", "client.der", "client.key.der", "server.der", "server.key.der"]
    if all((pki / n).exists() for n in names + ["ca.pem", "client.pem", "client.key", "server.pem", "server.key"]):
        return
    pki.mkdir(parents=True, exist_ok=True)
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]
    run(["openssl", "req", "-x509", *ec, "-keyout", pki / "ca.key", "-out", pki / "ca.pem", "-days", "7",
         "-subj", "/O=meshtel/CN=meshtel envoy mesh CA",
         "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign"])
    for name, sans in (("client", f"URI:{CLIENT_SPIFFE}"), ("server", f"URI:{SERVER_SPIFFE},DNS:{SERVER_DNS}")):
        ext = pki / f"{name}.ext"
        ext.write_text(
            f"subjectAltName=critical,{sans}\n"
            "basicConstraints=critical,CA:FALSE\n"
            "keyUsage=critical,digitalSignature,keyEncipherment\n"
            "extendedKeyUsage=serverAuth,clientAuth\n"
        )
        run(["openssl", "req", *ec, "-keyout", pki / f"{name}.key", "-out", pki / f"{name}.csr",
             "-subj", f"/O={TRUST_DOMAIN}"])
        run(["openssl", "x509", "-req", "-in", pki / f"{name}.csr", "-CA", pki / "ca.pem", "-CAkey", pki / "ca.key",
             "-CAcreateserial", "-days", "7", "-extfile", ext, "-out", pki / f"{name}.pem"])
        run(["openssl", "x509", "-in", pki / f"{name}.pem", "-outform", "DER", "-out", pki / f"{name}.der"])
        run(["openssl", "pkcs8", "-topk8", "-nocrypt", "-in", pki / f"{name}.key", "-outform", "DER",
             "-out", pki / f"{name}.key.der"])
    run(["openssl", "x509", "-in", pki / "ca.pem", "-outform", "DER", "-out", pki / "ca.der"])


def tls_context(pki, name, alpn):
    return {
        "alpn_protocols": alpn,
        "tls_certificates": [{
            "certificate_chain": {"filename": str(pki / f"{name}.pem")},
            "private_key": {"filename": str(pki / f"{name}.key")},
        }],
        "validation_context": {"trusted_ca": {"filename": str(pki / "ca.pem")}},
    }


def upstream_tls(pki, alpn):
    ctx = tls_context(pki, "client", alpn)
    # The server side must be the ratings identity, as Istio's sidecars verify.
    ctx["validation_context"]["match_typed_subject_alt_names"] = [
        {"san_type": "URI", "matcher": {"exact": SERVER_SPIFFE}}]
    return {"name": "envoy.transport_sockets.tls", "typed_config": {
        "@type": "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext",
        "sni": SERVER_DNS, "common_tls_context": ctx}}


def downstream_tls(pki, alpn):
    return {"name": "envoy.transport_sockets.tls", "typed_config": {
        "@type": "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext",
        "require_client_certificate": True, "common_tls_context": tls_context(pki, "server", alpn)}}


# ---------------------------------------------------------------------------------------
# Envoy configuration


def cluster(name, port, tls=None, h2=False):
    c = {
        "name": name, "type": "STATIC", "connect_timeout": "2s",
        "metadata": {"filter_metadata": SERVICES},
        "load_assignment": {"cluster_name": name, "endpoints": [{"lb_endpoints": [
            {"endpoint": {"address": sock(port)}}]}]},
        # The load test's concurrency must not hit Envoy's default circuit breakers (1024).
        "circuit_breakers": {"thresholds": [{"max_connections": 100000, "max_pending_requests": 100000,
                                             "max_requests": 100000}]},
    }
    if tls:
        c["transport_socket"] = tls
    if h2:
        c["typed_extension_protocol_options"] = {"envoy.extensions.upstreams.http.v3.HttpProtocolOptions": {
            "@type": "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
            "explicit_http_config": {"http2_protocol_options": {}}}}
    return c


def hcm(stat_prefix, cluster_name, http_filters):
    return {"name": "envoy.filters.network.http_connection_manager", "typed_config": {
        "@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3"
                 ".HttpConnectionManager",
        "stat_prefix": stat_prefix, "codec_type": "AUTO",
        "route_config": {"name": "default", "virtual_hosts": [{"name": "ratings", "domains": ["*"], "routes": [
            {"name": "default", "match": {"prefix": "/"}, "route": {"cluster": cluster_name, "timeout": "30s"}}]}]},
        "http_filters": [*http_filters, {"name": "envoy.filters.http.router", "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"}}]}}


def tcp_proxy(stat_prefix, cluster_name):
    return {"name": "envoy.filters.network.tcp_proxy", "typed_config": {
        "@type": "type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy",
        "stat_prefix": stat_prefix, "cluster": cluster_name}}


def bootstrap(node_id, cluster_name, node_meta, admin_port, listeners, clusters, meshtel):
    cfg = {
        "node": {"id": node_id, "cluster": cluster_name, "metadata": node_meta},
        "admin": {"address": sock(admin_port)},
        # Histograms reach /stats/prometheus when merged, at each flush: every second here.
        "stats_flush_interval": "1s",
        "static_resources": {"listeners": listeners, "clusters": clusters},
    }
    if meshtel:
        cfg["stats_config"] = meshtel["stats_config"]
    return cfg


def client_config(args, ports, pki, meshtel, upstream):
    http_filters = [meshtel["http_filter"]] if meshtel else []
    net_filters = [meshtel["network_filter"]] if meshtel else []
    listeners = [
        {"name": "client_http", "address": sock(ports["client_http"]),
         "filter_chains": [{"filters": [hcm("outbound_http", OUT_HTTP, http_filters)]}]},
        {"name": "client_tcp", "address": sock(ports["client_tcp"]),
         "filter_chains": [{"filters": [*net_filters, tcp_proxy("outbound_tcp", OUT_TCP)]}]},
    ]
    clusters = [
        cluster(OUT_HTTP, upstream, upstream_tls(pki, ALPN_CLIENT_H2), h2=True),
        cluster(OUT_TCP, upstream, upstream_tls(pki, ALPN_CLIENT_TCP)),
    ]
    node = json.loads(Path(args.client_node).read_text())
    return bootstrap(CLIENT_NODE_ID, "productpage.default", node, ports["client_admin"], listeners, clusters, meshtel)


def server_config(args, ports, pki, meshtel, backends):
    http_filters = [meshtel["http_filter"]] if meshtel else []
    net_filters = [meshtel["network_filter"]] if meshtel else []
    inspector = {"name": "envoy.filters.listener.tls_inspector", "typed_config": {
        "@type": "type.googleapis.com/envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector"}}
    listeners = [{
        "name": "inbound", "address": sock(ports["server"]), "listener_filters": [inspector],
        "filter_chains": [
            {"name": "inbound_tcp", "filter_chain_match": {"application_protocols": ["istio-peer-exchange"]},
             "transport_socket": downstream_tls(pki, ["istio-peer-exchange"]),
             "filters": [*net_filters, tcp_proxy("inbound_tcp", IN_TCP)]},
            # Envoy's HTTP codec follows the negotiated ALPN, so the server offers plain
            # `h2` and `http/1.1`; the `istio-*` names only select this chain.
            {"name": "inbound_http", "filter_chain_match": {"application_protocols": ALPN_SERVER_HTTP_MATCH},
             "transport_socket": downstream_tls(pki, ["h2", "http/1.1"]),
             "filters": [hcm("inbound_http", IN_HTTP, http_filters)]},
        ]}]
    http_port = int(backends["http_backend"].rsplit(":", 1)[1])
    tcp_port = int(backends["tcp_backend"].rsplit(":", 1)[1])
    clusters = [cluster(IN_HTTP, http_port), cluster(IN_TCP, tcp_port)]
    node = json.loads(Path(args.server_node).read_text())
    return bootstrap(SERVER_NODE_ID, "ratings.default", node, ports["server_admin"], listeners, clusters, meshtel)


def meshtel_pieces(args, role, node_file):
    """The module's filters and stats_config for `role`, from `meshtel envoy bootstrap`."""
    import yaml  # noqa: PLC0415 - only the module's runs need PyYAML

    node_id = CLIENT_NODE_ID if role == "outbound" else SERVER_NODE_ID
    text = run([args.meshtel, "envoy", "bootstrap", "--role", role, "--node", node_file, "--node-id", node_id,
                "--wasm", str(Path(args.wasm).resolve())])
    doc = yaml.safe_load(text)
    try:
        return {"stats_config": doc["stats_config"], "http_filter": doc["http_filter"],
                "network_filter": doc["network_filter"]}
    except (KeyError, TypeError) as e:
        raise MeshError(f"`meshtel envoy bootstrap --role {role}` printed no {e}: {text[:400]}") from e


# ---------------------------------------------------------------------------------------
# Processes


class Mesh:
    def __init__(self, args):
        self.args = args
        self.procs = []
        self.work = Path(args.work) if args.work else Path(tempfile.mkdtemp(prefix="envoy-mesh-"))
        self.work.mkdir(parents=True, exist_ok=True)

    def spawn(self, name, cmd):
        log = open(self.work / f"{name}.log", "w")  # noqa: SIM115 - lives as long as the process
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        self.procs.append((name, proc))
        return proc

    def check_alive(self):
        for name, proc in self.procs:
            if proc.poll() is not None:
                log = (self.work / f"{name}.log").read_text(errors="replace")[-3000:]
                raise MeshError(f"{name} exited with {proc.returncode}:\n{log}")

    def wait_for(self, what, ready):
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            self.check_alive()
            if ready():
                return
            time.sleep(0.1)
        raise MeshError(f"{what} not ready within {START_TIMEOUT_S} s")

    def stop(self):
        for _, proc in reversed(self.procs):
            if proc.poll() is None:
                proc.terminate()
        for _, proc in reversed(self.procs):
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if not self.args.work:
            shutil.rmtree(self.work, ignore_errors=True)

    def start_backends(self):
        endpoints = self.work / "backends.json"
        self.spawn("backends", [self.args.meshtel, "demo", "--serve", "--requests", "0", "--connections", "0",
                                "--endpoints", str(endpoints)])
        self.wait_for("the backends (meshtel demo)", endpoints.exists)
        return json.loads(endpoints.read_text())

    def start_envoy(self, name, config):
        path = self.work / f"{name}.json"
        path.write_text(json.dumps(config, indent=1))
        self.spawn(name, [self.args.envoy, "-c", str(path), "--concurrency", str(self.args.concurrency),
                          "--disable-hot-restart", "-l", self.args.log_level])

    def wait_envoy(self, name, admin_port):
        def ready():
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{admin_port}/ready", timeout=1) as r:
                    return r.read().strip() == b"LIVE"
            except OSError:
                return False
        self.wait_for(f"Envoy {name}", ready)


def start(mesh):
    args = mesh.args
    pki = Path(args.pki_dir) if args.pki_dir else mesh.work / "pki"
    make_pki(pki)
    backends = mesh.start_backends()
    ports = {k: free_port() for k in ("client_http", "client_tcp", "client_admin", "server", "server_admin")}
    client_meshtel = server_meshtel = None
    if not args.no_meshtel:
        client_meshtel = meshtel_pieces(args, "outbound", args.client_node)
        server_meshtel = meshtel_pieces(args, "inbound", args.server_node)
    upstream = ports["server"]
    if args.client_upstream:
        upstream = int(args.client_upstream.rsplit(":", 1)[1])
    mesh.start_envoy("server-envoy", server_config(args, ports, pki, server_meshtel, backends))
    mesh.start_envoy("client-envoy", client_config(args, ports, pki, client_meshtel, upstream))
    mesh.wait_envoy("server-envoy", ports["server_admin"])
    mesh.wait_envoy("client-envoy", ports["client_admin"])
    # No probe connections: one through the TCP listener would be recorded as traffic. An
    # Envoy reports LIVE once its static listeners are bound.
    addr = lambda p: f"127.0.0.1:{p}"  # noqa: E731
    endpoints = {
        "client_http": addr(ports["client_http"]),
        "client_tcp": addr(ports["client_tcp"]),
        "client_admin": addr(ports["client_admin"]),
        "server_admin": addr(ports["server_admin"]),
        "server_mtls": addr(ports["server"]),
        "client_upstream": args.client_upstream or addr(ports["server"]),
        "http_backend": backends["http_backend"],
        "tcp_backend": backends["tcp_backend"],
        "pki_dir": str(pki),
        "work": str(mesh.work),
        "meshtel": not args.no_meshtel,
    }
    tmp = Path(args.endpoints + ".tmp")
    tmp.write_text(json.dumps(endpoints, indent=2) + "\n")
    os.replace(tmp, args.endpoints)
    print(json.dumps(endpoints, indent=2), flush=True)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--endpoints", required=True, help="where to write the mesh's addresses (JSON)")
    p.add_argument("--no-meshtel", action="store_true", help="the Envoy pair without the meshtel module")
    p.add_argument("--pki-dir", help="certificates: used when present, else generated there")
    p.add_argument("--client-upstream", metavar="ADDR",
                   help="the client Envoy's clusters go to ADDR (a meshtel-tower server sidecar)")
    p.add_argument("--work", help="keep configurations and logs in this directory")
    p.add_argument("--meshtel", default=str(ROOT / "target/release/meshtel"))
    p.add_argument("--envoy", required=True)
    p.add_argument("--wasm", default=str(ROOT / "target/wasm32-wasip1/release/meshtel_wasm.wasm"))
    p.add_argument("--client-node", default=str(ROOT / "examples/envoy/client-node.json"))
    p.add_argument("--server-node", default=str(ROOT / "examples/envoy/server-node.json"))
    p.add_argument("--concurrency", type=int, default=1, help="worker threads per Envoy")
    p.add_argument("--log-level", default="warning")
    args = p.parse_args()

    mesh = Mesh(args)
    stopping = []

    def on_signal(signum, _frame):
        stopping.append(signum)
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    status = 0
    try:
        start(mesh)
        while True:
            mesh.check_alive()
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    except MeshError as e:
        print(f"envoy-mesh: {e}", file=sys.stderr)
        status = 1
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        mesh.stop()
    sys.exit(status)


if __name__ == "__main__":
    main()

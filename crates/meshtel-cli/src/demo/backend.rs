//! Backend services behind the server sidecar: HTTP (httpbin conventions) and a TCP echo
//! (the gRPC backend is in `grpc.rs`).

use std::convert::Infallible;
use std::net::SocketAddr;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// The most bytes `/bytes/<n>` answers with (1 MiB); a larger `n` is a 400.
pub(crate) const MAX_BYTES: usize = 1 << 20;

/// The response of the HTTP backend for `path`, after httpbin's conventions:
/// `/status/<code>` answers that code, `/bytes/<n>` answers `n` bytes
/// (`application/octet-stream`, at most [`MAX_BYTES`]); any other path answers 200 with a
/// text body whose size depends on the path.
pub(crate) fn respond(path: &str) -> Response<Full<Bytes>> {
    let (status, content_type, body) = if let Some(code) = path.strip_prefix("/status/") {
        match code.parse::<u16>().ok().and_then(|c| StatusCode::from_u16(c).ok()) {
            Some(status) => (status, "text/plain", format!("{status} for {path}\n").into_bytes()),
            None => (StatusCode::BAD_REQUEST, "text/plain", b"bad status code\n".to_vec()),
        }
    } else if let Some(n) = path.strip_prefix("/bytes/") {
        match n.parse::<usize>() {
            Ok(n) if n <= MAX_BYTES => (
                StatusCode::OK,
                "application/octet-stream",
                (0..n).map(|i| (i % 251) as u8).collect(),
            ),
            _ => (
                StatusCode::BAD_REQUEST,
                "text/plain",
                format!("/bytes/<n> takes 0 <= n <= {MAX_BYTES}\n").into_bytes(),
            ),
        }
    } else {
        let body = format!("200 OK for {path}\n{}", "x".repeat(path.len() * 16));
        (StatusCode::OK, "text/plain", body.into_bytes())
    };
    Response::builder()
        .status(status)
        .header("content-type", content_type)
        .body(Full::new(Bytes::from(body)))
        .unwrap_or_default()
}

/// The HTTP backend (HTTP/1.1): see [`respond`].
pub(crate) async fn http(listener: TcpListener) {
    loop {
        let stream = accept(&listener).await;
        tokio::spawn(async move {
            let service = service_fn(|req: Request<hyper::body::Incoming>| async move {
                let path = req.uri().path().to_owned();
                let _ = req.into_body().collect().await;
                Ok::<_, Infallible>(respond(&path))
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

/// The TCP echo backend.
pub(crate) async fn echo(listener: TcpListener) {
    loop {
        let mut stream = accept(&listener).await;
        tokio::spawn(async move {
            let mut buf = vec![0u8; 16 * 1024];
            loop {
                match stream.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        if stream.write_all(&buf[..n]).await.is_err() {
                            break;
                        }
                    }
                }
            }
            let _ = stream.shutdown().await;
        });
    }
}

/// Binds a listener on `127.0.0.1` (ephemeral port).
pub(crate) async fn bind() -> std::io::Result<(TcpListener, SocketAddr)> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    Ok((listener, addr))
}

/// How long an accept loop waits after a failed accept.
const ACCEPT_BACKOFF: std::time::Duration = std::time::Duration::from_millis(50);

/// The listener's next connection. A failed accept (out of file descriptors, the runtime
/// shutting down) is retried after [`ACCEPT_BACKOFF`], so a lasting failure costs no CPU.
pub(crate) async fn accept(listener: &TcpListener) -> TcpStream {
    loop {
        match listener.accept().await {
            Ok((stream, _)) => return stream,
            Err(_) => tokio::time::sleep(ACCEPT_BACKOFF).await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hyper::body::Body as _;

    #[test]
    fn httpbin_paths() {
        assert_eq!(respond("/status/503").status(), 503);
        assert_eq!(respond("/status/abc").status(), 400);
        let bytes = respond("/bytes/1000");
        assert_eq!(bytes.status(), 200);
        assert_eq!(bytes.body().size_hint().exact(), Some(1000));
        assert_eq!(respond(&format!("/bytes/{MAX_BYTES}")).status(), 200);
        assert_eq!(respond(&format!("/bytes/{}", MAX_BYTES + 1)).status(), 400);
        assert_eq!(respond("/ratings/7").status(), 200);
    }
}

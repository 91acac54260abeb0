//! One HTTP/1.1 connection to a receiver, kept open between pushes and reopened after any
//! failure.

use std::time::Duration;

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::client::conn::http1::SendRequest;
use hyper::{Request, Response, Uri};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

use super::error::PushError;

/// Where a target's requests go, parsed once.
#[derive(Debug, Clone)]
pub(crate) struct Endpoint {
    /// The absolute URL, for display.
    pub(crate) uri: Uri,
    /// The origin form (`/api/v1/write`), the request target.
    pub(crate) path: Uri,
    /// The `Host` header.
    pub(crate) host: hyper::header::HeaderValue,
    /// `host:port`, for connecting and for the `Host` header.
    pub(crate) authority: String,
}

/// The connection of one target: `None` until the first push and after a failure.
#[derive(Debug, Default)]
pub(crate) struct Connection {
    sender: Option<SendRequest<Full<Bytes>>>,
}

/// What a completed exchange returned.
pub(crate) struct Answer {
    pub(crate) status: u16,
    /// The start of the body, at most `max_response_bytes`.
    pub(crate) body: Vec<u8>,
}

impl Connection {
    /// Sends `request` and reads the status and the start of the body, all within
    /// `timeout`. Any error closes the connection, so that the next attempt starts on a
    /// fresh one (a receiver that dropped or wedged the old one is not retried through it).
    pub(crate) async fn exchange(
        &mut self,
        target: &str,
        endpoint: &Endpoint,
        request: Request<Full<Bytes>>,
        limits: (Duration, usize),
    ) -> Result<Answer, PushError> {
        let (timeout, max_response_bytes) = limits;
        let attempt = self.try_exchange(target, endpoint, request, max_response_bytes);
        match tokio::time::timeout(timeout, attempt).await {
            Ok(Ok((answer, true))) => Ok(answer),
            // A body longer than we read: the connection is not reusable.
            Ok(Ok((answer, false))) => {
                self.sender = None;
                Ok(answer)
            }
            Ok(Err(e)) => {
                self.sender = None;
                Err(e)
            }
            Err(_) => {
                self.sender = None;
                Err(PushError::Timeout {
                    target: target.to_owned(),
                    after: timeout,
                })
            }
        }
    }

    async fn try_exchange(
        &mut self,
        target: &str,
        endpoint: &Endpoint,
        request: Request<Full<Bytes>>,
        max_response_bytes: usize,
    ) -> Result<(Answer, bool), PushError> {
        let transport = |source| PushError::Transport {
            target: target.to_owned(),
            source,
        };
        let sender = match &mut self.sender {
            Some(sender) if !sender.is_closed() => sender,
            _ => self.sender.insert(connect(target, endpoint).await?),
        };
        sender.ready().await.map_err(transport)?;
        let response = sender.send_request(request).await.map_err(transport)?;
        read_bounded(response, max_response_bytes).await.map_err(transport)
    }
}

async fn connect(target: &str, endpoint: &Endpoint) -> Result<SendRequest<Full<Bytes>>, PushError> {
    let connect_error = |source| PushError::Connect {
        target: target.to_owned(),
        authority: endpoint.authority.clone(),
        source,
    };
    let stream = TcpStream::connect(endpoint.authority.as_str())
        .await
        .map_err(connect_error)?;
    // Pushes are one request each way; do not hold the last segment back.
    stream.set_nodelay(true).map_err(connect_error)?;
    let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|source| PushError::Transport {
            target: target.to_owned(),
            source,
        })?;
    // The connection task ends when the sender is dropped or the peer closes; its error,
    // if any, surfaces on the next request through the sender.
    tokio::spawn(async move {
        let _ = connection.await;
    });
    Ok(sender)
}

/// Reads the status and up to `limit` bytes of the body; `true` when the whole body was
/// read (the connection can carry the next request).
async fn read_bounded(response: Response<Incoming>, limit: usize) -> Result<(Answer, bool), hyper::Error> {
    let status = response.status().as_u16();
    let mut body = response.into_body();
    let mut kept = Vec::new();
    while let Some(frame) = body.frame().await {
        if let Ok(data) = frame?.into_data() {
            let room = limit - kept.len();
            kept.extend_from_slice(&data[..data.len().min(room)]);
            if data.len() > room {
                return Ok((Answer { status, body: kept }, false));
            }
        }
    }
    Ok((Answer { status, body: kept }, true))
}

//! [`Meshtel`]: the service the layer wraps around the inner one.

use std::sync::Arc;
use std::task::{Context, Poll};

use http::{HeaderMap, Request, Response};
use http_body::Body;
use tower_service::Service;

use crate::body::{RequestBody, ResponseBody};
use crate::future::{ResponseFuture, ResponseHeaders};
use crate::layer::{Connection, Direction};
use crate::peer::{BAGGAGE, PEER_METADATA, PEER_METADATA_ID};
use crate::stream::{PeerValues, RequestHead, StreamState};

/// The inner service wrapped by a [`MeshtelLayer`](crate::MeshtelLayer): runs the header
/// exchange on each request and response and records each stream at its end. Clones share
/// the connection.
///
/// ```
/// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// use std::sync::Arc;
/// use http_body_util::{BodyExt, Full};
/// use meshtel::{LocalNode, PluginConfig, Reporter, StatsPlugin};
/// use meshtel_tower::{MeshtelLayer, Telemetry};
/// use tower::{ServiceBuilder, ServiceExt};
///
/// let registry = meshtel_metrics::Registry::default();
/// let plugin = StatsPlugin::new(LocalNode::default(), Reporter::Inbound, &PluginConfig::default(), &registry)?;
/// let layer = MeshtelLayer::new(Arc::new(Telemetry::new(plugin)));
/// let service = ServiceBuilder::new().layer(layer).service_fn(|_req: http::Request<_>| async {
///     Ok::<_, std::convert::Infallible>(http::Response::new(Full::new(bytes::Bytes::from_static(b"ok"))))
/// });
/// let response = service.oneshot(http::Request::new(Full::new(bytes::Bytes::new()))).await?;
/// response.into_body().collect().await?;
/// assert!(registry.render_to_string(meshtel_metrics::Format::Prometheus).contains("response_code=\"200\""));
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct Meshtel<S> {
    inner: S,
    conn: Arc<Connection>,
}

impl<S: Clone> Clone for Meshtel<S> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            conn: Arc::clone(&self.conn),
        }
    }
}

impl<S> Meshtel<S> {
    pub(crate) const fn new(inner: S, conn: Arc<Connection>) -> Self {
        Self { inner, conn }
    }

    /// The inner service.
    pub const fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The inner service, mutably.
    pub const fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// The inner service.
    pub fn into_inner(self) -> S {
        self.inner
    }

    /// How many header values this connection has decoded (cache misses): a repeated
    /// `x-envoy-peer-metadata` value is decoded once. Values are decoded when the stream is
    /// first reported (its end, or a gRPC period).
    pub fn decoded_peer_values(&self) -> u64 {
        self.conn.lock().cache.decodes
    }

    /// Inbound request headers: the downstream peer's carriers (the header, and baggage if
    /// configured) taken, both exchange headers removed; which of them the request carried.
    fn inbound_request(&self, headers: &mut HeaderMap) -> (PeerValues, ResponseHeaders) {
        // `remove` gives the first value and says whether there was one: one lookup each.
        let header = headers.remove(&PEER_METADATA);
        let carried = ResponseHeaders {
            id: headers.remove(&PEER_METADATA_ID).is_some(),
            metadata: header.is_some(),
        };
        let values = PeerValues {
            header: header.filter(|v| !v.is_empty()),
            baggage: if self.conn.telemetry.baggage {
                headers.get(&BAGGAGE).cloned()
            } else {
                None
            },
        };
        (values, carried)
    }

    /// Outbound request headers: the local node's values set, replacing any the application
    /// sent.
    fn outbound_request(&self, headers: &mut HeaderMap) {
        let telemetry = &self.conn.telemetry;
        if let Some(local) = &telemetry.local {
            headers.insert(PEER_METADATA_ID, local.id.clone());
            headers.insert(PEER_METADATA, local.metadata.clone());
            if let Some(baggage) = local.baggage.as_ref().filter(|_| telemetry.baggage) {
                headers.insert(BAGGAGE, baggage.clone());
            }
        } else {
            headers.remove(&PEER_METADATA);
            headers.remove(&PEER_METADATA_ID);
        }
    }
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for Meshtel<S>
where
    S: Service<Request<RequestBody<ReqBody>>, Response = Response<ResBody>>,
    S::Error: 'static,
    ReqBody: Body,
    ResBody: Body,
{
    type Response = Response<ResponseBody<ResBody>>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<ReqBody>) -> Self::Future {
        let (mut parts, body) = req.into_parts();
        let direction = self.conn.telemetry.direction;
        let head = RequestHead {
            method: &parts.method,
            uri: &parts.uri,
            headers: &parts.headers,
            version: parts.version,
            resolved: direction == Direction::Inbound,
        };
        // Sized as received from the downstream, before the exchange headers change.
        let mut state = StreamState::new(Arc::clone(&self.conn), &head);
        let respond = match direction {
            Direction::Inbound => {
                let (values, carried) = self.inbound_request(&mut parts.headers);
                state.set_peer(values);
                carried
            }
            Direction::Outbound => {
                self.outbound_request(&mut parts.headers);
                ResponseHeaders::default()
            }
        };
        let body = RequestBody::new(body, Arc::clone(&state.meter), state.is_grpc());
        let future = self.inner.call(Request::from_parts(parts, body));
        ResponseFuture::new(future, state, respond)
    }
}

//! [`ResponseFuture`]: the inner service's future, with the response-head half of the
//! exchange.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use http::Response;
use http_body::Body;
use meshtel::ConnectionFacts;
use pin_project_lite::pin_project;

use crate::body::ResponseBody;
use crate::flags::{ResponseFlag, ResponseFlags, flag_of_error};
use crate::layer::{Direction, Telemetry};
use crate::peer::{PEER_METADATA, PEER_METADATA_ID};
use crate::stream::{PeerValues, StreamState};

/// Which exchange headers an inbound response gets: each only if the request carried it.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct ResponseHeaders {
    pub(crate) id: bool,
    pub(crate) metadata: bool,
}

pin_project! {
    /// The future of a [`Meshtel`](crate::Meshtel) call. Dropped before the inner service
    /// answers, it records the stream with `response_code="0"` and `DC`; an inner error is
    /// recorded with its [`UpstreamError`](crate::UpstreamError) flag (`UR` otherwise) and
    /// passed on unchanged.
    ///
    /// Two response extensions are taken out of the response: [`ResponseFlags`] (this
    /// stream's flags) and [`ConnectionFacts`] (new facts for the connection from now on,
    /// e.g. the upstream TLS SANs an outbound proxy learnt when it connected).
    ///
    /// ```
    /// use meshtel_tower::{ResponseBody, ResponseFuture};
    /// // What awaiting it gives: the response, its body metered, or the inner error.
    /// async fn respond<F, B, E>(f: ResponseFuture<F>) -> Result<http::Response<ResponseBody<B>>, E>
    /// where
    ///     F: std::future::Future<Output = Result<http::Response<B>, E>>,
    ///     B: http_body::Body,
    ///     E: 'static,
    /// {
    ///     f.await
    /// }
    /// ```
    #[derive(Debug)]
    pub struct ResponseFuture<F> {
        #[pin]
        inner: F,
        state: Option<StreamState>,
        respond: ResponseHeaders,
    }

    impl<F> PinnedDrop for ResponseFuture<F> {
        fn drop(this: Pin<&mut Self>) {
            if let Some(state) = this.project().state.take() {
                state.finish(ResponseFlag::DownstreamConnectionTermination.into());
            }
        }
    }
}

impl<F> ResponseFuture<F> {
    pub(crate) fn new(inner: F, state: StreamState, respond: ResponseHeaders) -> Self {
        Self {
            inner,
            state: Some(state),
            respond,
        }
    }
}

impl<F, B, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<Response<B>, E>>,
    B: Body,
    E: 'static,
{
    type Output = Result<Response<ResponseBody<B>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        if let Some(state) = this.state.as_mut() {
            state.poll_tick(cx);
        }
        let result = ready!(this.inner.poll(cx));
        let Some(mut state) = this.state.take() else {
            // Polled after completion: the inner future's own behaviour.
            return Poll::Ready(result.map(|r| r.map(|b| ResponseBody::finished(b))));
        };
        match result {
            Ok(response) => {
                let (mut parts, body) = response.into_parts();
                if let Some(flags) = parts.extensions.remove::<ResponseFlags>() {
                    state.add_flags(flags);
                }
                if let Some(facts) = parts.extensions.remove::<ConnectionFacts>() {
                    state.connection().set_facts(facts);
                }
                if let Some(values) =
                    response_exchange(&state.connection().telemetry, &mut parts.headers, *this.respond)
                {
                    state.resolve(values);
                }
                state.on_response_head(&parts);
                if body.is_end_stream() {
                    state.finish(ResponseFlags::default());
                    return Poll::Ready(Ok(Response::from_parts(parts, ResponseBody::finished(body))));
                }
                Poll::Ready(Ok(Response::from_parts(parts, ResponseBody::new(body, state))))
            }
            Err(error) => {
                let flag = flag_of_error(&error);
                let mut flags = ResponseFlags::default();
                // A request body that failed is the downstream's doing, not the upstream's.
                if !(flag.is_none() && state.request_failed()) {
                    flags.insert(flag.unwrap_or(ResponseFlag::UpstreamRemoteReset));
                }
                state.finish(flags);
                Poll::Ready(Err(error))
            }
        }
    }
}

/// The response-head half of the exchange. Inbound: the local node's headers added (each
/// only if the request carried it). Outbound: both headers removed, the upstream peer's
/// carrier returned.
fn response_exchange(
    telemetry: &Telemetry,
    headers: &mut http::HeaderMap,
    respond: ResponseHeaders,
) -> Option<PeerValues> {
    match telemetry.direction {
        Direction::Inbound => {
            if let Some(local) = &telemetry.local {
                if respond.id {
                    headers.insert(PEER_METADATA_ID, local.id.clone());
                }
                if respond.metadata {
                    headers.insert(PEER_METADATA, local.metadata.clone());
                }
            }
            None
        }
        Direction::Outbound => {
            headers.remove(&PEER_METADATA_ID);
            let header = headers.remove(&PEER_METADATA).filter(|v| !v.is_empty());
            Some(PeerValues { header, baggage: None })
        }
    }
}

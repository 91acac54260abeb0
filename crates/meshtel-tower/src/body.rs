//! The body wrappers: they count bytes and gRPC messages as frames pass, never holding one.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::task::{Context, Poll, ready};

use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;

use crate::flags::{ResponseFlag, ResponseFlags};
use crate::stream::{MessageCounter, RequestMeter, StreamState, frame_len};

pin_project! {
    /// The request body the inner service reads: the downstream's body, metered (data bytes,
    /// trailer bytes, gRPC messages). A body error marks the stream `DC` (the downstream went
    /// away mid-request).
    ///
    /// ```
    /// # async fn demo() {
    /// use http_body_util::BodyExt;
    /// // The inner service sees a `RequestBody<B>`; it reads it as it would read `B`.
    /// async fn handler(req: http::Request<meshtel_tower::RequestBody<String>>) -> usize {
    ///     req.into_body().collect().await.map(|c| c.to_bytes().len()).unwrap_or(0)
    /// }
    /// # }
    /// ```
    #[derive(Debug)]
    pub struct RequestBody<B> {
        #[pin]
        inner: B,
        meter: Arc<RequestMeter>,
        messages: Option<MessageCounter>,
    }
}

impl<B> RequestBody<B> {
    pub(crate) fn new(inner: B, meter: Arc<RequestMeter>, grpc: bool) -> Self {
        Self {
            inner,
            meter,
            messages: grpc.then(MessageCounter::default),
        }
    }

    /// The wrapped body.
    pub fn get_ref(&self) -> &B {
        &self.inner
    }
}

impl<B: Body> Body for RequestBody<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let this = self.project();
        let frame = ready!(this.inner.poll_frame(cx));
        match &frame {
            Some(Ok(frame)) => {
                this.meter.bytes.fetch_add(frame_len(frame), Ordering::Relaxed);
                if let (Some(counter), Some(data)) = (this.messages.as_mut(), frame.data_ref()) {
                    counter.feed(data);
                    this.meter.messages.store(counter.messages(), Ordering::Relaxed);
                }
            }
            Some(Err(_)) => this.meter.failed.store(true, Ordering::Relaxed),
            None => {}
        }
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

pin_project! {
    /// The response body sent downstream: the inner service's body, metered. The stream is
    /// recorded once, when the body ends: its last data frame (`is_end_stream`), trailers, its
    /// end, an error (`UR`), or its drop before the end (`DC`: the downstream went away).
    /// While a gRPC stream is open, polling the body also runs the reporting timer.
    ///
    /// ```
    /// # async fn demo(response: http::Response<meshtel_tower::ResponseBody<String>>) {
    /// use http_body_util::BodyExt;
    /// let body = response.into_body().collect().await; // recorded here
    /// # }
    /// ```
    #[derive(Debug)]
    pub struct ResponseBody<B> {
        #[pin]
        inner: B,
        state: Option<StreamState>,
    }

    impl<B> PinnedDrop for ResponseBody<B> {
        fn drop(this: Pin<&mut Self>) {
            let this = this.project();
            if let Some(state) = this.state.take() {
                state.finish(ResponseFlag::DownstreamConnectionTermination.into());
            }
        }
    }
}

impl<B> ResponseBody<B> {
    pub(crate) fn new(inner: B, state: StreamState) -> Self {
        Self {
            inner,
            state: Some(state),
        }
    }

    /// A body whose stream is already recorded (it had ended at the response head).
    pub(crate) const fn finished(inner: B) -> Self {
        Self { inner, state: None }
    }

    /// The wrapped body.
    pub fn get_ref(&self) -> &B {
        &self.inner
    }
}

impl<B: Body> Body for ResponseBody<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let mut this = self.project();
        if let Some(state) = this.state.as_mut() {
            state.poll_tick(cx);
        }
        let frame = ready!(this.inner.as_mut().poll_frame(cx));
        let Some(state) = this.state.as_mut() else {
            return Poll::Ready(frame);
        };
        let end = match &frame {
            Some(Ok(f)) => {
                state.on_response_frame(f);
                f.is_trailers().then(ResponseFlags::default)
            }
            Some(Err(_)) => Some(ResponseFlag::UpstreamRemoteReset.into()),
            None => Some(ResponseFlags::default()),
        };
        // hyper stops polling a body whose `is_end_stream` turns true, or once it has written
        // the `content-length` it announced.
        let end = end.or_else(|| (this.inner.is_end_stream() || state.body_complete()).then(ResponseFlags::default));
        if let Some(flags) = end
            && let Some(state) = this.state.take()
        {
            state.finish(flags);
        }
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

//! The sizes `request_bytes` and `response_bytes` count for heads and trailers.
//!
//! A stream's size is its header block, its body and its trailers. Header blocks are sized as
//! Envoy sizes a header map (`HeaderMap::byteSize`): the sum of name and value lengths of
//! every field, pseudo-headers included, with no framing, HPACK or line ends. So the same
//! request has the same size over HTTP/1.1 and HTTP/2. The pseudo-headers counted:
//!
//! - request: `:method`, `:path` (path and query), and `:scheme` and `:authority` when the
//!   request URI carries them (HTTP/2, or an HTTP/1.1 absolute-form target);
//! - response: `:status` (3 digits).
//!
//! Bodies count their data bytes (for gRPC, message prefixes included). Trailers count as a
//! header block; response trailers only when they reach the downstream: over HTTP/2, or over
//! HTTP/1.1 when the request said `te: trailers`. Fields the server writes itself (hyper's
//! `date`, `content-length`, `transfer-encoding`) are not in the service's header map and are
//! not counted.

use http::{HeaderMap, Method, StatusCode, Uri};

/// Sum of `name.len() + value.len()` over every field of `headers`.
///
/// ```
/// let mut h = http::HeaderMap::new();
/// h.insert("content-type", "text/plain".parse().unwrap());
/// assert_eq!(meshtel_tower::size::fields(&h), 12 + 10);
/// ```
pub fn fields(headers: &HeaderMap) -> u64 {
    headers
        .iter()
        .map(|(name, value)| (name.as_str().len() + value.len()) as u64)
        .sum()
}

/// The size of a request head: its pseudo-headers and fields.
///
/// ```
/// let req = http::Request::get("/a?b").header("host", "x").body(()).unwrap();
/// // ":method" "GET" + ":path" "/a?b" + "host" "x"
/// assert_eq!(meshtel_tower::size::request_head(req.method(), req.uri(), req.headers()), 7 + 3 + 5 + 4 + 4 + 1);
/// ```
pub fn request_head(method: &Method, uri: &Uri, headers: &HeaderMap) -> u64 {
    request_pseudo(method, uri) + fields(headers)
}

/// The size of a request's pseudo-headers.
pub(crate) fn request_pseudo(method: &Method, uri: &Uri) -> u64 {
    let mut n = ":method".len() + method.as_str().len();
    n += ":path".len() + uri.path_and_query().map_or(1, |p| p.as_str().len());
    if let Some(scheme) = uri.scheme_str() {
        n += ":scheme".len() + scheme.len();
    }
    if let Some(authority) = uri.authority() {
        n += ":authority".len() + authority.as_str().len();
    }
    n as u64
}

/// The size of a response head: `:status` and the fields.
///
/// ```
/// let h = http::HeaderMap::new();
/// assert_eq!(meshtel_tower::size::response_head(http::StatusCode::OK, &h), 10);
/// ```
pub fn response_head(_status: StatusCode, headers: &HeaderMap) -> u64 {
    STATUS + fields(headers)
}

/// The size of `:status` and its three digits.
pub(crate) const STATUS: u64 = (":status".len() + 3) as u64;

//! The metrics endpoint (`/client/metrics`, `/server/metrics`, content negotiation by
//! `Accept`) and the end-of-run summary read back from the exposition.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::Full;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};

use super::limits::{Activity, Limits, TimeoutCounts, serve_http};
use meshtel_metrics::{Format, Registry};
use tokio::net::TcpListener;

/// Serves each registry at `/<name>/metrics` (HTTP/1.1 or h2c), under `limits`; the
/// connections closed for being slow or idle count in `timeouts`.
pub(crate) async fn serve(
    listener: TcpListener,
    registries: Arc<Vec<(&'static str, Registry)>>,
    limits: Limits,
    timeouts: Arc<TimeoutCounts>,
) {
    loop {
        let stream = super::backend::accept(&listener).await;
        let (registries, timeouts) = (Arc::clone(&registries), Arc::clone(&timeouts));
        tokio::spawn(async move {
            let service = service_fn(move |req: Request<hyper::body::Incoming>| {
                let registries = Arc::clone(&registries);
                async move {
                    let path = req.uri().path();
                    let found = registries.iter().find(|(name, _)| {
                        path.strip_prefix('/').and_then(|p| p.strip_prefix(name)) == Some("/metrics")
                    });
                    let response = match found {
                        Some((_, registry)) => {
                            let accept = req.headers().get("accept").and_then(|v| v.to_str().ok());
                            let format = Format::from_accept(accept);
                            // Bytes, not a string: the protobuf exposition (meshtel-metrics'
                            // `protobuf` feature) is binary. Writing to a Vec cannot fail.
                            let mut body = Vec::new();
                            let _ = registry.render(format, &mut body);
                            Response::builder()
                                .header("content-type", format.content_type())
                                .body(Full::new(Bytes::from(body)))
                        }
                        None => Response::builder()
                            .status(StatusCode::NOT_FOUND)
                            .body(Full::new(Bytes::from_static(
                                b"try /client/metrics or /server/metrics\n",
                            ))),
                    };
                    Ok::<_, Infallible>(response.unwrap_or_default())
                }
            });
            if let Some(t) = serve_http(stream, Activity::new(), limits, service).await {
                timeouts.add(t);
            }
        });
    }
}

/// One sample of a Prometheus text exposition.
#[derive(Debug)]
pub(crate) struct Sample {
    pub(crate) name: String,
    pub(crate) labels: BTreeMap<String, String>,
    pub(crate) value: f64,
}

/// Parses the samples of a Prometheus text exposition (what meshtel-metrics writes).
pub(crate) fn samples(text: &str) -> Vec<Sample> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .filter_map(|line| {
            let (head, value) = line.rsplit_once(' ')?;
            let value = value.parse().ok()?;
            let (name, labels) = match head.split_once('{') {
                Some((n, rest)) => (n, parse_labels(rest.strip_suffix('}')?)),
                None => (head, BTreeMap::new()),
            };
            Some(Sample {
                name: name.to_owned(),
                labels,
                value,
            })
        })
        .collect()
}

fn parse_labels(mut rest: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    while let Some((name, after)) = rest.split_once("=\"") {
        let mut value = String::new();
        let mut end = after.len();
        let mut chars = after.char_indices();
        while let Some((i, c)) = chars.next() {
            match c {
                '\\' => {
                    if let Some((_, e)) = chars.next() {
                        value.push(if e == 'n' { '\n' } else { e });
                    }
                }
                '"' => {
                    end = i;
                    break;
                }
                c => value.push(c),
            }
        }
        out.insert(name.trim_start_matches(',').to_owned(), value);
        rest = after.get(end + 1..).unwrap_or("");
    }
    out
}

/// Sum of `metric` samples grouped by the values of `by`.
pub(crate) fn sum_by(samples: &[Sample], metric: &str, by: &[&str]) -> BTreeMap<Vec<String>, f64> {
    let mut out = BTreeMap::new();
    for s in samples.iter().filter(|s| s.name == metric) {
        let key = by
            .iter()
            .map(|k| s.labels.get(*k).cloned().unwrap_or_default())
            .collect();
        *out.entry(key).or_insert(0.0) += s.value;
    }
    out
}

/// The `q` quantile of a histogram's buckets merged over the series matching `filter`: the
/// smallest `le` whose cumulative count reaches `q` of the total (bucket resolution, as
/// Prometheus' `histogram_quantile` before interpolation).
pub(crate) fn quantile(samples: &[Sample], metric: &str, filter: &[(&str, &str)], q: f64) -> Option<String> {
    let bucket_name = format!("{metric}_bucket");
    let selected = |s: &&Sample| {
        s.name == bucket_name
            && filter
                .iter()
                .all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v))
    };
    let mut buckets: BTreeMap<u64, (String, f64)> = BTreeMap::new();
    for s in samples.iter().filter(selected) {
        let le = s.labels.get("le")?.clone();
        let key = if le == "+Inf" {
            u64::MAX
        } else {
            (le.parse::<f64>().ok()? * 1000.0) as u64
        };
        buckets.entry(key).or_insert((le, 0.0)).1 += s.value;
    }
    let total = buckets.values().last()?.1;
    if total == 0.0 {
        return None;
    }
    buckets
        .values()
        .find(|(_, count)| *count >= q * total)
        .map(|(le, _)| le.clone())
}

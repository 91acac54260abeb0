//! The `baggage` header as Istio's proxies and ztunnel write and read it
//! (`docs/reference/wire.md` §7).

use core::fmt;

use crate::workload::{WorkloadType, WorkloadView};

/// The largest baggage value read: 8 KiB, W3C's minimum supported size (W10).
pub const MAX_BAGGAGE_LEN: usize = 8 * 1024;

/// Member order of an emitted baggage value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum BaggageOrder {
    /// Istio's proxies (`docs/reference/wire.md` §7.1): workload, service, app, revision,
    /// version, namespace, cluster, instance, region, zone.
    #[default]
    Istio,
    /// ztunnel (`docs/reference/wire.md` §7.4): cluster, namespace, workload, service,
    /// revision, region, zone; no `app.*`, no instance.
    Ztunnel,
}

/// Why a baggage value yields no peer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BaggageError {
    /// Longer than [`MAX_BAGGAGE_LEN`]: ignored.
    #[error("baggage value of {len} bytes exceeds the {max}-byte limit")]
    TooLong {
        /// The value's length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// No recognised key with a non-empty value (W10): the next discovery
    /// method is tried.
    #[error("baggage has no recognised key with a non-empty value")]
    NoPeer,
    /// A byte that is not visible ASCII (ztunnel rejects the header).
    #[error("baggage byte {byte:#04x} at offset {offset} is not visible ASCII")]
    NotVisibleAscii {
        /// Offset of the byte within its header line.
        offset: usize,
        /// The byte.
        byte: u8,
    },
}

/// Writes the baggage value of `record` in `order`, omitting empty members.
///
/// ```
/// use meshtel_wire::baggage::{write_baggage, BaggageOrder};
/// use meshtel_wire::workload::WorkloadView;
/// let record = WorkloadView::from_endpoint_metadata("w;ns;;;").unwrap();
/// let mut out = String::new();
/// write_baggage(&record, BaggageOrder::Istio, &mut out)?;
/// assert_eq!(out, "k8s.pod.name=w,k8s.namespace.name=ns");
/// # Ok::<(), std::fmt::Error>(())
/// ```
///
/// # Errors
/// Only those of `out`.
pub fn write_baggage(record: &WorkloadView<'_>, order: BaggageOrder, out: &mut impl fmt::Write) -> fmt::Result {
    let mut sep = "";
    let mut member = |out: &mut dyn fmt::Write, key: &dyn fmt::Display, value: &str| {
        if value.is_empty() {
            return Ok(());
        }
        write!(out, "{sep}{key}={value}")?;
        sep = ",";
        Ok(())
    };
    match order {
        BaggageOrder::Istio => {
            // Unknown type is written as `pod` by the proxy.
            let kind = record.workload_type.wire_name().unwrap_or("pod");
            member(out, &format_args!("k8s.{kind}.name"), record.workload)?;
            member(out, &"service.name", record.service)?;
            if record.app != record.service {
                member(out, &"app.name", record.app)?;
            }
            member(out, &"service.version", record.revision)?;
            if record.version != record.revision {
                member(out, &"app.version", record.version)?;
            }
            member(out, &"k8s.namespace.name", record.namespace)?;
            member(out, &"k8s.cluster.name", record.cluster)?;
            member(out, &"k8s.instance.name", record.name)?;
        }
        BaggageOrder::Ztunnel => {
            member(out, &"k8s.cluster.name", record.cluster)?;
            member(out, &"k8s.namespace.name", record.namespace)?;
            let kind = record.workload_type.wire_name().unwrap_or("pod");
            member(out, &format_args!("k8s.{kind}.name"), record.workload)?;
            member(out, &"service.name", record.service)?;
            member(out, &"service.version", record.revision)?;
        }
    }
    member(out, &"cloud.region", record.region)?;
    member(out, &"cloud.availability_zone", record.availability_zone)
}

/// The baggage value of `record` (`alloc`); empty for empty metadata, and
/// then not to be sent (W11).
#[cfg(feature = "alloc")]
#[must_use]
pub fn baggage_string(record: &WorkloadView<'_>, order: BaggageOrder) -> alloc::string::String {
    let mut out = alloc::string::String::new();
    // Writing to a String cannot fail.
    let _ = write_baggage(record, order, &mut out);
    out
}

/// The `baggage` value of `record` in Istio's proxy order, as an
/// `http::HeaderValue` (feature `http`); `None` when it would be empty (not
/// sent, W11).
///
/// ```
/// use meshtel_wire::baggage::baggage_header_value;
/// use meshtel_wire::workload::WorkloadView;
/// let record = WorkloadView::from_endpoint_metadata("w;ns;;;").unwrap();
/// assert_eq!(baggage_header_value(&record).unwrap(), "k8s.pod.name=w,k8s.namespace.name=ns");
/// assert!(baggage_header_value(&WorkloadView::default()).is_none());
/// ```
#[cfg(feature = "http")]
#[must_use]
pub fn baggage_header_value(record: &WorkloadView<'_>) -> Option<http::HeaderValue> {
    let value = baggage_string(record, BaggageOrder::Istio);
    if value.is_empty() {
        return None;
    }
    http::HeaderValue::from_str(&value).ok()
}

/// Splits one member into key and value: the value is the text between the
/// first and a second `=`.
fn split_member(member: &str) -> (&str, Option<&str>) {
    match member.split_once('=') {
        Some((key, rest)) => (key, Some(rest.split('=').next().unwrap_or_default())),
        None => (member, None),
    }
}

fn workload_key(key: &str) -> Option<WorkloadType> {
    match key {
        "k8s.pod.name" => Some(WorkloadType::Pod),
        "k8s.deployment.name" => Some(WorkloadType::Deployment),
        "k8s.job.name" => Some(WorkloadType::Job),
        "k8s.cronjob.name" => Some(WorkloadType::CronJob),
        _ => None,
    }
}

/// Parses the first `baggage` header as Istio's proxy does (`docs/reference/wire.md` §7.3):
/// members split on `,` then `=`, no trimming or percent-decoding, later
/// keys overwrite, `service.*` and `app.*` fill each other in.
///
/// ```
/// use meshtel_wire::baggage::parse_baggage;
/// let r = parse_baggage("app.name=foo-app,app.version=latest")?;
/// assert_eq!((r.service, r.revision, r.app, r.version), ("foo-app", "latest", "foo-app", "latest"));
/// assert!(parse_baggage("k8s.workload.name=x").is_err());
/// # Ok::<(), meshtel_wire::baggage::BaggageError>(())
/// ```
///
/// # Errors
/// [`BaggageError::TooLong`] over 8 KiB; [`BaggageError::NoPeer`] when no
/// recognised key has a non-empty value (W10).
pub fn parse_baggage(value: &str) -> Result<WorkloadView<'_>, BaggageError> {
    if value.len() > MAX_BAGGAGE_LEN {
        return Err(BaggageError::TooLong {
            len: value.len(),
            max: MAX_BAGGAGE_LEN,
        });
    }
    let mut r = WorkloadView::default();
    let mut found = false;
    for member in value.split(',') {
        let (key, v) = split_member(member);
        let v = v.unwrap_or_default();
        let recognised = match key {
            "k8s.namespace.name" => {
                r.namespace = v;
                true
            }
            "k8s.cluster.name" => {
                r.cluster = v;
                true
            }
            "service.name" => {
                r.service = v;
                fill(&mut r.app, v);
                true
            }
            "app.name" => {
                r.app = v;
                fill(&mut r.service, v);
                true
            }
            "service.version" => {
                r.revision = v;
                fill(&mut r.version, v);
                true
            }
            "app.version" => {
                r.version = v;
                fill(&mut r.revision, v);
                true
            }
            "k8s.instance.name" => {
                r.name = v;
                true
            }
            "cloud.region" => {
                r.region = v;
                true
            }
            "cloud.availability_zone" => {
                r.availability_zone = v;
                true
            }
            _ => match workload_key(key) {
                Some(kind) => {
                    r.workload = v;
                    r.workload_type = kind;
                    true
                }
                None => false,
            },
        };
        found |= recognised && !v.is_empty();
    }
    if found { Ok(r) } else { Err(BaggageError::NoPeer) }
}

fn fill<'a>(slot: &mut &'a str, value: &'a str) {
    if slot.is_empty() {
        *slot = value;
    }
}

/// Parses every `baggage` header line, in order, as ztunnel does
/// (`docs/reference/wire.md` §7.4): a member needs an `=`, an empty value clears its field, `app.*` and
/// `k8s.instance.name` are ignored, later keys overwrite earlier ones across
/// lines.
///
/// ```
/// use meshtel_wire::baggage::parse_ztunnel_baggage;
/// let r = parse_ztunnel_baggage(["k8s.cluster.name=K1,k8s.namespace.name=NS1", "k8s.deployment.name=N1"])?;
/// assert_eq!((r.cluster, r.namespace, r.workload), ("K1", "NS1", "N1"));
/// # Ok::<(), meshtel_wire::baggage::BaggageError>(())
/// ```
///
/// # Errors
/// [`BaggageError::NotVisibleAscii`] for a byte outside visible ASCII
/// (space and tab allowed, as HTTP header values), [`BaggageError::TooLong`]
/// for a line over 8 KiB, [`BaggageError::NoPeer`] when nothing recognised
/// is left set.
pub fn parse_ztunnel_baggage<'a>(lines: impl IntoIterator<Item = &'a str>) -> Result<WorkloadView<'a>, BaggageError> {
    let mut r = WorkloadView::default();
    for line in lines {
        if line.len() > MAX_BAGGAGE_LEN {
            return Err(BaggageError::TooLong {
                len: line.len(),
                max: MAX_BAGGAGE_LEN,
            });
        }
        if let Some(offset) = line.bytes().position(|b| !(b == b'\t' || (b' '..=b'~').contains(&b))) {
            return Err(BaggageError::NotVisibleAscii {
                offset,
                byte: line.as_bytes()[offset],
            });
        }
        for member in line.split(',') {
            let (key, Some(v)) = split_member(member) else { continue };
            match key {
                "k8s.cluster.name" => r.cluster = v,
                "k8s.namespace.name" => r.namespace = v,
                "service.name" => r.service = v,
                "service.version" => r.revision = v,
                "cloud.region" => r.region = v,
                "cloud.availability_zone" => r.availability_zone = v,
                _ => {
                    if let Some(kind) = workload_key(key) {
                        r.workload = v;
                        r.workload_type = if v.is_empty() { WorkloadType::Unknown } else { kind };
                    }
                }
            }
        }
    }
    if r.is_empty() { Err(BaggageError::NoPeer) } else { Ok(r) }
}

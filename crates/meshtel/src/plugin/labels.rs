//! Label rendering: a label program's value as text over the bag, a group's label values
//! (connection-scoped ones from the connection's cache), and custom metric values.

use std::borrow::Cow;

use meshtel_expr::{Program, Value};
use meshtel_metrics::SeriesRef;

use super::groups::{GroupPlan, Id};
use crate::attrs::StatsBag;
use crate::plan::MAX_LABELS;

/// `response_flags` joined by `,`; borrowed when there is at most one code.
pub(super) fn join_flags<'a>(codes: &[&'a str], buf: &'a mut String) -> Option<&'a str> {
    match codes {
        [] => None,
        [one] => Some(one),
        many => {
            buf.clear();
            for (i, code) in many.iter().enumerate() {
                if i > 0 {
                    buf.push(',');
                }
                buf.push_str(code);
            }
            Some(buf.as_str())
        }
    }
}

/// A label's text: borrowed from the bag or the program when the value is text, otherwise its
/// text in the program's dialect written into `scratch`; `unknown` when evaluation fails
/// (`docs/reference/expressions.md` §6.6).
pub(super) fn render<'x>(program: &'x Program, bag: &'x StatsBag<'x>, scratch: &'x mut String) -> &'x str {
    match program.evaluate(bag) {
        Ok(
            Value::String(Cow::Borrowed(s))
            | Value::DnsName(Cow::Borrowed(s))
            | Value::EmailAddress(Cow::Borrowed(s))
            | Value::Uri(Cow::Borrowed(s)),
        ) => s,
        Ok(v) => {
            scratch.clear();
            let _ = program.write_text(&v, scratch);
            scratch.as_str()
        }
        Err(_) => "unknown",
    }
}

/// Writes the label values of `plan`'s group into `out` (the connection-scoped ones from
/// `cached` when given) and returns how many there are: exactly the group's label count,
/// the arity of its schema.
pub(super) fn fill<'x>(
    plan: &'x GroupPlan,
    bag: &'x StatsBag<'x>,
    cached: Option<&'x [String]>,
    scratch: &'x mut [String],
    out: &mut [&'x str; MAX_LABELS],
) -> usize {
    for (i, (label, buf)) in plan.labels.iter().zip(scratch.iter_mut()).enumerate() {
        out[i] = match cached {
            Some(texts) if !label.request_scoped => texts[i].as_str(),
            _ => render(&label.program, bag, buf),
        };
    }
    plan.labels.len()
}

/// A custom metric's value: the result's canonical text read as an unsigned decimal
/// integer; anything else, or an error, is 0 (`docs/reference/telemetry.md` §9.2).
fn custom_value(program: &Program, bag: &StatsBag<'_>, scratch: &mut String) -> u64 {
    match program.evaluate(bag) {
        Ok(Value::Int64(n)) => u64::try_from(n).unwrap_or(0),
        Ok(Value::Uint64(n)) => n,
        Ok(v) => {
            scratch.clear();
            let _ = program.write_text(&v, scratch);
            if !scratch.is_empty() && scratch.bytes().all(|b| b.is_ascii_digit()) {
                scratch.parse().unwrap_or(0)
            } else {
                0
            }
        }
        Err(_) => 0,
    }
}

/// Records a custom metric: adds (counter), sets (gauge) or observes (histogram) its value.
pub(super) fn record_custom(s: SeriesRef<'_>, id: Id, program: &Program, bag: &StatsBag<'_>, scratch: &mut String) {
    let v = custom_value(program, bag, scratch);
    match id {
        Id::Counter(c) => s.add(c, v),
        Id::Gauge(g) => s.set(g, i64::try_from(v).unwrap_or(i64::MAX)),
        Id::Histogram(h) => s.observe(h, v as f64),
    }
}

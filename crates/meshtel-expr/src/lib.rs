//! Istio's attribute-expression language — Mixer's CEXL — parsed, type-checked, compiled
//! and evaluated without allocation.
//!
//! Label expressions such as `source.labels["app"] | "unknown"` or
//! `conditional((context.reporter.kind | "inbound") == "outbound", "client", "server")` are
//! compiled once against an attribute [`Manifest`] into a [`Program`], then evaluated per
//! request against a [`Bag`] of attribute values. The behaviour follows the reference
//! implementation (Mixer's; see `docs/reference/expressions.md`) exactly, including `|`
//! presence rules, lazy `conditional`, Go duration literals, and the function library
//! (`ip`, `timestamp`, `dnsName`, `email`, `uri`, `match`, `.matches`, `.startsWith`,
//! `.endsWith`, `emptyStringMap`, `conditionalString`, `toLower`, `size`).
//!
//! ```
//! use meshtel_expr::{Dialect, Manifest, Program, SlotBag, Value};
//!
//! let manifest = Manifest::istio();
//! let app = Program::compile(Dialect::Mixer, r#"source.labels["app"] | "unknown""#, &manifest)?;
//!
//! let labels = [("app", "reviews"), ("version", "v2")];
//! let mut bag = SlotBag::new(&manifest);
//! bag.set_named(&manifest, "source.labels", Value::StringMap(&labels));
//! assert_eq!(app.evaluate(&bag)?.to_string(), "reviews");
//!
//! bag.clear();
//! assert_eq!(app.evaluate(&bag)?.to_string(), "unknown");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Errors say what and where: [`CompileError::render`] puts a caret under the offending
//! part of the source.
//!
//! Allocation: evaluating attributes, defaults, map indexing, `conditional`, comparisons,
//! `match`, `.matches` with a constant pattern, `startsWith`/`endsWith`, `size` and `ip`
//! allocates nothing. `toLower` allocates only when the text changes, `+` on text only when
//! both sides are non-empty, and a `.matches` whose pattern is not a constant compiles it on
//! each evaluation. (The first `.matches` on a thread also lets the `regex` crate build its
//! per-thread matching cache.) `tests/alloc_free.rs` proves this with a counting allocator.

#![forbid(unsafe_code)]

extern crate alloc;

mod bag;
mod cel;
mod compile;
mod error;
mod eval;
mod func;
#[cfg(fuzzing)]
pub mod fuzzing;
mod manifest;
#[cfg(any(test, fuzzing))]
mod oracle;
mod program;
mod syntax;
mod types;
mod value;

/// The code of `README.md`, compiled and run as a doctest.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;

pub use bag::{Attr, Bag, SlotBag};
pub use error::{CompileError, CompileErrorKind, EvalError, EvalErrorKind, Span};
pub use func::duration::NotADuration;
pub use func::time::TimestampParseError;
pub use manifest::{AttrId, ENVOY_VOCABULARY, ISTIO_VOCABULARY, Manifest};
pub use program::{Dialect, Limits, Program, UnknownDialect};
pub use types::{UnknownValueType, ValueType};
pub use value::{Duration, EmptyStringMap, StringMap, Timestamp, Value};

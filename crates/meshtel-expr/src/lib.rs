//! Istio's label expressions, compiled once and evaluated without allocation, in two dialects
//! on one program tree: CEL ([`Dialect::Cel`], the default), the Common Expression Language
//! over Envoy's attributes as Envoy evaluates it with cel-cpp (parsed, not type-checked), and
//! Mixer's CEXL ([`Dialect::Mixer`]), Istio's attribute-expression language, parsed and
//! type-checked.
//!
//! Label expressions such as `has(request.host) ? request.host : "unknown"` (CEL) or
//! `source.labels["app"] | "unknown"` (Mixer) are compiled once against an attribute
//! [`Manifest`] into a [`Program`], then evaluated per request against a [`Bag`] of attribute
//! values. [`Manifest::envoy`] is Envoy's CEL vocabulary with Istio's peer objects
//! (`filter_state.upstream_peer.*`, …); [`Manifest::istio`] is Istio's Mixer-era vocabulary.
//!
//! ```
//! use meshtel_expr::{Dialect, Manifest, Program, SlotBag, Value};
//!
//! let manifest = Manifest::envoy();
//! let host = Program::compile(Dialect::Cel, r#"has(request.host) ? request.host : "unknown""#, &manifest)?;
//!
//! let mut bag = SlotBag::new(&manifest);
//! bag.set_named(&manifest, "request.host", Value::str("reviews:9080"));
//! let mut text = String::new();
//! host.write_text(&host.evaluate(&bag)?, &mut text)?; // label text, as CEL's string() writes it
//! assert_eq!(text, "reviews:9080");
//!
//! bag.clear();
//! assert_eq!(host.evaluate(&bag)?.to_string(), "unknown");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! CEL follows Envoy: heterogeneous numeric comparison, checked arithmetic, error-absorbing
//! `&&`/`||`, strict map indexing, the macros and the standard functions; only syntax errors,
//! unknown functions and wrong arities are compile errors, and type errors surface when the
//! expression is evaluated. The Mixer dialect follows the reference implementation (Mixer's;
//! see `docs/reference/expressions.md`) exactly, including `|` presence rules, lazy
//! `conditional`, Go duration literals, and the function library (`ip`, `timestamp`,
//! `dnsName`, `email`, `uri`, `match`, `.matches`, `.startsWith`, `.endsWith`,
//! `emptyStringMap`, `conditionalString`, `toLower`, `size`).
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
//! Allocation: evaluating the label forms allocates nothing in either dialect — attributes,
//! defaults and `has()`, map indexing, conditionals, comparisons, `&&`/`||`, `.matches` with a
//! constant pattern, `startsWith`/`endsWith`, `size`, and `match` and `ip` in Mixer,
//! `contains` and `in` in CEL. `toLower` allocates only when the text changes, `+` on text
//! only when both sides are non-empty, and a `.matches` whose pattern is not a constant
//! compiles it on each evaluation; in CEL, `string(x)` of a non-string, bytes and list
//! concatenation, list and map literals and comprehension results allocate. (The first
//! `.matches` on a thread also lets the `regex` crate build its per-thread matching cache.)
//! `tests/alloc_free.rs` proves this with a counting allocator.

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

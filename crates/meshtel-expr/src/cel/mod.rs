//! The CEL dialect (`docs/reference/expressions.md` §10): CEL's syntax, parsed here and
//! lowered onto the same program tree as the attribute language, with the operations CEL
//! adds evaluated by CEL's rules (heterogeneous numeric equality, checked arithmetic,
//! error-absorbing `&&`/`||`, strict map indexing).
//!
//! Envoy parses CEL and evaluates it without the type checker, so only syntax errors are
//! compile errors here too; type errors surface when the expression is evaluated.

pub(crate) mod ast;
mod calendar;
pub(crate) mod eval;
pub(crate) mod functions;
mod lexer;
pub(crate) mod lower;
pub(crate) mod ops;
pub(crate) mod parser;
mod text;

use alloc::sync::Arc;

pub(crate) use self::ast::{BinaryOp, Macro, UnaryOp};
pub(crate) use self::lower::Lowerer;
pub(crate) use self::text::{write_double, write_duration, write_timestamp};
use crate::compile::{AttrRef, Node, Pattern};

/// A CEL library function.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Function {
    Size,
    Contains,
    StartsWith,
    EndsWith,
    /// `s.matches(re)` or `matches(s, re)` with a pattern known only at run time.
    Matches,
    Int,
    Uint,
    Double,
    String,
    Bytes,
    Bool,
    Timestamp,
    Duration,
    Dyn,
    Type,
    Accessor(Accessor),
}

/// A timestamp or duration accessor (`getHours`, …).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Accessor {
    FullYear,
    Month,
    DayOfYear,
    DayOfMonth,
    Date,
    DayOfWeek,
    Hours,
    Minutes,
    Seconds,
    Milliseconds,
}

/// A comprehension macro lowered: the iteration variable is a slot past the manifest's
/// attributes, read through a scoped bag while the body runs.
#[derive(Debug)]
pub(crate) struct Loop {
    pub(crate) kind: Macro,
    pub(crate) range: Node,
    pub(crate) var: AttrRef,
    pub(crate) filter: Option<Node>,
    pub(crate) body: Node,
}

/// A constant of a CEL type the attribute language does not have.
#[derive(Debug)]
pub(crate) enum CelConst {
    Uint(u64),
    Bytes(Box<[u8]>),
    Null,
    Type(crate::ValueType),
}

/// The operations CEL adds to the program tree.
#[derive(Debug)]
pub(crate) enum CelOp {
    Const(CelConst),
    /// A comprehension variable.
    Local(AttrRef),
    /// A name that resolves to nothing: an error when evaluated, as in Envoy.
    Undeclared(Box<str>),
    /// An attribute namespace read as a whole (`filter_state.upstream_peer`): a map of its
    /// present attributes.
    Namespace(Box<[(Box<str>, Node)]>),
    /// `m["k"]` or `m.k` on a map attribute with a constant key: a missing key is an error.
    IndexConst(AttrRef, Box<str>),
    /// `has(m.k) ? m.k : d` and `"k" in m ? m["k"] : d` on a map attribute.
    IndexConstOr(AttrRef, Box<str>, Box<Node>),
    /// `has(a.b)` on an attribute.
    HasAttr(AttrRef),
    /// `has(ns.sub)` on a namespace: whether any attribute under it is present.
    HasAny(Box<[AttrRef]>),
    /// `then`, if any attribute of the enclosing object `parent` is present; otherwise a
    /// missing `key` (`has()` below a missing object).
    Guarded {
        parent: Box<[AttrRef]>,
        key: Box<str>,
        then: Box<Node>,
    },
    /// `has(m.k)` or `"k" in m` on a map attribute with a constant key.
    HasKey(AttrRef, Box<str>),
    /// `x.f` on a value known only at run time.
    Select(Box<Node>, Box<str>),
    /// `has(x.f)` on a value known only at run time.
    HasField(Box<Node>, Box<str>),
    Index(Box<[Node; 2]>),
    Unary(UnaryOp, Box<Node>),
    /// `&&` (`and`) or `||`, absorbing errors in either order.
    Logic {
        and: bool,
        operands: Box<[Node; 2]>,
    },
    Conditional(Box<[Node; 3]>),
    /// Comparison, `in` and arithmetic operators.
    Binary(BinaryOp, Box<[Node; 2]>),
    List(Box<[Node]>),
    Map(Box<[(Node, Node)]>),
    /// A library function; operands receiver first.
    Call(Function, Box<[Node]>),
    /// `string(a)` of an `int` attribute (`string(response.code)`): the commonest conversion
    /// in labels, read and converted in one step.
    StringOfInt(AttrRef),
    /// `s.matches(re)` with a constant pattern, compiled once.
    MatchesConst {
        pattern: Pattern,
        text: Box<Node>,
    },
    Comprehension(Box<Loop>),
}

/// The type names CEL resolves as values (`type(1) == int`).
pub(crate) fn type_named(name: &str) -> Option<crate::ValueType> {
    use crate::ValueType as V;
    Some(match name {
        "int" => V::Int64,
        "uint" => V::Uint64,
        "double" => V::Double,
        "bool" => V::Bool,
        "string" => V::String,
        "bytes" => V::Bytes,
        "list" => V::List,
        "map" => V::Map,
        "null_type" => V::Null,
        "type" => V::Type,
        "google.protobuf.Timestamp" => V::Timestamp,
        "google.protobuf.Duration" => V::Duration,
        _ => return None,
    })
}

/// Shares a name with the program (errors and references borrow it).
pub(crate) fn shared(name: &str) -> Arc<str> {
    Arc::from(name)
}

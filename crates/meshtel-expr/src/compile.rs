//! Type checking and compilation of a syntax tree into a program tree
//! (`docs/reference/expressions.md` §4, §5).
//!
//! The program is a tree of type-specialised operations: every attribute is resolved to its
//! manifest id, every operator to the variant for its operand type, and constant regular
//! expressions are compiled once. See `docs/expressions.md` for why a tree and not bytecode.

use alloc::sync::Arc;

use regex::Regex;

use crate::syntax::ast::{Call, Constant, Expr, ExprKind, infix};
use crate::{AttrId, CompileError, CompileErrorKind as K, Manifest, Span, ValueType};

/// A comparison operator.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum CmpOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

/// A one-argument library function evaluated strictly.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Func1 {
    Size,
    Ip,
    Timestamp,
    DnsName,
    Email,
    Uri,
    ToLower,
}

/// A constant pattern of `matches`, compiled at compile time; an invalid one is a runtime error.
#[derive(Debug)]
pub(crate) enum Pattern {
    Constant(Result<Regex, Box<str>>),
    Dynamic(Box<Node>),
}

/// A constant of a program (kept apart from [`Value`] so programs are `Send + Sync`).
#[derive(Debug)]
pub(crate) enum Const {
    Text(Box<str>),
    Int64(i64),
    Double(f64),
    Bool(bool),
    Duration(crate::Duration),
}

/// An attribute resolved against the manifest.
#[derive(Debug)]
pub(crate) struct AttrRef {
    pub(crate) id: AttrId,
    pub(crate) name: Arc<str>,
    pub(crate) ty: ValueType,
}

#[derive(Debug)]
pub(crate) enum Op {
    Const(Const),
    EmptyMap,
    Attr(AttrRef),
    /// `attr | default`: the most common label form, one bag read.
    AttrOr(AttrRef, Box<Node>),
    /// `map["key"]` with an attribute map and a constant key.
    IndexConst(AttrRef, Box<str>),
    /// `map["key"] | default`.
    IndexConstOr(AttrRef, Box<str>, Box<Node>),
    /// `x == "text"` or `x != "text"` (either order) on STRING: no value built for the
    /// constant.
    EqText {
        negate: bool,
        node: Box<Node>,
        text: Box<str>,
    },
    /// The same with an INT64, DOUBLE or BOOL constant.
    EqConst {
        negate: bool,
        node: Box<Node>,
        constant: Const,
    },
    Index(Box<[Node; 2]>),
    Or(Box<[Node; 2]>),
    And(Box<[Node; 2]>),
    Lor(Box<[Node; 2]>),
    Conditional(Box<[Node; 3]>),
    ConditionalString(Box<[Node; 3]>),
    Cmp(CmpOp, Box<[Node; 2]>),
    Add(ValueType, Box<[Node; 2]>),
    Call1(Func1, Box<Node>),
    Match(Box<[Node; 2]>),
    Matches {
        pattern: Pattern,
        text: Box<Node>,
    },
    StartsWith(Box<[Node; 2]>),
    EndsWith(Box<[Node; 2]>),
}

/// One operation of a program, with the span of the source it came from.
#[derive(Debug)]
pub(crate) struct Node {
    pub(crate) op: Op,
    pub(crate) span: Span,
}

/// A parameter or result type in a signature: a concrete type or the template `T`.
#[derive(Clone, Copy)]
enum P {
    Is(ValueType),
    T,
}

struct Signature {
    name: &'static str,
    method: bool,
    params: &'static [P],
    ret: P,
}

const fn sig(name: &'static str, method: bool, params: &'static [P], ret: P) -> Signature {
    Signature {
        name,
        method,
        params,
        ret,
    }
}

use ValueType as V;
const S: P = P::Is(V::String);
const B: P = P::Is(V::Bool);

/// The function table of `docs/reference/expressions.md` §5.1.
const FUNCTIONS: [Signature; 25] = [
    sig("EQ", false, &[P::T, P::T], B),
    sig("NEQ", false, &[P::T, P::T], B),
    sig("LT", false, &[P::T, P::T], B),
    sig("LEQ", false, &[P::T, P::T], B),
    sig("GT", false, &[P::T, P::T], B),
    sig("GEQ", false, &[P::T, P::T], B),
    sig("LAND", false, &[B, B], B),
    sig("LOR", false, &[B, B], B),
    sig("OR", false, &[P::T, P::T], P::T),
    sig("ADD", false, &[P::T, P::T], P::T),
    sig("INDEX", false, &[P::Is(V::StringMap), S], S),
    sig("conditional", false, &[B, P::T, P::T], P::T),
    sig("size", false, &[S], P::Is(V::Int64)),
    sig("ip", false, &[S], P::Is(V::IpAddress)),
    sig("timestamp", false, &[S], P::Is(V::Timestamp)),
    sig("dnsName", false, &[S], P::Is(V::DnsName)),
    sig("email", false, &[S], P::Is(V::EmailAddress)),
    sig("uri", false, &[S], P::Is(V::Uri)),
    sig("match", false, &[S, S], B),
    sig("matches", true, &[S], B),
    sig("startsWith", true, &[S], B),
    sig("endsWith", true, &[S], B),
    sig("emptyStringMap", false, &[], P::Is(V::StringMap)),
    sig("conditionalString", false, &[B, S, S], S),
    sig("toLower", false, &[S], S),
];

/// How an error names a function: operators by their symbol.
fn shown(name: &str) -> String {
    match name {
        "INDEX" => "'[]'".to_owned(),
        _ => infix(name).map_or_else(|| format!("{name}()"), |symbol| format!("'{symbol}'")),
    }
}

/// Rewrites the common label shapes into single operations with the same semantics.
fn specialise(op: Op) -> Op {
    match op {
        Op::Or(pair) => {
            let [left, right] = *pair;
            match left.op {
                Op::Attr(attr) => Op::AttrOr(attr, Box::new(right)),
                Op::IndexConst(map, key) => Op::IndexConstOr(map, key, Box::new(right)),
                other => Op::Or(Box::new([
                    Node {
                        op: other,
                        span: left.span,
                    },
                    right,
                ])),
            }
        }
        Op::Index(pair) => match *pair {
            [
                Node { op: Op::Attr(map), .. },
                Node {
                    op: Op::Const(Const::Text(key)),
                    ..
                },
            ] => Op::IndexConst(map, key),
            other => Op::Index(Box::new(other)),
        },
        Op::Cmp(cmp @ (CmpOp::Eq | CmpOp::Ne), pair) => {
            let [a, b] = *pair;
            let negate = cmp == CmpOp::Ne;
            match (a, b) {
                (
                    node,
                    Node {
                        op: Op::Const(constant),
                        ..
                    },
                )
                | (
                    Node {
                        op: Op::Const(constant),
                        ..
                    },
                    node,
                ) if !matches!(constant, Const::Duration(_)) => match constant {
                    Const::Text(text) => Op::EqText {
                        negate,
                        node: Box::new(node),
                        text,
                    },
                    constant => Op::EqConst {
                        negate,
                        node: Box::new(node),
                        constant,
                    },
                },
                (a, b) => Op::Cmp(cmp, Box::new([a, b])),
            }
        }
        other => other,
    }
}

pub(crate) struct Checker<'m, 's> {
    pub(crate) manifest: &'m Manifest,
    pub(crate) source: &'s str,
}

fn pair(a: Node, b: Node) -> Box<[Node; 2]> {
    Box::new([a, b])
}

impl Checker<'_, '_> {
    fn text(&self, e: &Expr) -> &str {
        e.span.text(self.source)
    }

    pub(crate) fn check(&self, e: &Expr) -> Result<(Node, ValueType), CompileError> {
        let span = e.span;
        let (op, ty) = match &e.kind {
            ExprKind::Constant(c) => {
                let (v, ty) = match c {
                    Constant::String(s) => (Const::Text(s.as_str().into()), V::String),
                    Constant::Int64(v) => (Const::Int64(*v), V::Int64),
                    Constant::Double(v) => (Const::Double(*v), V::Double),
                    Constant::Bool(v) => (Const::Bool(*v), V::Bool),
                    Constant::Duration(d) => (Const::Duration(*d), V::Duration),
                };
                (Op::Const(v), ty)
            }
            ExprKind::Attribute(name) => {
                let Some((id, ty)) = self.manifest.get(name) else {
                    return Err(CompileError::new(
                        K::UnknownAttribute,
                        span,
                        format!("{name} is not in the attribute manifest"),
                    ));
                };
                (
                    Op::Attr(AttrRef {
                        id,
                        name: self.manifest.shared_name(id),
                        ty,
                    }),
                    ty,
                )
            }
            ExprKind::Call(call) => {
                let (op, ty) = self.call(e, call)?;
                (specialise(op), ty)
            }
        };
        Ok((Node { op, span }, ty))
    }

    fn call(&self, e: &Expr, call: &Call) -> Result<(Op, ValueType), CompileError> {
        let Some(sig) = FUNCTIONS.iter().find(|f| f.name == call.name) else {
            return Err(CompileError::new(
                K::UnknownFunction,
                call.name_span,
                format!("{} is not a function of the language", call.name),
            ));
        };
        match (&call.receiver, sig.method) {
            (Some(_), false) => {
                return Err(CompileError::new(
                    K::CallForm,
                    e.span,
                    format!("invoking regular function as an instance method: {}", call.name),
                ));
            }
            (None, true) => {
                return Err(CompileError::new(
                    K::CallForm,
                    e.span,
                    format!("invoking instance method without an instance: {}", call.name),
                ));
            }
            _ => {}
        }
        if call.args.len() != sig.params.len() {
            return Err(CompileError::new(
                K::Arity,
                e.span,
                format!(
                    "{} takes {} argument(s), got {}: `{}`",
                    shown(&call.name),
                    sig.params.len(),
                    call.args.len(),
                    self.text(e)
                ),
            ));
        }
        let receiver = match &call.receiver {
            Some(r) => {
                let (node, ty) = self.check(r)?;
                if ty != ValueType::String {
                    return Err(CompileError::new(
                        K::TypeMismatch,
                        r.span,
                        format!(
                            "the receiver of {} (`{}`) has type {ty}, expected STRING",
                            shown(&call.name),
                            self.text(r)
                        ),
                    ));
                }
                Some(node)
            }
            None => None,
        };
        let mut t: Option<ValueType> = None;
        let mut args = Vec::with_capacity(call.args.len());
        for (k, (arg, param)) in call.args.iter().zip(sig.params).enumerate() {
            let (node, ty) = self.check(arg)?;
            let expected = match param {
                P::Is(ty) => *ty,
                P::T => *t.get_or_insert(ty),
            };
            if ty != expected {
                return Err(CompileError::new(
                    K::TypeMismatch,
                    arg.span,
                    format!(
                        "argument {} of {} (`{}`) has type {ty}, expected {expected}",
                        k + 1,
                        shown(&call.name),
                        self.text(arg)
                    ),
                ));
            }
            args.push(node);
        }
        let ret = match sig.ret {
            P::Is(ty) => ty,
            P::T => t.unwrap_or(ValueType::String),
        };
        let unsupported = |what: &str| {
            CompileError::new(
                K::UnsupportedOperation,
                e.span,
                format!("{what} is not supported for {}", t.unwrap_or(ret)),
            )
        };
        let mut args = args.into_iter();
        let mut next = || {
            args.next().unwrap_or(Node {
                op: Op::Const(Const::Bool(false)),
                span: e.span,
            })
        };
        let cmp = |op: CmpOp, a: Node, b: Node| -> Result<Op, CompileError> {
            let ty = t.unwrap_or(ValueType::String);
            let ok = match op {
                CmpOp::Eq | CmpOp::Ne => !matches!(ty, V::Duration | V::StringMap),
                _ => matches!(
                    ty,
                    V::String | V::Int64 | V::Double | V::Timestamp | V::DnsName | V::EmailAddress | V::Uri
                ),
            };
            if !ok {
                let what = if matches!(op, CmpOp::Eq | CmpOp::Ne) {
                    "equality"
                } else {
                    "ordering"
                };
                return Err(unsupported(what));
            }
            Ok(Op::Cmp(op, pair(a, b)))
        };
        let op = match call.name.as_str() {
            "EQ" => cmp(CmpOp::Eq, next(), next())?,
            "NEQ" => cmp(CmpOp::Ne, next(), next())?,
            "LT" => cmp(CmpOp::Lt, next(), next())?,
            "LEQ" => cmp(CmpOp::Le, next(), next())?,
            "GT" => cmp(CmpOp::Gt, next(), next())?,
            "GEQ" => cmp(CmpOp::Ge, next(), next())?,
            "LAND" => Op::And(pair(next(), next())),
            "LOR" => Op::Lor(pair(next(), next())),
            "OR" => Op::Or(pair(next(), next())),
            "ADD" => {
                if !matches!(
                    ret,
                    V::String | V::Int64 | V::Double | V::DnsName | V::EmailAddress | V::Uri
                ) {
                    return Err(unsupported("addition"));
                }
                Op::Add(ret, pair(next(), next()))
            }
            "INDEX" => Op::Index(pair(next(), next())),
            "conditional" => Op::Conditional(Box::new([next(), next(), next()])),
            "conditionalString" => Op::ConditionalString(Box::new([next(), next(), next()])),
            "size" => Op::Call1(Func1::Size, Box::new(next())),
            "ip" => Op::Call1(Func1::Ip, Box::new(next())),
            "timestamp" => Op::Call1(Func1::Timestamp, Box::new(next())),
            "dnsName" => Op::Call1(Func1::DnsName, Box::new(next())),
            "email" => Op::Call1(Func1::Email, Box::new(next())),
            "uri" => Op::Call1(Func1::Uri, Box::new(next())),
            "toLower" => Op::Call1(Func1::ToLower, Box::new(next())),
            "match" => Op::Match(pair(next(), next())),
            "emptyStringMap" => Op::EmptyMap,
            "matches" => {
                let receiver = receiver.unwrap_or_else(&mut next);
                let pattern = match &receiver.op {
                    Op::Const(Const::Text(p)) => Pattern::Constant(crate::func::regex::compile(p).map_err(Into::into)),
                    _ => Pattern::Dynamic(Box::new(receiver)),
                };
                Op::Matches {
                    pattern,
                    text: Box::new(next()),
                }
            }
            "startsWith" => Op::StartsWith(pair(receiver.unwrap_or_else(&mut next), next())),
            "endsWith" => Op::EndsWith(pair(receiver.unwrap_or_else(&mut next), next())),
            other => {
                return Err(CompileError::new(
                    K::UnknownFunction,
                    call.name_span,
                    format!("{other} is not a function of the language"),
                ));
            }
        };
        Ok((op, ret))
    }
}

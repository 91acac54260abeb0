//! Type checking and compilation of a syntax tree into a program tree
//! (`docs/reference/expressions.md` §4, §5).
//!
//! The program is a tree of type-specialised operations: every attribute is resolved to its
//! manifest id, every operator to the variant for its operand type, and constant regular
//! expressions are compiled once. See `docs/expressions.md` for why a tree and not bytecode.

mod builtin;

use alloc::sync::Arc;

use regex::Regex;

use self::builtin::{Builtin, CallForm, Form, Lowering, P, Spec, Unsupported};
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
#[derive(Debug, Clone)]
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
    /// The operations of the CEL dialect.
    Cel(crate::cel::CelOp),
}

/// One operation of a program, with the span of the source it came from.
#[derive(Debug)]
pub(crate) struct Node {
    pub(crate) op: Op,
    pub(crate) span: Span,
}

use ValueType as V;

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

#[allow(clippy::unnecessary_box_returns, reason = "boxed, the two operands keep `Op` small")]
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

    /// Checks a call against the signature of the function it names and lowers it.
    fn call(&self, e: &Expr, call: &Call) -> Result<(Op, ValueType), CompileError> {
        let Some(builtin) = Builtin::from_name(&call.name) else {
            return Err(CompileError::new(
                K::UnknownFunction,
                call.name_span,
                format!("{} is not a function of the language", call.name),
            ));
        };
        let spec = builtin.spec();
        Self::check_call_form(e, call, spec.call)?;
        let operands: Vec<&Expr> = call.receiver.as_deref().into_iter().chain(&call.args).collect();
        let mut typing = Operands {
            checker: self,
            call,
            spec: &spec,
            template: None,
        };
        // The one arity check: each form matches exactly its number of operands.
        let lowered = match (&spec.form, operands.as_slice()) {
            (Form::Args0(l), []) => typing.lower(l, []),
            (Form::Args1(l), [a]) => {
                let nodes = [typing.check(0, a, l.params[0])?];
                typing.lower(l, nodes)
            }
            (Form::Args2(l), [a, b]) => {
                let nodes = [typing.check(0, a, l.params[0])?, typing.check(1, b, l.params[1])?];
                typing.lower(l, nodes)
            }
            (Form::Args3(l), [a, b, c]) => {
                let nodes = [
                    typing.check(0, a, l.params[0])?,
                    typing.check(1, b, l.params[1])?,
                    typing.check(2, c, l.params[2])?,
                ];
                typing.lower(l, nodes)
            }
            _ => {
                return Err(CompileError::new(
                    K::Arity,
                    e.span,
                    format!(
                        "{} takes {} argument(s), got {}: `{}`",
                        shown(&call.name),
                        spec.arguments(),
                        call.args.len(),
                        self.text(e)
                    ),
                ));
            }
        };
        let op = lowered.map_err(|Unsupported(what)| {
            CompileError::new(
                K::UnsupportedOperation,
                e.span,
                format!("{what} is not supported for {}", typing.template()),
            )
        })?;
        Ok((op, typing.result()))
    }

    /// A method needs a receiver; a function must not have one.
    fn check_call_form(e: &Expr, call: &Call, form: CallForm) -> Result<(), CompileError> {
        let problem = match (&call.receiver, form) {
            (Some(_), CallForm::Function) => "invoking regular function as an instance method",
            (None, CallForm::Method) => "invoking instance method without an instance",
            _ => return Ok(()),
        };
        Err(CompileError::new(
            K::CallForm,
            e.span,
            format!("{problem}: {}", call.name),
        ))
    }
}

/// The operands of one call being checked against its signature: fixes the type `T` stands
/// for at the first operand in a `T` position.
struct Operands<'c, 'm, 's> {
    checker: &'c Checker<'m, 's>,
    call: &'c Call,
    spec: &'c Spec,
    template: Option<ValueType>,
}

impl Operands<'_, '_, '_> {
    /// Checks operand `k` (the receiver of a method is operand 0) against its parameter.
    fn check(&mut self, k: usize, e: &Expr, param: P) -> Result<Node, CompileError> {
        let (node, ty) = self.checker.check(e)?;
        let expected = match param {
            P::Is(ty) => ty,
            P::T => *self.template.get_or_insert(ty),
        };
        if ty == expected {
            return Ok(node);
        }
        let name = shown(&self.call.name);
        let text = self.checker.text(e);
        let message = match (self.spec.call, k) {
            (CallForm::Method, 0) => {
                format!("the receiver of {name} (`{text}`) has type {ty}, expected {expected}")
            }
            (CallForm::Method, k) => format!("argument {k} of {name} (`{text}`) has type {ty}, expected {expected}"),
            (CallForm::Function, k) => {
                format!(
                    "argument {} of {name} (`{text}`) has type {ty}, expected {expected}",
                    k + 1
                )
            }
        };
        Err(CompileError::new(K::TypeMismatch, e.span, message))
    }

    /// The result type of the call.
    fn result(&self) -> ValueType {
        match self.spec.ret {
            P::Is(ty) => ty,
            P::T => self.template.unwrap_or(V::String),
        }
    }

    /// The type `T` stands for, or for a function without `T` its result type.
    fn template(&self) -> ValueType {
        self.template.unwrap_or_else(|| self.result())
    }

    fn lower<const N: usize>(&self, lowering: &Lowering<N>, nodes: [Node; N]) -> builtin::Lowered {
        (lowering.lower)(nodes, self.template())
    }
}

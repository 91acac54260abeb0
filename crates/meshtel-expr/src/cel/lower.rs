//! Lowering a CEL tree onto the program tree (`docs/reference/expressions.md` §10.3).
//!
//! Attribute names are resolved now: a selection chain (`filter_state.upstream_peer.app`,
//! `request["host"]`) that names a manifest attribute becomes one bag read, a namespace
//! becomes a map of its attributes, and a name nothing defines becomes an error raised when
//! it is evaluated (Envoy compiles it too). The label shapes get the single operations of the
//! attribute language: `has(a.b) ? a.b : d` is the same `AttrOr` as `a.b | d`.

use super::ast::{BinaryOp, Call, Constant, Expr, Kind};
use super::{Accessor, CelConst, CelOp, Function, Loop, type_named};
use crate::compile::{AttrRef, Const, Node, Op, Pattern};
use crate::{AttrId, CompileError, CompileErrorKind as K, Manifest, ValueType as V};

type Result<T> = core::result::Result<T, CompileError>;

/// What a dotted name is in the manifest.
enum Resolved {
    Attribute(AttrId, V),
    Namespace,
    Nothing,
}

/// The lowering of one expression: the manifest, the comprehension variables in scope, and
/// the attributes referenced so far.
pub(crate) struct Lowerer<'m> {
    manifest: &'m Manifest,
    scopes: Vec<(String, AttrRef)>,
    references: Vec<AttrId>,
}

/// A lowered node and its static type, when known.
type Lowered = (Node, Option<V>);

fn node(op: Op, span: crate::Span) -> Node {
    Node { op, span }
}

fn cel(op: CelOp, span: crate::Span) -> Node {
    Node { op: Op::Cel(op), span }
}

impl<'m> Lowerer<'m> {
    pub(crate) const fn new(manifest: &'m Manifest) -> Self {
        Self {
            manifest,
            scopes: Vec::new(),
            references: Vec::new(),
        }
    }

    /// The attributes named, in order of first appearance.
    pub(crate) fn into_references(self) -> Vec<AttrId> {
        self.references
    }

    fn local(&self, name: &str) -> Option<&AttrRef> {
        self.scopes.iter().rev().find(|(n, _)| n == name).map(|(_, r)| r)
    }

    fn resolve(&self, name: &str) -> Resolved {
        if let Some((id, ty)) = self.manifest.get(name) {
            return Resolved::Attribute(id, ty);
        }
        let under = |n: &str| n.len() > name.len() && n.starts_with(name) && n.as_bytes()[name.len()] == b'.';
        if self.manifest.iter().any(|(_, n, _)| under(n)) {
            Resolved::Namespace
        } else {
            Resolved::Nothing
        }
    }

    /// The dotted name of a selection chain rooted at a name that is not a comprehension
    /// variable. A constant string index counts as a selection (`request["host"]`) unless
    /// the key has a dot, which no attribute name segment can hold.
    fn path(&self, e: &Expr) -> Option<String> {
        match &e.kind {
            Kind::Ident(name) if self.local(name).is_none() => Some(name.clone()),
            Kind::Select(operand, field) => Some(format!("{}.{field}", self.path(operand)?)),
            Kind::Index(pair) => match &pair[1].kind {
                Kind::Literal(Constant::String(key)) if !key.contains('.') && !key.is_empty() => {
                    let base = self.path(&pair[0])?;
                    matches!(self.resolve(&base), Resolved::Namespace).then(|| format!("{base}.{key}"))
                }
                _ => None,
            },
            _ => None,
        }
    }

    fn attr(&mut self, id: AttrId, ty: V) -> AttrRef {
        if !self.references.contains(&id) {
            self.references.push(id);
        }
        AttrRef {
            id,
            name: self.manifest.shared_name(id),
            ty,
        }
    }

    /// The attribute a chain names, if it names one.
    fn attribute_of(&mut self, e: &Expr) -> Option<AttrRef> {
        match self.resolve(&self.path(e)?) {
            Resolved::Attribute(id, ty) => Some(self.attr(id, ty)),
            _ => None,
        }
    }

    /// `m.k` or `m["k"]` on a map attribute: the map and the key.
    fn map_entry(&mut self, e: &Expr) -> Option<(AttrRef, String)> {
        let (map, key) = match &e.kind {
            Kind::Select(map, key) => (&**map, key.clone()),
            Kind::Index(pair) => match &pair[1].kind {
                Kind::Literal(Constant::String(key)) => (&pair[0], key.clone()),
                _ => return None,
            },
            _ => return None,
        };
        let attr = self.attribute_of(map).filter(|a| a.ty == V::StringMap)?;
        Some((attr, key))
    }

    /// Every attribute under a namespace.
    fn attributes_under(&mut self, prefix: &str) -> Vec<AttrRef> {
        let ids: Vec<(AttrId, V)> = self
            .manifest
            .iter()
            .filter(|(_, n, _)| n.strip_prefix(prefix).is_some_and(|rest| rest.starts_with('.')))
            .map(|(id, _, ty)| (id, ty))
            .collect();
        ids.into_iter().map(|(id, ty)| self.attr(id, ty)).collect()
    }

    /// A namespace read whole: its direct children, attributes or namespaces.
    fn namespace(&mut self, prefix: &str, span: crate::Span) -> Node {
        let mut children: Vec<String> = Vec::new();
        for (_, name, _) in self.manifest.iter() {
            if let Some(rest) = name.strip_prefix(prefix).and_then(|r| r.strip_prefix('.')) {
                let child = rest.split('.').next().unwrap_or(rest);
                if !children.iter().any(|c| c == child) {
                    children.push(child.to_owned());
                }
            }
        }
        let entries = children
            .into_iter()
            .map(|child| {
                let full = format!("{prefix}.{child}");
                let value = match self.resolve(&full) {
                    Resolved::Attribute(id, ty) => node(Op::Attr(self.attr(id, ty)), span),
                    _ => self.namespace(&full, span),
                };
                (child.into_boxed_str(), value)
            })
            .collect();
        cel(CelOp::Namespace(entries), span)
    }

    /// Lowers one expression.
    ///
    /// # Errors
    /// An unknown function, or a call of a known one with the wrong form or arity.
    pub(crate) fn lower(&mut self, e: &Expr) -> Result<Lowered> {
        let span = e.span;
        Ok(match &e.kind {
            Kind::Literal(c) => literal(c, span),
            Kind::Ident(_) | Kind::Select(..) => self.name(e)?,
            Kind::Index(pair) => self.index(e, pair)?,
            Kind::Has(operand, field) => (self.has(operand, field, span)?, Some(V::Bool)),
            Kind::Unary(op, operand) => {
                let (operand, _) = self.lower(operand)?;
                (cel(CelOp::Unary(*op, Box::new(operand)), span), None)
            }
            Kind::Binary(op, pair) => self.binary(*op, pair, span)?,
            Kind::Conditional(parts) => self.conditional(parts, span)?,
            Kind::Call(call) => self.call(call, span)?,
            Kind::List(items) => {
                let items = items.iter().map(|i| Ok(self.lower(i)?.0)).collect::<Result<_>>()?;
                (cel(CelOp::List(items), span), Some(V::List))
            }
            Kind::Map(entries) => {
                let entries = entries
                    .iter()
                    .map(|(k, v)| Ok((self.lower(k)?.0, self.lower(v)?.0)))
                    .collect::<Result<_>>()?;
                (cel(CelOp::Map(entries), span), Some(V::Map))
            }
            Kind::Comprehension(c) => {
                let (range, _) = self.lower(&c.range)?;
                let var = AttrRef {
                    id: AttrId::from_index(self.manifest.len() + self.scopes.len()),
                    name: super::shared(&c.var),
                    ty: V::Dyn,
                };
                self.scopes.push((c.var.clone(), var));
                let filter = c.filter.as_ref().map(|f| self.lower(f).map(|(n, _)| n)).transpose();
                let body = self.lower(&c.body);
                let (_, var) = self.scopes.pop().unwrap_or_else(|| unreachable!("pushed above"));
                let comprehension = Loop {
                    kind: c.kind,
                    range,
                    var,
                    filter: filter?,
                    body: body?.0,
                };
                (cel(CelOp::Comprehension(Box::new(comprehension)), span), None)
            }
        })
    }

    /// A name or a selection: a comprehension variable, an attribute, a namespace, a type
    /// name, a field of a value, or nothing (an error when evaluated).
    fn name(&mut self, e: &Expr) -> Result<Lowered> {
        let span = e.span;
        if let Kind::Ident(name) = &e.kind
            && let Some(var) = self.local(name)
        {
            let var = AttrRef {
                id: var.id,
                name: var.name.clone(),
                ty: V::Dyn,
            };
            return Ok((cel(CelOp::Local(var), span), None));
        }
        if let Some(path) = self.path(e) {
            match self.resolve(&path) {
                Resolved::Attribute(id, ty) => return Ok((node(Op::Attr(self.attr(id, ty)), span), Some(ty))),
                Resolved::Namespace => {
                    let whole = self.namespace(&path, span);
                    return Ok((self.guard(&path, whole, span), Some(V::Map)));
                }
                Resolved::Nothing => {}
            }
            if let Some(ty) = type_named(&path) {
                return Ok((cel(CelOp::Const(CelConst::Type(ty)), span), Some(V::Type)));
            }
        }
        match &e.kind {
            Kind::Select(operand, field) => {
                let in_namespace = self
                    .path(operand)
                    .is_some_and(|p| matches!(self.resolve(&p), Resolved::Namespace));
                if in_namespace {
                    let message = format!("no such key: {field}");
                    return Ok((cel(CelOp::Undeclared(message.into()), span), None));
                }
                if let Some((map, key)) = self.map_entry(e) {
                    return Ok((cel(CelOp::IndexConst(map, key.into()), span), Some(V::String)));
                }
                let (operand, _) = self.lower(operand)?;
                Ok((cel(CelOp::Select(Box::new(operand), field.as_str().into()), span), None))
            }
            Kind::Ident(name) => {
                let message = format!("undeclared reference to '{name}'");
                Ok((cel(CelOp::Undeclared(message.into()), span), None))
            }
            _ => unreachable!("name() is called on names and selections"),
        }
    }

    fn index(&mut self, e: &Expr, pair: &[Expr; 2]) -> Result<Lowered> {
        if self.path(e).is_some() {
            return Ok(self.name_path(e));
        }
        if let Some((map, key)) = self.map_entry(e) {
            return Ok((cel(CelOp::IndexConst(map, key.into()), e.span), Some(V::String)));
        }
        let (container, _) = self.lower(&pair[0])?;
        let (index, _) = self.lower(&pair[1])?;
        Ok((cel(CelOp::Index(Box::new([container, index])), e.span), None))
    }

    /// A constant index on a namespace: the same as a selection.
    fn name_path(&mut self, e: &Expr) -> Lowered {
        let path = self.path(e).unwrap_or_default();
        match self.resolve(&path) {
            Resolved::Attribute(id, ty) => (node(Op::Attr(self.attr(id, ty)), e.span), Some(ty)),
            Resolved::Namespace => {
                let whole = self.namespace(&path, e.span);
                (self.guard(&path, whole, e.span), Some(V::Map))
            }
            Resolved::Nothing => {
                let key = path.rsplit('.').next().unwrap_or_default();
                let message = format!("no such key: {key}");
                (cel(CelOp::Undeclared(message.into()), e.span), None)
            }
        }
    }

    fn has(&mut self, operand: &Expr, field: &str, span: crate::Span) -> Result<Node> {
        let Some(base) = self.path(operand) else {
            let (operand, _) = self.lower(operand)?;
            return Ok(cel(CelOp::HasField(Box::new(operand), field.into()), span));
        };
        let full = format!("{base}.{field}");
        let test = match (self.resolve(&full), self.resolve(&base)) {
            (Resolved::Attribute(id, ty), _) => cel(CelOp::HasAttr(self.attr(id, ty)), span),
            (Resolved::Namespace, _) => cel(CelOp::HasAny(self.attributes_under(&full).into()), span),
            (Resolved::Nothing, Resolved::Namespace) => node(Op::Const(Const::Bool(false)), span),
            (Resolved::Nothing, Resolved::Attribute(id, V::StringMap)) => {
                return Ok(cel(CelOp::HasKey(self.attr(id, V::StringMap), field.into()), span));
            }
            (Resolved::Nothing, _) => {
                let (operand, _) = self.lower(operand)?;
                return Ok(cel(CelOp::HasField(Box::new(operand), field.into()), span));
            }
        };
        Ok(self.guard(&base, test, span))
    }

    /// Below a root namespace, the enclosing object must be there: `has()` through a missing
    /// key is an error (`has(filter_state.upstream_peer.app)` without a peer). `test` is
    /// wrapped in that check when `base` is such an object; the check reads the attributes
    /// under it, the ones `test` reads first, so a present attribute settles it at once.
    fn guard(&mut self, base: &str, test: Node, span: crate::Span) -> Node {
        let Some((_, key)) = base.rsplit_once('.') else {
            return test;
        };
        if !matches!(self.resolve(base), Resolved::Namespace) {
            return test;
        }
        let first = match &test.op {
            Op::Cel(CelOp::HasAttr(a)) | Op::AttrOr(a, _) => Some(a.id),
            _ => None,
        };
        let mut parent = self.attributes_under(base);
        parent.sort_by_key(|a| Some(a.id) != first);
        cel(
            CelOp::Guarded {
                parent: parent.into(),
                key: key.into(),
                then: Box::new(test),
            },
            span,
        )
    }

    fn binary(&mut self, op: BinaryOp, pair: &[Expr; 2], span: crate::Span) -> Result<Lowered> {
        if op == BinaryOp::In
            && let Kind::Literal(Constant::String(key)) = &pair[0].kind
            && let Some(map) = self.attribute_of(&pair[1]).filter(|m| m.ty == V::StringMap)
        {
            return Ok((cel(CelOp::HasKey(map, key.as_str().into()), span), Some(V::Bool)));
        }
        let (a, ta) = self.lower(&pair[0])?;
        let (b, tb) = self.lower(&pair[1])?;
        let lowered = match op {
            BinaryOp::And | BinaryOp::Or => cel(
                CelOp::Logic {
                    and: op == BinaryOp::And,
                    operands: Box::new([a, b]),
                },
                span,
            ),
            BinaryOp::Eq | BinaryOp::Ne => equality(op == BinaryOp::Ne, (a, ta), (b, tb), span),
            _ => {
                let ty = match op {
                    BinaryOp::Lt | BinaryOp::Le | BinaryOp::Gt | BinaryOp::Ge | BinaryOp::In => Some(V::Bool),
                    _ => None,
                };
                return Ok((cel(CelOp::Binary(op, Box::new([a, b])), span), ty));
            }
        };
        Ok((lowered, Some(V::Bool)))
    }

    fn conditional(&mut self, parts: &[Expr; 3], span: crate::Span) -> Result<Lowered> {
        if let Some(op) = self.presence_default(parts)? {
            return Ok((node(op, span), None));
        }
        let [c, a, b] = parts;
        let (c, _) = self.lower(c)?;
        let (a, ta) = self.lower(a)?;
        let (b, tb) = self.lower(b)?;
        let ty = ta.filter(|t| Some(*t) == tb);
        Ok((cel(CelOp::Conditional(Box::new([c, a, b])), span), ty))
    }

    /// `has(x.y) ? x.y : d` and `"k" in m ? m["k"] : d`: the attribute language's `x.y | d`.
    fn presence_default(&mut self, [test, then, otherwise]: &[Expr; 3]) -> Result<Option<Op>> {
        let tested = match &test.kind {
            Kind::Has(operand, field) => Expr::new(Kind::Select(operand.clone(), field.clone()), test.span),
            Kind::Binary(BinaryOp::In, pair) if matches!(pair[0].kind, Kind::Literal(Constant::String(_))) => {
                Expr::new(Kind::Index(Box::new([pair[1].clone(), pair[0].clone()])), test.span)
            }
            _ => return Ok(None),
        };
        if let (Some(a), Some(b)) = (self.attribute_of(&tested), self.attribute_of(then))
            && a.id == b.id
        {
            let (default, _) = self.lower(otherwise)?;
            let base = a.name.rsplit_once('.').map_or("", |(base, _)| base).to_owned();
            let or = node(Op::AttrOr(a, Box::new(default)), test.span);
            let guarded = self.guard(&base, or, test.span);
            return Ok(Some(guarded.op));
        }
        if let (Some((m, k)), Some((n, l))) = (self.map_entry(&tested), self.map_entry(then))
            && m.id == n.id
            && k == l
        {
            let (default, _) = self.lower(otherwise)?;
            return Ok(Some(Op::Cel(CelOp::IndexConstOr(m, k.into(), Box::new(default)))));
        }
        Ok(None)
    }

    fn call(&mut self, call: &Call, span: crate::Span) -> Result<Lowered> {
        let method = call.receiver.is_some();
        let Some((function, ty)) = function(&call.function, method, call.args.len()) else {
            return Err(unknown_function(call, span));
        };
        let mut operands = Vec::with_capacity(call.args.len() + 1);
        if let Some(r) = &call.receiver {
            operands.push(self.lower(r)?.0);
        }
        for a in &call.args {
            operands.push(self.lower(a)?.0);
        }
        if function == Function::Matches
            && let [
                _,
                Node {
                    op: Op::Const(Const::Text(p)),
                    ..
                },
            ] = operands.as_slice()
        {
            let pattern = Pattern::Constant(crate::func::regex::compile(p).map_err(Into::into));
            let text = operands.swap_remove(0);
            return Ok((
                cel(
                    CelOp::MatchesConst {
                        pattern,
                        text: Box::new(text),
                    },
                    span,
                ),
                Some(V::Bool),
            ));
        }
        if function == Function::String
            && let [Node { op: Op::Attr(attr), .. }] = operands.as_slice()
            && attr.ty == V::Int64
        {
            return Ok((cel(CelOp::StringOfInt(attr.clone()), span), ty));
        }
        Ok((cel(CelOp::Call(function, operands.into()), span), ty))
    }
}

fn literal(c: &Constant, span: crate::Span) -> Lowered {
    let (op, ty) = match c {
        Constant::Int(v) => (Op::Const(Const::Int64(*v)), V::Int64),
        Constant::Double(v) => (Op::Const(Const::Double(*v)), V::Double),
        Constant::String(s) => (Op::Const(Const::Text(s.as_str().into())), V::String),
        Constant::Bool(b) => (Op::Const(Const::Bool(*b)), V::Bool),
        Constant::Uint(v) => (Op::Cel(CelOp::Const(CelConst::Uint(*v))), V::Uint64),
        Constant::Bytes(b) => (Op::Cel(CelOp::Const(CelConst::Bytes(b.as_slice().into()))), V::Bytes),
        Constant::Null => (Op::Cel(CelOp::Const(CelConst::Null)), V::Null),
    };
    (node(op, span), Some(ty))
}

/// `==`/`!=`: against a string constant, one text comparison; against an int, double or
/// bool constant of the operand's own static type, one value comparison; otherwise CEL's
/// heterogeneous equality.
fn equality(negate: bool, a: Lowered, b: Lowered, span: crate::Span) -> Node {
    let (constant, other) = match (a, b) {
        (c @ (Node { op: Op::Const(_), .. }, _), other) | (other, c @ (Node { op: Op::Const(_), .. }, _)) => (c, other),
        ((a, _), (b, _)) => {
            let op = if negate { BinaryOp::Ne } else { BinaryOp::Eq };
            return cel(CelOp::Binary(op, Box::new([a, b])), span);
        }
    };
    let (
        Node {
            op: Op::Const(c),
            span: cspan,
        },
        cty,
    ) = constant
    else {
        unreachable!("matched a constant above")
    };
    let (node_, ty) = other;
    match c {
        Const::Text(text) => node(
            Op::EqText {
                negate,
                node: Box::new(node_),
                text,
            },
            span,
        ),
        c if ty.is_some() && ty == cty => node(
            Op::EqConst {
                negate,
                node: Box::new(node_),
                constant: c,
            },
            span,
        ),
        c => {
            let op = if negate { BinaryOp::Ne } else { BinaryOp::Eq };
            let constant = Node {
                op: Op::Const(c),
                span: cspan,
            };
            cel(CelOp::Binary(op, Box::new([node_, constant])), span)
        }
    }
}

/// The function a call names, if the form (method or not) and the argument count fit, and its
/// result type.
pub(crate) fn function(name: &str, method: bool, args: usize) -> Option<(Function, Option<V>)> {
    let accessor = |a| (method && args <= 1).then_some((Function::Accessor(a), Some(V::Int64)));
    let conversion = |f, ty| (!method && args == 1).then_some((f, ty));
    match name {
        "size" => ((!method && args == 1) || (method && args == 0)).then_some((Function::Size, Some(V::Int64))),
        "contains" => ((method && args == 1) || (!method && args == 2)).then_some((Function::Contains, Some(V::Bool))),
        "startsWith" => {
            ((method && args == 1) || (!method && args == 2)).then_some((Function::StartsWith, Some(V::Bool)))
        }
        "endsWith" => ((method && args == 1) || (!method && args == 2)).then_some((Function::EndsWith, Some(V::Bool))),
        "matches" => ((method && args == 1) || (!method && args == 2)).then_some((Function::Matches, Some(V::Bool))),
        "int" => conversion(Function::Int, Some(V::Int64)),
        "uint" => conversion(Function::Uint, Some(V::Uint64)),
        "double" => conversion(Function::Double, Some(V::Double)),
        "string" => conversion(Function::String, Some(V::String)),
        "bytes" => conversion(Function::Bytes, Some(V::Bytes)),
        "bool" => conversion(Function::Bool, Some(V::Bool)),
        "timestamp" => conversion(Function::Timestamp, Some(V::Timestamp)),
        "duration" => conversion(Function::Duration, Some(V::Duration)),
        "dyn" => conversion(Function::Dyn, None),
        "type" => conversion(Function::Type, Some(V::Type)),
        "getFullYear" => accessor(Accessor::FullYear),
        "getMonth" => accessor(Accessor::Month),
        "getDayOfYear" => accessor(Accessor::DayOfYear),
        "getDayOfMonth" => accessor(Accessor::DayOfMonth),
        "getDate" => accessor(Accessor::Date),
        "getDayOfWeek" => accessor(Accessor::DayOfWeek),
        "getHours" => accessor(Accessor::Hours),
        "getMinutes" => accessor(Accessor::Minutes),
        "getSeconds" => accessor(Accessor::Seconds),
        "getMilliseconds" => accessor(Accessor::Milliseconds),
        _ => None,
    }
}

const FUNCTIONS: &str = "size, contains, startsWith, endsWith, matches, int, uint, double, string, bytes, bool, \
timestamp, duration, dyn, type, getFullYear, getMonth, getDayOfYear, getDayOfMonth, getDate, getDayOfWeek, \
getHours, getMinutes, getSeconds, getMilliseconds";

fn unknown_function(call: &Call, span: crate::Span) -> CompileError {
    let known = function(&call.function, true, 0)
        .or_else(|| function(&call.function, true, 1))
        .or_else(|| function(&call.function, false, 1))
        .or_else(|| function(&call.function, false, 2))
        .is_some();
    let form = if call.receiver.is_some() { "method" } else { "function" };
    if known {
        CompileError::new(
            K::Arity,
            span,
            format!(
                "no overload of {} as a {form} with {} argument(s)",
                call.function,
                call.args.len()
            ),
        )
    } else {
        CompileError::new(
            K::UnknownFunction,
            call.function_span,
            format!(
                "{} is not a supported CEL function (supported: {FUNCTIONS}; macros: has, all, exists, exists_one, map, filter)",
                call.function
            ),
        )
    }
}

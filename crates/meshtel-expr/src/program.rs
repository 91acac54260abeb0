//! Compiled programs: the entry point of the crate.

use alloc::sync::Arc;

use crate::compile::{Checker, Node};
use crate::syntax::ast::Expr;
use crate::syntax::parser::Parser;
use crate::{AttrId, Bag, CompileError, EvalError, Manifest, Value, ValueType};

/// Limits on what [`Program::compile_with`] accepts
/// (`docs/reference/expressions.md` §7).
///
/// ```
/// use meshtel_expr::{CompileErrorKind, Limits, Manifest, Program};
/// let mut limits = Limits::default();
/// limits.max_depth = 2;
/// let err = Program::compile_with("a | b | c", &Manifest::new(), limits).unwrap_err();
/// assert_eq!(err.kind(), CompileErrorKind::Limit);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Limits {
    /// The longest source accepted, in bytes. Default 4096.
    pub max_length: usize,
    /// The deepest syntax tree accepted (a leaf has depth 1). Default 64; values above
    /// [`Limits::MAX_DEPTH`] count as that. Parsing is recursive: each level costs a few KiB
    /// of stack in release builds and several times that in debug builds.
    pub max_depth: u32,
}

impl Limits {
    /// The largest effective `max_depth` (256): deep enough for any real label expression,
    /// shallow enough for a 2 MiB thread stack in release builds.
    pub const MAX_DEPTH: u32 = 256;
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_length: 4096,
            max_depth: 64,
        }
    }
}

impl Expr {
    /// Parses `source` with the default [`Limits`].
    #[cfg(any(test, fuzzing))]
    pub(crate) fn parse(source: &str) -> Result<Self, CompileError> {
        Self::parse_with(source, Limits::default())
    }

    /// Parses `source` with the given limits: a [`CompileError`] of class syntax, literal or
    /// limit, with the span of the problem.
    pub(crate) fn parse_with(source: &str, limits: Limits) -> Result<Self, CompileError> {
        Parser::parse(source, limits)
    }
}

/// A type-checked, compiled expression, ready to evaluate against any [`Bag`].
///
/// Programs are immutable, `Send` and `Sync`: compile once, evaluate from any thread.
///
/// ```
/// use std::collections::HashMap;
/// use meshtel_expr::{Manifest, Program, Value, ValueType};
/// let source = r#"conditional((context.reporter.kind | "inbound") == "outbound", "client", "server")"#;
/// let program = Program::compile(source, &Manifest::istio()).unwrap();
/// assert_eq!(program.result_type(), ValueType::String);
/// assert_eq!(program.references().collect::<Vec<_>>(), ["context.reporter.kind"]);
/// let bag = HashMap::from([("context.reporter.kind", Value::str("outbound"))]);
/// assert_eq!(program.evaluate(&bag).unwrap(), Value::str("client"));
/// ```
#[derive(Debug)]
pub struct Program {
    source: Box<str>,
    root: Node,
    ty: ValueType,
    references: Vec<(AttrId, Arc<str>)>,
}

impl Program {
    /// Parses, type-checks and compiles `source` against `manifest`, with default [`Limits`].
    ///
    /// # Errors
    /// A [`CompileError`] naming the offending sub-expression: syntax, literal, unknown
    /// attribute or function, arity, type mismatch, call form, unsupported operation, limit.
    pub fn compile(source: &str, manifest: &Manifest) -> Result<Self, CompileError> {
        Self::compile_with(source, manifest, Limits::default())
    }

    /// As [`Program::compile`], with explicit limits.
    ///
    /// # Errors
    /// As [`Program::compile`].
    pub fn compile_with(source: &str, manifest: &Manifest, limits: Limits) -> Result<Self, CompileError> {
        let expr = Expr::parse_with(source, limits)?;
        Self::from_expr(&expr, source, manifest)
    }

    /// Type-checks and compiles a parsed tree; `source` is the text it was parsed from (used
    /// in error messages). Fails as [`Program::compile`], minus the parse errors.
    pub(crate) fn from_expr(expr: &Expr, source: &str, manifest: &Manifest) -> Result<Self, CompileError> {
        let (root, ty) = Checker { manifest, source }.check(expr)?;
        let mut references: Vec<(AttrId, Arc<str>)> = Vec::new();
        expr.for_each_attribute(&mut |name| {
            if let Some((id, _)) = manifest.get(name)
                && !references.iter().any(|(seen, _)| *seen == id)
            {
                references.push((id, manifest.shared_name(id)));
            }
        });
        Ok(Self {
            source: source.into(),
            root,
            ty,
            references,
        })
    }

    /// Evaluates the program. Results borrow from the bag and the program; only `toLower`
    /// (of text with upper case), `+` on two non-empty texts, and error messages other than
    /// a missing attribute allocate.
    ///
    /// # Errors
    /// An [`EvalError`]: missing attribute, conversion, invalid argument, comparison, regex.
    #[inline]
    pub fn evaluate<'a, B: Bag + ?Sized>(&'a self, bag: &'a B) -> Result<Value<'a>, EvalError> {
        self.root.eval(bag)
    }

    /// The static type of the result.
    #[must_use]
    pub const fn result_type(&self) -> ValueType {
        self.ty
    }

    /// Every attribute the expression names, evaluated or not, in order of first appearance.
    #[must_use]
    pub fn references(&self) -> impl ExactSizeIterator<Item = &str> {
        self.references.iter().map(|(_, n)| &**n)
    }

    /// The manifest ids of [`Program::references`].
    #[must_use]
    pub fn reference_ids(&self) -> impl ExactSizeIterator<Item = AttrId> {
        self.references.iter().map(|(id, _)| *id)
    }

    /// The source text the program was compiled from.
    #[must_use]
    pub fn source(&self) -> &str {
        &self.source
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn programs_are_send_and_sync() {
        fn assert<T: Send + Sync>() {}
        assert::<Program>();
    }
}

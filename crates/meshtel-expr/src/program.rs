//! Compiled programs: the entry point of the crate.

use alloc::sync::Arc;
use core::fmt;
use core::str::FromStr;

use crate::compile::{Checker, Node};
use crate::syntax::ast::Expr;
use crate::syntax::parser::Parser;
use crate::{AttrId, Bag, CompileError, EvalError, Manifest, Value, ValueType};

/// Limits on what [`Program::compile_with`] accepts
/// (`docs/reference/expressions.md` §7).
///
/// ```
/// use meshtel_expr::{Dialect, CompileErrorKind, Limits, Manifest, Program};
/// let mut limits = Limits::default();
/// limits.max_depth = 2;
/// let err = Program::compile_with(Dialect::Mixer, "a | b | c", &Manifest::new(), limits).unwrap_err();
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

/// The language an expression is written in.
///
/// ```
/// use meshtel_expr::Dialect;
/// assert_eq!("cel".parse::<Dialect>(), Ok(Dialect::Cel));
/// assert_eq!(Dialect::default(), Dialect::Cel);
/// assert_eq!(Dialect::Mixer.to_string(), "mixer");
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Dialect {
    /// Google's Common Expression Language over Envoy's attributes: what Istio's stats
    /// configuration and Telemetry API take today (`docs/reference/expressions.md` §10).
    #[default]
    Cel,
    /// Mixer's attribute-expression language (Istio 1.5 and earlier): `a | b`,
    /// `conditional(c, a, b)`, typed by the manifest.
    Mixer,
}

impl Dialect {
    /// `"cel"` or `"mixer"`.
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Self::Cel => "cel",
            Self::Mixer => "mixer",
        }
    }
}

impl fmt::Display for Dialect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The error of [`Dialect::from_str`].
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown expression language {0:?}: expected \"cel\" or \"mixer\"")]
pub struct UnknownDialect(pub String);

impl FromStr for Dialect {
    type Err = UnknownDialect;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "cel" => Ok(Self::Cel),
            "mixer" => Ok(Self::Mixer),
            other => Err(UnknownDialect(other.to_owned())),
        }
    }
}

/// A compiled expression, ready to evaluate against any [`Bag`].
///
/// Programs are immutable, `Send` and `Sync`: compile once, evaluate from any thread.
///
/// ```
/// use std::collections::HashMap;
/// use meshtel_expr::{Dialect, Manifest, Program, Value, ValueType};
/// let source = r#"conditional((context.reporter.kind | "inbound") == "outbound", "client", "server")"#;
/// let program = Program::compile(Dialect::Mixer, source, &Manifest::istio()).unwrap();
/// assert_eq!(program.result_type(), ValueType::String);
/// assert_eq!(program.references().collect::<Vec<_>>(), ["context.reporter.kind"]);
/// let bag = HashMap::from([("context.reporter.kind", Value::str("outbound"))]);
/// assert_eq!(program.evaluate(&bag).unwrap(), Value::str("client"));
/// ```
#[derive(Debug)]
pub struct Program {
    dialect: Dialect,
    source: Box<str>,
    root: Node,
    ty: ValueType,
    references: Vec<(AttrId, Arc<str>)>,
}

impl Program {
    /// Compiles `source`, written in `dialect`, against `manifest`, with default [`Limits`].
    ///
    /// A Mixer expression is type-checked against the manifest. A CEL expression is only
    /// parsed, as Envoy does: a type error surfaces when it is evaluated, and a name the
    /// manifest does not have evaluates to an error.
    ///
    /// ```
    /// use meshtel_expr::{Dialect, Manifest, Program};
    /// let cel = Program::compile(Dialect::Cel, r#"has(request.host) ? request.host : "unknown""#, &Manifest::envoy())?;
    /// assert_eq!(cel.references().collect::<Vec<_>>(), ["request.host"]);
    /// # Ok::<(), meshtel_expr::CompileError>(())
    /// ```
    ///
    /// # Errors
    /// A [`CompileError`] naming the offending sub-expression: syntax, literal or limit in
    /// both dialects; for Mixer also unknown attribute or function, arity, type mismatch, call
    /// form and unsupported operation; for CEL an unknown function or a call with the wrong
    /// number of arguments.
    pub fn compile(dialect: Dialect, source: &str, manifest: &Manifest) -> Result<Self, CompileError> {
        Self::compile_with(dialect, source, manifest, Limits::default())
    }

    /// As [`Program::compile`], with explicit limits.
    ///
    /// # Errors
    /// As [`Program::compile`].
    pub fn compile_with(
        dialect: Dialect,
        source: &str,
        manifest: &Manifest,
        limits: Limits,
    ) -> Result<Self, CompileError> {
        match dialect {
            Dialect::Mixer => {
                let expr = Expr::parse_with(source, limits)?;
                Self::from_expr(&expr, source, manifest)
            }
            Dialect::Cel => {
                let expr = crate::cel::parser::Parser::parse(source, limits)?;
                Self::from_cel(&expr, source, manifest)
            }
        }
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
            dialect: Dialect::Mixer,
            source: source.into(),
            root,
            ty,
            references,
        })
    }

    /// Lowers a parsed CEL tree. Fails only for unknown functions and wrong arities.
    pub(crate) fn from_cel(
        expr: &crate::cel::ast::Expr,
        source: &str,
        manifest: &Manifest,
    ) -> Result<Self, CompileError> {
        let mut lowerer = crate::cel::Lowerer::new(manifest);
        let (root, ty) = lowerer.lower(expr)?;
        let references = lowerer
            .into_references()
            .into_iter()
            .map(|id| (id, manifest.shared_name(id)))
            .collect();
        Ok(Self {
            dialect: Dialect::Cel,
            source: source.into(),
            root,
            ty: ty.unwrap_or(ValueType::Dyn),
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
        // The commonest labels, text read from the bag (an attribute, with or without a
        // default; a constant key of a map attribute), inline in the caller and built in
        // place; everything else out of line, so this function needs no frame of its own.
        if let Some(text) = self.root.read_text(bag) {
            return Ok(Value::str(text));
        }
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

    /// The dialect the program was written in.
    #[must_use]
    pub const fn dialect(&self) -> Dialect {
        self.dialect
    }

    /// Writes a value this program produced as label text: the attribute language's
    /// canonical text for Mixer programs (`docs/reference/expressions.md` §6.7), the text of
    /// CEL's `string()` for CEL programs (`100`, `1e+06`, `3600s`,
    /// `2024-01-02T03:04:05.120Z`).
    ///
    /// ```
    /// use meshtel_expr::{Dialect, Manifest, Program, Value};
    /// let cel = Program::compile(Dialect::Cel, "response.duration", &Manifest::envoy())?;
    /// let mut text = String::new();
    /// cel.write_text(&Value::Duration(meshtel_expr::Duration::from_nanos(1_500_000_000)), &mut text)?;
    /// assert_eq!(text, "1.500s");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// Only those of the writer.
    pub fn write_text(&self, value: &Value<'_>, w: &mut dyn fmt::Write) -> fmt::Result {
        match (self.dialect, value) {
            (Dialect::Cel, Value::Double(d)) => crate::cel::write_double(w, *d),
            (Dialect::Cel, Value::Duration(d)) => crate::cel::write_duration(w, *d),
            (Dialect::Cel, Value::Timestamp(t)) => crate::cel::write_timestamp(w, *t),
            _ => value.write_canonical(w),
        }
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

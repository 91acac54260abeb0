//! Compile errors (parse, type and limit) and runtime errors.

use alloc::sync::Arc;
use core::fmt;

/// A byte range `start..end` of the expression source.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Span {
    /// First byte.
    pub start: u32,
    /// One past the last byte.
    pub end: u32,
}

impl Span {
    pub(crate) const fn new(start: usize, end: usize) -> Self {
        Self {
            start: start as u32,
            end: end as u32,
        }
    }

    pub(crate) const fn to(self, other: Self) -> Self {
        Self {
            start: self.start,
            end: other.end,
        }
    }

    /// The spanned text of `source` (empty if the span does not fit it).
    #[must_use]
    pub fn text(self, source: &str) -> &str {
        source.get(self.start as usize..self.end as usize).unwrap_or("")
    }
}

impl fmt::Display for Span {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}..{}", self.start, self.end)
    }
}

/// The class of a [`CompileError`] (`docs/reference/expressions.md` §4.5).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CompileErrorKind {
    /// Illegal character, unbalanced brackets, trailing tokens, unsupported construct.
    Syntax,
    /// A literal out of range, a bad escape, a literal that is not UTF-8.
    Literal,
    /// An attribute the manifest does not have.
    UnknownAttribute,
    /// A function the language does not have (`foo(1)`, `!x`, `a / b`).
    UnknownFunction,
    /// Too few or too many arguments.
    Arity,
    /// An argument or receiver of the wrong type.
    TypeMismatch,
    /// A method called without a receiver, or a function called with one.
    CallForm,
    /// An operator the type does not support (`DURATION == DURATION`, `BOOL < BOOL`).
    UnsupportedOperation,
    /// The expression is longer or nested deeper than the configured [`crate::Limits`].
    Limit,
}

impl CompileErrorKind {
    /// Whether the error comes from parsing (syntax, literal, limit) rather than checking.
    #[must_use]
    pub const fn is_parse_error(self) -> bool {
        matches!(self, Self::Syntax | Self::Literal | Self::Limit)
    }

    const fn describe(self) -> &'static str {
        match self {
            Self::Syntax => "syntax error",
            Self::Literal => "bad literal",
            Self::UnknownAttribute => "unknown attribute",
            Self::UnknownFunction => "unknown function",
            Self::Arity => "wrong number of arguments",
            Self::TypeMismatch => "type mismatch",
            Self::CallForm => "wrong call form",
            Self::UnsupportedOperation => "unsupported operation",
            Self::Limit => "limit exceeded",
        }
    }
}

impl fmt::Display for CompileErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.describe())
    }
}

/// An expression that cannot be compiled: what was wrong, of which class, and where.
///
/// ```
/// use meshtel_expr::{Dialect, CompileErrorKind, Manifest, Program};
/// let source = r#"response.code == "200""#;
/// let err = Program::compile(Dialect::Mixer, source, &Manifest::istio()).unwrap_err();
/// assert_eq!(err.kind(), CompileErrorKind::TypeMismatch);
/// assert_eq!(err.span().text(source), r#""200""#);
/// println!("{}", err.render(source));
/// ```
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{kind}: {message} (bytes {span})")]
pub struct CompileError {
    kind: CompileErrorKind,
    span: Span,
    message: String,
}

impl CompileError {
    pub(crate) fn new(kind: CompileErrorKind, span: Span, message: impl Into<String>) -> Self {
        Self {
            kind,
            span,
            message: message.into(),
        }
    }

    /// The error class.
    #[must_use]
    pub const fn kind(&self) -> CompileErrorKind {
        self.kind
    }

    /// The offending part of the source.
    #[must_use]
    pub const fn span(&self) -> Span {
        self.span
    }

    /// What was wrong, without the class and position.
    #[must_use]
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The error with the source line and a caret under the offending part:
    ///
    /// ```text
    /// type mismatch: ...
    ///   | response.code == "200"
    ///   |                  ^^^^^
    /// ```
    #[must_use]
    pub fn render(&self, source: &str) -> String {
        let start = (self.span.start as usize).min(source.len());
        let end = (self.span.end as usize).clamp(start, source.len());
        let line_start = source[..start].rfind('\n').map_or(0, |i| i + 1);
        let line_end = source[start..].find('\n').map_or(source.len(), |i| start + i);
        let line = &source[line_start..line_end];
        let pad = source[line_start..start]
            .chars()
            .map(|c| if c == '\t' { '\t' } else { ' ' })
            .collect::<String>();
        let width = source[start..end.min(line_end)].chars().count().max(1);
        format!(
            "{}: {}\n  | {line}\n  | {pad}{}",
            self.kind,
            self.message,
            "^".repeat(width)
        )
    }
}

/// The class of an [`EvalError`] (`docs/reference/expressions.md` §6.4).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum EvalErrorKind {
    /// A strict read of an absent attribute.
    MissingAttribute,
    /// The bag holds a value of the wrong kind for the attribute's declared type.
    Conversion,
    /// `ip`, `timestamp`, `dnsName`, `email` or `uri` rejected its text.
    InvalidArgument,
    /// DNS, e-mail or URI equality on text that does not parse.
    Comparison,
    /// An invalid pattern in `matches`.
    Regex,
    /// CEL: an operator or function applied to operands of types it has no overload for
    /// (`1 + 1u`, `-"a"`, a non-boolean condition).
    NoMatchingOverload,
    /// CEL: a map key or a field that is not there (`request.headers['x']` without the
    /// header), a list index out of range, or a name nothing defines.
    NoSuchKey,
    /// CEL: int64, uint64, timestamp or duration arithmetic out of range.
    Overflow,
    /// CEL: integer division or modulo by zero.
    DivisionByZero,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Detail {
    Attribute(Arc<str>),
    Text(Box<str>),
}

/// A runtime error: which class, which sub-expression, and a message.
///
/// Building a missing-attribute error does not allocate (the name is shared with the
/// program); the other classes carry a message built when they happen.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{}", DisplayEval(self))]
pub struct EvalError {
    kind: EvalErrorKind,
    span: Span,
    detail: Detail,
}

struct DisplayEval<'e>(&'e EvalError);

impl fmt::Display for DisplayEval<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0.detail {
            Detail::Attribute(name) => write!(f, "lookup failed: '{name}'"),
            Detail::Text(text) => f.write_str(text),
        }
    }
}

impl EvalError {
    pub(crate) const fn missing(name: Arc<str>, span: Span) -> Self {
        Self {
            kind: EvalErrorKind::MissingAttribute,
            span,
            detail: Detail::Attribute(name),
        }
    }

    pub(crate) fn new(kind: EvalErrorKind, span: Span, message: impl Into<Box<str>>) -> Self {
        Self {
            kind,
            span,
            detail: Detail::Text(message.into()),
        }
    }

    /// The error class.
    #[must_use]
    pub const fn kind(&self) -> EvalErrorKind {
        self.kind
    }

    /// The sub-expression that failed.
    #[must_use]
    pub const fn span(&self) -> Span {
        self.span
    }

    /// For a missing attribute or a conversion error, the attribute's name.
    #[must_use]
    pub fn attribute(&self) -> Option<&str> {
        match &self.detail {
            Detail::Attribute(name) => Some(name),
            Detail::Text(_) => None,
        }
    }
}

//! The syntax tree: constants, attributes and calls, with spans, and a printer.

use core::fmt;

use crate::{Duration, Span};

/// A literal constant. Durations come from string literals that read as Go durations.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Constant {
    /// A string literal that is not a duration.
    String(String),
    /// An integer literal.
    Int64(i64),
    /// A floating-point literal.
    Double(f64),
    /// `true` or `false`, in any case.
    Bool(bool),
    /// A string literal whose text is a Go duration (`"19ms"`, `'0'`).
    Duration(Duration),
}

/// One node of the syntax tree.
///
/// Operators are calls: `a | "d"` is a call of `OR`, `m[k]` of `INDEX`, `-x` of `SUB` with
/// one argument. Equality of trees (`Expr::same_tree`) ignores spans.
#[derive(Clone, Debug)]
pub(crate) struct Expr {
    /// What the node is.
    pub(crate) kind: ExprKind,
    /// Where it is in the source.
    pub(crate) span: Span,
    pub(crate) depth: u32,
}

/// The three node kinds of the language.
#[derive(Clone, Debug)]
pub(crate) enum ExprKind {
    /// A literal.
    Constant(Constant),
    /// A dotted attribute name (`request.auth.principal`).
    Attribute(String),
    /// A function, method or operator call.
    Call(Call),
}

/// A call: a function name, an optional receiver (for `x.f(…)`) and arguments.
#[derive(Clone, Debug)]
pub(crate) struct Call {
    /// The function name (`EQ`, `OR`, `INDEX`, `conditional`, `matches`, …). Operators that
    /// have no function name are kept as their symbol (`<<`, `>>`, `&^`, `<-`).
    pub(crate) name: String,
    /// The span of the name (or of the operator symbol).
    pub(crate) name_span: Span,
    /// The receiver of a method call.
    pub(crate) receiver: Option<Box<Expr>>,
    /// The arguments, in order.
    pub(crate) args: Vec<Expr>,
}

impl Expr {
    pub(crate) fn new(kind: ExprKind, span: Span) -> Self {
        let depth = match &kind {
            ExprKind::Call(c) => {
                1 + c
                    .receiver
                    .iter()
                    .map(|r| r.depth)
                    .chain(c.args.iter().map(|a| a.depth))
                    .max()
                    .unwrap_or(0)
            }
            _ => 1,
        };
        Self { kind, span, depth }
    }

    /// Whether two trees are the same, ignoring spans. Constants compare by value (doubles by
    /// bit pattern).
    #[cfg(any(test, fuzzing))]
    #[must_use]
    pub(crate) fn same_tree(&self, other: &Self) -> bool {
        match (&self.kind, &other.kind) {
            (ExprKind::Constant(Constant::Double(a)), ExprKind::Constant(Constant::Double(b))) => {
                a.to_bits() == b.to_bits()
            }
            (ExprKind::Constant(a), ExprKind::Constant(b)) => a == b,
            (ExprKind::Attribute(a), ExprKind::Attribute(b)) => a == b,
            (ExprKind::Call(a), ExprKind::Call(b)) => {
                a.name == b.name
                    && a.args.len() == b.args.len()
                    && a.args.iter().zip(&b.args).all(|(x, y)| x.same_tree(y))
                    && match (&a.receiver, &b.receiver) {
                        (None, None) => true,
                        (Some(x), Some(y)) => x.same_tree(y),
                        _ => false,
                    }
            }
            _ => false,
        }
    }

    /// Calls `f` with every attribute name in the tree, left to right (duplicates included).
    pub(crate) fn for_each_attribute<'e>(&'e self, f: &mut impl FnMut(&'e str)) {
        match &self.kind {
            ExprKind::Attribute(name) => f(name),
            ExprKind::Constant(_) => {}
            ExprKind::Call(c) => {
                if let Some(r) = &c.receiver {
                    r.for_each_attribute(f);
                }
                c.args.iter().for_each(|a| a.for_each_attribute(f));
            }
        }
    }
}

/// The infix symbol of a two-argument operator call, if it has one.
pub(crate) fn infix(name: &str) -> Option<&'static str> {
    Some(match name {
        "LOR" => "||",
        "LAND" => "&&",
        "EQ" => "==",
        "NEQ" => "!=",
        "LT" => "<",
        "LEQ" => "<=",
        "GT" => ">",
        "GEQ" => ">=",
        "ADD" => "+",
        "OR" => "|",
        "SUB" => "-",
        "XOR" => "^",
        "MUL" => "*",
        "QUO" => "/",
        "REM" => "%",
        "AND" => "&",
        "<<" => "<<",
        ">>" => ">>",
        "&^" => "&^",
        _ => return None,
    })
}

fn write_string(f: &mut fmt::Formatter<'_>, s: &str) -> fmt::Result {
    f.write_str("\"")?;
    for c in s.chars() {
        match c {
            '"' => f.write_str("\\\"")?,
            '\\' => f.write_str("\\\\")?,
            '\n' => f.write_str("\\n")?,
            '\r' => f.write_str("\\r")?,
            '\t' => f.write_str("\\t")?,
            c if c.is_control() => write!(f, "\\u{:04x}", c as u32)?,
            c => write!(f, "{c}")?,
        }
    }
    f.write_str("\"")
}

impl fmt::Display for Constant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::String(s) => write_string(f, s),
            Self::Int64(v) => write!(f, "{v}"),
            // `{:?}` always has a `.` or an exponent, so the text reads back as a float.
            Self::Double(v) => write!(f, "{v:?}"),
            Self::Bool(v) => write!(f, "{v}"),
            Self::Duration(d) => write!(f, "\"{d}\""),
        }
    }
}

impl fmt::Display for Expr {
    /// Source text that parses back to the same tree: binary operators fully parenthesised,
    /// indexing as `m[k]`, other calls as `name(args)` or `receiver.name(args)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let call = match &self.kind {
            ExprKind::Constant(c) => return write!(f, "{c}"),
            ExprKind::Attribute(name) => return f.write_str(name),
            ExprKind::Call(call) => call,
        };
        match (call.receiver.as_deref(), call.args.as_slice()) {
            (None, [l, r]) if infix(&call.name).is_some() => {
                write!(f, "({l} {} {r})", infix(&call.name).unwrap_or_default())
            }
            (None, [m, k]) if call.name == "INDEX" => write!(f, "{m}[{k}]"),
            (None, [x]) if call.name == "<-" => write!(f, "(<-{x})"),
            (receiver, args) => {
                match receiver {
                    Some(
                        r @ Self {
                            kind: ExprKind::Attribute(_),
                            ..
                        },
                    ) => write!(f, "{r}.")?,
                    Some(
                        r @ Self {
                            kind: ExprKind::Call(c),
                            ..
                        },
                    ) if c.name != "INDEX"
                        && !(c.receiver.is_none() && c.args.len() == 2 && infix(&c.name).is_some()) =>
                    {
                        write!(f, "{r}.")?;
                    }
                    Some(r) => write!(f, "({r}).")?,
                    None => {}
                }
                f.write_str(&call.name)?;
                f.write_str("(")?;
                for (i, a) in args.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{a}")?;
                }
                f.write_str(")")
            }
        }
    }
}

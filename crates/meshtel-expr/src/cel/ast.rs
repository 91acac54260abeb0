//! The CEL syntax tree, with spans, and a printer whose output parses back to the same tree.

use core::fmt;

use crate::Span;

/// A literal constant. Negative integer literals are folded (`-9223372036854775808`).
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Constant {
    Int(i64),
    Uint(u64),
    Double(f64),
    String(String),
    Bytes(Vec<u8>),
    Bool(bool),
    Null,
}

/// A unary operator.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum UnaryOp {
    Not,
    Neg,
}

/// A binary operator, in CEL's precedence classes (`||` lowest).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum BinaryOp {
    Or,
    And,
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    In,
    Add,
    Sub,
    Mul,
    Div,
    Rem,
}

impl BinaryOp {
    /// The operator's symbol.
    pub(crate) const fn symbol(self) -> &'static str {
        match self {
            Self::Or => "||",
            Self::And => "&&",
            Self::Eq => "==",
            Self::Ne => "!=",
            Self::Lt => "<",
            Self::Le => "<=",
            Self::Gt => ">",
            Self::Ge => ">=",
            Self::In => "in",
            Self::Add => "+",
            Self::Sub => "-",
            Self::Mul => "*",
            Self::Div => "/",
            Self::Rem => "%",
        }
    }
}

/// A comprehension macro.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Macro {
    /// `r.all(x, p)`
    All,
    /// `r.exists(x, p)`
    Exists,
    /// `r.exists_one(x, p)`
    ExistsOne,
    /// `r.map(x, t)` and `r.map(x, p, t)`
    Map,
    /// `r.filter(x, p)`
    Filter,
}

impl Macro {
    pub(crate) fn from_name(name: &str) -> Option<Self> {
        Some(match name {
            "all" => Self::All,
            "exists" => Self::Exists,
            "exists_one" => Self::ExistsOne,
            "map" => Self::Map,
            "filter" => Self::Filter,
            _ => return None,
        })
    }

    pub(crate) const fn name(self) -> &'static str {
        match self {
            Self::All => "all",
            Self::Exists => "exists",
            Self::ExistsOne => "exists_one",
            Self::Map => "map",
            Self::Filter => "filter",
        }
    }
}

/// A macro call: the range, the iteration variable, an optional filter (`map` with three
/// arguments) and the body (the predicate, or the transform of `map`).
#[derive(Clone, Debug)]
pub(crate) struct Comprehension {
    pub(crate) kind: Macro,
    pub(crate) range: Expr,
    pub(crate) var: String,
    pub(crate) filter: Option<Expr>,
    pub(crate) body: Expr,
}

/// A function or method call that is not a macro.
#[derive(Clone, Debug)]
pub(crate) struct Call {
    pub(crate) function: String,
    pub(crate) function_span: Span,
    pub(crate) receiver: Option<Box<Expr>>,
    pub(crate) args: Vec<Expr>,
}

/// One node of the tree.
#[derive(Clone, Debug)]
pub(crate) struct Expr {
    pub(crate) kind: Kind,
    pub(crate) span: Span,
}

#[derive(Clone, Debug)]
pub(crate) enum Kind {
    Literal(Constant),
    /// A name: an attribute namespace, a comprehension variable, or a type name.
    Ident(String),
    /// `operand.field`
    Select(Box<Expr>, String),
    /// `has(operand.field)`
    Has(Box<Expr>, String),
    /// `operand[index]`
    Index(Box<[Expr; 2]>),
    Unary(UnaryOp, Box<Expr>),
    Binary(BinaryOp, Box<[Expr; 2]>),
    /// `c ? a : b`
    Conditional(Box<[Expr; 3]>),
    Call(Call),
    List(Vec<Expr>),
    Map(Vec<(Expr, Expr)>),
    Comprehension(Box<Comprehension>),
}

impl Expr {
    pub(crate) const fn new(kind: Kind, span: Span) -> Self {
        Self { kind, span }
    }

    /// Whether two trees are the same, ignoring spans (doubles by bit pattern).
    #[cfg(any(test, fuzzing))]
    pub(crate) fn same_tree(&self, other: &Self) -> bool {
        let all = |a: &[Self], b: &[Self]| a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.same_tree(y));
        match (&self.kind, &other.kind) {
            (Kind::Literal(Constant::Double(a)), Kind::Literal(Constant::Double(b))) => a.to_bits() == b.to_bits(),
            (Kind::Literal(a), Kind::Literal(b)) => a == b,
            (Kind::Ident(a), Kind::Ident(b)) => a == b,
            (Kind::Select(a, f), Kind::Select(b, g)) | (Kind::Has(a, f), Kind::Has(b, g)) => f == g && a.same_tree(b),
            (Kind::Index(a), Kind::Index(b)) => all(&a[..], &b[..]),
            (Kind::Unary(o, a), Kind::Unary(p, b)) => o == p && a.same_tree(b),
            (Kind::Binary(o, a), Kind::Binary(p, b)) => o == p && all(&a[..], &b[..]),
            (Kind::Conditional(a), Kind::Conditional(b)) => all(&a[..], &b[..]),
            (Kind::Call(a), Kind::Call(b)) => {
                a.function == b.function
                    && all(&a.args, &b.args)
                    && match (&a.receiver, &b.receiver) {
                        (None, None) => true,
                        (Some(x), Some(y)) => x.same_tree(y),
                        _ => false,
                    }
            }
            (Kind::List(a), Kind::List(b)) => all(a, b),
            (Kind::Map(a), Kind::Map(b)) => {
                a.len() == b.len() && a.iter().zip(b).all(|((k, v), (l, w))| k.same_tree(l) && v.same_tree(w))
            }
            (Kind::Comprehension(a), Kind::Comprehension(b)) => {
                a.kind == b.kind
                    && a.var == b.var
                    && a.range.same_tree(&b.range)
                    && a.body.same_tree(&b.body)
                    && match (&a.filter, &b.filter) {
                        (None, None) => true,
                        (Some(x), Some(y)) => x.same_tree(y),
                        _ => false,
                    }
            }
            _ => false,
        }
    }
}

/// Writes `s` as a double-quoted CEL string or bytes body.
fn write_quoted(f: &mut fmt::Formatter<'_>, bytes: &[u8], text: bool) -> fmt::Result {
    f.write_str(if text { "\"" } else { "b\"" })?;
    let mut rest = bytes;
    while !rest.is_empty() {
        let (c, len) = match core::str::from_utf8(rest) {
            Ok(s) => s.chars().next().map_or((None, 1), |c| (Some(c), c.len_utf8())),
            Err(e) if e.valid_up_to() > 0 => {
                let s = core::str::from_utf8(&rest[..e.valid_up_to()]).unwrap_or_default();
                s.chars().next().map_or((None, 1), |c| (Some(c), c.len_utf8()))
            }
            Err(_) => (None, 1),
        };
        match c {
            Some('"') => f.write_str("\\\"")?,
            Some('\\') => f.write_str("\\\\")?,
            Some('\n') => f.write_str("\\n")?,
            Some(c) if !text && (!c.is_ascii() || c.is_control()) => {
                rest[..len].iter().try_for_each(|b| write!(f, "\\x{b:02x}"))?;
            }
            Some(c) if c.is_control() => write!(f, "\\u{:04x}", c as u32)?,
            Some(c) => write!(f, "{c}")?,
            None => write!(f, "\\x{:02x}", rest[0])?,
        }
        rest = &rest[len..];
    }
    f.write_str("\"")
}

impl fmt::Display for Constant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Int(v) => write!(f, "{v}"),
            Self::Uint(v) => write!(f, "{v}u"),
            // A literal too large for a double is infinite (`1e999`, as in cel-cpp); no
            // literal is negative or NaN.
            Self::Double(v) if v.is_infinite() => f.write_str(if *v > 0.0 { "1e999" } else { "-1e999" }),
            // `{:?}` always has a `.` or an exponent, so the text reads back as a double.
            Self::Double(v) => write!(f, "{v:?}"),
            Self::String(s) => write_quoted(f, s.as_bytes(), true),
            Self::Bytes(b) => write_quoted(f, b, false),
            Self::Bool(v) => write!(f, "{v}"),
            Self::Null => f.write_str("null"),
        }
    }
}

fn write_list(f: &mut fmt::Formatter<'_>, items: &[Expr]) -> fmt::Result {
    for (i, e) in items.iter().enumerate() {
        if i > 0 {
            f.write_str(", ")?;
        }
        write!(f, "{e}")?;
    }
    Ok(())
}

impl fmt::Display for Expr {
    /// Source text that parses back to the same tree: operators fully parenthesised.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            // A negative literal is parenthesised so that `x - -1` and `-(-1)` stay apart.
            Kind::Literal(c @ (Constant::Int(i64::MIN..0) | Constant::Double(_))) => write!(f, "({c})"),
            Kind::Literal(c) => write!(f, "{c}"),
            Kind::Ident(name) => f.write_str(name),
            Kind::Select(e, field) => write!(f, "({e}).{field}"),
            Kind::Has(e, field) => write!(f, "has(({e}).{field})"),
            Kind::Index(es) => write!(f, "({})[{}]", es[0], es[1]),
            Kind::Unary(UnaryOp::Not, e) => write!(f, "!({e})"),
            Kind::Unary(UnaryOp::Neg, e) => write!(f, "-({e})"),
            Kind::Binary(op, es) => write!(f, "({} {} {})", es[0], op.symbol(), es[1]),
            Kind::Conditional(es) => write!(f, "({} ? {} : {})", es[0], es[1], es[2]),
            Kind::Call(c) => {
                if let Some(r) = &c.receiver {
                    write!(f, "({r}).")?;
                }
                write!(f, "{}(", c.function)?;
                write_list(f, &c.args)?;
                f.write_str(")")
            }
            Kind::List(items) => {
                f.write_str("[")?;
                write_list(f, items)?;
                f.write_str("]")
            }
            Kind::Map(entries) => {
                f.write_str("{")?;
                for (i, (k, v)) in entries.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{k}: {v}")?;
                }
                f.write_str("}")
            }
            Kind::Comprehension(c) => {
                write!(f, "({}).{}({}, ", c.range, c.kind.name(), c.var)?;
                if let Some(p) = &c.filter {
                    write!(f, "{p}, ")?;
                }
                write!(f, "{})", c.body)
            }
        }
    }
}

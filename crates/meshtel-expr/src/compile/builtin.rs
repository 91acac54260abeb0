//! The functions and operators of the language (`docs/reference/expressions.md` §5.1): for
//! each one its name, its signature and how a checked call of it becomes a program
//! operation.
//!
//! Adding a function is one variant of [`Builtin`], listed in [`Builtin::ALL`], and one arm
//! of [`Builtin::spec`]. The signature and the lowering are one value ([`Lowering`]), so the
//! lowering receives exactly as many operands as the signature declares: the checker matches
//! the call's operands against that count and reports any other count as an arity error.

use super::{CmpOp, Const, Func1, Node, Op, Pattern, pair};
use crate::ValueType as V;

/// A parameter or result type in a signature: a concrete type or the template `T` (every `T`
/// of one call stands for the same type, the type of the first operand in a `T` position).
#[derive(Clone, Copy, Debug)]
pub(crate) enum P {
    Is(V),
    T,
}

const S: P = P::Is(V::String);
const B: P = P::Is(V::Bool);
const T: P = P::T;

/// How a function is called.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum CallForm {
    /// `f(a, b)`, and every operator.
    Function,
    /// `r.f(a)`: the receiver is the first operand.
    Method,
}

/// An operation the operands' type does not support; the text names it (`"equality"`).
#[derive(Debug)]
pub(crate) struct Unsupported(pub(crate) &'static str);

/// The operands' result of lowering: the operation, or why the operand type has none.
pub(crate) type Lowered = Result<Op, Unsupported>;

/// The parameter types of an `N`-operand function and its lowering. The lowering gets the
/// checked operands (receiver first) and the type that `T` stands for (for functions without
/// `T`, the result type).
pub(crate) struct Lowering<const N: usize> {
    pub(crate) params: [P; N],
    pub(crate) lower: fn([Node; N], V) -> Lowered,
}

/// A signature with its lowering, by number of operands.
pub(crate) enum Form {
    Args0(Lowering<0>),
    Args1(Lowering<1>),
    Args2(Lowering<2>),
    Args3(Lowering<3>),
}

impl Form {
    /// The number of operands, receiver included.
    pub(crate) const fn operands(&self) -> usize {
        match self {
            Self::Args0(_) => 0,
            Self::Args1(_) => 1,
            Self::Args2(_) => 2,
            Self::Args3(_) => 3,
        }
    }
}

/// Everything the checker needs to know about a function.
pub(crate) struct Spec {
    /// The name a call uses (`EQ` for `==`).
    pub(crate) name: &'static str,
    pub(crate) call: CallForm,
    pub(crate) form: Form,
    pub(crate) ret: P,
}

impl Spec {
    /// The number of arguments a call writes (the receiver of a method is not one).
    pub(crate) const fn arguments(&self) -> usize {
        match self.call {
            CallForm::Function => self.form.operands(),
            CallForm::Method => self.form.operands().saturating_sub(1),
        }
    }
}

const fn function(name: &'static str, form: Form, ret: P) -> Spec {
    Spec {
        name,
        call: CallForm::Function,
        form,
        ret,
    }
}

const fn method(name: &'static str, form: Form, ret: P) -> Spec {
    Spec {
        name,
        call: CallForm::Method,
        form,
        ret,
    }
}

const fn args0(lower: fn([Node; 0], V) -> Lowered) -> Form {
    Form::Args0(Lowering { params: [], lower })
}

const fn args1(params: [P; 1], lower: fn([Node; 1], V) -> Lowered) -> Form {
    Form::Args1(Lowering { params, lower })
}

const fn args2(params: [P; 2], lower: fn([Node; 2], V) -> Lowered) -> Form {
    Form::Args2(Lowering { params, lower })
}

const fn args3(params: [P; 3], lower: fn([Node; 3], V) -> Lowered) -> Form {
    Form::Args3(Lowering { params, lower })
}

/// A function or operator of the language.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Builtin {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    And,
    Lor,
    Or,
    Add,
    Index,
    Conditional,
    Size,
    Ip,
    Timestamp,
    DnsName,
    Email,
    Uri,
    Match,
    Matches,
    StartsWith,
    EndsWith,
    EmptyStringMap,
    ConditionalString,
    ToLower,
}

impl Builtin {
    /// Every builtin, in declaration order.
    pub(crate) const ALL: [Self; 25] = [
        Self::Eq,
        Self::Ne,
        Self::Lt,
        Self::Le,
        Self::Gt,
        Self::Ge,
        Self::And,
        Self::Lor,
        Self::Or,
        Self::Add,
        Self::Index,
        Self::Conditional,
        Self::Size,
        Self::Ip,
        Self::Timestamp,
        Self::DnsName,
        Self::Email,
        Self::Uri,
        Self::Match,
        Self::Matches,
        Self::StartsWith,
        Self::EndsWith,
        Self::EmptyStringMap,
        Self::ConditionalString,
        Self::ToLower,
    ];

    /// The builtin a call names.
    pub(crate) fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|b| b.spec().name == name)
    }

    /// The name, signature and lowering.
    pub(crate) fn spec(self) -> Spec {
        match self {
            Self::Eq => function("EQ", args2([T, T], |[a, b], ty| cmp(CmpOp::Eq, a, b, ty)), B),
            Self::Ne => function("NEQ", args2([T, T], |[a, b], ty| cmp(CmpOp::Ne, a, b, ty)), B),
            Self::Lt => function("LT", args2([T, T], |[a, b], ty| cmp(CmpOp::Lt, a, b, ty)), B),
            Self::Le => function("LEQ", args2([T, T], |[a, b], ty| cmp(CmpOp::Le, a, b, ty)), B),
            Self::Gt => function("GT", args2([T, T], |[a, b], ty| cmp(CmpOp::Gt, a, b, ty)), B),
            Self::Ge => function("GEQ", args2([T, T], |[a, b], ty| cmp(CmpOp::Ge, a, b, ty)), B),
            Self::And => function("LAND", args2([B, B], |[a, b], _| Ok(Op::And(pair(a, b)))), B),
            Self::Lor => function("LOR", args2([B, B], |[a, b], _| Ok(Op::Lor(pair(a, b)))), B),
            Self::Or => function("OR", args2([T, T], |[a, b], _| Ok(Op::Or(pair(a, b)))), T),
            Self::Add => function("ADD", args2([T, T], add), T),
            Self::Index => function(
                "INDEX",
                args2([P::Is(V::StringMap), S], |[m, k], _| Ok(Op::Index(pair(m, k)))),
                S,
            ),
            Self::Conditional => function(
                "conditional",
                args3([B, T, T], |nodes, _| Ok(Op::Conditional(Box::new(nodes)))),
                T,
            ),
            Self::Size => function("size", call1(Func1::Size), P::Is(V::Int64)),
            Self::Ip => function("ip", call1(Func1::Ip), P::Is(V::IpAddress)),
            Self::Timestamp => function("timestamp", call1(Func1::Timestamp), P::Is(V::Timestamp)),
            Self::DnsName => function("dnsName", call1(Func1::DnsName), P::Is(V::DnsName)),
            Self::Email => function("email", call1(Func1::Email), P::Is(V::EmailAddress)),
            Self::Uri => function("uri", call1(Func1::Uri), P::Is(V::Uri)),
            Self::Match => function("match", args2([S, S], |[a, b], _| Ok(Op::Match(pair(a, b)))), B),
            Self::Matches => method("matches", args2([S, S], matches), B),
            Self::StartsWith => method(
                "startsWith",
                args2([S, S], |[a, b], _| Ok(Op::StartsWith(pair(a, b)))),
                B,
            ),
            Self::EndsWith => method("endsWith", args2([S, S], |[a, b], _| Ok(Op::EndsWith(pair(a, b)))), B),
            Self::EmptyStringMap => function("emptyStringMap", args0(|[], _| Ok(Op::EmptyMap)), P::Is(V::StringMap)),
            Self::ConditionalString => function(
                "conditionalString",
                args3([B, S, S], |nodes, _| Ok(Op::ConditionalString(Box::new(nodes)))),
                S,
            ),
            Self::ToLower => function("toLower", call1(Func1::ToLower), S),
        }
    }
}

/// A one-argument function of a STRING, evaluated strictly.
const fn call1(f: Func1) -> Form {
    // A `fn` pointer cannot capture `f`, so each function has its own lowering.
    let lower: fn([Node; 1], V) -> Lowered = match f {
        Func1::Size => |[x], _| Ok(Op::Call1(Func1::Size, Box::new(x))),
        Func1::Ip => |[x], _| Ok(Op::Call1(Func1::Ip, Box::new(x))),
        Func1::Timestamp => |[x], _| Ok(Op::Call1(Func1::Timestamp, Box::new(x))),
        Func1::DnsName => |[x], _| Ok(Op::Call1(Func1::DnsName, Box::new(x))),
        Func1::Email => |[x], _| Ok(Op::Call1(Func1::Email, Box::new(x))),
        Func1::Uri => |[x], _| Ok(Op::Call1(Func1::Uri, Box::new(x))),
        Func1::ToLower => |[x], _| Ok(Op::Call1(Func1::ToLower, Box::new(x))),
    };
    args1([S], lower)
}

/// A comparison, if the operand type has it: equality for all but DURATION and STRING_MAP,
/// ordering for text, numbers and timestamps.
fn cmp(op: CmpOp, a: Node, b: Node, ty: V) -> Lowered {
    let (ok, what) = match op {
        CmpOp::Eq | CmpOp::Ne => (!matches!(ty, V::Duration | V::StringMap), "equality"),
        CmpOp::Lt | CmpOp::Le | CmpOp::Gt | CmpOp::Ge => (
            matches!(
                ty,
                V::String | V::Int64 | V::Double | V::Timestamp | V::DnsName | V::EmailAddress | V::Uri
            ),
            "ordering",
        ),
    };
    if ok {
        Ok(Op::Cmp(op, pair(a, b)))
    } else {
        Err(Unsupported(what))
    }
}

/// `+`: concatenation of text, addition of numbers.
fn add([a, b]: [Node; 2], ty: V) -> Lowered {
    if matches!(
        ty,
        V::String | V::Int64 | V::Double | V::DnsName | V::EmailAddress | V::Uri
    ) {
        Ok(Op::Add(ty, pair(a, b)))
    } else {
        Err(Unsupported("addition"))
    }
}

/// `pattern.matches(text)`: a constant pattern is compiled now.
#[allow(
    clippy::unnecessary_wraps,
    reason = "every lowering has the one signature of the `Builtin` table"
)]
fn matches([pattern, text]: [Node; 2], _: V) -> Lowered {
    let pattern = match &pattern.op {
        Op::Const(Const::Text(p)) => Pattern::Constant(crate::func::regex::compile(p).map_err(Into::into)),
        _ => Pattern::Dynamic(Box::new(pattern)),
    };
    Ok(Op::Matches {
        pattern,
        text: Box::new(text),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_is_complete_and_names_are_unique() {
        // `ALL` lists the variants in declaration order, so a variant left out of it shows
        // up as a gap in the discriminants.
        for (k, b) in Builtin::ALL.into_iter().enumerate() {
            assert_eq!(b as usize, k, "{b:?} is out of place in Builtin::ALL");
            assert_eq!(Builtin::from_name(b.spec().name), Some(b));
        }
        assert_eq!(Builtin::ALL.len(), Builtin::ToLower as usize + 1);
    }

    #[test]
    fn methods_have_a_receiver() {
        for b in Builtin::ALL {
            let spec = b.spec();
            if spec.call == CallForm::Method {
                assert!(spec.form.operands() >= 1, "{b:?}");
                let receiver = match &spec.form {
                    Form::Args0(_) => None,
                    Form::Args1(l) => Some(l.params[0]),
                    Form::Args2(l) => Some(l.params[0]),
                    Form::Args3(l) => Some(l.params[0]),
                };
                assert!(matches!(receiver, Some(P::Is(V::String))), "{b:?}");
            }
        }
    }
}

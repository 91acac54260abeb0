//! Test oracles, shared by the property tests and the fuzz entry points ([`crate::fuzzing`]):
//! the printing round trip of the parser, a plain tree-walking evaluator of the rules of
//! `docs/reference/expressions.md` §6.2 and §6.3, and a generator of well-typed expressions
//! and bags to compare it with compiled programs on.
//!
//! It covers the core of the language (attributes, constants, `|`, indexing, `&&`, `||`,
//! `conditional`, `conditionalString`, comparisons, `+`, `size`, `toLower`, `match`,
//! `startsWith`, `endsWith`, `emptyStringMap`) over STRING, INT64, BOOL and STRING_MAP.

use std::collections::{BTreeMap, HashMap};

use crate::syntax::ast::{Constant, Expr, ExprKind};
use crate::{Manifest, Program, Value, ValueType};

pub(crate) mod cel;
#[cfg(test)]
mod properties;

/// A value of the reference evaluator.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum RefValue {
    S(String),
    I(i64),
    B(bool),
    M(BTreeMap<String, String>),
}

/// The reference's only runtime error in this subset: a strict read of an absent attribute.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Missing(pub(crate) String);

pub(crate) type Bag = HashMap<String, RefValue>;

/// The attributes the generator uses.
pub(crate) fn manifest() -> Manifest {
    use ValueType::{Bool, Int64, String, StringMap};
    [
        ("s1", String),
        ("s2", String),
        ("i1", Int64),
        ("i2", Int64),
        ("b1", Bool),
        ("b2", Bool),
        ("m1", StringMap),
        ("m2", StringMap),
    ]
    .into_iter()
    .collect()
}

fn lower(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c == '\u{130}' {
                return 'i';
            }
            let mut l = c.to_lowercase();
            match (l.next(), l.next()) {
                (Some(x), None) => x,
                _ => c,
            }
        })
        .collect()
}

fn call(e: &Expr) -> (&str, Option<&Expr>, &[Expr]) {
    match &e.kind {
        ExprKind::Call(c) => (c.name.as_str(), c.receiver.as_deref(), c.args.as_slice()),
        other => panic!("not a call: {other:?}"),
    }
}

fn s(v: RefValue) -> String {
    match v {
        RefValue::S(s) => s,
        other => panic!("not a string: {other:?}"),
    }
}

fn b(v: RefValue) -> bool {
    match v {
        RefValue::B(b) => b,
        other => panic!("not a bool: {other:?}"),
    }
}

/// `E[e]`.
pub(crate) fn eval(e: &Expr, bag: &Bag) -> Result<RefValue, Missing> {
    match &e.kind {
        ExprKind::Constant(Constant::String(v)) => Ok(RefValue::S(v.clone())),
        ExprKind::Constant(Constant::Int64(v)) => Ok(RefValue::I(*v)),
        ExprKind::Constant(Constant::Bool(v)) => Ok(RefValue::B(*v)),
        ExprKind::Constant(other) => panic!("constant outside the subset: {other:?}"),
        ExprKind::Attribute(name) => bag.get(name).cloned().ok_or_else(|| Missing(name.clone())),
        ExprKind::Call(_) => {
            let (name, receiver, args) = call(e);
            match name {
                "OR" => match present(&args[0], bag)? {
                    Some(v) => Ok(v),
                    None => eval(&args[1], bag),
                },
                "INDEX" => {
                    let RefValue::M(m) = eval(&args[0], bag)? else {
                        panic!("not a map")
                    };
                    let k = s(eval(&args[1], bag)?);
                    Ok(RefValue::S(m.get(&k).cloned().unwrap_or_default()))
                }
                "LAND" => Ok(RefValue::B(b(eval(&args[0], bag)?) && b(eval(&args[1], bag)?))),
                "LOR" => Ok(RefValue::B(b(eval(&args[0], bag)?) || b(eval(&args[1], bag)?))),
                "conditional" => {
                    if b(eval(&args[0], bag)?) {
                        eval(&args[1], bag)
                    } else {
                        eval(&args[2], bag)
                    }
                }
                "conditionalString" => {
                    let c = b(eval(&args[0], bag)?);
                    let x = eval(&args[1], bag)?;
                    let y = eval(&args[2], bag)?;
                    Ok(if c { x } else { y })
                }
                "EQ" | "NEQ" | "LT" | "LEQ" | "GT" | "GEQ" => {
                    use std::cmp::Ordering::{Equal, Greater, Less};
                    let x = eval(&args[0], bag)?;
                    let y = eval(&args[1], bag)?;
                    let ord = match (&x, &y) {
                        (RefValue::S(a), RefValue::S(b)) => a.as_bytes().cmp(b.as_bytes()),
                        (RefValue::I(a), RefValue::I(b)) => a.cmp(b),
                        (RefValue::B(a), RefValue::B(b)) => a.cmp(b),
                        _ => panic!("incomparable"),
                    };
                    Ok(RefValue::B(match name {
                        "EQ" => ord == Equal,
                        "NEQ" => ord != Equal,
                        "LT" => ord == Less,
                        "LEQ" => ord != Greater,
                        "GT" => ord == Greater,
                        _ => ord != Less,
                    }))
                }
                "ADD" => match (eval(&args[0], bag)?, eval(&args[1], bag)?) {
                    (RefValue::S(a), RefValue::S(b)) => Ok(RefValue::S(a + &b)),
                    (RefValue::I(a), RefValue::I(b)) => Ok(RefValue::I(a.wrapping_add(b))),
                    _ => panic!("bad ADD"),
                },
                "size" => Ok(RefValue::I(s(eval(&args[0], bag)?).len() as i64)),
                "toLower" => Ok(RefValue::S(lower(&s(eval(&args[0], bag)?)))),
                "match" => {
                    let text = s(eval(&args[0], bag)?);
                    let pattern = s(eval(&args[1], bag)?);
                    Ok(RefValue::B(if let Some(p) = pattern.strip_suffix('*') {
                        text.starts_with(p)
                    } else if let Some(p) = pattern.strip_prefix('*') {
                        text.ends_with(p)
                    } else {
                        text == pattern
                    }))
                }
                "startsWith" | "endsWith" => {
                    let text = s(eval(receiver.unwrap(), bag)?);
                    let p = s(eval(&args[0], bag)?);
                    Ok(RefValue::B(if name == "startsWith" {
                        text.starts_with(&p)
                    } else {
                        text.ends_with(&p)
                    }))
                }
                "emptyStringMap" => Ok(RefValue::M(BTreeMap::new())),
                other => panic!("function outside the subset: {other}"),
            }
        }
    }
}

/// `P[e]`.
pub(crate) fn present(e: &Expr, bag: &Bag) -> Result<Option<RefValue>, Missing> {
    match &e.kind {
        ExprKind::Attribute(name) => Ok(bag.get(name).cloned()),
        ExprKind::Call(c) if c.name == "INDEX" => {
            let Some(RefValue::M(m)) = present(&c.args[0], bag)? else {
                return Ok(None);
            };
            let Some(k) = present(&c.args[1], bag)? else {
                return Ok(None);
            };
            Ok(m.get(&s(k)).cloned().map(RefValue::S))
        }
        ExprKind::Call(c) if c.name == "OR" => match present(&c.args[0], bag)? {
            Some(v) => Ok(Some(v)),
            None => present(&c.args[1], bag),
        },
        _ => eval(e, bag).map(Some),
    }
}

/// The reference form of a value the compiled program returned.
pub(crate) fn from_value(v: &Value<'_>) -> RefValue {
    match v {
        Value::String(s) => RefValue::S(s.to_string()),
        Value::Int64(i) => RefValue::I(*i),
        Value::Bool(b) => RefValue::B(*b),
        Value::StringMap(m) => {
            let mut out = BTreeMap::new();
            m.for_each_entry(&mut |k, v| {
                out.insert(k.to_owned(), v.to_owned());
            });
            RefValue::M(out)
        }
        other => panic!("value outside the subset: {other:?}"),
    }
}

/// Choices from a byte source; zero when it runs dry, so every input generates something.
pub(crate) struct Choices<'a> {
    bytes: &'a [u8],
}

impl<'a> Choices<'a> {
    pub(crate) fn new(bytes: &'a [u8]) -> Self {
        Self { bytes }
    }

    pub(crate) fn pick(&mut self, n: usize) -> usize {
        let (&first, rest) = self.bytes.split_first().unwrap_or((&0, &[]));
        self.bytes = rest;
        usize::from(first) % n
    }
}

const STRINGS: [&str; 9] = ["", "a", "B", "ab", "Straße", "ΣΑΣ", "x*", "*b", "İ"];
// No negative literals exist; `i64::MAX + …` wraps to negative values.
const INTS: [i64; 4] = [0, 1, 7, i64::MAX];
#[derive(Clone, Copy)]
pub(crate) enum Ty {
    S,
    I,
    B,
    M,
}

fn quoted(s: &str) -> String {
    format!("{s:?}")
}

/// A well-typed expression of type `ty`, at most `depth` calls deep.
pub(crate) fn expr(ty: Ty, depth: u32, c: &mut Choices<'_>) -> String {
    let leaf = depth == 0;
    let d = depth.saturating_sub(1);
    let n = |full: usize| if leaf { 2 } else { full };
    match ty {
        Ty::S => match c.pick(n(8)) {
            0 => quoted(STRINGS[c.pick(STRINGS.len())]),
            1 => ["s1", "s2"][c.pick(2)].into(),
            2 => format!("{}[{}]", map_postfix(d, c), expr(Ty::S, d, c)),
            3 => format!("({} | {})", expr(Ty::S, d, c), expr(Ty::S, d, c)),
            4 => format!(
                "conditional({}, {}, {})",
                expr(Ty::B, d, c),
                expr(Ty::S, d, c),
                expr(Ty::S, d, c)
            ),
            5 => format!(
                "conditionalString({}, {}, {})",
                expr(Ty::B, d, c),
                expr(Ty::S, d, c),
                expr(Ty::S, d, c)
            ),
            6 => format!("toLower({})", expr(Ty::S, d, c)),
            _ => format!("({} + {})", expr(Ty::S, d, c), expr(Ty::S, d, c)),
        },
        Ty::I => match c.pick(n(6)) {
            0 => INTS[c.pick(INTS.len())].to_string(),
            1 => ["i1", "i2"][c.pick(2)].into(),
            2 => format!("size({})", expr(Ty::S, d, c)),
            3 => format!("({} | {})", expr(Ty::I, d, c), expr(Ty::I, d, c)),
            4 => format!(
                "conditional({}, {}, {})",
                expr(Ty::B, d, c),
                expr(Ty::I, d, c),
                expr(Ty::I, d, c)
            ),
            _ => format!("({} + {})", expr(Ty::I, d, c), expr(Ty::I, d, c)),
        },
        Ty::B => match c.pick(n(11)) {
            0 => ["true", "false", "TRUE"][c.pick(3)].into(),
            1 => ["b1", "b2"][c.pick(2)].into(),
            2 => format!(
                "({} {} {})",
                expr(Ty::S, d, c),
                ["==", "!="][c.pick(2)],
                expr(Ty::S, d, c)
            ),
            3 => format!(
                "({} {} {})",
                expr(Ty::I, d, c),
                ["<", "<=", ">", ">=", "==", "!="][c.pick(6)],
                expr(Ty::I, d, c)
            ),
            4 => format!(
                "({} {} {})",
                expr(Ty::S, d, c),
                ["<", "<=", ">", ">="][c.pick(4)],
                expr(Ty::S, d, c)
            ),
            5 => format!(
                "({} {} {})",
                expr(Ty::B, d, c),
                ["&&", "||"][c.pick(2)],
                expr(Ty::B, d, c)
            ),
            6 => format!("match({}, {})", expr(Ty::S, d, c), expr(Ty::S, d, c)),
            7 => format!(
                "({}).{}({})",
                expr(Ty::S, d, c),
                ["startsWith", "endsWith"][c.pick(2)],
                expr(Ty::S, d, c)
            ),
            8 => format!("({} | {})", expr(Ty::B, d, c), expr(Ty::B, d, c)),
            9 => format!(
                "conditional({}, {}, {})",
                expr(Ty::B, d, c),
                expr(Ty::B, d, c),
                expr(Ty::B, d, c)
            ),
            _ => format!("({} == {})", expr(Ty::B, d, c), expr(Ty::B, d, c)),
        },
        Ty::M => match c.pick(n(3)) {
            0 => ["m1", "m2"][c.pick(2)].into(),
            1 => "emptyStringMap()".into(),
            _ => format!("({} | {})", expr(Ty::M, d, c), expr(Ty::M, d, c)),
        },
    }
}

fn map_postfix(depth: u32, c: &mut Choices<'_>) -> String {
    match expr(Ty::M, depth, c) {
        e if e.starts_with('(') || !e.contains('|') => e,
        e => format!("({e})"),
    }
}

/// An expression of any of the four types.
pub(crate) fn any_expr(depth: u32, c: &mut Choices<'_>) -> String {
    let ty = [Ty::S, Ty::I, Ty::B, Ty::M][c.pick(4)];
    expr(ty, depth, c)
}

/// A bag over the generator's attributes: each present or absent, values from small sets.
pub(crate) fn bag(c: &mut Choices<'_>) -> Bag {
    let mut bag = Bag::new();
    for name in ["s1", "s2"] {
        if c.pick(3) > 0 {
            bag.insert(name.into(), RefValue::S(STRINGS[c.pick(STRINGS.len())].into()));
        }
    }
    for name in ["i1", "i2"] {
        if c.pick(3) > 0 {
            bag.insert(name.into(), RefValue::I(INTS[c.pick(INTS.len())]));
        }
    }
    for name in ["b1", "b2"] {
        if c.pick(3) > 0 {
            bag.insert(name.into(), RefValue::B(c.pick(2) == 1));
        }
    }
    for name in ["m1", "m2"] {
        if c.pick(3) > 0 {
            let mut m = BTreeMap::new();
            for _ in 0..c.pick(4) {
                m.insert(
                    STRINGS[c.pick(STRINGS.len())].to_owned(),
                    STRINGS[c.pick(STRINGS.len())].to_owned(),
                );
            }
            bag.insert(name.into(), RefValue::M(m));
        }
    }
    bag
}

/// Checks the printing round trip: text that parses prints as text that parses back to the
/// same tree, and checking the tree against the Istio manifest and evaluating it on an empty
/// bag do not panic. Returns a description of a failure.
pub(crate) fn check_round_trip(source: &str) -> Result<(), String> {
    let Ok(expr) = Expr::parse(source) else {
        return Ok(());
    };
    let printed = expr.to_string();
    let again = Expr::parse(&printed).map_err(|e| format!("{source:?} printed as {printed:?}: {e}"))?;
    if !again.same_tree(&expr) {
        return Err(format!("{source:?} printed as {printed:?} parses to another tree"));
    }
    if let Ok(program) = Program::from_expr(&expr, source, &Manifest::istio()) {
        let _ = program.evaluate(&HashMap::<&str, Value<'_>>::new());
    }
    Ok(())
}

/// Checks one generated case: the compiled program and the reference agree on the value or
/// on the missing attribute. Returns a description of a disagreement.
pub(crate) fn check_agreement(source: &str, bag: &Bag) -> Result<(), String> {
    let manifest = manifest();
    let expr = Expr::parse(source).map_err(|e| format!("generated source does not parse: {}", e.render(source)))?;
    let program = Program::from_expr(&expr, source, &manifest)
        .map_err(|e| format!("generated source does not compile: {}", e.render(source)))?;
    let values: HashMap<&str, Value<'_>> = bag
        .iter()
        .map(|(k, v)| {
            let value = match v {
                RefValue::S(s) => Value::str(s),
                RefValue::I(i) => Value::Int64(*i),
                RefValue::B(b) => Value::Bool(*b),
                RefValue::M(m) => Value::StringMap(m),
            };
            (k.as_str(), value)
        })
        .collect();
    let compiled = program
        .evaluate(&values)
        .map(|v| from_value(&v))
        .map_err(|e| e.attribute().map(str::to_owned));
    let reference = eval(&expr, bag).map_err(|m| Some(m.0));
    if compiled != reference {
        return Err(format!(
            "{source}\n  bag: {bag:?}\n  compiled:  {compiled:?}\n  reference: {reference:?}"
        ));
    }
    Ok(())
}

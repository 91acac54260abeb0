//! The CEL oracle: a plain tree-walking evaluator of the CEL syntax tree over nested maps, as
//! Envoy hands CEL its attributes (`request` is a map holding `host`, …), and a generator of
//! CEL expressions and bags over Envoy's vocabulary to compare compiled programs with it.
//!
//! Both sides share the operators' and functions' value semantics (`cel::ops`,
//! `cel::functions`); what the oracle checks is everything the compiler decides: name and
//! namespace resolution, `has()`, the presence and equality specialisations, constant regular
//! expressions, comprehension scoping.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use super::Choices;
use crate::cel::ast::{BinaryOp, Constant, Expr, Kind, Macro};
use crate::cel::{eval, functions, lower, ops, type_named};
use crate::{Dialect, Manifest, Program, Span, Value};

/// A bag of the generator: attribute name to value; string maps own their entries.
#[derive(Clone, Debug, Default)]
pub(crate) struct CelBag {
    pub(crate) scalars: Vec<(String, Value<'static>)>,
    pub(crate) maps: Vec<(String, BTreeMap<String, String>)>,
}

impl CelBag {
    /// The bag as compiled programs read it.
    pub(crate) fn flat(&self) -> HashMap<&str, Value<'_>> {
        let mut bag: HashMap<&str, Value<'_>> = self.scalars.iter().map(|(k, v)| (k.as_str(), v.reborrow())).collect();
        for (k, m) in &self.maps {
            bag.insert(k, Value::StringMap(m));
        }
        bag
    }
}

/// A namespace tree: attributes nested by their dotted segments.
#[derive(Default)]
struct Tree {
    value: Option<Value<'static>>,
    children: BTreeMap<String, Self>,
}

impl Tree {
    fn insert(&mut self, path: &[&str], value: Value<'static>) {
        match path {
            [] => self.value = Some(value),
            [first, rest @ ..] => self
                .children
                .entry((*first).to_owned())
                .or_default()
                .insert(rest, value),
        }
    }

    fn into_value(self) -> Value<'static> {
        if let Some(v) = self.value {
            return v;
        }
        let entries: Vec<(Value<'static>, Value<'static>)> = self
            .children
            .into_iter()
            .map(|(k, t)| (Value::String(k.into()), t.into_value()))
            .collect();
        Value::Map(entries.into())
    }
}

/// The activation Envoy builds: every root namespace of the manifest bound (empty when none of
/// its attributes is present), present attributes nested inside.
fn activation(manifest: &Manifest, bag: &CelBag) -> HashMap<String, Value<'static>> {
    let mut roots: BTreeMap<String, Tree> = BTreeMap::new();
    for (_, name, _) in manifest.iter() {
        let root = name.split('.').next().unwrap_or(name);
        roots.entry(root.to_owned()).or_default();
    }
    let maps = bag.maps.iter().map(|(k, m)| {
        let entries: Vec<_> = m
            .iter()
            .map(|(a, b)| (Value::String(a.clone().into()), Value::String(b.clone().into())))
            .collect();
        (k.clone(), Value::Map(entries.into()))
    });
    for (name, value) in bag.scalars.iter().cloned().chain(maps) {
        let path: Vec<&str> = name.split('.').collect();
        if let Some((root, rest)) = path.split_first() {
            roots.entry((*root).to_owned()).or_default().insert(rest, value);
        }
    }
    roots.into_iter().map(|(k, t)| (k, t.into_value())).collect()
}

/// The reference's outcome: a value, or an error (of any kind: only error-or-not is compared,
/// as with cel-cpp).
type Outcome = Result<Value<'static>, ()>;

struct Reference<'e> {
    roots: &'e HashMap<String, Value<'static>>,
    locals: Vec<(String, Value<'static>)>,
}

fn boolean(v: &Outcome) -> Result<bool, ()> {
    match v {
        Ok(Value::Bool(b)) => Ok(*b),
        _ => Err(()),
    }
}

impl Reference<'_> {
    fn eval(&mut self, e: &Expr) -> Outcome {
        let span = Span::default();
        match &e.kind {
            Kind::Literal(c) => Ok(match c {
                Constant::Int(v) => Value::Int64(*v),
                Constant::Uint(v) => Value::Uint64(*v),
                Constant::Double(v) => Value::Double(*v),
                Constant::String(s) => Value::String(s.clone().into()),
                Constant::Bytes(b) => Value::Bytes(b.clone().into()),
                Constant::Bool(b) => Value::Bool(*b),
                Constant::Null => Value::Null,
            }),
            Kind::Ident(name) => {
                if let Some((_, v)) = self.locals.iter().rev().find(|(n, _)| n == name) {
                    return Ok(v.clone());
                }
                if let Some(v) = self.roots.get(name) {
                    return Ok(v.clone());
                }
                type_named(name).map(Value::Type).ok_or(())
            }
            Kind::Select(operand, field) => {
                let v = self.eval(operand)?;
                ops::lookup(&v, &Value::str(field))?.map(Value::into_static).ok_or(())
            }
            Kind::Has(operand, field) => {
                let v = self.eval(operand)?;
                Ok(Value::Bool(ops::lookup(&v, &Value::str(field))?.is_some()))
            }
            Kind::Index(pair) => {
                let container = self.eval(&pair[0])?;
                let key = self.eval(&pair[1])?;
                eval::index(&container, &key, span)
                    .map(Value::into_static)
                    .map_err(|_| ())
            }
            Kind::Unary(op, operand) => eval::unary(*op, &self.eval(operand)?, span).map_err(|_| ()),
            Kind::Binary(op @ (BinaryOp::And | BinaryOp::Or), pair) => {
                let decisive = *op == BinaryOp::Or;
                let first = boolean(&self.eval(&pair[0]));
                let second = boolean(&self.eval(&pair[1]));
                match (first, second) {
                    (Ok(a), _) if a == decisive => Ok(Value::Bool(decisive)),
                    (_, Ok(b)) if b == decisive => Ok(Value::Bool(decisive)),
                    (Ok(_), Ok(_)) => Ok(Value::Bool(!decisive)),
                    _ => Err(()),
                }
            }
            Kind::Binary(op, pair) => {
                let a = self.eval(&pair[0])?;
                let b = self.eval(&pair[1])?;
                eval::binary(*op, a, b, span).map(Value::into_static).map_err(|_| ())
            }
            Kind::Conditional(parts) => {
                if boolean(&self.eval(&parts[0]))? {
                    self.eval(&parts[1])
                } else {
                    self.eval(&parts[2])
                }
            }
            Kind::Call(call) => {
                let (f, _) = lower::function(&call.function, call.receiver.is_some(), call.args.len()).ok_or(())?;
                let mut values = Vec::new();
                for operand in call.receiver.iter().map(|r| &**r).chain(&call.args) {
                    values.push(self.eval(operand)?);
                }
                functions::call(f, &mut values, span)
                    .map(Value::into_static)
                    .map_err(|_| ())
            }
            Kind::List(items) => Ok(Value::List(
                items.iter().map(|i| self.eval(i)).collect::<Result<Arc<[_]>, ()>>()?,
            )),
            Kind::Map(entries) => {
                let mut out: Vec<(Value<'static>, Value<'static>)> = Vec::new();
                for (k, v) in entries {
                    let key = self.eval(k)?;
                    if !ops::is_key(&key) || out.iter().any(|(seen, _)| ops::same_key(seen, &key)) {
                        return Err(());
                    }
                    out.push((key, self.eval(v)?));
                }
                Ok(Value::Map(out.into()))
            }
            Kind::Comprehension(c) => self.comprehension(c),
        }
    }

    fn with_var<T>(&mut self, name: &str, value: Value<'static>, f: impl FnOnce(&mut Self) -> T) -> T {
        self.locals.push((name.to_owned(), value));
        let result = f(self);
        self.locals.pop();
        result
    }

    fn comprehension(&mut self, c: &crate::cel::ast::Comprehension) -> Outcome {
        let range = self.eval(&c.range)?;
        let items: Vec<Value<'static>> = eval::elements(&range, Span::default())
            .map_err(|_| ())?
            .into_iter()
            .map(Value::into_static)
            .collect();
        let mut tests = Vec::new();
        let mut kept = Vec::new();
        for item in items {
            let var = c.var.clone();
            match c.kind {
                Macro::Map => {
                    let keep = match &c.filter {
                        Some(p) => self.with_var(&var, item.clone(), |r| boolean(&r.eval(p)))?,
                        None => true,
                    };
                    if keep {
                        kept.push(self.with_var(&var, item, |r| r.eval(&c.body))?);
                    }
                }
                Macro::Filter => {
                    if self.with_var(&var, item.clone(), |r| boolean(&r.eval(&c.body)))? {
                        kept.push(item);
                    }
                }
                _ => tests.push(self.with_var(&var, item, |r| boolean(&r.eval(&c.body)))),
            }
        }
        Ok(Value::Bool(match c.kind {
            Macro::Map | Macro::Filter => return Ok(Value::List(kept.into())),
            Macro::All if tests.contains(&Ok(false)) => false,
            Macro::Exists if tests.contains(&Ok(true)) => true,
            Macro::All | Macro::Exists if tests.iter().any(Result::is_err) => return Err(()),
            Macro::All => true,
            Macro::Exists => false,
            Macro::ExistsOne => {
                let mut count = 0;
                for t in tests {
                    count += usize::from(t?);
                }
                count == 1
            }
        }))
    }
}

/// Whether two outcomes agree: both errors, or values equal by CEL and of the same type (a
/// string map and a map are both `map`; NaN equals NaN).
fn same(a: &Value<'_>, b: &Value<'_>) -> bool {
    if a.value_type().cel_name() != b.value_type().cel_name() {
        return false;
    }
    match (a, b) {
        (Value::Double(x), Value::Double(y)) => x.to_bits() == y.to_bits() || (x.is_nan() && y.is_nan()),
        (Value::List(x), Value::List(y)) => x.len() == y.len() && x.iter().zip(y.iter()).all(|(p, q)| same(p, q)),
        _ => ops::equal(a, b),
    }
}

/// CEL's parser round trip: any text either fails with a compile error or parses to a tree
/// whose printed form parses back to the same tree; compiling it against Envoy's vocabulary
/// and evaluating it over an empty bag never panic.
pub(crate) fn check_cel_round_trip(source: &str) -> Result<(), String> {
    let Ok(tree) = crate::cel::parser::Parser::parse(source, crate::Limits::default()) else {
        return Ok(());
    };
    let printed = tree.to_string();
    let again = crate::cel::parser::Parser::parse(&printed, crate::Limits::default())
        .map_err(|e| format!("{source:?} printed as {printed:?}, which does not parse: {e}"))?;
    if !again.same_tree(&tree) {
        return Err(format!("{source:?} printed as {printed:?}, which parses to {again}"));
    }
    if let Ok(program) = Program::compile(Dialect::Cel, source, &Manifest::envoy()) {
        let _ = program.evaluate(&HashMap::<&str, Value<'_>>::new());
    }
    Ok(())
}

/// Compiles `source` as CEL and evaluates it over `bag`, and evaluates it with the reference;
/// `Err` describes a disagreement.
pub(crate) fn check_cel_agreement(source: &str, bag: &CelBag) -> Result<(), String> {
    let manifest = Manifest::envoy();
    let Ok(tree) = crate::cel::parser::Parser::parse(source, crate::Limits::default()) else {
        return Ok(());
    };
    let roots = activation(&manifest, bag);
    let reference = Reference {
        roots: &roots,
        locals: Vec::new(),
    }
    .eval(&tree);
    let flat = bag.flat();
    let ours = Program::compile(Dialect::Cel, source, &manifest)
        .map_err(|_| ())
        .and_then(|p| p.evaluate(&flat).map(Value::into_static).map_err(|_| ()));
    let agree = match (&ours, &reference) {
        (Ok(a), Ok(b)) => same(a, b),
        (Err(()), Err(())) => true,
        _ => false,
    };
    if agree {
        Ok(())
    } else {
        Err(format!(
            "{source}\n  bag: {bag:?}\n  compiled: {ours:?}\n  reference: {reference:?}"
        ))
    }
}

const TEXT_ATTRS: [&str; 5] = [
    "request.host",
    "request.path",
    "filter_state.upstream_peer.app",
    "filter_state.upstream_peer.namespace",
    "xds.node.id",
];
const INT_ATTRS: [&str; 2] = ["response.code", "destination.port"];
const MAP_ATTRS: [&str; 2] = ["request.headers", "filter_state.upstream_peer.labels"];
const NAMES: [&str; 7] = [
    "request",
    "filter_state.upstream_peer",
    "filter_state",
    "xds.node",
    "request.nope",
    "nope",
    "connection.mtls",
];
const LITERALS: [&str; 14] = [
    "0",
    "1",
    "-1",
    "7u",
    "0.5",
    "-0.0",
    "''",
    "'a'",
    "'x-user'",
    "true",
    "false",
    "null",
    "b'a'",
    "9223372036854775807",
];
const KEYS: [&str; 4] = ["'a'", "'x-user'", "'app'", "'host'"];

/// A CEL expression over Envoy's vocabulary, of nesting at most `depth`.
pub(crate) fn cel_expr(depth: u32, c: &mut Choices<'_>) -> String {
    if depth == 0 {
        return leaf(c);
    }
    let d = depth - 1;
    match c.pick(14) {
        0 | 1 => leaf(c),
        2 => format!(
            "has({}.{})",
            pick(&NAMES[..4], c),
            pick(&["app", "host", "id", "nope", "upstream_peer"], c)
        ),
        3 => {
            let a = pick(&TEXT_ATTRS, c);
            let (ns, field) = a.rsplit_once('.').unwrap_or((a, a));
            format!("has({ns}.{field}) ? {a} : {}", cel_expr(d, c))
        }
        4 => {
            let m = pick(&MAP_ATTRS, c);
            let k = pick(&KEYS, c);
            match c.pick(3) {
                0 => format!("{m}[{k}]"),
                1 => format!("{k} in {m} ? {m}[{k}] : {}", cel_expr(d, c)),
                _ => format!("{k} in {m}"),
            }
        }
        5 => format!(
            "{} {} {}",
            cel_expr(d, c),
            pick(&["==", "!=", "<", ">=", "in"], c),
            cel_expr(d, c)
        ),
        6 => format!("({} {} {})", cel_expr(d, c), pick(&["&&", "||"], c), cel_expr(d, c)),
        7 => format!("({} ? {} : {})", cel_expr(d, c), cel_expr(d, c), cel_expr(d, c)),
        8 => format!(
            "({} {} {})",
            cel_expr(d, c),
            pick(&["+", "-", "*", "/", "%"], c),
            cel_expr(d, c)
        ),
        9 => format!(
            "{}({})",
            pick(&["size", "string", "int", "uint", "double", "type", "dyn"], c),
            cel_expr(d, c)
        ),
        10 => format!(
            "{}.{}({})",
            cel_expr(d, c),
            pick(&["contains", "startsWith", "endsWith", "matches"], c),
            pick(&["'a'", "'^r'", "'x'", "''"], c)
        ),
        11 => format!("[{}, {}]", cel_expr(d, c), cel_expr(d, c)),
        12 => format!("{{{}: {}}}", pick(&KEYS, c), cel_expr(d, c)),
        _ => format!(
            "{}.{}(x, {})",
            pick(
                &[
                    "[1, 2]",
                    "request.headers",
                    "['a', 'b']",
                    "filter_state.upstream_peer.labels"
                ],
                c
            ),
            pick(&["all", "exists", "exists_one", "map", "filter"], c),
            pick(&["x == 'a'", "x > 1", "size(x) > 0", "x", "true"], c)
        ),
    }
}

fn pick<'s>(options: &[&'s str], c: &mut Choices<'_>) -> &'s str {
    options[c.pick(options.len())]
}

fn leaf(c: &mut Choices<'_>) -> String {
    match c.pick(4) {
        0 => pick(&TEXT_ATTRS, c).to_owned(),
        1 => pick(&INT_ATTRS, c).to_owned(),
        2 => pick(&NAMES, c).to_owned(),
        _ => pick(&LITERALS, c).to_owned(),
    }
}

/// A bag: each attribute of the generator's vocabulary present or not.
pub(crate) fn cel_bag(c: &mut Choices<'_>) -> CelBag {
    let mut bag = CelBag::default();
    for name in TEXT_ATTRS {
        if c.pick(3) > 0 {
            let v = pick(&["", "a", "reviews", "x-user"], c);
            bag.scalars.push((name.to_owned(), Value::String(v.to_owned().into())));
        }
    }
    for name in INT_ATTRS {
        if c.pick(3) > 0 {
            let v = [0, 1, 200, 503][c.pick(4)];
            bag.scalars.push((name.to_owned(), Value::Int64(v)));
        }
    }
    if c.pick(2) > 0 {
        bag.scalars
            .push(("connection.mtls".to_owned(), Value::Bool(c.pick(2) == 0)));
    }
    for name in MAP_ATTRS {
        if c.pick(3) > 0 {
            let mut m = BTreeMap::new();
            for key in ["a", "x-user", "app"] {
                if c.pick(2) > 0 {
                    m.insert(key.to_owned(), pick(&["", "1", "bob"], c).to_owned());
                }
            }
            bag.maps.push((name.to_owned(), m));
        }
    }
    bag
}

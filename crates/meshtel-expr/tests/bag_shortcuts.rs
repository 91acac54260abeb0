//! `Bag::get_text`, `Bag::get_map` and `Bag::get_int` are shortcuts: a bag that overrides them,
//! one that keeps the defaults and one that answers `None` to all give every program the same
//! result.

use std::borrow::Cow;
use std::collections::HashMap;

use meshtel_expr::{Attr, Bag, Dialect, Manifest, Program, SlotBag, StringMap, Value};
use proptest::prelude::*;

/// Only `get`: the provided shortcuts.
struct GetOnly<'b>(&'b SlotBag<'b>);

impl Bag for GetOnly<'_> {
    fn get(&self, attr: Attr<'_>) -> Option<Value<'_>> {
        self.0.get(attr)
    }
}

/// Shortcuts that never answer: evaluation must fall back to `get`.
struct NoShortcuts<'b>(&'b SlotBag<'b>);

impl Bag for NoShortcuts<'_> {
    fn get(&self, attr: Attr<'_>) -> Option<Value<'_>> {
        self.0.get(attr)
    }
    fn get_text(&self, _: Attr<'_>) -> Option<&str> {
        None
    }
    fn get_map(&self, _: Attr<'_>) -> Option<&dyn StringMap> {
        None
    }
    fn get_int(&self, _: Attr<'_>) -> Option<i64> {
        None
    }
}

const SOURCES: [(Dialect, &str); 12] = [
    (Dialect::Mixer, r#"request.host | "unknown""#),
    (Dialect::Mixer, "request.host"),
    (Dialect::Mixer, r#"request.headers["x-user"] | "nobody""#),
    (Dialect::Mixer, r#"request.headers["x-user"]"#),
    (
        Dialect::Mixer,
        r#"conditional((request.host | "x") == "reviews", "hit", "miss")"#,
    ),
    (Dialect::Mixer, r#"request.headers["x-user"] == "bob""#),
    (Dialect::Cel, r#"has(request.host) ? request.host : "unknown""#),
    (Dialect::Cel, "request.host"),
    (Dialect::Cel, "request.headers['x-user']"),
    (Dialect::Cel, r#"request.headers['x-user'] == "bob""#),
    (Dialect::Cel, "string(response.code)"),
    (Dialect::Cel, r#"has(response.code) ? string(response.code) : "0""#),
];

const HEADERS: [(&str, &str); 2] = [("x-user", "bob"), ("accept", "*/*")];
const OTHER_HEADERS: [(&str, &str); 1] = [("accept", "*/*")];

/// What a bag holds for `request.host` and `request.headers`: absent, borrowed or owned text,
/// a value of another type, a map with and without the key.
fn host(choice: u8) -> Option<Value<'static>> {
    match choice % 5 {
        0 => None,
        1 => Some(Value::str("reviews")),
        2 => Some(Value::String(Cow::Owned("reviews".to_owned()))),
        3 => Some(Value::DnsName(Cow::Borrowed("reviews"))),
        _ => Some(Value::Int64(7)),
    }
}

fn headers(choice: u8) -> Option<Value<'static>> {
    match choice % 4 {
        0 => None,
        1 => Some(Value::StringMap(&HEADERS)),
        2 => Some(Value::StringMap(&OTHER_HEADERS)),
        _ => Some(Value::str("not a map")),
    }
}

fn code(choice: u8) -> Option<Value<'static>> {
    match choice % 7 {
        0 => None,
        1 => Some(Value::Int64(200)),
        2 => Some(Value::Int64(0)),
        3 => Some(Value::Int64(1000)),
        4 => Some(Value::Int64(-1)),
        5 => Some(Value::Uint64(503)),
        _ => Some(Value::str("200")),
    }
}

fn outcome<B: Bag>(program: &Program, bag: &B) -> Result<String, String> {
    program
        .evaluate(bag)
        .map(|v| v.to_string())
        .map_err(|e| format!("{:?}", e.kind()))
}

proptest! {
    #[test]
    fn shortcuts_agree_with_get(which in 0..SOURCES.len(), h in any::<u8>(), m in any::<u8>(), c in any::<u8>()) {
        let manifest = Manifest::envoy();
        let (dialect, source) = SOURCES[which];
        let Ok(program) = Program::compile(dialect, source, &manifest) else {
            return Err(TestCaseError::fail(format!("{source} does not compile")));
        };
        let mut slots = SlotBag::new(&manifest);
        let mut map = HashMap::new();
        for (name, value) in [("request.host", host(h)), ("request.headers", headers(m)), ("response.code", code(c))] {
            if let Some(value) = value {
                slots.set_named(&manifest, name, value.clone());
                map.insert(name, value);
            }
        }
        let expected = outcome(&program, &NoShortcuts(&slots));
        prop_assert_eq!(&outcome(&program, &slots), &expected, "SlotBag, {}", source);
        prop_assert_eq!(&outcome(&program, &GetOnly(&slots)), &expected, "defaults, {}", source);
        prop_assert_eq!(&outcome(&program, &map), &expected, "HashMap, {}", source);
    }
}

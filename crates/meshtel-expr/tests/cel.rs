//! The CEL dialect: Istio's documented expressions, CEL's semantics as Envoy evaluates them
//! (cel-cpp without the type checker), macros, functions and their error cases.

use std::collections::HashMap;

use meshtel_expr::{CompileErrorKind, Dialect, Duration, EvalErrorKind, Manifest, Program, Timestamp, Value};

fn manifest() -> Manifest {
    Manifest::envoy()
}

fn compile(source: &str) -> Program {
    Program::compile(Dialect::Cel, source, &manifest()).unwrap_or_else(|e| panic!("{source}: {e}"))
}

/// The label text of `source` evaluated over `bag`, or the error class.
fn eval(source: &str, bag: &HashMap<&str, Value<'_>>) -> Result<String, EvalErrorKind> {
    let program = compile(source);
    let value = program.evaluate(bag).map_err(|e| e.kind())?;
    let mut text = String::new();
    program.write_text(&value, &mut text).unwrap();
    Ok(text)
}

fn ok(source: &str, bag: &HashMap<&str, Value<'_>>) -> String {
    eval(source, bag).unwrap_or_else(|k| panic!("{source}: {k:?}"))
}

fn empty() -> HashMap<&'static str, Value<'static>> {
    HashMap::new()
}

#[test]
fn istio_documentation_examples() {
    let headers = [("x-user", "bob"), ("user-agent", "curl")];
    let labels = [("app", "reviews")];
    let mut bag = HashMap::from([
        ("request.host", Value::str("reviews:9080")),
        ("destination.port", Value::Int64(9080)),
        ("response.code", Value::Int64(503)),
        ("connection.mtls", Value::Bool(true)),
        ("request.url_path", Value::str("/reviews/v1beta3/x")),
        ("request.headers", Value::StringMap(&headers)),
        ("filter_state.upstream_peer.app", Value::str("ratings")),
        ("filter_state.downstream_peer.namespace", Value::str("default")),
        ("upstream_peer.labels", Value::StringMap(&labels)),
    ]);
    assert_eq!(ok("request.host", &bag), "reviews:9080");
    assert_eq!(ok("string(destination.port)", &bag), "9080");
    assert_eq!(
        ok(r#"has(request.host) ? request.host : "unknown""#, &bag),
        "reviews:9080"
    );
    assert_eq!(ok("response.code >= 400", &bag), "true");
    assert_eq!(
        ok("connection.mtls && request.url_path.contains('v1beta3')", &bag),
        "true"
    );
    let health = r#"!has(request.useragent) || !(request.useragent.startsWith("Amazon-Route53-Health-Check-Service"))"#;
    assert_eq!(ok(health, &bag), "true");
    assert_eq!(ok("filter_state.upstream_peer.app", &bag), "ratings");
    assert_eq!(ok("upstream_peer.labels['app']", &bag), "reviews");
    let both = r#"has(filter_state.downstream_peer) ? filter_state.downstream_peer.namespace : filter_state["wasm.downstream_peer"].namespace"#;
    assert_eq!(ok(both, &bag), "default");
    assert_eq!(ok("request.url_path.matches('^/reviews/[[:alnum:]]*')", &bag), "true");
    assert_eq!(ok("request.headers['x-user']", &bag), "bob");

    bag.clear();
    assert_eq!(ok(r#"has(request.host) ? request.host : "unknown""#, &bag), "unknown");
    assert_eq!(eval("request.host", &bag), Err(EvalErrorKind::MissingAttribute));
    assert_eq!(eval(both, &bag), Err(EvalErrorKind::NoSuchKey));
    assert_eq!(ok(health, &bag), "true");
}

#[test]
fn the_presence_default_is_one_bag_read_like_mixers_or() {
    // Same references, same result, same shape: `has(x) ? x : d` is `x | d`.
    let cel = compile(r#"has(request.host) ? request.host : "unknown""#);
    assert_eq!(cel.references().collect::<Vec<_>>(), ["request.host"]);
    let bag = HashMap::from([("request.host", Value::str("a"))]);
    assert_eq!(cel.evaluate(&bag).unwrap(), Value::str("a"));
    let headers = [("x-user", "bob")];
    let bag = HashMap::from([("request.headers", Value::StringMap(&headers))]);
    assert_eq!(
        ok(
            r#""x-user" in request.headers ? request.headers["x-user"] : "anon""#,
            &bag
        ),
        "bob"
    );
    assert_eq!(
        ok(r#"has(request.headers.x) ? request.headers.x : "anon""#, &bag),
        "anon"
    );
    assert_eq!(
        eval(r#""x" in request.headers ? request.headers["x"] : "anon""#, &empty()),
        Err(EvalErrorKind::MissingAttribute)
    );
}

#[test]
fn heterogeneous_numbers_and_checked_arithmetic() {
    let bag = HashMap::from([
        ("response.code", Value::Int64(200)),
        ("connection.id", Value::Uint64(7)),
    ]);
    for source in [
        "response.code == 200u",
        "1 == 1.0",
        "200u == 200",
        "dyn(18446744073709551615u) > 9223372036854775807",
        "connection.id < 8",
        "1u < 1.5",
        "[1, 2u, 3.0] == [1.0, 2, 3u]",
        "2 in [1.0, 2.0]",
        "{1: 'a'}[1u] == 'a'",
    ] {
        assert_eq!(ok(source, &bag), "true", "{source}");
    }
    let errors = [
        ("1 + 1u", EvalErrorKind::NoMatchingOverload),
        ("9223372036854775807 + 1", EvalErrorKind::Overflow),
        ("-9223372036854775808 - 1", EvalErrorKind::Overflow),
        ("-(-9223372036854775808)", EvalErrorKind::Overflow),
        ("0u - 1u", EvalErrorKind::Overflow),
        ("1 / 0", EvalErrorKind::DivisionByZero),
        ("1 % 0", EvalErrorKind::DivisionByZero),
        ("1.5 % 1.0", EvalErrorKind::NoMatchingOverload),
        ("-'a'", EvalErrorKind::NoMatchingOverload),
        ("1 < 'a'", EvalErrorKind::NoMatchingOverload),
        ("int(1e19)", EvalErrorKind::Overflow),
        ("uint(-1)", EvalErrorKind::Overflow),
        ("int('x')", EvalErrorKind::InvalidArgument),
    ];
    for (source, kind) in errors {
        assert_eq!(eval(source, &bag), Err(kind), "{source}");
    }
    assert_eq!(ok("1 == 'a'", &bag), "false");
    assert_eq!(ok("7 / 2 * 2 + 7 % 2", &bag), "7");
    assert_eq!(ok("-7 / 2", &bag), "-3");
    assert_eq!(ok("1.0 / 0.0", &bag), "inf");
}

#[test]
fn logic_absorbs_errors_in_either_order() {
    let bag = empty();
    for (source, result) in [
        ("false && request.host == 'a'", "false"),
        ("request.host == 'a' && false", "false"),
        ("true || request.host == 'a'", "true"),
        ("request.host == 'a' || true", "true"),
        ("1 || true", "true"),
        ("false && 'x'", "false"),
    ] {
        assert_eq!(ok(source, &bag), result, "{source}");
    }
    assert_eq!(
        eval("true && request.host == 'a'", &bag),
        Err(EvalErrorKind::MissingAttribute)
    );
    assert_eq!(eval("false || 1", &bag), Err(EvalErrorKind::NoMatchingOverload));
    assert_eq!(eval("1 ? 'a' : 'b'", &bag), Err(EvalErrorKind::NoMatchingOverload));
}

#[test]
fn maps_lists_and_indexing() {
    let headers = [("a", "1")];
    let bag = HashMap::from([("request.headers", Value::StringMap(&headers))]);
    assert_eq!(ok("request.headers['a']", &bag), "1");
    assert_eq!(eval("request.headers['b']", &bag), Err(EvalErrorKind::NoSuchKey));
    assert_eq!(ok("'a' in request.headers", &bag), "true");
    assert_eq!(ok("has(request.headers.b)", &bag), "false");
    assert_eq!(ok("size(request.headers)", &bag), "1");
    assert_eq!(ok("[1, 2, 3][1]", &bag), "2");
    assert_eq!(ok("[1, 2, 3][2u]", &bag), "3");
    assert_eq!(eval("[1, 2, 3][3]", &bag), Err(EvalErrorKind::NoSuchKey));
    assert_eq!(eval("[1, 2, 3][-1]", &bag), Err(EvalErrorKind::NoSuchKey));
    assert_eq!(ok("{'a': {'b': 2}}.a.b", &bag), "2");
    assert_eq!(ok("{'a': 1}['a'] + 1", &bag), "2");
    assert_eq!(eval("{'a': 1, 'a': 2}", &bag), Err(EvalErrorKind::InvalidArgument));
    assert_eq!(eval("{'a': 1}.b", &bag), Err(EvalErrorKind::NoSuchKey));
    assert_eq!(eval("{[1]: 1}", &bag), Err(EvalErrorKind::NoMatchingOverload));
    assert_eq!(ok("[1] + [2]", &bag), "[1, 2]");
    assert_eq!(ok("size('héllo') + size(b'h\\xc3\\xa9')", &bag), "8");
    assert_eq!(ok("has({'a': 1}.a)", &bag), "true");
    assert_eq!(eval("has(1.a)", &bag), Err(EvalErrorKind::NoMatchingOverload));
}

#[test]
fn namespaces_and_names() {
    let bag = HashMap::from([
        ("filter_state.upstream_peer.app", Value::str("ratings")),
        ("filter_state.upstream_peer.namespace", Value::str("ns")),
    ]);
    assert_eq!(ok("has(filter_state.upstream_peer)", &bag), "true");
    assert_eq!(ok("has(filter_state.downstream_peer)", &bag), "false");
    assert_eq!(ok("has(request.nonexistent)", &bag), "false");
    assert_eq!(ok("size(filter_state.upstream_peer)", &bag), "2");
    assert_eq!(ok("filter_state['upstream_peer']['app']", &bag), "ratings");
    assert_eq!(eval("request.nonexistent", &bag), Err(EvalErrorKind::NoSuchKey));
    assert_eq!(eval("nothing_by_this_name", &bag), Err(EvalErrorKind::NoSuchKey));
    assert_eq!(
        ok("type(1) == int && type('a') == string && type(int) == type", &bag),
        "true"
    );
    assert_eq!(ok("type({})", &bag), "map");
    assert_eq!(ok("type(duration('1s')) == google.protobuf.Duration", &bag), "true");
}

#[test]
fn macros() {
    let bag = empty();
    for (source, result) in [
        ("[1, 2, 3].all(x, x > 0)", "true"),
        ("[1, 2, 3].exists(x, x > 2)", "true"),
        ("[1, 2, 3].exists_one(x, x > 1)", "false"),
        ("[1, 2, 3].map(x, x * 2)", "[2, 4, 6]"),
        ("[1, 2, 3].map(x, x > 1, x * 10)", "[20, 30]"),
        ("[1, 2, 3].filter(x, x % 2 == 1)", "[1, 3]"),
        ("{'a': 1, 'b': 2}.all(k, k.size() == 1)", "true"),
        ("[[1], [2, 3]].map(l, l.map(x, x + 1))", "[[2], [3, 4]]"),
        ("[1, 2].exists(x, [3, 4].exists(y, x + y == 6))", "true"),
        // An error is absorbed by a deciding element, whatever the order.
        ("[0, -1].all(x, 1 / x > 0)", "false"),
        ("[-1, 0].all(x, 1 / x > 0)", "false"),
        ("[1, 0].exists(x, 1 / x > 0)", "true"),
        ("[].all(x, x)", "true"),
    ] {
        assert_eq!(ok(source, &bag), result, "{source}");
    }
    assert_eq!(
        eval("[1, 0].all(x, 1 / x > 0)", &bag),
        Err(EvalErrorKind::DivisionByZero)
    );
    assert_eq!(
        eval("[0, 1].exists_one(x, 1 / x > 0)", &bag),
        Err(EvalErrorKind::DivisionByZero)
    );
    assert_eq!(eval("[1].all(x, x)", &bag), Err(EvalErrorKind::NoMatchingOverload));
    assert_eq!(eval("1.all(x, x)", &bag), Err(EvalErrorKind::NoMatchingOverload));
}

#[test]
fn strings_and_conversions() {
    let bag = empty();
    for (source, result) in [
        ("string(100.0)", "100"),
        ("string(1e6)", "1e+06"),
        ("string(1e-7)", "1e-07"),
        ("string(-0.0)", "-0"),
        ("string(duration('100ms'))", "0.100s"),
        ("string(duration('1h'))", "3600s"),
        (
            "string(timestamp('2024-01-02T03:04:05.123Z'))",
            "2024-01-02T03:04:05.123Z",
        ),
        ("string(b'abc')", "abc"),
        ("string(18446744073709551615u)", "18446744073709551615"),
        ("int('-42') + int(3.9) + int(-3.9)", "-42"),
        ("uint('42')", "42"),
        ("double('1e3')", "1000"),
        ("bool('True') && !bool('f')", "true"),
        ("bytes('é') == b'\\xc3\\xa9'", "true"),
        ("'\\xc3\\xa9' == 'Ã©'", "true"),
        (
            "'abc'.startsWith('ab') && 'abc'.endsWith('bc') && 'abc'.contains('b')",
            "true",
        ),
        ("'abc'.matches('^a.c$') && matches('abc', 'b')", "true"),
        ("'a1'.matches('\\\\d') && !'٣'.matches('\\\\d')", "true"),
        ("'abc' + 'def'", "abcdef"),
        ("r'\\d' == '\\\\d'", "true"),
        ("'''a\nb'''.size()", "3"),
        ("dyn(1) == 1", "true"),
        ("int(timestamp('1970-01-01T00:01:00Z'))", "60"),
    ] {
        assert_eq!(ok(source, &bag), result, "{source}");
    }
    assert_eq!(eval("string(b'\\xff')", &bag), Err(EvalErrorKind::InvalidArgument));
    assert_eq!(eval("'a'.matches('(')", &bag), Err(EvalErrorKind::Regex));
    assert_eq!(eval("bool('yes')", &bag), Err(EvalErrorKind::InvalidArgument));
    assert_eq!(eval("1.contains('a')", &bag), Err(EvalErrorKind::NoMatchingOverload));
}

#[test]
fn timestamps_and_durations() {
    let t = Timestamp::from_unix(1_704_164_645, 678_000_000); // Tuesday 2024-01-02T03:04:05.678Z
    let bag = HashMap::from([
        ("request.time", Value::Timestamp(t)),
        (
            "request.duration",
            Value::Duration(Duration::from_nanos(5_400_250_000_000)),
        ),
    ]);
    for (source, result) in [
        ("request.time.getFullYear()", "2024"),
        ("request.time.getMonth()", "0"),
        ("request.time.getDayOfYear()", "1"),
        ("request.time.getDayOfMonth()", "1"),
        ("request.time.getDate()", "2"),
        ("request.time.getDayOfWeek()", "2"),
        ("request.time.getHours()", "3"),
        ("request.time.getMinutes()", "4"),
        ("request.time.getSeconds()", "5"),
        ("request.time.getMilliseconds()", "678"),
        ("request.time.getHours('America/Los_Angeles')", "19"),
        ("request.time.getDayOfWeek('America/Los_Angeles')", "1"),
        ("request.time.getHours('+05:30')", "8"),
        ("request.duration.getHours()", "1"),
        ("request.duration.getMinutes()", "90"),
        ("request.duration.getSeconds()", "5400"),
        ("request.duration.getMilliseconds()", "250"),
        ("string(request.time + duration('1h'))", "2024-01-02T04:04:05.678Z"),
        ("string(request.time - timestamp('2024-01-01T00:00:00Z'))", "97445.678s"),
        ("request.time > timestamp('2024-01-01T00:00:00Z')", "true"),
        ("string(duration('1s') + duration('500ms'))", "1.500s"),
        ("string(duration('-1.5s'))", "-1.500s"),
    ] {
        assert_eq!(ok(source, &bag), result, "{source}");
    }
    assert_eq!(
        eval("request.time.getHours('Mars/Base')", &bag),
        Err(EvalErrorKind::InvalidArgument)
    );
    assert_eq!(
        eval("timestamp('9999-12-31T23:59:59Z') + duration('1s')", &bag),
        Err(EvalErrorKind::Overflow)
    );
    assert_eq!(
        eval("request.duration.getDate()", &bag),
        Err(EvalErrorKind::NoMatchingOverload)
    );
    assert_eq!(
        eval("timestamp('yesterday')", &bag),
        Err(EvalErrorKind::InvalidArgument)
    );
    assert_eq!(
        eval("request.time + request.time", &bag),
        Err(EvalErrorKind::NoMatchingOverload)
    );
}

#[test]
fn only_syntax_and_unknown_functions_fail_to_compile() {
    let m = manifest();
    let kind = |s: &str| Program::compile(Dialect::Cel, s, &m).map(|_| ()).map_err(|e| e.kind());
    // Type errors and unknown names compile: Envoy evaluates them (to an error).
    for source in [
        "1 + 'a'",
        "request.host + 1",
        "no.such.attribute",
        "response.code == 'x'",
    ] {
        assert_eq!(kind(source), Ok(()), "{source}");
    }
    assert_eq!(kind("request.host | 'x'"), Err(CompileErrorKind::Syntax));
    assert_eq!(kind("toLower(request.host)"), Err(CompileErrorKind::UnknownFunction));
    assert_eq!(kind("size(1, 2)"), Err(CompileErrorKind::Arity));
    assert_eq!(kind("a.B{c: 1}"), Err(CompileErrorKind::Syntax));
    let source = "request.host.lower()";
    let err = Program::compile(Dialect::Cel, source, &m).unwrap_err();
    assert_eq!(err.span().text(source), "lower");
}

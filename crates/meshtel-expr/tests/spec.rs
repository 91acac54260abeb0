//! The worked examples and the lexical and grammar rules of `docs/reference/expressions.md`,
//! through the public API. The rules that need the syntax tree (literal values, printed
//! shapes, parse-only errors and limits) are unit tests in `src/syntax/tests.rs`.

use std::collections::HashMap;

use meshtel_expr::{
    CompileErrorKind as C, Dialect, EvalErrorKind as R, Manifest, Program, Timestamp, Value, ValueType,
};

#[derive(Debug, PartialEq)]
enum Outcome {
    Ok(&'static str, ValueType),
    Compile(C),
    Runtime(R),
}

fn run(expr: &str, bag: &HashMap<&str, Value<'_>>) -> Outcome {
    let program = match Program::compile(Dialect::Mixer, expr, &Manifest::istio()) {
        Ok(p) => p,
        Err(e) => return Outcome::Compile(e.kind()),
    };
    match program.evaluate(bag) {
        Ok(v) => Outcome::Ok(Box::leak(v.to_string().into_boxed_str()), program.result_type()),
        Err(e) => Outcome::Runtime(e.kind()),
    }
}

#[allow(
    clippy::needless_pass_by_value,
    reason = "the tables read best with outcomes as values"
)]
fn check(expr: &str, bag: &[(&'static str, Value<'static>)], want: Outcome) {
    let bag: HashMap<&str, Value<'_>> = bag.iter().cloned().collect();
    let got = run(expr, &bag);
    assert_eq!(got, want, "{expr}");
}

static APP_REVIEWS: [(&str, &str); 1] = [("app", "reviews")];
static VERSION_V1: [(&str, &str); 1] = [("version", "v1")];
static EMPTY: [(&str, &str); 0] = [];
static X_USER: [(&str, &str); 1] = [("x-user", "bob")];
static X_1: [(&str, &str); 1] = [("x", "1")];
static A_B: [(&str, &str); 1] = [("a", "b")];

type Case = (&'static str, Vec<(&'static str, Value<'static>)>, Outcome);

/// The first half of the worked examples of §11.
fn section_11_first_half() -> Vec<Case> {
    use Outcome::{Compile, Ok as V, Runtime};
    use ValueType::{Bool, Int64, String as S};
    let outbound = [("context.reporter.kind", Value::str("outbound"))];
    vec![
        (
            r#"source.labels["app"] | "unknown""#,
            vec![("source.labels", Value::StringMap(&APP_REVIEWS))],
            V("reviews", S),
        ),
        (
            r#"source.labels["app"] | "unknown""#,
            vec![("source.labels", Value::StringMap(&VERSION_V1))],
            V("unknown", S),
        ),
        (r#"source.labels["app"] | "unknown""#, vec![], V("unknown", S)),
        (
            r#"source.labels["app"]"#,
            vec![("source.labels", Value::StringMap(&EMPTY))],
            V("", S),
        ),
        (r#"source.labels["app"]"#, vec![], Runtime(R::MissingAttribute)),
        (
            r#"conditional((context.reporter.kind | "inbound") == "outbound", "client", "server")"#,
            vec![],
            V("server", S),
        ),
        (
            r#"conditional((context.reporter.kind | "inbound") == "outbound", "client", "server")"#,
            outbound.to_vec(),
            V("client", S),
        ),
        (
            r#"api.protocol | context.protocol | "unknown""#,
            vec![("context.protocol", Value::str("http"))],
            V("http", S),
        ),
        (
            "response.code | 200",
            vec![("response.code", Value::Int64(0))],
            V("0", Int64),
        ),
        (
            r#"destination.service.host | destination.service.name | "unknown""#,
            vec![("destination.service.name", Value::str(""))],
            V("", S),
        ),
        (r#"response.duration | "0ms""#, vec![], V("0s", ValueType::Duration)),
        (r#"request.size | "0""#, vec![], Compile(C::TypeMismatch)),
        (
            r#"(request.auth.principal | "nobody") == "user1""#,
            vec![],
            V("false", Bool),
        ),
        (
            r#"request.auth.principal == "user1""#,
            vec![],
            Runtime(R::MissingAttribute),
        ),
        (
            r#"request.auth.principal | "anonymous" + "-user""#,
            vec![("request.auth.principal", Value::str("bob"))],
            V("bob-user", S),
        ),
        ("response.code | response.size | 0 == 0", vec![], V("true", Bool)),
        (
            r#"request.headers[toLower("X-User")] | "anon""#,
            vec![("request.headers", Value::StringMap(&X_USER))],
            V("bob", S),
        ),
        (
            r#"source.labels[request.auth.principal] | "none""#,
            vec![("source.labels", Value::StringMap(&X_1))],
            V("none", S),
        ),
        (
            r"source.labels[request.auth.principal]",
            vec![("source.labels", Value::StringMap(&X_1))],
            Runtime(R::MissingAttribute),
        ),
    ]
}

/// The second half of the worked examples of §11.
fn section_11_second_half() -> Vec<Case> {
    use Outcome::{Compile, Ok as V, Runtime};
    use ValueType::{Bool, Int64, String as S};
    vec![
        (
            r#"ip(source.labels["ip"]) | ip("0.0.0.0")"#,
            vec![("source.labels", Value::StringMap(&EMPTY))],
            Runtime(R::InvalidArgument),
        ),
        (
            "emptyStringMap() | request.headers",
            vec![("request.headers", Value::StringMap(&A_B))],
            V("{}", ValueType::StringMap),
        ),
        (
            r#"conditional(connection.mtls, request.auth.principal, "plain")"#,
            vec![("connection.mtls", Value::Bool(false))],
            V("plain", S),
        ),
        (
            r#"conditionalString(connection.mtls | false, request.auth.principal, "plain")"#,
            vec![],
            Runtime(R::MissingAttribute),
        ),
        (
            r#"connection.mtls && request.auth.principal == "admin""#,
            vec![("connection.mtls", Value::Bool(false))],
            V("false", Bool),
        ),
        ("response.code == 200.0", vec![], Compile(C::TypeMismatch)),
        (
            r#"match(destination.service.host | "", "*.svc.cluster.local")"#,
            vec![(
                "destination.service.host",
                Value::str("reviews.default.svc.cluster.local"),
            )],
            V("true", Bool),
        ),
        (
            r#""^/api/v[0-9]+/".matches(request.url_path)"#,
            vec![("request.url_path", Value::str("/api/v2/users"))],
            V("true", Bool),
        ),
        (
            r#"request.url_path.matches("^/api/")"#,
            vec![("request.url_path", Value::str("/api/v2/users"))],
            V("false", Bool),
        ),
        (r#"(request.host | "").endsWith(":8080")"#, vec![], V("false", Bool)),
        (
            r#"toLower(request.method | "GET")"#,
            vec![("request.method", Value::str("Post"))],
            V("post", S),
        ),
        (
            r#"size(request.id | "")"#,
            vec![("request.id", Value::str("абв"))],
            V("6", Int64),
        ),
        (
            r#"source.ip == ip("10.1.2.3")"#,
            vec![("source.ip", Value::IpAddress("::ffff:10.1.2.3".parse().unwrap()))],
            V("true", Bool),
        ),
        (
            r#"response.time > timestamp("2020-02-29T00:00:00-08:00")"#,
            vec![(
                "response.time",
                Value::Timestamp("2020-02-29T09:00:00Z".parse::<Timestamp>().unwrap()),
            )],
            V("true", Bool),
        ),
        (
            r#"dnsName(request.host | "localhost") == dnsName("Reviews.Default.")"#,
            vec![("request.host", Value::str("reviews.default"))],
            V("true", Bool),
        ),
        (
            "dnsName(request.host)",
            vec![("request.host", Value::str("-bad.example"))],
            Runtime(R::InvalidArgument),
        ),
        (
            r#"email(request.auth.principal) == email("alice@EXAMPLE.com")"#,
            vec![("request.auth.principal", Value::str("alice@example.com"))],
            V("true", Bool),
        ),
        (r#"response.duration == "1s""#, vec![], Compile(C::UnsupportedOperation)),
        (r#"request.headers["1s"] | "x""#, vec![], Compile(C::TypeMismatch)),
        (r#"source.labels["app"].startsWith("rev")"#, vec![], Compile(C::Syntax)),
        ("!connection.mtls", vec![], Compile(C::UnknownFunction)),
    ]
}

#[test]
fn worked_examples_of_section_11() {
    let mut cases = section_11_first_half();
    cases.extend(section_11_second_half());
    assert_eq!(cases.len(), 40);
    for (expr, bag, want) in cases {
        check(expr, &bag, want);
    }
}

#[test]
fn presence_and_strictness() {
    use Outcome::{Ok as V, Runtime};
    check(r#""unknown" | source.name"#, &[], V("unknown", ValueType::String));
    check("a | (b | c)", &[], Outcome::Compile(C::UnknownAttribute));
    // D2: an operator on the left of `|` is always present.
    check(r#"size("abc") | 7"#, &[], V("3", ValueType::Int64));
    check("(x == 1) || true", &[], Outcome::Compile(C::UnknownAttribute));
    check("(response.code == 1) || true", &[], Runtime(R::MissingAttribute));
    check(
        "request.size > 1024 || request.auth.principal == \"admin\"",
        &[("request.size", Value::Int64(2048))],
        V("true", ValueType::Bool),
    );
    check(
        r#"conditional(true, "a", request.host)"#,
        &[],
        V("a", ValueType::String),
    );
    check(
        r#"conditionalString(true, "a", request.host)"#,
        &[],
        Runtime(R::MissingAttribute),
    );
    check(r#"request.host.endsWith(":8080")"#, &[], Runtime(R::MissingAttribute));
    check(r#""(".matches("abc")"#, &[], Runtime(R::Regex));
    check(
        r"match(request.useragent, request.host)",
        &[],
        Runtime(R::MissingAttribute),
    );
    check(
        "response.code | request.size | destination.port",
        &[],
        Runtime(R::MissingAttribute),
    );
    check("source.ip | ip(\"0.0.0.0\")", &[], V("0.0.0.0", ValueType::IpAddress));
    check(
        "response.code",
        &[("response.code", Value::str("200"))],
        Runtime(R::Conversion),
    );
    check(
        "response.code | 7",
        &[("response.code", Value::Bool(true))],
        Runtime(R::Conversion),
    );
    check(
        "9223372036854775807 + 1",
        &[],
        V("-9223372036854775808", ValueType::Int64),
    );
    check("0.1 + 0.2", &[], V("0.30000000000000004", ValueType::Double));
    check(
        r#"request.method + " " + request.path"#,
        &[
            ("request.method", Value::str("GET")),
            ("request.path", Value::str("/x")),
        ],
        V("GET /x", ValueType::String),
    );
    check(r#""Z" < "a""#, &[], V("true", ValueType::Bool));
    check(r#""é" > "z""#, &[], V("true", ValueType::Bool));
    check(
        r#"ip("1.2.3.4") == ip("::ffff:1.2.3.4")"#,
        &[],
        V("true", ValueType::Bool),
    );
    check(
        r#"dnsName("a_b.com") == dnsName("a_b.com")"#,
        &[],
        Runtime(R::Comparison),
    );
    check(
        r#"uri("HTTP://Example.COM:80/a") == uri("http://example.com:80/a")"#,
        &[],
        V("true", ValueType::Bool),
    );
    check(r#"emptyStringMap()["k"]"#, &[], V("", ValueType::String));
    check("'x' + \"y\"", &[], V("xy", ValueType::String));
    check("'0'", &[], V("0s", ValueType::Duration));
    check(r#""1" + "h""#, &[], V("1h", ValueType::String));
    check(r#""1h30m""#, &[], V("1h30m0s", ValueType::Duration));
}

#[test]
fn compile_error_classes() {
    for (expr, kind) in [
        (r#"request.headerz["a"]"#, C::UnknownAttribute),
        ("foo(1)", C::UnknownFunction),
        ("request.size / 2", C::UnknownFunction),
        ("-1", C::UnknownFunction),
        ("toLower()", C::Arity),
        (r#"ip("a", "b")"#, C::Arity),
        ("+request.size", C::Arity),
        ("response.code == true", C::TypeMismatch),
        (r#"request.size < "a""#, C::TypeMismatch),
        (r#"startsWith("a")"#, C::CallForm),
        ("request.host.size()", C::CallForm),
        ("response.duration == connection.duration", C::UnsupportedOperation),
        ("connection.mtls < true", C::UnsupportedOperation),
        ("connection.mtls + true", C::UnsupportedOperation),
        ("request.headers == response.headers", C::UnsupportedOperation),
        ("a = 2", C::Syntax),
        ("a := 2", C::Syntax),
        ("request.size++", C::Syntax),
        ("request.size;", C::Syntax),
        ("*request.size", C::Syntax),
        ("request.path[1:2]", C::Syntax),
        ("request.headers[1, 2]", C::Syntax),
        ("toLower(request.host).x", C::Syntax),
        ("(request.host).x", C::Syntax),
        ("(toLower)(request.host)", C::Syntax),
        ("toLower(request.host...)", C::Syntax),
        ("0x10", C::Literal),
        ("0o17", C::Literal),
        ("0b101", C::Literal),
        ("1_000", C::Literal),
        ("1i", C::Literal),
        ("9223372036854775808", C::Literal),
        ("1e400", C::Literal),
        ("0x1p-2", C::Literal),
        (r#""\q""#, C::Literal),
        (r#""\xff""#, C::Literal),
        (r"'\x80'", C::Literal),
        (r#""\ud800""#, C::Literal),
        ("08", C::Syntax),
        ("019", C::Syntax),
        ("1__0.5", C::Syntax),
        ("1e", C::Syntax),
        ("''", C::Syntax),
        ("'ab'", C::Syntax),
        ("\"a\nb\"", C::Syntax),
        ("@23", C::Syntax),
        ("a # b", C::Syntax),
        ("", C::Syntax),
        ("  // nothing", C::Syntax),
        ("request.type", C::Syntax),
        ("request.host\n== \"x\"", C::Syntax),
        ("(request.host\n)", C::Syntax),
        ("request.host /* a\nb */ == \"x\"", C::Syntax),
        ("f(", C::Syntax),
        ("(a", C::Syntax),
        ("a]", C::Syntax),
        ("/* open", C::Syntax),
        (r#""a".x.y()"#, C::Syntax),
    ] {
        let err = Program::compile(Dialect::Mixer, expr, &Manifest::istio())
            .err()
            .unwrap_or_else(|| panic!("{expr:?} compiled"));
        assert_eq!(err.kind(), kind, "{expr:?}: {}", err.render(expr));
    }
}

#[test]
fn spans_and_rendering() {
    let src = r#"source.labels["app"] | size("x")"#;
    let err = Program::compile(Dialect::Mixer, src, &Manifest::istio()).unwrap_err();
    assert_eq!(err.kind(), C::TypeMismatch);
    assert_eq!(err.span().text(src), r#"size("x")"#);
    let rendered = err.render(src);
    assert!(
        rendered.ends_with(&format!("\n  | {src}\n  |                        ^^^^^^^^^")),
        "{rendered}"
    );
}

#[test]
fn references_are_static_and_ordered() {
    let p = Program::compile(
        Dialect::Mixer,
        r#"conditional(connection.mtls, source.labels["app"] | request.host, request.host) == "x" || connection.mtls"#,
        &Manifest::istio(),
    )
    .unwrap();
    assert_eq!(
        p.references().collect::<Vec<_>>(),
        ["connection.mtls", "source.labels", "request.host"]
    );
}

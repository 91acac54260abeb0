//! The lexical and grammar rules of `docs/reference/expressions.md` that need the syntax
//! tree: literal values, printed shapes, parse errors and limits. (The rest of the rules are
//! in `tests/spec.rs`, through the public API.)

use super::ast::{Constant, Expr, ExprKind};
use crate::{CompileErrorKind as C, Duration, Limits};

fn constant(src: &str) -> Constant {
    match Expr::parse(src).unwrap().kind {
        ExprKind::Constant(c) => c,
        other => panic!("{src}: {other:?}"),
    }
}

#[test]
fn literals() {
    assert_eq!(constant("017"), Constant::Int64(17));
    assert_eq!(constant("00"), Constant::Int64(0));
    assert_eq!(constant("1.5"), Constant::Double(1.5));
    assert_eq!(constant("1."), Constant::Double(1.0));
    assert_eq!(constant(".5"), Constant::Double(0.5));
    assert_eq!(constant("1e3"), Constant::Double(1000.0));
    assert_eq!(constant("1E+2"), Constant::Double(100.0));
    assert_eq!(constant("08.5"), Constant::Double(8.5));
    assert_eq!(constant("1_0.5"), Constant::Double(10.5));
    assert_eq!(constant("TRUE"), Constant::Bool(true));
    assert_eq!(constant("fAlSe"), Constant::Bool(false));
    assert_eq!(
        constant(r#""\a\b\f\n\r\t\v\\\"""#),
        Constant::String("\u{7}\u{8}\u{c}\n\r\t\u{b}\\\"".into())
    );
    assert_eq!(constant(r#""\xc3\xa9""#), Constant::String("é".into()));
    assert_eq!(constant(r#""\303\251""#), Constant::String("é".into()));
    assert_eq!(constant(r#""\u00e9\U0001F600""#), Constant::String("é😀".into()));
    assert_eq!(constant("`a\r\nb`"), Constant::String("a\nb".into()));
    assert_eq!(constant(r"'\''"), Constant::String("'".into()));
    assert_eq!(constant("'x'"), Constant::String("x".into()));
    assert_eq!(
        constant(r#""19ms""#),
        Constant::Duration(Duration::from_nanos(19_000_000))
    );
    assert_eq!(constant(r#""-0""#), Constant::Duration(Duration::from_nanos(0)));
    assert_eq!(constant(r#""1 h""#), Constant::String("1 h".into()));
    assert!(Expr::parse(r#""\'""#).is_err());
    assert!(Expr::parse(r#"'\"'"#).is_err());
}

#[test]
fn grammar_shapes() {
    for (src, printed) in [
        (
            r#"a.b == "x" && m["k"] | "d" == "v""#,
            r#"((a.b == "x") && ((m["k"] | "d") == "v"))"#,
        ),
        ("a | b | c", "((a | b) | c)"),
        ("a || b && c", "(a || (b && c))"),
        ("a == b == c", "((a == b) == c)"),
        (r#"a | "anonymous" + "-user""#, r#"((a | "anonymous") + "-user")"#),
        ("a + b | c", "((a + b) | c)"),
        ("a . b", "a.b"),
        ("abc ==\n\"x\"", r#"(abc == "x")"#),
        ("a.b.c(x)", "a.b.c(x)"),
        (r#""abc".matches("b")"#, r#"("abc").matches("b")"#),
        (
            r#"(request.host | "").endsWith(":80")"#,
            r#"((request.host | "")).endsWith(":80")"#,
        ),
        (r#"toLower(x).startsWith("a")"#, r#"toLower(x).startsWith("a")"#),
        ("a.b().c()", "a.b().c()"),
        ("f(a, b,)", "f(a, b)"),
        ("(ar | br)[\"k\"]", r#"(ar | br)["k"]"#),
        ("m[\"a\"][\"b\"]", r#"m["a"]["b"]"#),
        ("a.true", "a.true"),
        ("nil", "nil"),
        ("ключ", "ключ"),
        ("EQ(a, b)", "(a == b)"),
        ("x /* c */ | // d\n y", "(x | y)"),
        ("a << b", "(a << b)"),
        ("!x", "NOT(x)"),
        ("-1", "SUB(1)"),
        ("<-x", "(<-x)"),
        ("+x", "ADD(x)"),
        ("a &^ b", "(a &^ b)"),
        ("a\n", "a"),
        ("a // trailing", "a"),
    ] {
        let e = Expr::parse(src).unwrap_or_else(|err| panic!("{src:?}: {}", err.render(src)));
        assert_eq!(e.to_string(), printed, "{src:?}");
        let again = Expr::parse(&e.to_string()).unwrap();
        assert!(again.same_tree(&e), "{src:?}");
    }
}

#[test]
fn parse_error_spans() {
    let src = "request.host\n== \"x\"";
    let err = Expr::parse(src).unwrap_err();
    assert_eq!(err.span().start, 12);

    let src = "a @ b";
    let err = Expr::parse(src).unwrap_err();
    assert_eq!(err.span().text(src), "@");
}

#[test]
fn limits() {
    let deep = format!("{}a{}", "(".repeat(100), ")".repeat(100));
    assert_eq!(Expr::parse(&deep).unwrap_err().kind(), C::Limit);
    let chain = vec!["a"; 100].join(" | ");
    assert_eq!(Expr::parse(&chain).unwrap_err().kind(), C::Limit);
    let unary = format!("{}a", "!".repeat(100));
    assert_eq!(Expr::parse(&unary).unwrap_err().kind(), C::Limit);
    let long = "a".repeat(5000);
    assert_eq!(Expr::parse(&long).unwrap_err().kind(), C::Limit);
    let mut limits = Limits {
        max_length: 10_000,
        max_depth: 200,
    };
    assert!(Expr::parse_with(&deep, limits).is_ok());
    assert!(Expr::parse_with(&long, limits).is_ok());
    // A million nested parentheses are refused without exhausting the stack.
    let huge = format!("{}a{}", "(".repeat(1_000_000), ")".repeat(1_000_000));
    limits.max_length = usize::MAX;
    limits.max_depth = 64;
    assert_eq!(Expr::parse_with(&huge, limits).unwrap_err().kind(), C::Limit);
}

#[test]
fn printing_is_fully_parenthesised() {
    let e = Expr::parse(r#"source.labels["app"] | "unknown""#).unwrap();
    assert_eq!(e.to_string(), r#"(source.labels["app"] | "unknown")"#);
}

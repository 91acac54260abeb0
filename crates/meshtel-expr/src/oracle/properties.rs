//! Property tests of the oracles' invariants: the parser never panics, printing round-trips,
//! and compiled programs agree with the reference tree-walking evaluator on generated
//! expressions and bags. (Moved here from `tests/properties.rs` when the syntax tree stopped
//! being public; `tests/properties.rs` keeps the properties of the public API.)

use proptest::prelude::*;

use super::{Choices, any_expr, bag, check_agreement, check_round_trip};
use crate::syntax::ast::Expr;
use crate::{Manifest, Program};

/// Text built from the language's tokens, fragments and a few hostile characters.
fn source_text() -> impl Strategy<Value = String> {
    let pieces = prop::sample::select(vec![
        "a",
        "b.c",
        "request.host",
        "source.labels",
        "(",
        ")",
        "[",
        "]",
        ",",
        ".",
        "|",
        "||",
        "&&",
        "==",
        "!=",
        "<",
        "<=",
        "+",
        "-",
        "!",
        "*",
        "/",
        "^",
        "&^",
        "<-",
        "<<",
        "\"x\"",
        "\"1s\"",
        "'c'",
        "`r`",
        "\"\\x41\"",
        "\"\\q\"",
        "0",
        "017",
        "08",
        "1.5",
        ".5",
        "1e3",
        "1e",
        "0x1",
        "1_0",
        "true",
        "FALSE",
        "conditional",
        "match",
        "toLower",
        "size",
        "emptyStringMap()",
        ".matches(",
        ".startsWith(",
        "ip(",
        "\n",
        " ",
        "\t",
        "//c\n",
        "/*c*/",
        "/*\n*/",
        "@",
        "#",
        "\u{a0}",
        "ключ",
        "if",
        ";",
        "=",
        ":=",
        "...",
        "\"",
        "'",
        "`",
        "\\",
    ]);
    prop::collection::vec(pieces, 0..24).prop_map(|v| v.concat())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2048, ..ProptestConfig::default() })]

    #[test]
    fn parser_never_panics_and_printing_round_trips(src in source_text()) {
        if let Ok(e) = Expr::parse(&src) {
            let printed = e.to_string();
            let again = Expr::parse(&printed).map_err(|err| TestCaseError::fail(format!("{src:?} printed as {printed:?}: {err}")))?;
            prop_assert!(again.same_tree(&e), "{:?} printed as {:?}", src, printed);
            // Checking never panics either.
            let _ = Program::from_expr(&e, &src, &Manifest::istio());
        }
        // The fuzz entry point's check says the same.
        check_round_trip(&src).map_err(TestCaseError::fail)?;
    }

    #[test]
    fn generated_expressions_round_trip(bytes in prop::collection::vec(any::<u8>(), 0..96)) {
        let src = any_expr(4, &mut Choices::new(&bytes));
        let e = Expr::parse(&src).map_err(|err| TestCaseError::fail(format!("{src}: {err}")))?;
        let again = Expr::parse(&e.to_string()).unwrap();
        prop_assert!(again.same_tree(&e), "{}", src);
    }

    #[test]
    fn compiled_agrees_with_reference(expr_bytes in prop::collection::vec(any::<u8>(), 0..96), bag_bytes in prop::collection::vec(any::<u8>(), 0..48)) {
        let src = any_expr(4, &mut Choices::new(&expr_bytes));
        let bag = bag(&mut Choices::new(&bag_bytes));
        check_agreement(&src, &bag).map_err(TestCaseError::fail)?;
    }
}

/// CEL text: the tokens of the CEL grammar and some hostile characters.
fn cel_text() -> impl Strategy<Value = String> {
    let pieces = prop::sample::select(vec![
        "a",
        "request.host",
        "has(",
        "in",
        "?",
        ":",
        "(",
        ")",
        "[",
        "]",
        "{",
        "}",
        ",",
        ".",
        "||",
        "&&",
        "==",
        "!=",
        "<",
        "<=",
        "+",
        "-",
        "!",
        "*",
        "/",
        "%",
        "1",
        "1u",
        "1.5",
        ".5",
        "1e3",
        "0x1F",
        "'a'",
        "\"b\"",
        "'''c'''",
        "r'\\d'",
        "b'\\xff'",
        "'\\u00e9'",
        "'\\0'",
        "true",
        "null",
        ".all(x, x)",
        ".map(x, x, x)",
        "size(",
        "namespace",
        " ",
        "\n",
        "//c\n",
        "é",
        "\"",
    ]);
    prop::collection::vec(pieces, 0..24).prop_map(|v| v.concat())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2048, ..ProptestConfig::default() })]

    #[test]
    fn cel_parser_never_panics_and_printing_round_trips(src in cel_text()) {
        super::cel::check_cel_round_trip(&src).map_err(TestCaseError::fail)?;
    }

    #[test]
    fn cel_compiled_agrees_with_reference(expr_bytes in prop::collection::vec(any::<u8>(), 0..96), bag_bytes in prop::collection::vec(any::<u8>(), 0..48)) {
        let src = super::cel::cel_expr(4, &mut Choices::new(&expr_bytes));
        let bag = super::cel::cel_bag(&mut Choices::new(&bag_bytes));
        super::cel::check_cel_agreement(&src, &bag).map_err(TestCaseError::fail)?;
    }
}

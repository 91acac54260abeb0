//! Parser round trip: any text either fails with a compile error or parses to a tree whose
//! printed form parses back to the same tree; checking and evaluating never panic.
#![no_main]

use std::collections::HashMap;

use libfuzzer_sys::fuzz_target;
use meshtel_expr::{Expr, Manifest, Program, Value};

fuzz_target!(|data: &[u8]| {
    let Ok(source) = std::str::from_utf8(data) else { return };
    let Ok(expr) = Expr::parse(source) else { return };
    let printed = expr.to_string();
    let again = Expr::parse(&printed).unwrap_or_else(|e| panic!("{source:?} printed as {printed:?}: {e}"));
    assert!(again.same_tree(&expr), "{source:?} printed as {printed:?}");
    if let Ok(program) = Program::from_expr(&expr, source, &Manifest::istio()) {
        let _ = program.evaluate(&HashMap::<&str, Value<'_>>::new());
    }
});

//! Agreement with the reference evaluator: the input drives the generator of
//! `crates/meshtel-expr/tests/common/reference.rs` (an expression, then a bag); the compiled
//! program and the plain tree-walking reference must give the same value or fail on the same
//! missing attribute.
#![no_main]

#[path = "../../crates/meshtel-expr/tests/common/reference.rs"]
mod reference;

use libfuzzer_sys::fuzz_target;
use reference::{Choices, any_expr, bag, check_agreement};

fuzz_target!(|data: &[u8]| {
    let Some((&split, rest)) = data.split_first() else {
        return;
    };
    let (expr_bytes, bag_bytes) = rest.split_at(usize::from(split).min(rest.len()));
    let source = any_expr(5, &mut Choices::new(expr_bytes));
    let bag = bag(&mut Choices::new(bag_bytes));
    if let Err(disagreement) = check_agreement(&source, &bag) {
        panic!("{disagreement}");
    }
});

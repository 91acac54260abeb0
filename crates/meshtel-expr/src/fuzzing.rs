//! Fuzz entry points, built only under `cfg(fuzzing)` (which `cargo fuzz` sets): each takes
//! the fuzzer's bytes and panics when an invariant fails. They are not part of the stable
//! API; the targets in `fuzz/fuzz_targets/` call them and nothing else.

use crate::oracle::{Choices, any_expr, bag, check_agreement, check_round_trip};

/// Parser round trip: any text either fails with a compile error or parses to a tree whose
/// printed form parses back to the same tree; checking the tree against the Istio manifest
/// and evaluating it never panic.
///
/// # Panics
/// When the round trip fails.
pub fn parse(data: &[u8]) {
    let Ok(source) = core::str::from_utf8(data) else {
        return;
    };
    if let Err(failure) = check_round_trip(source) {
        panic!("{failure}");
    }
}

/// Agreement with the reference evaluator: the first byte splits the rest into the input of
/// the expression generator and that of the bag generator; the compiled program and the
/// plain tree-walking reference must give the same value or fail on the same missing
/// attribute.
///
/// # Panics
/// When they disagree.
pub fn eval(data: &[u8]) {
    let Some((&split, rest)) = data.split_first() else {
        return;
    };
    let (expr_bytes, bag_bytes) = rest.split_at(usize::from(split).min(rest.len()));
    let source = any_expr(5, &mut Choices::new(expr_bytes));
    let bag = bag(&mut Choices::new(bag_bytes));
    if let Err(disagreement) = check_agreement(&source, &bag) {
        panic!("{disagreement}");
    }
}

/// CEL's parser round trip: any text either fails with a compile error or parses to a tree
/// whose printed form parses back to the same tree; compiling and evaluating it never panic.
///
/// # Panics
/// When the round trip fails.
pub fn cel_parse(data: &[u8]) {
    let Ok(source) = core::str::from_utf8(data) else {
        return;
    };
    if let Err(failure) = crate::oracle::cel::check_cel_round_trip(source) {
        panic!("{failure}");
    }
}

/// CEL evaluation against the tree-walking reference over nested namespace maps: the first
/// byte splits the rest into the expression generator's input and the bag generator's; the
/// compiled program and the reference must both give the same value or both fail.
///
/// # Panics
/// When they disagree.
pub fn cel_eval(data: &[u8]) {
    let Some((&split, rest)) = data.split_first() else {
        return;
    };
    let (expr_bytes, bag_bytes) = rest.split_at(usize::from(split).min(rest.len()));
    let source = crate::oracle::cel::cel_expr(5, &mut Choices::new(expr_bytes));
    let bag = crate::oracle::cel::cel_bag(&mut Choices::new(bag_bytes));
    if let Err(disagreement) = crate::oracle::cel::check_cel_agreement(&source, &bag) {
        panic!("{disagreement}");
    }
}

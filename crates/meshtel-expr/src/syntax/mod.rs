//! Parsing: source text to a syntax tree with spans.

pub(crate) mod ast;
pub(crate) mod parser;
#[cfg(test)]
mod tests;

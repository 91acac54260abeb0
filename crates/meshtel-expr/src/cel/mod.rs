//! The CEL dialect (`docs/reference/expressions.md` §10): CEL's syntax, parsed here and
//! lowered onto the same program tree as the attribute language.

pub(crate) mod ast;
mod lexer;
pub(crate) mod parser;

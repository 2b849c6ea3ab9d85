//! The Flux language: lexing, parsing and the syntax tree.

pub mod ast;
pub mod extern_ast;
pub mod lexer;
pub mod parser;

pub use parser::{ParseError, parse};

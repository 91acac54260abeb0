//! The parser: Go's expression grammar as the reference accepts it
//! (`docs/reference/expressions.md` §2, §3), written with nom over `&str`. Tokens consume
//! the whitespace after them; after an identifier, a literal, `)` or `]` a line end ends the
//! expression (Go's semicolon insertion).

use alloc::borrow::Cow;
use core::cell::Cell;

use nom::bytes::complete::take_while;
use nom::character::complete::satisfy;
use nom::combinator::recognize;
use nom::error::{ErrorKind, ParseError};
use nom::sequence::pair;
use nom::{IResult, Parser as _};
use unicode_general_category::{GeneralCategory as Gc, get_general_category};

use super::ast::{Call, Constant, Expr, ExprKind};
use crate::func::duration;
use crate::{CompileError, CompileErrorKind, Duration, Limits, Span};

/// A parse failure, positioned by the length of the input left when it happened.
#[derive(Debug)]
pub(crate) struct PErr {
    rest_len: usize,
    len: usize,
    kind: CompileErrorKind,
    message: Cow<'static, str>,
}

impl ParseError<&str> for PErr {
    fn from_error_kind(input: &str, _: ErrorKind) -> Self {
        Self {
            rest_len: input.len(),
            len: 0,
            kind: CompileErrorKind::Syntax,
            message: Cow::Borrowed("unexpected input"),
        }
    }

    fn append(_: &str, _: ErrorKind, other: Self) -> Self {
        other
    }
}

type PResult<'s, T> = IResult<&'s str, T, PErr>;

fn fail<T>(at: &str, len: usize, kind: CompileErrorKind, message: impl Into<Cow<'static, str>>) -> PResult<'_, T> {
    Err(nom::Err::Failure(PErr {
        rest_len: at.len(),
        len,
        kind,
        message: message.into(),
    }))
}

fn syntax<T>(at: &str, message: impl Into<Cow<'static, str>>) -> PResult<'_, T> {
    let len = at.chars().next().map_or(0, char::len_utf8);
    fail(at, len, CompileErrorKind::Syntax, message)
}

/// Go's 25 keywords: not identifiers, not name segments.
fn is_keyword(name: &str) -> bool {
    matches!(
        name,
        "break"
            | "case"
            | "chan"
            | "const"
            | "continue"
            | "default"
            | "defer"
            | "else"
            | "fallthrough"
            | "for"
            | "func"
            | "go"
            | "goto"
            | "if"
            | "import"
            | "interface"
            | "map"
            | "package"
            | "range"
            | "return"
            | "select"
            | "struct"
            | "switch"
            | "type"
            | "var"
    )
}

fn is_letter(c: char) -> bool {
    c.is_ascii_alphabetic()
        || c == '_'
        || (!c.is_ascii()
            && matches!(
                get_general_category(c),
                Gc::UppercaseLetter | Gc::LowercaseLetter | Gc::TitlecaseLetter | Gc::ModifierLetter | Gc::OtherLetter
            ))
}

fn is_ident_char(c: char) -> bool {
    is_letter(c) || c.is_ascii_digit() || (!c.is_ascii() && get_general_category(c) == Gc::DecimalNumber)
}

/// Skips whitespace and comments. With `line_ends` a line feed (or a comment holding one)
/// ends the expression, so skipping stops in front of it.
fn skip(mut i: &str, line_ends: bool) -> PResult<'_, ()> {
    loop {
        i = i.trim_start_matches(|c| matches!(c, ' ' | '\t' | '\r') || (c == '\n' && !line_ends));
        if let Some(body) = i.strip_prefix("/*") {
            let Some(end) = body.find("*/") else {
                return fail(i, 2, CompileErrorKind::Syntax, "comment not terminated");
            };
            if line_ends && body[..end].contains('\n') {
                return Ok((i, ()));
            }
            i = &body[end + 2..];
        } else if i.starts_with("//") {
            if line_ends {
                return Ok((i, ()));
            }
            i = i.find('\n').map_or("", |n| &i[n + 1..]);
        } else {
            return Ok((i, ()));
        }
    }
}

/// The longest Go operator or punctuation token at the start of `i`: a byte match, as this
/// runs between every two tokens.
fn punct(i: &str) -> PResult<'_, &str> {
    let len = match i.as_bytes() {
        // A comment left in front of a line end is not a `/` operator.
        [b'/', b'/' | b'*', ..] => 0,
        [b'<', b'<', b'=', ..] | [b'>', b'>', b'=', ..] | [b'&', b'^', b'=', ..] | [b'.', b'.', b'.', ..] => 3,
        [b'&', b'&' | b'^' | b'=', ..]
        | [b'|', b'|' | b'=', ..]
        | [b'<', b'-' | b'=' | b'<', ..]
        | [b'>', b'=' | b'>', ..]
        | [b'+', b'+' | b'=', ..]
        | [b'-', b'-' | b'=', ..]
        | [b'=' | b'!' | b'*' | b'/' | b'%' | b'^' | b':', b'=', ..] => 2,
        [
            b'+' | b'-' | b'*' | b'/' | b'%' | b'&' | b'|' | b'^' | b'<' | b'>' | b'=' | b'!' | b'(' | b')' | b'['
            | b']' | b'{' | b'}' | b',' | b';' | b'.' | b':',
            ..,
        ] => 1,
        _ => 0,
    };
    if len == 0 {
        return Err(nom::Err::Error(PErr::from_error_kind(i, ErrorKind::Tag)));
    }
    Ok((&i[len..], &i[..len]))
}

/// Binary operators by Go precedence level (1 lowest) and the function each one calls.
fn binary_op(token: &str) -> Option<(u8, &'static str)> {
    Some(match token {
        "||" => (1, "LOR"),
        "&&" => (2, "LAND"),
        "==" => (3, "EQ"),
        "!=" => (3, "NEQ"),
        "<" => (3, "LT"),
        "<=" => (3, "LEQ"),
        ">" => (3, "GT"),
        ">=" => (3, "GEQ"),
        "+" => (4, "ADD"),
        "-" => (4, "SUB"),
        "|" => (4, "OR"),
        "^" => (4, "XOR"),
        "*" => (5, "MUL"),
        "/" => (5, "QUO"),
        "%" => (5, "REM"),
        "&" => (5, "AND"),
        "<<" => (5, "<<"),
        ">>" => (5, ">>"),
        "&^" => (5, "&^"),
        _ => return None,
    })
}

fn unary_op(token: &str) -> Option<&'static str> {
    Some(match token {
        "+" => "ADD",
        "-" => "SUB",
        "!" => "NOT",
        "^" => "XOR",
        "&" => "AND",
        "<-" => "<-",
        _ => return None,
    })
}

/// What a postfix chain has built so far.
enum Primary {
    /// Identifiers joined by `.`: an attribute name, a function name, or a receiver and method.
    Chain(Vec<(String, Span)>),
    /// A literal, parenthesised expression or call: may receive one `.method(…)`.
    Receiver(Expr),
    /// An index expression: may be indexed or compared, not called or selected.
    Index(Expr),
}

pub(crate) struct Parser<'s> {
    src: &'s str,
    limits: Limits,
    depth: Cell<u32>,
}

impl<'s> Parser<'s> {
    fn at(&self, i: &str) -> usize {
        self.src.len() - i.len()
    }

    fn span(&self, start: &str, end: &str) -> Span {
        Span::new(self.at(start), self.at(end))
    }

    /// Parses a whole expression.
    pub(crate) fn parse(source: &'s str, limits: Limits) -> Result<Expr, CompileError> {
        if source.len() > limits.max_length {
            return Err(CompileError::new(
                CompileErrorKind::Limit,
                Span::new(limits.max_length, source.len()),
                format!(
                    "expression is {} bytes long; the limit is {}",
                    source.len(),
                    limits.max_length
                ),
            ));
        }
        let limits = Limits {
            max_depth: limits.max_depth.min(Limits::MAX_DEPTH),
            ..limits
        };
        let parser = Self {
            src: source,
            limits,
            depth: Cell::new(0),
        };
        let result = (|| {
            let (i, ()) = skip(source, false)?;
            if i.is_empty() {
                return syntax(i, "empty expression");
            }
            let (i, expr) = parser.expr(i)?;
            let (rest, ()) = skip(i, false)?;
            if !rest.is_empty() {
                let what = match punct(rest) {
                    Ok((_, "=")) => "unexpected '=' (did you mean '=='?)",
                    Ok((_, ";")) => "unexpected ';': an expression is not a statement",
                    Ok((_, "++" | "--")) => "unexpected increment or decrement: an expression is not a statement",
                    _ => "unexpected input after the expression",
                };
                return syntax(i, what);
            }
            Ok((rest, expr))
        })();
        match result {
            Ok((_, expr)) => Ok(expr),
            Err(nom::Err::Error(e) | nom::Err::Failure(e)) => {
                let start = source.len() - e.rest_len;
                Err(CompileError::new(
                    e.kind,
                    Span::new(start, (start + e.len).min(source.len())),
                    e.message,
                ))
            }
            Err(nom::Err::Incomplete(_)) => Err(CompileError::new(
                CompileErrorKind::Syntax,
                Span::new(source.len(), source.len()),
                "incomplete",
            )),
        }
    }

    fn enter(&self, i: &'s str) -> PResult<'s, ()> {
        let depth = self.depth.get() + 1;
        if depth > self.limits.max_depth {
            return fail(
                i,
                1,
                CompileErrorKind::Limit,
                format!("expression nested deeper than {}", self.limits.max_depth),
            );
        }
        self.depth.set(depth);
        Ok((i, ()))
    }

    fn check_depth(&self, at: &'s str, e: Expr) -> PResult<'s, Expr> {
        if e.depth > self.limits.max_depth {
            return fail(
                at,
                1,
                CompileErrorKind::Limit,
                format!("expression nested deeper than {}", self.limits.max_depth),
            );
        }
        Ok((at, e))
    }

    fn expr(&self, i: &'s str) -> PResult<'s, Expr> {
        let (i, ()) = self.enter(i)?;
        let result = self.binary(i, 1);
        self.depth.set(self.depth.get() - 1);
        result
    }

    /// Precedence climbing: operators of level `min_level` or higher, left-associative.
    fn binary(&self, i: &'s str, min_level: u8) -> PResult<'s, Expr> {
        let (mut i, mut left) = self.unary(i)?;
        while let Ok((after, token)) = punct(i) {
            let Some((level, name)) = binary_op(token) else { break };
            if level < min_level {
                break;
            }
            let name_span = self.span(i, after);
            let (after, ()) = skip(after, false)?;
            let (rest, right) = self.binary(after, level + 1)?;
            let span = left.span.to(right.span);
            let call = Call {
                name: name.to_owned(),
                name_span,
                receiver: None,
                args: vec![left, right],
            };
            left = self.check_depth(i, Expr::new(ExprKind::Call(call), span))?.1;
            i = rest;
        }
        Ok((i, left))
    }

    fn unary(&self, i: &'s str) -> PResult<'s, Expr> {
        if let Ok((after, token)) = punct(i) {
            if token == "*" {
                return syntax(i, "unsupported unary '*' (pointer dereference)");
            }
            if let Some(name) = unary_op(token) {
                let name_span = self.span(i, after);
                let (after, ()) = skip(after, false)?;
                let (after, ()) = self.enter(after)?;
                let result = self.unary(after);
                self.depth.set(self.depth.get() - 1);
                let (rest, operand) = result?;
                let span = name_span.to(operand.span);
                let call = Call {
                    name: name.to_owned(),
                    name_span,
                    receiver: None,
                    args: vec![operand],
                };
                return self
                    .check_depth(i, Expr::new(ExprKind::Call(call), span))
                    .map(|(_, e)| (rest, e));
            }
        }
        self.postfix(i)
    }

    fn ident(&self, i: &'s str) -> PResult<'s, (String, Span)> {
        let (rest, name) = recognize(pair(satisfy(is_letter), take_while(is_ident_char))).parse(i)?;
        if is_keyword(name) {
            return fail(
                i,
                name.len(),
                CompileErrorKind::Syntax,
                format!("unexpected keyword '{name}'"),
            );
        }
        Ok((rest, (name.to_owned(), self.span(i, rest))))
    }

    fn finish_chain(chain: &[(String, Span)]) -> Expr {
        let span = chain[0].1.to(chain[chain.len() - 1].1);
        if let [(name, _)] = chain
            && (name.eq_ignore_ascii_case("true") || name.eq_ignore_ascii_case("false"))
        {
            return Expr::new(
                ExprKind::Constant(Constant::Bool(name.eq_ignore_ascii_case("true"))),
                span,
            );
        }
        let name = chain.iter().map(|(s, _)| s.as_str()).collect::<Vec<_>>().join(".");
        Expr::new(ExprKind::Attribute(name), span)
    }

    fn args(&self, i: &'s str) -> PResult<'s, (Vec<Expr>, &'s str)> {
        // `i` is just past `(` and its whitespace.
        let mut args = Vec::new();
        let mut i = i;
        loop {
            if let Ok((after, ")")) = punct(i) {
                return Ok((after, (args, after)));
            }
            let (after, arg) = self.expr(i)?;
            args.push(arg);
            match punct(after) {
                Ok((next, ",")) => i = skip(next, false)?.0,
                Ok((next, ")")) => return Ok((next, (args, next))),
                Ok((_, "...")) => return syntax(after, "unsupported variadic argument '...'"),
                _ => return syntax(after, "expected ',' or ')' in the argument list"),
            }
        }
    }

    /// An operand and its postfix chain: `.name`, `.method(…)`, `[key]`, `(…)`.
    fn postfix(&self, i: &'s str) -> PResult<'s, Expr> {
        let start = i;
        let (mut i, mut primary) = self.operand(i)?;
        while let Ok((after, token)) = punct(i) {
            (i, primary) = match token {
                "." => self.select(start, i, after, primary)?,
                "[" => self.index(start, i, after, primary)?,
                "(" => self.apply(start, i, after, primary)?,
                _ => break,
            };
        }
        Ok((i, Self::finish(primary)))
    }

    /// The expression a postfix chain has built.
    fn finish(primary: Primary) -> Expr {
        match primary {
            Primary::Chain(chain) => Self::finish_chain(&chain),
            Primary::Receiver(e) | Primary::Index(e) => e,
        }
    }

    /// `.name` at `i` (`after` is past the `.`): one more name of a chain, or a method call
    /// on a receiver.
    fn select(&self, start: &'s str, i: &'s str, after: &'s str, primary: Primary) -> PResult<'s, Primary> {
        let (after, ()) = skip(after, false)?;
        let Ok((after_name, (name, name_span))) = self.ident(after) else {
            return syntax(after, "expected a name after '.'");
        };
        match primary {
            Primary::Chain(mut chain) => {
                chain.push((name, name_span));
                Ok((skip(after_name, true)?.0, Primary::Chain(chain)))
            }
            Primary::Index(_) => syntax(
                i,
                "an index expression cannot be selected or used as a receiver; wrap it in parentheses",
            ),
            Primary::Receiver(receiver) => {
                let (after_name, ()) = skip(after_name, true)?;
                let Ok((after_paren, "(")) = punct(after_name) else {
                    return syntax(
                        i,
                        "'.name' after a literal, call or parenthesised expression must be a method call",
                    );
                };
                let (after_paren, ()) = skip(after_paren, false)?;
                let (rest, (args, _)) = self.args(after_paren)?;
                let call = Call {
                    name,
                    name_span,
                    receiver: Some(Box::new(receiver)),
                    args,
                };
                let (_, e) = self.check_depth(i, Expr::new(ExprKind::Call(call), self.span(start, rest)))?;
                Ok((skip(rest, true)?.0, Primary::Receiver(e)))
            }
        }
    }

    /// `[key]` at `i` (`after` is past the `[`).
    fn index(&self, start: &'s str, i: &'s str, after: &'s str, primary: Primary) -> PResult<'s, Primary> {
        let (after, ()) = skip(after, false)?;
        let target = Self::finish(primary);
        let (after, key) = self.expr(after)?;
        let Ok((rest, "]")) = punct(after) else {
            return syntax(after, "expected ']' (slices and multiple indices are not supported)");
        };
        let span = self.span(start, rest);
        let name_span = self.span(i, after);
        let call = Call {
            name: "INDEX".to_owned(),
            name_span,
            receiver: None,
            args: vec![target, key],
        };
        let index = self.check_depth(i, Expr::new(ExprKind::Call(call), span))?.1;
        Ok((skip(rest, true)?.0, Primary::Index(index)))
    }

    /// `(args)` at `i` (`after` is past the `(`): a call of the last name of a chain, on the
    /// rest of the chain if there is one.
    fn apply(&self, start: &'s str, i: &'s str, after: &'s str, primary: Primary) -> PResult<'s, Primary> {
        let Primary::Chain(mut chain) = primary else {
            return syntax(i, "only a name or a method can be called");
        };
        let (after, ()) = skip(after, false)?;
        let (rest, (args, _)) = self.args(after)?;
        let (name, name_span) = chain.pop().unwrap_or_default();
        let receiver = (!chain.is_empty()).then(|| Box::new(Self::finish_chain(&chain)));
        let call = Call {
            name,
            name_span,
            receiver,
            args,
        };
        let (_, e) = self.check_depth(i, Expr::new(ExprKind::Call(call), self.span(start, rest)))?;
        Ok((skip(rest, true)?.0, Primary::Receiver(e)))
    }

    fn operand(&self, i: &'s str) -> PResult<'s, Primary> {
        let Some(c) = i.chars().next() else {
            return syntax(i, "unexpected end of expression");
        };
        if is_letter(c) {
            let (rest, ident) = self.ident(i)?;
            return Ok((skip(rest, true)?.0, Primary::Chain(vec![ident])));
        }
        let literal = |(rest, constant): (&'s str, Constant)| -> PResult<'s, Primary> {
            let e = Expr::new(ExprKind::Constant(constant), self.span(i, rest));
            Ok((skip(rest, true)?.0, Primary::Receiver(e)))
        };
        match c {
            '0'..='9' => literal(number(i)?),
            '.' if i[1..].starts_with(|c: char| c.is_ascii_digit()) => literal(number(i)?),
            '"' => literal(interpreted_string(i)?),
            '`' => literal(raw_string(i)?),
            '\'' => literal(char_literal(i)?),
            '(' => {
                let (after, ()) = skip(&i[1..], false)?;
                let (after, inner) = self.expr(after)?;
                let Ok((rest, ")")) = punct(after) else {
                    return syntax(after, "expected ')'");
                };
                let mut inner = inner;
                // The parentheses belong to the span, so carets point at what the user wrote.
                inner.span = self.span(i, rest);
                Ok((skip(rest, true)?.0, Primary::Receiver(inner)))
            }
            _ => match punct(i) {
                Ok(_) => syntax(i, "expected an operand"),
                Err(_) => syntax(i, format!("illegal character U+{:04X} {c:?}", c as u32)),
            },
        }
    }
}

fn literal_error<T>(at: &str, len: usize, message: impl Into<Cow<'static, str>>) -> PResult<'_, T> {
    fail(at, len, CompileErrorKind::Literal, message)
}

/// The length of the digits and `_` separators at `b[from..]` (hexadecimal digits too if `hex`).
fn digits_with_sep(b: &[u8], from: usize, hex: bool) -> usize {
    b[from..]
        .iter()
        .take_while(|&&c| c == b'_' || c.is_ascii_digit() || (hex && c.is_ascii_hexdigit()))
        .count()
}

/// Go number tokens; only base-10 integers and decimal floats are values.
fn number(i: &str) -> PResult<'_, Constant> {
    let b = i.as_bytes();
    // Prefixed forms are valid tokens but not base-10 numbers.
    if b.len() > 1 && b[0] == b'0' && matches!(b[1], b'x' | b'X' | b'o' | b'O' | b'b' | b'B') {
        return prefixed_number(i);
    }
    let (rest, is_float) = decimal_extent(i)?;
    let end = i.len() - rest.len();
    let text = &i[..end];
    // `_` must separate successive digits.
    let tb = text.as_bytes();
    for (k, &c) in tb.iter().enumerate() {
        if c == b'_' && !(k > 0 && tb[k - 1].is_ascii_digit() && tb.get(k + 1).is_some_and(u8::is_ascii_digit)) {
            return syntax(&i[k..], "'_' must separate successive digits");
        }
    }
    if b.get(end) == Some(&b'i') {
        return literal_error(i, end + 1, "imaginary literals are not supported");
    }
    if is_float {
        float_value(i, end)
    } else {
        int_value(i, end)
    }
}

/// A `0x`, `0o` or `0b` number (`i` starts with it): always an error, spanning the token.
fn prefixed_number(i: &str) -> PResult<'_, Constant> {
    let b = i.as_bytes();
    let hex = matches!(b[1], b'x' | b'X');
    let mut end = 2 + digits_with_sep(b, 2, hex);
    let mut float = false;
    if hex && b.get(end) == Some(&b'.') {
        float = true;
        end += 1 + digits_with_sep(b, end + 1, true);
    }
    if hex && matches!(b.get(end), Some(b'p' | b'P')) {
        float = true;
        end += 1;
        if matches!(b.get(end), Some(b'+' | b'-')) {
            end += 1;
        }
        end += digits_with_sep(b, end, false);
    }
    let what = if float {
        "hexadecimal floating-point literals are not supported"
    } else {
        "only base-10 integer literals are supported"
    };
    literal_error(i, end, what)
}

/// A decimal number token (digits, fraction, exponent): the input after it, and whether it
/// is a float.
fn decimal_extent(i: &str) -> PResult<'_, bool> {
    let b = i.as_bytes();
    let mut end = digits_with_sep(b, 0, false);
    let mut is_float = false;
    if b.get(end) == Some(&b'.') {
        is_float = true;
        end += 1 + digits_with_sep(b, end + 1, false);
    }
    if matches!(b.get(end), Some(b'e' | b'E')) {
        is_float = true;
        end += 1;
        if matches!(b.get(end), Some(b'+' | b'-')) {
            end += 1;
        }
        let exp_digits = digits_with_sep(b, end, false);
        if exp_digits == 0 {
            return syntax(&i[end..], "exponent has no digits");
        }
        end += exp_digits;
    }
    Ok((&i[end..], is_float))
}

/// The float `i[..end]`.
fn float_value(i: &str, end: usize) -> PResult<'_, Constant> {
    let value: f64 = i[..end].replace('_', "").parse().map_err(|_| {
        nom::Err::Failure(PErr {
            rest_len: i.len(),
            len: end,
            kind: CompileErrorKind::Literal,
            message: Cow::Borrowed("malformed floating-point literal"),
        })
    })?;
    if value.is_infinite() {
        return literal_error(i, end, "floating-point literal out of range");
    }
    Ok((&i[end..], Constant::Double(value)))
}

/// The integer `i[..end]`: base 10, no separators; a leading `0` makes it octal, which only
/// `0` itself may be.
fn int_value(i: &str, end: usize) -> PResult<'_, Constant> {
    let text = &i[..end];
    if text.len() > 1
        && text.starts_with('0')
        && let Some(k) = text.bytes().position(|c| matches!(c, b'8' | b'9'))
    {
        return syntax(&i[k..], "invalid digit in octal literal");
    }
    if text.contains('_') {
        return literal_error(i, end, "digit separators are not supported in integer literals");
    }
    match text.parse::<i64>() {
        Ok(v) => Ok((&i[end..], Constant::Int64(v))),
        Err(_) => literal_error(i, end, "integer literal out of range (above 9223372036854775807)"),
    }
}

/// One escape after a backslash; pushes its bytes. Returns the rest of the input.
fn escape<'i>(i: &'i str, quote: char, out: &mut Vec<u8>) -> PResult<'i, ()> {
    // `i` starts at the backslash.
    let mut chars = i[1..].chars();
    let Some(e) = chars.next() else {
        return syntax(i, "escape sequence not terminated");
    };
    let simple = match e {
        'a' => Some(7),
        'b' => Some(8),
        'f' => Some(0xC),
        'n' => Some(b'\n'),
        'r' => Some(b'\r'),
        't' => Some(b'\t'),
        'v' => Some(0xB),
        '\\' => Some(b'\\'),
        c if c == quote => Some(c as u8),
        _ => None,
    };
    if let Some(byte) = simple {
        out.push(byte);
        return Ok((&i[2..], ()));
    }
    let (digits, radix) = match e {
        '0'..='7' => (3, 8),
        'x' => (2, 16),
        'u' => (4, 16),
        'U' => (8, 16),
        _ => return literal_error(i, 1 + e.len_utf8(), "unknown escape sequence"),
    };
    let start = if radix == 8 { 1 } else { 2 };
    let text = i.get(start..start + digits).unwrap_or("");
    if text.len() != digits || !text.chars().all(|c| c.is_digit(radix)) {
        return literal_error(i, (start + text.len()).min(i.len()), "malformed escape sequence");
    }
    let value = u32::from_str_radix(text, radix).unwrap_or(u32::MAX);
    match e {
        '0'..='7' | 'x' => {
            let Ok(byte) = u8::try_from(value) else {
                return literal_error(i, start + digits, "octal escape value above 255");
            };
            out.push(byte);
        }
        _ => {
            let Some(c) = char::from_u32(value) else {
                return literal_error(i, start + digits, "escape is a surrogate or above U+10FFFF");
            };
            let mut buf = [0; 4];
            out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
        }
    }
    Ok((&i[start + digits..], ()))
}

/// A decoded string literal: UTF-8 or a literal error (D7), then duration promotion.
fn finish_string(start: &str, end: &str, bytes: Vec<u8>) -> PResult<'static, Constant> {
    let len = start.len() - end.len();
    let Ok(text) = String::from_utf8(bytes) else {
        return Err(nom::Err::Failure(PErr {
            rest_len: start.len(),
            len,
            kind: CompileErrorKind::Literal,
            message: Cow::Borrowed("string literal is not valid UTF-8"),
        }));
    };
    Ok((
        "",
        duration::parse_go(&text).map_or(Constant::String(text), |ns| {
            Constant::Duration(Duration::from_nanos(ns))
        }),
    ))
}

fn interpreted_string(i: &str) -> PResult<'_, Constant> {
    let mut out = Vec::new();
    let mut rest = &i[1..];
    loop {
        match rest.chars().next() {
            None | Some('\n') => return syntax(i, "string literal not terminated"),
            Some('"') => {
                let end = &rest[1..];
                return finish_string(i, end, out).map(|(_, c)| (end, c));
            }
            Some('\\') => rest = escape(rest, '"', &mut out)?.0,
            Some(c) => {
                out.extend_from_slice(&rest.as_bytes()[..c.len_utf8()]);
                rest = &rest[c.len_utf8()..];
            }
        }
    }
}

fn raw_string(i: &str) -> PResult<'_, Constant> {
    let Some(end) = i[1..].find('`') else {
        return syntax(i, "raw string literal not terminated");
    };
    let text: Vec<u8> = i[1..=end].bytes().filter(|&b| b != b'\r').collect();
    let rest = &i[end + 2..];
    finish_string(i, rest, text).map(|(_, c)| (rest, c))
}

fn char_literal(i: &str) -> PResult<'_, Constant> {
    let mut out = Vec::new();
    let body = &i[1..];
    let rest = match body.chars().next() {
        None | Some('\n') => return syntax(i, "rune literal not terminated"),
        Some('\'') => return syntax(i, "empty rune literal"),
        Some('\\') => escape(body, '\'', &mut out)?.0,
        Some(c) => {
            out.extend_from_slice(&body.as_bytes()[..c.len_utf8()]);
            &body[c.len_utf8()..]
        }
    };
    let Some(rest) = rest.strip_prefix('\'') else {
        return syntax(i, "rune literal must hold exactly one character");
    };
    finish_string(i, rest, out).map(|(_, c)| (rest, c))
}

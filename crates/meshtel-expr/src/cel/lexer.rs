//! CEL's tokens (the `LEXIS` of the CEL language definition): punctuation, identifiers,
//! keywords and literals, with their byte spans. Literals are decoded here, so a bad escape or
//! an out-of-range number is reported at the literal.

use crate::{CompileError, CompileErrorKind as K, Span};

/// A literal, decoded.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Literal {
    /// A decimal or hexadecimal integer without the `u` suffix. Kept as the magnitude, so
    /// `-9223372036854775808` can be folded by the parser.
    Int(u64),
    Uint(u64),
    Double(f64),
    String(String),
    Bytes(Vec<u8>),
    Bool(bool),
    Null,
}

/// One token.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Token<'s> {
    Ident(&'s str),
    Literal(Literal),
    /// Punctuation and operators: `( ) [ ] { } . , : ? ! - + * / % < <= > >= == != && ||`.
    Punct(&'static str),
    /// The keyword `in`.
    In,
    /// A reserved word (`namespace`, `package`, …): a field name after `.`, never a name on
    /// its own.
    Reserved(&'s str),
}

const PUNCTS: [&str; 24] = [
    "==", "!=", "<=", ">=", "&&", "||", "(", ")", "[", "]", "{", "}", ".", ",", ":", "?", "!", "-", "+", "*", "/", "%",
    "<", ">",
];

/// Words CEL reserves: not usable as identifiers.
const RESERVED: [&str; 17] = [
    "as",
    "break",
    "const",
    "continue",
    "else",
    "for",
    "function",
    "if",
    "import",
    "let",
    "loop",
    "package",
    "namespace",
    "return",
    "var",
    "void",
    "while",
];

/// A token stream over one source text.
pub(crate) struct Lexer<'s> {
    source: &'s str,
    pos: usize,
}

fn error(kind: K, start: usize, end: usize, message: impl Into<String>) -> CompileError {
    CompileError::new(kind, Span::new(start, end), message)
}

impl<'s> Lexer<'s> {
    pub(crate) const fn new(source: &'s str) -> Self {
        Self { source, pos: 0 }
    }

    fn rest(&self) -> &'s str {
        &self.source[self.pos..]
    }

    /// Skips whitespace and `//` comments.
    fn skip_trivia(&mut self) {
        loop {
            let rest = self.rest();
            let trimmed = rest.trim_start_matches([' ', '\t', '\n', '\r', '\x0c']);
            self.pos += rest.len() - trimmed.len();
            if trimmed.starts_with("//") {
                self.pos += trimmed.find('\n').unwrap_or(trimmed.len());
            } else {
                return;
            }
        }
    }

    /// The next token and its span, or `None` at the end of the source.
    ///
    /// # Errors
    /// A syntax error for a character that starts no token, a literal error for a malformed
    /// literal.
    pub(crate) fn next_token(&mut self) -> Result<Option<(Token<'s>, Span)>, CompileError> {
        self.skip_trivia();
        let start = self.pos;
        let rest = self.rest();
        let Some(c) = rest.chars().next() else {
            return Ok(None);
        };
        let token = if c.is_ascii_digit() || (c == '.' && rest[1..].starts_with(|d: char| d.is_ascii_digit())) {
            Token::Literal(self.number()?)
        } else if c == '"' || c == '\'' {
            Token::Literal(self.string(false, false)?)
        } else if c == '_' || c.is_ascii_alphabetic() {
            self.word()?
        } else if let Some(p) = PUNCTS.into_iter().find(|p| rest.starts_with(p)) {
            self.pos += p.len();
            Token::Punct(p)
        } else {
            let end = start + c.len_utf8();
            let message = match c {
                '|' => {
                    "'|' is not a CEL operator; write a presence test instead: has(a.b) ? a.b : \"default\"".to_owned()
                }
                '=' => "'=' is not a CEL operator; write '==' to compare".to_owned(),
                '&' => "'&' is not a CEL operator; write '&&'".to_owned(),
                c => format!("unexpected character {c:?}"),
            };
            return Err(error(K::Syntax, start, end, message));
        };
        Ok(Some((token, Span::new(start, self.pos))))
    }

    /// An identifier, keyword, or a prefixed string literal (`r"…"`, `b'…'`, `br"…"`).
    fn word(&mut self) -> Result<Token<'s>, CompileError> {
        let rest = self.rest();
        let len = rest
            .find(|c: char| !(c == '_' || c.is_ascii_alphanumeric()))
            .unwrap_or(rest.len());
        let word = &rest[..len];
        let quoted = rest[len..].starts_with(['"', '\'']);
        if quoted {
            let (raw, bytes) = match word {
                "r" | "R" => (true, false),
                "b" | "B" => (false, true),
                "br" | "bR" | "Br" | "BR" => (true, true),
                _ => (false, false),
            };
            if raw || bytes {
                self.pos += len;
                return Ok(Token::Literal(self.string(raw, bytes)?));
            }
        }
        self.pos += len;
        Ok(match word {
            "true" => Token::Literal(Literal::Bool(true)),
            "false" => Token::Literal(Literal::Bool(false)),
            "null" => Token::Literal(Literal::Null),
            "in" => Token::In,
            w if RESERVED.contains(&w) => Token::Reserved(w),
            w => Token::Ident(w),
        })
    }

    /// `123`, `0x1F`, `7u`, `1.5`, `.5`, `1e-3`.
    fn number(&mut self) -> Result<Literal, CompileError> {
        let start = self.pos;
        let b = self.rest().as_bytes();
        let digits = |from: usize, hex: bool| {
            from + b[from..]
                .iter()
                .take_while(|c| if hex { c.is_ascii_hexdigit() } else { c.is_ascii_digit() })
                .count()
        };
        if b.starts_with(b"0x") {
            let end = digits(2, true);
            if end == 2 {
                return Err(error(
                    K::Literal,
                    start,
                    start + 2,
                    "hexadecimal literal without digits",
                ));
            }
            let value = u64::from_str_radix(&self.rest()[2..end], 16);
            return self.finish_int(end, value.ok());
        }
        let int_end = digits(0, false);
        let mut end = int_end;
        let mut float = false;
        if b.get(end) == Some(&b'.') && b.get(end + 1).is_some_and(u8::is_ascii_digit) {
            end = digits(end + 1, false);
            float = true;
        }
        if matches!(b.get(end), Some(b'e' | b'E')) {
            let sign = usize::from(matches!(b.get(end + 1), Some(b'+' | b'-')));
            let exp_end = digits(end + 1 + sign, false);
            if exp_end > end + 1 + sign {
                end = exp_end;
                float = true;
            }
        }
        if float {
            let text = &self.rest()[..end];
            self.pos += end;
            return text
                .parse::<f64>()
                .map(Literal::Double)
                .map_err(|_| error(K::Literal, start, self.pos, format!("invalid double literal {text}")));
        }
        let value = self.rest()[..int_end].parse::<u64>();
        self.finish_int(int_end, value.ok())
    }

    /// The end of an integer literal: the optional `u` suffix and the range check.
    fn finish_int(&mut self, end: usize, value: Option<u64>) -> Result<Literal, CompileError> {
        let start = self.pos;
        let unsigned = matches!(self.rest().as_bytes().get(end), Some(b'u' | b'U'));
        self.pos += end + usize::from(unsigned);
        let text = &self.source[start..self.pos];
        match (value, unsigned) {
            (Some(v), true) => Ok(Literal::Uint(v)),
            // The magnitude of `-9223372036854775808` is one past i64::MAX; the parser folds
            // the sign and checks the range.
            (Some(v), false) if v <= 1 << 63 => Ok(Literal::Int(v)),
            _ => Err(error(
                K::Literal,
                start,
                self.pos,
                format!("integer literal out of range: {text}"),
            )),
        }
    }

    /// A quoted literal starting at the quote: single, double or triple quotes.
    fn string(&mut self, raw: bool, bytes: bool) -> Result<Literal, CompileError> {
        let literal_start = self.pos;
        let rest = self.rest();
        let delimiter = ["\"\"\"", "\'\'\'", "\"", "\'"]
            .into_iter()
            .find(|d| rest.starts_with(d))
            .unwrap_or("\"");
        self.pos += delimiter.len();
        let mut out: Vec<u8> = Vec::new();
        loop {
            let rest = self.rest();
            if rest.starts_with(delimiter) {
                self.pos += delimiter.len();
                break;
            }
            let Some(c) = rest.chars().next() else {
                return Err(error(K::Syntax, literal_start, self.pos, "unterminated string literal"));
            };
            if (c == '\n' || c == '\r') && delimiter.len() == 1 {
                return Err(error(
                    K::Syntax,
                    literal_start,
                    self.pos,
                    "newline in a single-quoted string literal (use triple quotes)",
                ));
            }
            if c == '\\' && !raw {
                self.escape(bytes, &mut out)?;
            } else {
                let mut buf = [0; 4];
                out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                self.pos += c.len_utf8();
            }
        }
        if bytes {
            return Ok(Literal::Bytes(out));
        }
        String::from_utf8(out)
            .map(Literal::String)
            .map_err(|_| error(K::Literal, literal_start, self.pos, "string literal is not valid UTF-8"))
    }

    /// One escape sequence at `\`, appended to `out` (as UTF-8 in strings, raw in bytes).
    fn escape(&mut self, bytes: bool, out: &mut Vec<u8>) -> Result<(), CompileError> {
        let start = self.pos;
        let rest = &self.rest()[1..];
        let Some(c) = rest.chars().next() else {
            return Err(error(K::Syntax, start, start + 1, "unterminated string literal"));
        };
        let simple = match c {
            '\\' => Some(b'\\'),
            '"' => Some(b'"'),
            '\'' => Some(b'\''),
            '`' => Some(b'`'),
            '?' => Some(b'?'),
            'a' => Some(0x07),
            'b' => Some(0x08),
            'f' => Some(0x0c),
            'n' => Some(b'\n'),
            'r' => Some(b'\r'),
            't' => Some(b'\t'),
            'v' => Some(0x0b),
            _ => None,
        };
        if let Some(byte) = simple {
            out.push(byte);
            self.pos += 2;
            return Ok(());
        }
        let (len, radix, digits) = match c {
            'x' | 'X' => (2, 16, &rest[1..]),
            'u' if !bytes => (4, 16, &rest[1..]),
            'U' if !bytes => (8, 16, &rest[1..]),
            '0'..='3' => (3, 8, rest),
            _ => {
                let end = start + 1 + c.len_utf8();
                return Err(error(K::Literal, start, end, format!("invalid escape sequence \\{c}")));
            }
        };
        let prefix = if radix == 8 { 1 } else { 2 };
        let text = digits.get(..len).filter(|d| d.chars().all(|d| d.is_digit(radix)));
        let value = text.and_then(|d| u32::from_str_radix(d, radix).ok());
        let end = start + prefix + len.min(digits.len());
        let Some(value) = value else {
            return Err(error(
                K::Literal,
                start,
                end.min(self.source.len()),
                format!("invalid escape sequence: \\{c} needs {len} digits of base {radix}"),
            ));
        };
        self.pos = start + prefix + len;
        // `\x`, `\X` and octal escapes are bytes in a bytes literal, code points in a string.
        if bytes && matches!(c, 'x' | 'X' | '0'..='3') {
            out.push(value as u8);
            return Ok(());
        }
        let Some(ch) = char::from_u32(value) else {
            return Err(error(
                K::Literal,
                start,
                self.pos,
                format!("invalid code point U+{value:04X} in escape sequence"),
            ));
        };
        let mut buf = [0; 4];
        out.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens(source: &str) -> Result<Vec<Token<'_>>, CompileError> {
        let mut lexer = Lexer::new(source);
        let mut out = Vec::new();
        while let Some((t, _)) = lexer.next_token()? {
            out.push(t);
        }
        Ok(out)
    }

    fn literal(source: &str) -> Literal {
        match tokens(source).unwrap().as_slice() {
            [Token::Literal(l)] => l.clone(),
            other => panic!("{source}: {other:?}"),
        }
    }

    #[test]
    fn numbers() {
        assert_eq!(literal("0"), Literal::Int(0));
        assert_eq!(literal("0x1F"), Literal::Int(31));
        assert_eq!(literal("7u"), Literal::Uint(7));
        assert_eq!(literal("0xFFU"), Literal::Uint(255));
        assert_eq!(literal(".5"), Literal::Double(0.5));
        assert_eq!(literal("1e3"), Literal::Double(1000.0));
        assert_eq!(literal("2.5E-1"), Literal::Double(0.25));
        assert_eq!(literal("18446744073709551615u"), Literal::Uint(u64::MAX));
        assert_eq!(literal("9223372036854775808"), Literal::Int(1 << 63));
        assert!(tokens("9223372036854775809").is_err());
        assert!(tokens("18446744073709551616u").is_err());
        // `1.` is the integer 1 followed by a dot; `0XFF` is 0 followed by the name `XFF`.
        assert_eq!(
            tokens("1.").unwrap(),
            [Token::Literal(Literal::Int(1)), Token::Punct(".")]
        );
        assert_eq!(
            tokens("0XFF").unwrap(),
            [Token::Literal(Literal::Int(0)), Token::Ident("XFF")]
        );
    }

    #[test]
    fn strings_and_escapes() {
        assert_eq!(literal(r#""a\"b""#), Literal::String("a\"b".into()));
        assert_eq!(literal(r"'\x41\u00e9\U0001F600\101'"), Literal::String("Aé😀A".into()));
        assert_eq!(literal(r"'\xc3\xa9'"), Literal::String("Ã©".into()));
        assert_eq!(literal(r"b'\xc3\xa9'"), Literal::Bytes(vec![0xc3, 0xa9]));
        assert_eq!(literal(r"r'\n'"), Literal::String("\\n".into()));
        assert_eq!(literal(r"BR'\n'"), Literal::Bytes(b"\\n".to_vec()));
        assert_eq!(literal("'''a\n'b'''"), Literal::String("a\n'b".into()));
        assert_eq!(literal(r#""""x""""#), Literal::String("x".into()));
        assert_eq!(literal("''"), Literal::String(String::new()));
        assert_eq!(
            literal(r"'\a\b\f\n\r\t\v\?\`'"),
            Literal::String("\x07\x08\x0c\n\r\t\x0b?`".into())
        );
        for bad in [
            r#""\0""#,
            r"b'\u00e9'",
            r"'\q'",
            r"'\ud800'",
            "'a\nb'",
            "'abc",
            r"'\x4'",
        ] {
            assert!(tokens(bad).is_err(), "{bad}");
        }
        // `rb` is not a prefix: an identifier followed by a string.
        assert_eq!(
            tokens("rb''").unwrap(),
            [Token::Ident("rb"), Token::Literal(Literal::String(String::new()))]
        );
    }

    #[test]
    fn words_and_punctuation() {
        assert_eq!(
            tokens("a.b in [true, null] // done").unwrap(),
            [
                Token::Ident("a"),
                Token::Punct("."),
                Token::Ident("b"),
                Token::In,
                Token::Punct("["),
                Token::Literal(Literal::Bool(true)),
                Token::Punct(","),
                Token::Literal(Literal::Null),
                Token::Punct("]"),
            ]
        );
        assert_eq!(tokens("TRUE").unwrap(), [Token::Ident("TRUE")]);
        let err = tokens("a | b").unwrap_err();
        assert_eq!(err.span(), Span::new(2, 3));
        assert!(err.message().contains("has(a.b)"), "{err}");
        assert_eq!(tokens("if").unwrap(), [Token::Reserved("if")]);
    }
}

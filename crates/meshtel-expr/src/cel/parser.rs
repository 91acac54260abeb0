//! CEL's grammar (the CEL language definition, "Syntax"), by recursive descent over the
//! token list, with the macros expanded as they are parsed:
//!
//! ```text
//! Expr           = ConditionalOr ["?" ConditionalOr ":" Expr]
//! ConditionalOr  = [ConditionalOr "||"] ConditionalAnd
//! ConditionalAnd = [ConditionalAnd "&&"] Relation
//! Relation       = [Relation Relop] Addition          Relop = < <= >= > == != in
//! Addition       = [Addition ("+" | "-")] Multiplication
//! Multiplication = [Multiplication ("*" | "/" | "%")] Unary
//! Unary          = Member | "!" {"!"} Member | "-" {"-"} Member
//! Member         = Primary | Member "." IDENT ["(" [ExprList] ")"] | Member "[" Expr "]"
//! Primary        = ["."] IDENT ["(" [ExprList] ")"] | "(" Expr ")"
//!                | "[" [ExprList] [","] "]" | "{" [MapInits] [","] "}" | LITERAL
//! ```
//!
//! Message construction (`pkg.Msg{field: 1}`) is not supported and is a syntax error.

use super::ast::{BinaryOp, Call, Comprehension, Constant, Expr, Kind, Macro, UnaryOp};
use super::lexer::{Lexer, Literal, Token};
use crate::{CompileError, CompileErrorKind as K, Limits, Span};

type Result<T> = core::result::Result<T, CompileError>;

/// The parser state: the tokens, the position, and the nesting depth.
pub(crate) struct Parser<'s> {
    tokens: Vec<(Token<'s>, Span)>,
    pos: usize,
    end: usize,
    depth: u32,
    max_depth: u32,
}

fn syntax(span: Span, message: impl Into<String>) -> CompileError {
    CompileError::new(K::Syntax, span, message)
}

impl<'s> Parser<'s> {
    /// Parses a whole CEL expression.
    ///
    /// # Errors
    /// Syntax, literal and limit errors, with the span of the problem.
    pub(crate) fn parse(source: &'s str, limits: Limits) -> Result<Expr> {
        if source.len() > limits.max_length {
            return Err(CompileError::new(
                K::Limit,
                Span::new(limits.max_length, source.len()),
                format!(
                    "expression is {} bytes long; the limit is {}",
                    source.len(),
                    limits.max_length
                ),
            ));
        }
        let mut lexer = Lexer::new(source);
        let mut tokens = Vec::new();
        while let Some(token) = lexer.next_token()? {
            tokens.push(token);
        }
        let mut parser = Self {
            tokens,
            pos: 0,
            end: source.len(),
            depth: 0,
            max_depth: limits.max_depth.min(Limits::MAX_DEPTH),
        };
        let expr = parser.expr()?;
        if let Some((token, span)) = parser.tokens.get(parser.pos) {
            return Err(syntax(
                *span,
                format!("unexpected {} after the expression", describe(token)),
            ));
        }
        Ok(expr)
    }

    fn peek(&self) -> Option<&Token<'s>> {
        self.tokens.get(self.pos).map(|(t, _)| t)
    }

    fn peek_punct(&self, p: &str) -> bool {
        matches!(self.peek(), Some(Token::Punct(q)) if *q == p)
    }

    /// The span of the next token, or an empty span at the end.
    fn here(&self) -> Span {
        self.tokens
            .get(self.pos)
            .map_or_else(|| Span::new(self.end, self.end), |(_, s)| *s)
    }

    fn bump(&mut self) -> Option<(Token<'s>, Span)> {
        let token = self.tokens.get(self.pos).cloned();
        self.pos += usize::from(token.is_some());
        token
    }

    fn eat(&mut self, p: &str) -> Option<Span> {
        if self.peek_punct(p) {
            self.bump().map(|(_, s)| s)
        } else {
            None
        }
    }

    fn expect(&mut self, p: &str, context: &str) -> Result<Span> {
        self.eat(p).ok_or_else(|| {
            let found = self
                .peek()
                .map_or_else(|| "the end of the expression".to_owned(), describe);
            syntax(self.here(), format!("expected '{p}' {context}, found {found}"))
        })
    }

    /// Counts one level of nesting; every recursive rule passes through here.
    fn enter(&mut self) -> Result<()> {
        self.depth += 1;
        if self.depth > self.max_depth {
            return Err(CompileError::new(
                K::Limit,
                self.here(),
                format!("expression nested deeper than {} levels", self.max_depth),
            ));
        }
        Ok(())
    }

    fn expr(&mut self) -> Result<Expr> {
        self.enter()?;
        let condition = self.binary(0)?;
        let result = if self.eat("?").is_some() {
            let then = self.binary(0)?;
            self.expect(":", "in a conditional")?;
            let otherwise = self.expr()?;
            let span = condition.span.to(otherwise.span);
            Expr::new(Kind::Conditional(Box::new([condition, then, otherwise])), span)
        } else {
            condition
        };
        self.depth -= 1;
        Ok(result)
    }

    /// The binary operator at the next token with its precedence level (0 is `||`).
    fn binary_op(&self) -> Option<(u8, BinaryOp)> {
        Some(match self.peek()? {
            Token::In => (2, BinaryOp::In),
            Token::Punct(p) => match *p {
                "||" => (0, BinaryOp::Or),
                "&&" => (1, BinaryOp::And),
                "==" => (2, BinaryOp::Eq),
                "!=" => (2, BinaryOp::Ne),
                "<" => (2, BinaryOp::Lt),
                "<=" => (2, BinaryOp::Le),
                ">" => (2, BinaryOp::Gt),
                ">=" => (2, BinaryOp::Ge),
                "+" => (3, BinaryOp::Add),
                "-" => (3, BinaryOp::Sub),
                "*" => (4, BinaryOp::Mul),
                "/" => (4, BinaryOp::Div),
                "%" => (4, BinaryOp::Rem),
                _ => return None,
            },
            _ => return None,
        })
    }

    /// Left-associative binary operators of level `min` and above, by precedence climbing.
    fn binary(&mut self, min: u8) -> Result<Expr> {
        self.enter()?;
        let mut left = self.unary()?;
        let mut nested = 0;
        while let Some((level, op)) = self.binary_op().filter(|(level, _)| *level >= min) {
            self.bump();
            let right = self.binary(level + 1)?;
            let span = left.span.to(right.span);
            left = Expr::new(Kind::Binary(op, Box::new([left, right])), span);
            // A left-leaning chain `a + b + c + …` nests as deep as it is long.
            nested += 1;
            if self.depth + nested > self.max_depth {
                return Err(CompileError::new(
                    K::Limit,
                    span,
                    format!("expression nested deeper than {} levels", self.max_depth),
                ));
            }
        }
        self.depth -= 1;
        Ok(left)
    }

    /// `!` or `-` repeated: as in cel-cpp, an even run cancels out (`!!x` is `x`), an odd run
    /// is one operator; `-` directly before an integer literal is part of the literal, so
    /// `-9223372036854775808` is in range.
    fn unary(&mut self) -> Result<Expr> {
        let op = match self.peek() {
            Some(Token::Punct("!")) => UnaryOp::Not,
            Some(Token::Punct("-")) => UnaryOp::Neg,
            _ => return self.member(),
        };
        let symbol = if op == UnaryOp::Not { "!" } else { "-" };
        let start = self.here();
        let mut count = 0u32;
        while self.eat(symbol).is_some() {
            count += 1;
            if count > self.max_depth {
                return Err(CompileError::new(
                    K::Limit,
                    start,
                    format!("expression nested deeper than {} levels", self.max_depth),
                ));
            }
        }
        self.enter()?;
        let odd = count % 2 == 1;
        let result = if odd
            && op == UnaryOp::Neg
            && let Some(Token::Literal(Literal::Int(magnitude))) = self.peek()
            && !self.selects_after_literal()
        {
            let magnitude = *magnitude;
            let span = start.to(self.here());
            self.bump();
            let value = 0i64
                .checked_sub_unsigned(magnitude)
                .ok_or_else(|| CompileError::new(K::Literal, span, "integer literal out of range"))?;
            Expr::new(Kind::Literal(Constant::Int(value)), span)
        } else {
            let operand = self.member()?;
            if odd {
                let span = start.to(operand.span);
                Expr::new(Kind::Unary(op, Box::new(operand)), span)
            } else {
                operand
            }
        };
        self.depth -= 1;
        Ok(result)
    }

    /// Whether the token after the next one continues a member expression (`-1.foo()`
    /// negates the call, not the literal).
    fn selects_after_literal(&self) -> bool {
        matches!(self.tokens.get(self.pos + 1), Some((Token::Punct("." | "["), _)))
    }

    fn member(&mut self) -> Result<Expr> {
        let mut e = self.primary()?;
        let mut nested = 0;
        loop {
            if self.eat(".").is_some() {
                let (name, name_span) = match self.peek() {
                    // Reserved words are field names after a dot (`peer.namespace`).
                    Some(Token::Reserved(word)) => {
                        let word = *word;
                        let span = self.here();
                        self.bump();
                        (word, span)
                    }
                    _ => self.ident("after '.'")?,
                };
                if self.peek_punct("(") {
                    let (args, close) = self.args()?;
                    e = Self::receiver_call(e, name, name_span, args, close)?;
                } else if self.peek_punct("{") {
                    return Err(syntax(self.here(), "message construction is not supported"));
                } else {
                    let span = e.span.to(name_span);
                    e = Expr::new(Kind::Select(Box::new(e), name.to_owned()), span);
                }
            } else if self.eat("[").is_some() {
                let index = self.expr()?;
                let close = self.expect("]", "to close the index")?;
                let span = e.span.to(close);
                e = Expr::new(Kind::Index(Box::new([e, index])), span);
            } else {
                break;
            }
            nested += 1;
            if self.depth + nested > self.max_depth {
                return Err(CompileError::new(
                    K::Limit,
                    e.span,
                    format!("expression nested deeper than {} levels", self.max_depth),
                ));
            }
        }
        Ok(e)
    }

    fn ident(&mut self, context: &str) -> Result<(&'s str, Span)> {
        match self.bump() {
            Some((Token::Ident(name), span)) => Ok((name, span)),
            Some((token, span)) => Err(syntax(
                span,
                format!("expected a name {context}, found {}", describe(&token)),
            )),
            None => Err(syntax(self.here(), format!("expected a name {context}"))),
        }
    }

    /// `(a, b, …)` after a function name: the arguments and the span of `)`.
    fn args(&mut self) -> Result<(Vec<Expr>, Span)> {
        self.expect("(", "to start the arguments")?;
        let mut args = Vec::new();
        if let Some(close) = self.eat(")") {
            return Ok((args, close));
        }
        loop {
            args.push(self.expr()?);
            if let Some(close) = self.eat(")") {
                return Ok((args, close));
            }
            self.expect(",", "between arguments")?;
        }
    }

    /// `receiver.name(args)`: a comprehension macro, or a method call.
    fn receiver_call(receiver: Expr, name: &str, name_span: Span, args: Vec<Expr>, close: Span) -> Result<Expr> {
        let span = receiver.span.to(close);
        let Some(kind) = Macro::from_name(name).filter(|m| macro_arity(*m, args.len())) else {
            let call = Call {
                function: name.to_owned(),
                function_span: name_span,
                receiver: Some(Box::new(receiver)),
                args,
            };
            return Ok(Expr::new(Kind::Call(call), span));
        };
        let mut args = args.into_iter();
        let var = match args.next() {
            Some(Expr {
                kind: Kind::Ident(v),
                span,
            }) if v == "__result__" => {
                return Err(syntax(span, format!("{name}() variable name cannot be __result__")));
            }
            Some(Expr {
                kind: Kind::Ident(v), ..
            }) => v,
            Some(other) => {
                return Err(syntax(
                    other.span,
                    format!("argument 1 of {name}() must be a simple name (the iteration variable)"),
                ));
            }
            None => unreachable_arity(span)?,
        };
        let (filter, body) = match (args.next(), args.next()) {
            (Some(p), Some(t)) => (Some(p), t),
            (Some(body), None) => (None, body),
            _ => unreachable_arity(span)?,
        };
        let comprehension = Comprehension {
            kind,
            range: receiver,
            var,
            filter,
            body,
        };
        Ok(Expr::new(Kind::Comprehension(Box::new(comprehension)), span))
    }

    fn primary(&mut self) -> Result<Expr> {
        let Some((token, span)) = self.bump() else {
            return Err(syntax(
                self.here(),
                "expected an expression, found the end of the expression",
            ));
        };
        match token {
            Token::Literal(literal) => literal_expr(literal, span),
            Token::Ident(name) => self.name(name, span),
            Token::Punct(".") => {
                let (name, name_span) = self.ident("after a leading '.'")?;
                self.name(name, span.to(name_span))
            }
            Token::Punct("(") => {
                let mut inner = self.expr()?;
                let close = self.expect(")", "to close the parenthesis")?;
                inner.span = span.to(close);
                Ok(inner)
            }
            Token::Punct("[") => {
                self.enter()?;
                let (items, close) = self.list_items("]")?;
                self.depth -= 1;
                Ok(Expr::new(Kind::List(items), span.to(close)))
            }
            Token::Punct("{") => {
                self.enter()?;
                let result = self.map_literal(span);
                self.depth -= 1;
                result
            }
            token => Err(syntax(
                span,
                format!("expected an expression, found {}", describe(&token)),
            )),
        }
    }

    /// A name, a global call `f(…)`, or the `has(…)` macro.
    fn name(&mut self, name: &'s str, span: Span) -> Result<Expr> {
        if self.peek_punct("{") {
            return Err(syntax(self.here(), "message construction is not supported"));
        }
        if !self.peek_punct("(") {
            return Ok(Expr::new(Kind::Ident(name.to_owned()), span));
        }
        let (args, close) = self.args()?;
        let whole = span.to(close);
        if name == "has" {
            return match <[Expr; 1]>::try_from(args) {
                Ok(
                    [
                        Expr {
                            kind: Kind::Select(operand, field),
                            ..
                        },
                    ],
                ) => Ok(Expr::new(Kind::Has(operand, field), whole)),
                _ => Err(syntax(
                    whole,
                    "invalid argument to has() macro: expected a field selection such as has(request.host)",
                )),
            };
        }
        let call = Call {
            function: name.to_owned(),
            function_span: span,
            receiver: None,
            args,
        };
        Ok(Expr::new(Kind::Call(call), whole))
    }

    /// The items of a list literal up to `close`, a trailing comma allowed.
    fn list_items(&mut self, close: &str) -> Result<(Vec<Expr>, Span)> {
        let mut items = Vec::new();
        // `[,]` is an empty list in CEL's grammar (an optional trailing comma).
        if self.peek_punct(",") && matches!(self.tokens.get(self.pos + 1), Some((Token::Punct(p), _)) if *p == close) {
            self.bump();
        }
        loop {
            if let Some(end) = self.eat(close) {
                return Ok((items, end));
            }
            items.push(self.expr()?);
            if let Some(end) = self.eat(close) {
                return Ok((items, end));
            }
            self.expect(",", "between list elements")?;
        }
    }

    fn map_literal(&mut self, open: Span) -> Result<Expr> {
        let mut entries = Vec::new();
        if self.peek_punct(",") && matches!(self.tokens.get(self.pos + 1), Some((Token::Punct("}"), _))) {
            self.bump();
        }
        loop {
            if let Some(end) = self.eat("}") {
                return Ok(Expr::new(Kind::Map(entries), open.to(end)));
            }
            let key = self.expr()?;
            self.expect(":", "after a map key")?;
            let value = self.expr()?;
            entries.push((key, value));
            if let Some(end) = self.eat("}") {
                return Ok(Expr::new(Kind::Map(entries), open.to(end)));
            }
            self.expect(",", "between map entries")?;
        }
    }
}

const fn macro_arity(kind: Macro, args: usize) -> bool {
    match kind {
        Macro::Map => args == 2 || args == 3,
        _ => args == 2,
    }
}

fn unreachable_arity<T>(span: Span) -> Result<T> {
    // `macro_arity` admitted the call, so it has the arguments taken here.
    Err(syntax(span, "wrong number of arguments to a macro"))
}

fn literal_expr(literal: Literal, span: Span) -> Result<Expr> {
    let constant = match literal {
        Literal::Int(v) => Constant::Int(
            i64::try_from(v).map_err(|_| CompileError::new(K::Literal, span, "integer literal out of range"))?,
        ),
        Literal::Uint(v) => Constant::Uint(v),
        Literal::Double(v) => Constant::Double(v),
        Literal::String(s) => Constant::String(s),
        Literal::Bytes(b) => Constant::Bytes(b),
        Literal::Bool(b) => Constant::Bool(b),
        Literal::Null => Constant::Null,
    };
    Ok(Expr::new(Kind::Literal(constant), span))
}

fn describe(token: &Token<'_>) -> String {
    match token {
        Token::Ident(name) => format!("the name {name}"),
        Token::Literal(_) => "a literal".to_owned(),
        Token::Punct(p) => format!("'{p}'"),
        Token::In => "'in'".to_owned(),
        Token::Reserved(word) => format!("the reserved word {word}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(source: &str) -> Result<Expr> {
        Parser::parse(source, Limits::default())
    }

    fn printed(source: &str) -> String {
        parse(source).unwrap_or_else(|e| panic!("{source}: {e}")).to_string()
    }

    #[test]
    fn precedence_and_associativity() {
        assert_eq!(printed("a || b && c"), "(a || (b && c))");
        assert_eq!(printed("1 + 2 * 3 - 4"), "((1 + (2 * 3)) - 4)");
        assert_eq!(printed("a < b == c"), "((a < b) == c)");
        assert_eq!(printed("x in [1, 2] && y"), "((x in [1, 2]) && y)");
        assert_eq!(printed("a ? b : c ? d : e"), "(a ? b : (c ? d : e))");
        assert_eq!(printed("a || b ? c : d"), "((a || b) ? c : d)");
        assert_eq!(printed("!!a"), "a");
        assert_eq!(printed("!!!a"), "!(a)");
        assert_eq!(printed("--a"), "a");
        assert_eq!(printed("!(!a)"), "!(!(a))");
        assert_eq!(printed("[,]"), "[]");
        assert_eq!(printed("{,}"), "{}");
        assert_eq!(printed("-a.b"), "-((a).b)");
        assert_eq!(printed("-9223372036854775808"), "(-9223372036854775808)");
        assert_eq!(printed("- 1"), "(-1)");
        assert_eq!(printed("-1.5"), "-((1.5))");
        assert_eq!(printed("---1"), "(-1)");
        assert_eq!(printed("a.b[c].d(e)"), "(((a).b)[c]).d(e)");
    }

    #[test]
    fn macros_and_literals() {
        assert_eq!(printed("has(request.host)"), "has((request).host)");
        assert_eq!(printed("[1, 2,].all(x, x > 0)"), "([1, 2]).all(x, (x > 0))");
        assert_eq!(
            printed("m.map(k, k != 'a', k + 'b')"),
            "(m).map(k, (k != \"a\"), (k + \"b\"))"
        );
        assert_eq!(printed("{'a': 1, 2u: b'\\xff',}"), "{\"a\": 1, 2u: b\"\\xff\"}");
        assert_eq!(printed("l.all(x)"), "(l).all(x)");
        assert_eq!(printed(".a.b"), "(a).b");
        assert_eq!(printed("size(x)"), "size(x)");
        assert_eq!(printed("peer.namespace"), "(peer).namespace");
    }

    #[test]
    fn errors_have_spans() {
        let cases = [
            ("(a", K::Syntax, (2, 2)),
            ("a.", K::Syntax, (2, 2)),
            ("has(a)", K::Syntax, (0, 6)),
            ("a.b{c: 1}", K::Syntax, (3, 4)),
            ("[1, 2].all(1, true)", K::Syntax, (11, 12)),
            ("1 2", K::Syntax, (2, 3)),
            ("9223372036854775808", K::Literal, (0, 19)),
            ("-(9223372036854775808)", K::Literal, (2, 21)),
            ("--9223372036854775808", K::Literal, (2, 21)),
            ("[1].all(__result__, true)", K::Syntax, (8, 18)),
            ("a ? b", K::Syntax, (5, 5)),
            ("namespace.a", K::Syntax, (0, 9)),
        ];
        for (source, kind, (start, end)) in cases {
            let err = parse(source).unwrap_err();
            assert_eq!(
                (err.kind(), err.span()),
                (kind, Span::new(start, end)),
                "{source}: {err}"
            );
        }
    }

    #[test]
    fn limits() {
        let deep = format!("{}1{}", "(".repeat(300), ")".repeat(300));
        assert_eq!(parse(&deep).unwrap_err().kind(), K::Limit);
        let long_chain = vec!["a"; 200].join(" + ");
        assert_eq!(parse(&long_chain).unwrap_err().kind(), K::Limit);
        let members = format!("a{}", ".b".repeat(200));
        assert_eq!(parse(&members).unwrap_err().kind(), K::Limit);
        let negations = format!("{}a", "!".repeat(200));
        assert_eq!(parse(&negations).unwrap_err().kind(), K::Limit);
        assert_eq!(parse(&"x".repeat(5000)).unwrap_err().kind(), K::Limit);
    }

    #[test]
    fn printing_round_trips() {
        for source in [
            "a.b[c] + 'x\\n\"' == b'\\x00\\xc3\\xa9é' && !(x in {1: [2u, 3.5]}) || -y * 2 % 3 / 4",
            "[].exists_one(v, v.matches('^a$')) ? null : 1e300",
            "m.map(k, k, k).filter(x, has(x.y)) != -5",
            // Found by fuzzing: an infinite double literal printed as `inf`.
            "reque4444<=44444444444444444444e4444",
        ] {
            let tree = parse(source).unwrap();
            let again = parse(&tree.to_string()).unwrap_or_else(|e| panic!("{tree}: {e}"));
            assert!(tree.same_tree(&again), "{source}\n{tree}\n{again}");
        }
    }
}

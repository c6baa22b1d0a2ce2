//! The grammar subset, parsed into a tree that still carries byte offsets (for error
//! columns). Precedence, loosest first: `or`, `and`, `not`, comparisons, `+ -`, `* /`,
//! unary minus, then primaries (literals, paths, converter calls, lists, parentheses).

use crate::lexer::{tokenize, Tok, Token};
use crate::{Context, OttlError};

/// An expression as written.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Ast {
    Nil,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Bytes(Vec<u8>),
    /// An upper-case name: `SPAN_KIND_SERVER`.
    Enum(String),
    /// `a.b.c["k"][0]`
    Path {
        parts: Vec<String>,
        keys: Vec<Key>,
    },
    /// `Name(args)` (converter) or `name(args)` (editor); keys index the result.
    Call {
        name: String,
        args: Vec<Node>,
        keys: Vec<Key>,
    },
    List(Vec<Node>),
    Not(Box<Node>),
    Neg(Box<Node>),
    Binary(&'static str, Box<Node>, Box<Node>),
}

/// An index into a map (`["k"]`) or a list (`[0]`).
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Key {
    Str(String),
    Int(i64),
}

/// An expression with the byte offset where it starts.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Node {
    pub ast: Ast,
    pub offset: usize,
}

/// A statement: an editor call and its optional `where` condition.
#[derive(Debug, Clone)]
pub(crate) struct StatementAst {
    pub editor: Node,
    pub condition: Option<Node>,
}

struct Parser<'t> {
    text: &'t str,
    tokens: Vec<Token>,
    at: usize,
}

pub(crate) fn parse_condition(text: &str) -> Result<Node, OttlError> {
    let mut p = Parser::new(text)?;
    let node = p.expr()?;
    p.expect_end()?;
    Ok(node)
}

pub(crate) fn parse_statement(text: &str) -> Result<StatementAst, OttlError> {
    let mut p = Parser::new(text)?;
    let editor = p.unary()?;
    if !matches!(editor.ast, Ast::Call { .. }) {
        return Err(p.error_at(
            editor.offset,
            "a statement starts with an editor call, e.g. `set(attributes[\"k\"], \"v\")`".into(),
        ));
    }
    let condition = if p.eat_word("where") {
        Some(p.expr()?)
    } else {
        None
    };
    p.expect_end()?;
    Ok(StatementAst { editor, condition })
}

/// The contexts named by path prefixes in `text` (a statement or a condition).
pub(crate) fn path_prefixes(text: &str) -> Result<Vec<Context>, OttlError> {
    let nodes = match parse_statement(text) {
        Ok(statement) => std::iter::once(statement.editor)
            .chain(statement.condition)
            .collect(),
        Err(_) => vec![parse_condition(text)?],
    };
    let mut out = Vec::new();
    for node in &nodes {
        collect_prefixes(node, &mut out);
    }
    Ok(out)
}

fn collect_prefixes(node: &Node, out: &mut Vec<Context>) {
    match &node.ast {
        // A prefix is the first of several parts (`span.name`), or `request[...]`.
        Ast::Path { parts, .. } if parts.len() > 1 || parts[0] == "request" => {
            let context = match parts[0].as_str() {
                "instrumentation_scope" => Some(Context::Scope),
                other => Context::parse(other),
            };
            out.extend(context);
        }
        Ast::Call { args, .. } | Ast::List(args) => {
            args.iter().for_each(|a| collect_prefixes(a, out));
        }
        Ast::Not(a) | Ast::Neg(a) => collect_prefixes(a, out),
        Ast::Binary(_, a, b) => {
            collect_prefixes(a, out);
            collect_prefixes(b, out);
        }
        _ => {}
    }
}

impl<'t> Parser<'t> {
    fn new(text: &'t str) -> Result<Self, OttlError> {
        Ok(Self {
            text,
            tokens: tokenize(text)?,
            at: 0,
        })
    }

    fn peek(&self) -> &Tok {
        &self.tokens[self.at].tok
    }

    fn offset(&self) -> usize {
        self.tokens[self.at].offset
    }

    fn bump(&mut self) -> Token {
        let token = self.tokens[self.at].clone();
        if self.at + 1 < self.tokens.len() {
            self.at += 1;
        }
        token
    }

    fn error_at(&self, offset: usize, message: String) -> OttlError {
        OttlError::new(offset, self.text, message)
    }

    fn unexpected(&self, wanted: &str) -> OttlError {
        let found = match self.peek() {
            Tok::End => "the end of the expression".to_string(),
            _ => {
                let rest = &self.text[self.offset()..];
                let shown: String = rest.chars().take(12).collect();
                format!("`{shown}`")
            }
        };
        self.error_at(self.offset(), format!("expected {wanted}, found {found}"))
    }

    fn eat(&mut self, tok: &Tok) -> bool {
        if self.peek() == tok {
            self.bump();
            true
        } else {
            false
        }
    }

    fn eat_word(&mut self, word: &str) -> bool {
        if matches!(self.peek(), Tok::Ident(w) if w == word) {
            self.bump();
            true
        } else {
            false
        }
    }

    fn expect(&mut self, tok: &Tok, wanted: &str) -> Result<(), OttlError> {
        if self.eat(tok) {
            Ok(())
        } else {
            Err(self.unexpected(wanted))
        }
    }

    fn expect_end(&mut self) -> Result<(), OttlError> {
        if matches!(self.peek(), Tok::End) {
            Ok(())
        } else {
            Err(self.unexpected("an operator (`and`, `or`, `==`, ...) or the end"))
        }
    }

    fn expr(&mut self) -> Result<Node, OttlError> {
        let mut left = self.and_expr()?;
        while self.eat_word("or") {
            let right = self.and_expr()?;
            left = binary("or", left, right);
        }
        Ok(left)
    }

    fn and_expr(&mut self) -> Result<Node, OttlError> {
        let mut left = self.not_expr()?;
        while self.eat_word("and") {
            let right = self.not_expr()?;
            left = binary("and", left, right);
        }
        Ok(left)
    }

    fn not_expr(&mut self) -> Result<Node, OttlError> {
        let offset = self.offset();
        if self.eat_word("not") {
            let inner = self.not_expr()?;
            return Ok(Node {
                ast: Ast::Not(Box::new(inner)),
                offset,
            });
        }
        self.comparison()
    }

    fn comparison(&mut self) -> Result<Node, OttlError> {
        let left = self.additive()?;
        if let Tok::Op(op @ ("==" | "!=" | "<" | "<=" | ">" | ">=")) = *self.peek() {
            self.bump();
            let right = self.additive()?;
            if let Tok::Op("==" | "!=" | "<" | "<=" | ">" | ">=") = self.peek() {
                return Err(self.error_at(
                    self.offset(),
                    "comparisons do not chain: join them with `and`".into(),
                ));
            }
            return Ok(binary(op, left, right));
        }
        Ok(left)
    }

    fn additive(&mut self) -> Result<Node, OttlError> {
        let mut left = self.multiplicative()?;
        while let Tok::Op(op @ ("+" | "-")) = *self.peek() {
            self.bump();
            let right = self.multiplicative()?;
            left = binary(op, left, right);
        }
        Ok(left)
    }

    fn multiplicative(&mut self) -> Result<Node, OttlError> {
        let mut left = self.unary()?;
        while let Tok::Op(op @ ("*" | "/")) = *self.peek() {
            self.bump();
            let right = self.unary()?;
            left = binary(op, left, right);
        }
        Ok(left)
    }

    fn unary(&mut self) -> Result<Node, OttlError> {
        let offset = self.offset();
        if self.eat(&Tok::Op("-")) {
            let inner = self.unary()?;
            return Ok(Node {
                ast: match inner.ast {
                    Ast::Int(i) => Ast::Int(-i),
                    Ast::Float(f) => Ast::Float(-f),
                    other => Ast::Neg(Box::new(Node {
                        ast: other,
                        offset: inner.offset,
                    })),
                },
                offset,
            });
        }
        self.primary()
    }

    fn primary(&mut self) -> Result<Node, OttlError> {
        let offset = self.offset();
        let node = |ast| Ok(Node { ast, offset });
        match self.peek().clone() {
            Tok::Str(s) => {
                self.bump();
                node(Ast::Str(s))
            }
            Tok::Int(i) => {
                self.bump();
                node(Ast::Int(i))
            }
            Tok::Float(f) => {
                self.bump();
                node(Ast::Float(f))
            }
            Tok::Bytes(b) => {
                self.bump();
                node(Ast::Bytes(b))
            }
            Tok::LParen => {
                self.bump();
                let inner = self.expr()?;
                self.expect(&Tok::RParen, "`)`")?;
                Ok(inner)
            }
            Tok::LBracket => {
                self.bump();
                let items = self.list_items(&Tok::RBracket, "`]`")?;
                node(Ast::List(items))
            }
            Tok::LBrace => {
                Err(self.error_at(offset, "map literals (`{...}`) are not supported".into()))
            }
            Tok::Ident(word) => {
                self.bump();
                match word.as_str() {
                    "true" => return node(Ast::Bool(true)),
                    "false" => return node(Ast::Bool(false)),
                    "nil" => return node(Ast::Nil),
                    "and" | "or" | "not" | "where" => {
                        return Err(
                            self.error_at(offset, format!("expected a value, found `{word}`"))
                        )
                    }
                    _ => {}
                }
                if self.eat(&Tok::LParen) {
                    let args = self.list_items(&Tok::RParen, "`)`")?;
                    let keys = self.keys()?;
                    return node(Ast::Call {
                        name: word,
                        args,
                        keys,
                    });
                }
                if is_enum_name(&word) {
                    return node(Ast::Enum(word));
                }
                let mut parts = vec![word];
                while self.eat(&Tok::Dot) {
                    match self.bump().tok {
                        Tok::Ident(part) => parts.push(part),
                        _ => {
                            return Err(self
                                .error_at(self.offset(), "expected a field name after `.`".into()))
                        }
                    }
                }
                let keys = self.keys()?;
                node(Ast::Path { parts, keys })
            }
            _ => Err(self.unexpected("a value (a literal, a path or a converter call)")),
        }
    }

    fn list_items(&mut self, close: &Tok, wanted: &str) -> Result<Vec<Node>, OttlError> {
        let mut items = Vec::new();
        if self.eat(close) {
            return Ok(items);
        }
        loop {
            let offset = self.offset();
            // Named arguments (`name = value`) are not in the subset.
            if matches!(self.peek(), Tok::Ident(_))
                && matches!(
                    self.tokens.get(self.at + 1).map(|t| &t.tok),
                    Some(Tok::Colon)
                )
            {
                return Err(self.error_at(offset, "named arguments are not supported".into()));
            }
            items.push(self.expr()?);
            if self.eat(close) {
                return Ok(items);
            }
            self.expect(&Tok::Comma, &format!("`,` or {wanted}"))?;
        }
    }

    fn keys(&mut self) -> Result<Vec<Key>, OttlError> {
        let mut keys = Vec::new();
        while self.eat(&Tok::LBracket) {
            let key = match self.bump().tok {
                Tok::Str(s) => Key::Str(s),
                Tok::Int(i) => Key::Int(i),
                _ => {
                    return Err(self.error_at(
                        self.tokens[self.at.saturating_sub(1)].offset,
                        "an index is a string (`[\"key\"]`) or an integer (`[0]`)".into(),
                    ))
                }
            };
            self.expect(&Tok::RBracket, "`]`")?;
            keys.push(key);
        }
        Ok(keys)
    }
}

fn binary(op: &'static str, left: Node, right: Node) -> Node {
    let offset = left.offset;
    Node {
        ast: Ast::Binary(op, Box::new(left), Box::new(right)),
        offset,
    }
}

/// `SPAN_KIND_SERVER`: upper case, digits and underscores, starting with a letter.
fn is_enum_name(word: &str) -> bool {
    word.len() > 1
        && word.starts_with(|c: char| c.is_ascii_uppercase())
        && word
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
}

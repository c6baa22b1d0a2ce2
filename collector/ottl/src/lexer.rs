//! Tokens of the OTTL subset, each with its byte offset for error columns.

use crate::OttlError;

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Tok {
    Ident(String),
    Str(String),
    Int(i64),
    Float(f64),
    /// `0x...`: a byte string (trace and span ids).
    Bytes(Vec<u8>),
    LParen,
    RParen,
    LBracket,
    RBracket,
    LBrace,
    RBrace,
    Comma,
    Dot,
    Colon,
    Op(&'static str),
    End,
}

#[derive(Debug, Clone)]
pub(crate) struct Token {
    pub tok: Tok,
    pub offset: usize,
}

pub(crate) fn tokenize(text: &str) -> Result<Vec<Token>, OttlError> {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    let err = |offset: usize, message: String| OttlError::new(offset, text, message);
    while i < bytes.len() {
        let c = bytes[i];
        let start = i;
        let single = |tok| Token { tok, offset: start };
        match c {
            b' ' | b'\t' | b'\n' | b'\r' => {
                i += 1;
                continue;
            }
            b'(' => out.push(single(Tok::LParen)),
            b')' => out.push(single(Tok::RParen)),
            b'[' => out.push(single(Tok::LBracket)),
            b']' => out.push(single(Tok::RBracket)),
            b'{' => out.push(single(Tok::LBrace)),
            b'}' => out.push(single(Tok::RBrace)),
            b',' => out.push(single(Tok::Comma)),
            b':' => out.push(single(Tok::Colon)),
            b'+' | b'-' | b'*' | b'/' => {
                let op = match c {
                    b'+' => "+",
                    b'-' => "-",
                    b'*' => "*",
                    _ => "/",
                };
                out.push(single(Tok::Op(op)));
            }
            b'=' | b'!' | b'<' | b'>' => {
                let next = bytes.get(i + 1).copied();
                let op = match (c, next) {
                    (b'=', Some(b'=')) => "==",
                    (b'!', Some(b'=')) => "!=",
                    (b'<', Some(b'=')) => "<=",
                    (b'>', Some(b'=')) => ">=",
                    (b'<', _) => "<",
                    (b'>', _) => ">",
                    (b'=', _) => {
                        return Err(err(
                            start,
                            "`=` is not an operator: use `==` to compare".into(),
                        ))
                    }
                    _ => {
                        return Err(err(
                            start,
                            "`!` is not an operator: use `not` or `!=`".into(),
                        ))
                    }
                };
                out.push(single(Tok::Op(op)));
                i += op.len();
                continue;
            }
            b'"' => {
                let (value, end) = string_literal(text, i)?;
                out.push(single(Tok::Str(value)));
                i = end;
                continue;
            }
            b'0' if matches!(bytes.get(i + 1), Some(b'x') | Some(b'X')) => {
                let mut j = i + 2;
                while j < bytes.len() && bytes[j].is_ascii_hexdigit() {
                    j += 1;
                }
                let hex = &text[i + 2..j];
                if !hex.len().is_multiple_of(2) || hex.is_empty() {
                    return Err(err(
                        start,
                        format!(
                            "`{}` is not a byte string: it needs an even number of hex digits",
                            &text[i..j]
                        ),
                    ));
                }
                let decoded = (0..hex.len())
                    .step_by(2)
                    .map(|k| u8::from_str_radix(&hex[k..k + 2], 16))
                    .collect::<Result<Vec<u8>, _>>()
                    .map_err(|_| err(start, "bad hex digit".into()))?;
                out.push(single(Tok::Bytes(decoded)));
                i = j;
                continue;
            }
            b'0'..=b'9' => {
                let mut j = i;
                let mut float = false;
                while j < bytes.len() {
                    match bytes[j] {
                        b'0'..=b'9' => {}
                        b'.' if !float && bytes.get(j + 1).is_some_and(u8::is_ascii_digit) => {
                            float = true
                        }
                        b'e' | b'E' if float => {
                            if matches!(bytes.get(j + 1), Some(b'+') | Some(b'-')) {
                                j += 1;
                            }
                        }
                        _ => break,
                    }
                    j += 1;
                }
                let literal = &text[i..j];
                let tok = if float {
                    Tok::Float(
                        literal
                            .parse()
                            .map_err(|_| err(start, format!("`{literal}` is not a number")))?,
                    )
                } else {
                    Tok::Int(literal.parse().map_err(|_| {
                        err(start, format!("`{literal}` does not fit a 64-bit integer"))
                    })?)
                };
                out.push(single(tok));
                i = j;
                continue;
            }
            c if c == b'_' || c.is_ascii_alphabetic() => {
                let mut j = i;
                while j < bytes.len() && (bytes[j] == b'_' || bytes[j].is_ascii_alphanumeric()) {
                    j += 1;
                }
                out.push(single(Tok::Ident(text[i..j].to_string())));
                i = j;
                continue;
            }
            b'.' => out.push(single(Tok::Dot)),
            _ => {
                let ch = text[i..].chars().next().unwrap_or('?');
                return Err(err(start, format!("unexpected character `{ch}`")));
            }
        }
        i += 1;
    }
    out.push(Token {
        tok: Tok::End,
        offset: text.len(),
    });
    Ok(out)
}

/// A double-quoted string with `\"`, `\\`, `\n`, `\t`, `\r` escapes; returns the value
/// and the offset after the closing quote.
fn string_literal(text: &str, start: usize) -> Result<(String, usize), OttlError> {
    let mut out = String::new();
    let mut chars = text[start + 1..].char_indices();
    while let Some((k, ch)) = chars.next() {
        match ch {
            '"' => return Ok((out, start + 1 + k + 1)),
            '\\' => match chars.next() {
                Some((_, '"')) => out.push('"'),
                Some((_, '\\')) => out.push('\\'),
                Some((_, 'n')) => out.push('\n'),
                Some((_, 't')) => out.push('\t'),
                Some((_, 'r')) => out.push('\r'),
                // Regex escapes such as `\d` pass through for the pattern to read.
                Some((_, other)) => {
                    out.push('\\');
                    out.push(other);
                }
                None => break,
            },
            ch => out.push(ch),
        }
    }
    Err(OttlError::new(
        start,
        text,
        "unterminated string: a `\"` is missing".into(),
    ))
}

//! The tokenizer of the parser ([`super::parse`]): braces, `;`, strings and words, read
//! lazily one token at a time so that the first error in file order is the one reported.
//!
//! Contract: private to `lang`; it knows the lexical rules (whitespace, comments, what a word
//! and a string may contain) and nothing of the grammar.

/// An error before it is given its file, line and column.
pub(super) struct Fail {
    pub(super) pos: usize,
    pub(super) message: String,
}

pub(super) fn fail<T>(pos: usize, message: String) -> Result<T, Fail> {
    Err(Fail { pos, message })
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Tok<'a> {
    Open,
    Close,
    Semi,
    /// The text between the quotes (already checked).
    Str(&'a str),
    Word(&'a str),
    Eof,
}

#[derive(Clone, Copy, Debug)]
pub(super) struct Token<'a> {
    pub(super) tok: Tok<'a>,
    /// Byte offset of its first character (for `Eof`, the length of the file).
    pub(super) pos: usize,
}

/// The longest piece of a word or string quoted in a message.
pub(super) const SHOWN_CHARS: usize = 40;

/// Quotes a piece of the file for a message: control characters escaped, long text cut.
pub(super) fn show(text: &str) -> String {
    let mut out = String::new();
    for (i, c) in text.chars().enumerate() {
        if i == SHOWN_CHARS {
            out.push_str("...");
            break;
        }
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

impl Tok<'_> {
    /// How the token is named in "found ..." messages.
    pub(super) fn describe(&self) -> String {
        match self {
            Tok::Open => "'{'".to_string(),
            Tok::Close => "'}'".to_string(),
            Tok::Semi => "';'".to_string(),
            Tok::Str(s) => format!("the string \"{}\"", show(s)),
            Tok::Word(w) => format!("'{}'", show(w)),
            Tok::Eof => "the end of the file".to_string(),
        }
    }
}

pub(super) struct Lexer<'a> {
    pub(super) src: &'a str,
    pub(super) pos: usize,
    pub(super) peeked: Option<Token<'a>>,
}

pub(super) fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n')
}

pub(super) fn is_word_byte(b: u8) -> bool {
    !is_space(b) && !matches!(b, b'{' | b'}' | b';' | b'"' | b'#')
}

pub(super) fn is_string_byte(b: u8) -> bool {
    matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'_' | b' ')
}

impl<'a> Lexer<'a> {
    pub(super) fn peek(&mut self) -> Result<Token<'a>, Fail> {
        match self.peeked {
            Some(t) => Ok(t),
            None => {
                let t = self.scan()?;
                self.peeked = Some(t);
                Ok(t)
            }
        }
    }

    pub(super) fn next(&mut self) -> Result<Token<'a>, Fail> {
        match self.peeked.take() {
            Some(t) => Ok(t),
            None => self.scan(),
        }
    }

    pub(super) fn scan(&mut self) -> Result<Token<'a>, Fail> {
        let bytes = self.src.as_bytes();
        // Whitespace and comments.
        loop {
            match bytes.get(self.pos) {
                Some(&b) if is_space(b) => self.pos += 1,
                Some(b'#') => {
                    while self.pos < bytes.len() && bytes[self.pos] != b'\n' {
                        self.pos += 1;
                    }
                }
                _ => break,
            }
        }
        let start = self.pos;
        let tok = match bytes.get(start) {
            None => Tok::Eof,
            Some(b'{') => Tok::Open,
            Some(b'}') => Tok::Close,
            Some(b';') => Tok::Semi,
            Some(b'"') => {
                let mut i = start + 1;
                while i < bytes.len() && is_string_byte(bytes[i]) {
                    i += 1;
                }
                match bytes.get(i) {
                    Some(b'"') => {
                        self.pos = i + 1;
                        return Ok(Token {
                            tok: Tok::Str(&self.src[start + 1..i]),
                            pos: start,
                        });
                    }
                    None | Some(b'\n') => {
                        return fail(
                            start,
                            "unterminated string: expected '\"' before the end of the line"
                                .to_string(),
                        )
                    }
                    Some(b'\r') if bytes.get(i + 1) == Some(&b'\n') => {
                        return fail(
                            start,
                            "unterminated string: expected '\"' before the end of the line"
                                .to_string(),
                        )
                    }
                    Some(_) => {
                        // Every byte before `i` is ASCII, so `i` starts a character.
                        let c = self.src[i..].chars().next().unwrap_or('?');
                        return fail(
                            start,
                            format!(
                                "invalid character '{}' in string (strings hold only a-z, 0-9, _ and space)",
                                show(&c.to_string())
                            ),
                        );
                    }
                }
            }
            Some(_) => {
                let mut i = start;
                while i < bytes.len() && is_word_byte(bytes[i]) {
                    i += 1;
                }
                self.pos = i;
                // The word ends at an ASCII byte or the end, so the slice is on char boundaries.
                return Ok(Token {
                    tok: Tok::Word(&self.src[start..i]),
                    pos: start,
                });
            }
        };
        if tok != Tok::Eof {
            self.pos += 1;
        }
        Ok(Token { tok, pos: start })
    }
}

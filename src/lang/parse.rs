//! The parser: turns the bytes of a `.gp` file into a [`Program`], or into the one
//! [`ParseError`] (`FILE:LINE:COL: message`) that `docs/language.md` says the file must
//! be rejected with.
//!
//! It owns every rule of the language's syntax, lexical rules and static limits:
//! - the file must be UTF-8 (checked first: a non-UTF-8 file is reported at its first invalid
//!   byte, whatever else is wrong with it);
//! - tokens are read lazily, so the first error in file order is the one reported, be it
//!   lexical (a bad string), syntactic, or a static limit (nesting, `recurse` sum, counts,
//!   duplicate bodies, a second `main`);
//! - only a file with no such error is then checked for `spawn`s of undefined bodies, reported
//!   at the first one in file order.
//!
//! Positions: LINE and COL are 1-based, COL counts bytes, a line ends at LF (so CRLF is one line
//! end). An error at the end of the file is placed just past its last byte.
//!
//! Depth: the body block of a `def` or `main` is at depth 1, a block of a statement inside it
//! at depth 2, and so on; the `{` that would open depth 101 is rejected before the parser
//! recurses into it, so the recursion is bounded and the parser cannot overflow its stack.

use super::lex::{fail, show, Fail, Lexer, Tok};
use crate::lang::ast::{
    Block, Catch, Def, Error, Program, Ref, Stmt, Value, MAX_COUNT, MAX_FUEL, MAX_NESTING,
    MAX_RECURSION, RESERVED, SLOTS,
};
use std::collections::HashMap;
use std::fmt;

/// Why a file was rejected, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    /// The file name as given to [`parse`].
    pub file: String,
    /// 1-based line.
    pub line: usize,
    /// 1-based column, in bytes.
    pub col: usize,
    /// What is wrong, for a person.
    pub message: String,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}: {}",
            self.file, self.line, self.col, self.message
        )
    }
}

impl std::error::Error for ParseError {}

/// Parses a whole program file. `file_name` is only used in the error.
pub fn parse(file_name: &str, source: &[u8]) -> Result<Program, ParseError> {
    let error = |offset: usize, message: String| {
        let (line, col) = line_col(source, offset);
        ParseError {
            file: file_name.to_string(),
            line,
            col,
            message,
        }
    };
    let text = match std::str::from_utf8(source) {
        Ok(text) => text,
        Err(e) => {
            let at = e.valid_up_to();
            return Err(error(
                at,
                format!("the file is not valid UTF-8 (byte 0x{:02x})", source[at]),
            ));
        }
    };
    let mut parser = Parser {
        lexer: Lexer {
            src: text,
            pos: 0,
            peeked: None,
        },
        spawns: Vec::new(),
        recursion: 0,
    };
    let program = parser.program().map_err(|e| error(e.pos, e.message))?;
    for &(name, pos) in &parser.spawns {
        if program.def(name).is_none() {
            return Err(error(pos, format!("spawn names undefined body '{name}'")));
        }
    }
    Ok(program)
}

/// The 1-based line and byte column of `offset` in `source`.
fn line_col(source: &[u8], offset: usize) -> (usize, usize) {
    let before = &source[..offset.min(source.len())];
    let line = 1 + before.iter().filter(|&&b| b == b'\n').count();
    let line_start = before
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(0, |i| i + 1);
    (line, before.len() - line_start + 1)
}

struct Parser<'a> {
    lexer: Lexer<'a>,
    /// Every `spawn`'s body name and its position, in file order.
    spawns: Vec<(&'a str, usize)>,
    /// The sum of the counts of the `recurse` statements around the current point.
    recursion: u32,
}

/// `g0` .. `g15` (no leading zeros).
fn slot(word: &str) -> Option<u8> {
    let digits = word.strip_prefix('g')?;
    if digits.is_empty()
        || digits.len() > 2
        || !digits.bytes().all(|b| b.is_ascii_digit())
        || (digits.len() > 1 && digits.starts_with('0'))
    {
        return None;
    }
    let k: u8 = digits.parse().ok()?;
    (k < SLOTS).then_some(k)
}

/// `g` followed by one or more digits: a slot-like word, never a name.
fn slot_like(word: &str) -> bool {
    word.strip_prefix('g')
        .is_some_and(|d| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit()))
}

/// `[a-z_][a-z0-9_]*`.
fn name_shaped(word: &str) -> bool {
    let mut bytes = word.bytes();
    matches!(bytes.next(), Some(b'a'..=b'z' | b'_'))
        && bytes.all(|b| matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'_'))
}

/// Whether `word` is a valid body NAME.
pub fn is_name(word: &str) -> bool {
    name_shaped(word) && !slot_like(word) && !RESERVED.contains(&word)
}

fn digits_only(word: &str) -> bool {
    !word.is_empty() && word.bytes().all(|b| b.is_ascii_digit())
}

/// Parses `[0-9]+` up to `max`; `Err(())` when it is larger.
fn bounded(word: &str, max: u64) -> Result<u64, ()> {
    let significant = word.trim_start_matches('0');
    if significant.len() > 19 {
        return Err(());
    }
    let n: u64 = if significant.is_empty() {
        0
    } else {
        significant.parse().map_err(|_| ())?
    };
    if n > max {
        Err(())
    } else {
        Ok(n)
    }
}

impl<'a> Parser<'a> {
    fn position(&self, pos: usize) -> String {
        let (line, col) = line_col(self.lexer.src.as_bytes(), pos);
        format!("{line}:{col}")
    }

    fn program(&mut self) -> Result<Program, Fail> {
        let mut fuel = None;
        let mut first = true;
        let mut defs: Vec<Def> = Vec::new();
        let mut def_at: HashMap<&'a str, usize> = HashMap::new();
        let mut main: Option<(Block, usize)> = None;
        let mut main_position = 0;
        loop {
            let t = self.lexer.next()?;
            match t.tok {
                Tok::Eof => break,
                Tok::Word("fuel") => {
                    if !first {
                        return fail(
                            t.pos,
                            "'fuel' may appear only once, at the start of the file".to_string(),
                        );
                    }
                    fuel = Some(self.fuel()?);
                }
                Tok::Word("def") => {
                    let (name, pos) = self.name("after 'def'")?;
                    if let Some(&first_at) = def_at.get(name) {
                        return fail(
                            pos,
                            format!(
                                "second definition of body '{name}' (the first is at {})",
                                self.position(first_at)
                            ),
                        );
                    }
                    def_at.insert(name, pos);
                    let body = self.block(1)?;
                    defs.push(Def {
                        name: name.to_string(),
                        body,
                    });
                }
                Tok::Word("main") => {
                    if let Some((_, first_at)) = main {
                        return fail(
                            t.pos,
                            format!("second main (the first is at {})", self.position(first_at)),
                        );
                    }
                    main_position = defs.len();
                    let body = self.block(1)?;
                    main = Some((body, t.pos));
                }
                Tok::Close => return fail(t.pos, "unexpected '}'".to_string()),
                other => {
                    return fail(
                        t.pos,
                        format!("expected 'def' or 'main', found {}", other.describe()),
                    )
                }
            }
            first = false;
        }
        match main {
            Some((main, _)) => Ok(Program {
                fuel,
                defs,
                main,
                main_position,
            }),
            None => fail(self.lexer.src.len(), "no main".to_string()),
        }
    }

    /// `{ ... }` at `depth` (1 for a body).
    fn block(&mut self, depth: usize) -> Result<Block, Fail> {
        let open = self.lexer.next()?;
        if open.tok != Tok::Open {
            return fail(
                open.pos,
                format!("expected '{{', found {}", open.tok.describe()),
            );
        }
        if depth > MAX_NESTING {
            return fail(
                open.pos,
                format!("blocks nest more than {MAX_NESTING} deep"),
            );
        }
        let mut block = Vec::new();
        loop {
            let t = self.lexer.next()?;
            match t.tok {
                Tok::Semi => {}
                Tok::Close => return Ok(block),
                Tok::Word(word) => block.push(self.statement(word, t.pos, depth)?),
                Tok::Eof => {
                    return fail(
                        t.pos,
                        format!(
                            "unterminated block: expected '}}' (the block opened at {})",
                            self.position(open.pos)
                        ),
                    )
                }
                other => {
                    return fail(
                        t.pos,
                        format!("expected a statement, found {}", other.describe()),
                    )
                }
            }
        }
    }

    /// The statement that starts with `word`, inside a block at `depth`.
    fn statement(&mut self, word: &'a str, pos: usize, depth: usize) -> Result<Stmt, Fail> {
        Ok(match word {
            "spawn" => {
                let slot = self.slot()?;
                let (body, at) = self.name("after the slot of 'spawn'")?;
                self.spawns.push((body, at));
                let parent = if self.lexer.peek()?.tok == Tok::Word("parent") {
                    self.lexer.next()?;
                    Some(self.reference()?)
                } else {
                    None
                };
                Stmt::Spawn {
                    slot,
                    body: body.to_string(),
                    parent,
                }
            }
            "switch" => {
                let target = self.reference()?;
                Stmt::Switch(target, self.value()?)
            }
            "throw" => {
                let target = self.reference()?;
                Stmt::Throw(target, self.error()?)
            }
            "return" => Stmt::Return(self.value()?),
            "raise" => Stmt::Raise(self.error()?),
            "try" => {
                let body = self.block(depth + 1)?;
                let t = self.lexer.next()?;
                if t.tok != Tok::Word("catch") {
                    return fail(
                        t.pos,
                        format!(
                            "expected 'catch' after the block of 'try', found {}",
                            t.tok.describe()
                        ),
                    );
                }
                let t = self.lexer.next()?;
                let catch = match t.tok {
                    Tok::Word("any") => Catch::Any,
                    Tok::Word(w) if Error::from_name(w).is_some() => {
                        Catch::Error(Error::from_name(w).unwrap_or(Error::Exit))
                    }
                    other => {
                        return fail(
                            t.pos,
                            format!(
                                "expected an error (E0..E9, exit, badparent, unbound, limit) or 'any' after 'catch', found {}",
                                other.describe()
                            ),
                        )
                    }
                };
                let handler = self.block(depth + 1)?;
                Stmt::Try {
                    body,
                    catch,
                    handler,
                }
            }
            "repeat" => {
                let (count, _) = self.count()?;
                Stmt::Repeat(count, self.block(depth + 1)?)
            }
            "recurse" => {
                let (count, at) = self.count()?;
                let total = self.recursion + count;
                if total > MAX_RECURSION {
                    return fail(
                        at,
                        format!(
                            "the recurse counts around this statement add up to {total} (at most {MAX_RECURSION})"
                        ),
                    );
                }
                self.recursion = total;
                let block = self.block(depth + 1);
                self.recursion -= count;
                Stmt::Recurse(count, block?)
            }
            "reparent" => {
                let child = self.reference()?;
                Stmt::Reparent(child, self.reference()?)
            }
            "observe" => Stmt::Observe(self.reference()?),
            "drop" => Stmt::Drop(self.slot()?),
            _ => return fail(pos, format!("unknown statement '{}'", show(word))),
        })
    }

    fn fuel(&mut self) -> Result<u64, Fail> {
        let t = self.lexer.next()?;
        match t.tok {
            Tok::Word(w) if digits_only(w) => bounded(w, MAX_FUEL).or_else(|()| {
                fail(
                    t.pos,
                    format!("fuel {} is out of range (0..={MAX_FUEL})", show(w)),
                )
            }),
            other => fail(
                t.pos,
                format!(
                    "expected an amount of fuel (0..={MAX_FUEL}), found {}",
                    other.describe()
                ),
            ),
        }
    }

    /// A COUNT and its position.
    fn count(&mut self) -> Result<(u32, usize), Fail> {
        let t = self.lexer.next()?;
        match t.tok {
            Tok::Word(w) if digits_only(w) => match bounded(w, MAX_COUNT.into()) {
                Ok(n) => Ok((n as u32, t.pos)),
                Err(()) => fail(
                    t.pos,
                    format!("count {} is out of range (0..={MAX_COUNT})", show(w)),
                ),
            },
            other => fail(
                t.pos,
                format!(
                    "expected a count (0..={MAX_COUNT}), found {}",
                    other.describe()
                ),
            ),
        }
    }

    fn slot(&mut self) -> Result<u8, Fail> {
        let t = self.lexer.next()?;
        match t.tok {
            Tok::Word(w) if slot(w).is_some() => Ok(slot(w).unwrap_or(0)),
            other => fail(
                t.pos,
                format!("expected a slot g0..g15, found {}", other.describe()),
            ),
        }
    }

    /// A body NAME and its position.
    fn name(&mut self, context: &str) -> Result<(&'a str, usize), Fail> {
        let t = self.lexer.next()?;
        match t.tok {
            Tok::Word(w) if is_name(w) => Ok((w, t.pos)),
            Tok::Word(w) if name_shaped(w) && slot_like(w) => fail(
                t.pos,
                format!("expected a body name {context}, found '{w}', which is a slot"),
            ),
            Tok::Word(w) if RESERVED.contains(&w) => fail(
                t.pos,
                format!("expected a body name {context}, found '{w}', which is a reserved word"),
            ),
            other => fail(
                t.pos,
                format!("expected a body name {context}, found {}", other.describe()),
            ),
        }
    }

    fn reference(&mut self) -> Result<Ref, Fail> {
        let t = self.lexer.next()?;
        match t.tok {
            Tok::Word("main") => Ok(Ref::Main),
            Tok::Word("current") => Ok(Ref::Current),
            Tok::Word("parent") => Ok(Ref::Parent),
            Tok::Word(w) if slot(w).is_some() => Ok(Ref::Slot(slot(w).unwrap_or(0))),
            Tok::Word(w) if slot_like(w) => fail(
                t.pos,
                format!("expected a slot g0..g15, found '{}'", show(w)),
            ),
            other => fail(
                t.pos,
                format!(
                    "expected a greenlet (g0..g15, main, current or parent), found {}",
                    other.describe()
                ),
            ),
        }
    }

    fn value(&mut self) -> Result<Value, Fail> {
        let t = self.lexer.next()?;
        match t.tok {
            Tok::Word("none") => Ok(Value::None),
            Tok::Str(s) => Ok(Value::Str(s.to_string())),
            Tok::Word(w) if digits_only(w.strip_prefix('-').unwrap_or(w)) => {
                // `i64::from_str` takes `-` and digits (and leading zeros) exactly as INT does.
                w.parse::<i64>().map(Value::Int).or_else(|_| {
                    fail(
                        t.pos,
                        format!("integer {} is out of range for i64", show(w)),
                    )
                })
            }
            other => fail(
                t.pos,
                format!(
                    "expected a value (none, an integer or a string), found {}",
                    other.describe()
                ),
            ),
        }
    }

    fn error(&mut self) -> Result<Error, Fail> {
        let t = self.lexer.next()?;
        match t.tok {
            Tok::Word(w) if Error::from_name(w).is_some() => {
                Ok(Error::from_name(w).unwrap_or(Error::Exit))
            }
            other => fail(
                t.pos,
                format!(
                    "expected an error (E0..E9, exit, badparent, unbound or limit), found {}",
                    other.describe()
                ),
            ),
        }
    }
}

//! The program model: the abstract syntax of the greenlet language
//! (`docs/language.md`), shared by the parser, the printer, the generators, the
//! interpreter and the minimizer.

use std::fmt;

/// The fuel a program has when it does not say.
pub const DEFAULT_FUEL: u64 = 10_000;
/// The largest `fuel` a program may ask for.
pub const MAX_FUEL: u64 = 1_000_000;
/// The largest COUNT of `repeat` and `recurse`.
pub const MAX_COUNT: u32 = 1000;
/// Slots are `g0` .. `g15`.
pub const SLOTS: u8 = 16;
/// Blocks nest at most this deep.
pub const MAX_NESTING: usize = 100;
/// The `recurse` counts around any statement add up to at most this.
pub const MAX_RECURSION: u32 = 4096;
/// More spawns than this in one program raise `limit`.
pub const MAX_SPAWNS: usize = 64;

/// A whole program.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Program {
    /// `fuel N`; `None` means the default.
    pub fuel: Option<u64>,
    /// The bodies greenlets can run, in file order.
    pub defs: Vec<Def>,
    /// The main greenlet's body.
    pub main: Block,
    /// Where `main` stands among the defs (how many defs come before it), kept so that printing
    /// gives back the same file order.
    pub main_position: usize,
}

impl Program {
    /// The fuel the program runs with.
    pub fn fuel(&self) -> u64 {
        self.fuel.unwrap_or(DEFAULT_FUEL)
    }

    /// The body named `name`.
    pub fn def(&self, name: &str) -> Option<&Def> {
        self.defs.iter().find(|d| d.name == name)
    }

    /// Index of the body named `name` in `defs`.
    pub fn def_index(&self, name: &str) -> Option<usize> {
        self.defs.iter().position(|d| d.name == name)
    }

    /// The top-level blocks: main's, then each def's body.
    pub fn blocks(&self) -> impl Iterator<Item = &Block> {
        std::iter::once(&self.main).chain(self.defs.iter().map(|d| &d.body))
    }

    /// Calls `f` on every statement of the program, at any depth: main's, then the defs'.
    pub fn each_stmt_mut(&mut self, mut f: impl FnMut(&mut Stmt)) {
        each_stmt_mut(&mut self.main, &mut f);
        for d in &mut self.defs {
            each_stmt_mut(&mut d.body, &mut f);
        }
    }
}

impl Stmt {
    /// The blocks directly inside this statement, in file order (`try`: its body, then its
    /// handler; `repeat` and `recurse`: their block; every other statement: none). Code that
    /// walks nested blocks goes through this (or [`Stmt::children_mut`]).
    pub fn children(&self) -> impl Iterator<Item = &Block> {
        let (first, second) = match self {
            Stmt::Try { body, handler, .. } => (Some(body), Some(handler)),
            Stmt::Repeat(_, b) | Stmt::Recurse(_, b) => (Some(b), None),
            _ => (None, None),
        };
        first.into_iter().chain(second)
    }

    /// [`Stmt::children`], mutable.
    pub fn children_mut(&mut self) -> impl Iterator<Item = &mut Block> {
        let (first, second) = match self {
            Stmt::Try { body, handler, .. } => (Some(body), Some(handler)),
            Stmt::Repeat(_, b) | Stmt::Recurse(_, b) => (Some(b), None),
            _ => (None, None),
        };
        first.into_iter().chain(second)
    }

    /// Every slot this statement itself names (not those in its child blocks): the slot a
    /// `spawn` fills and every reference that is a slot.
    pub fn slots_mut(&mut self) -> Vec<&mut u8> {
        let refs: Vec<&mut Ref> = match self {
            Stmt::Spawn { slot, parent, .. } => {
                let mut slots = vec![slot];
                if let Some(Ref::Slot(k)) = parent {
                    slots.push(k);
                }
                return slots;
            }
            Stmt::Switch(r, _) | Stmt::Throw(r, _) | Stmt::Observe(r) => vec![r],
            Stmt::Reparent(a, b) => vec![a, b],
            Stmt::Drop(k) => return vec![k],
            _ => Vec::new(),
        };
        refs.into_iter()
            .filter_map(|r| match r {
                Ref::Slot(k) => Some(k),
                _ => None,
            })
            .collect()
    }
}

/// Calls `f` on every statement of `block`, at any depth, each before the statements inside it.
pub fn each_stmt_mut(block: &mut Block, f: &mut impl FnMut(&mut Stmt)) {
    for s in block {
        f(s);
        for b in s.children_mut() {
            each_stmt_mut(b, f);
        }
    }
}

/// `def NAME { ... }`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Def {
    pub name: String,
    pub body: Block,
}

/// A `{ ... }` block. Empty statements (`;`) are not kept.
pub type Block = Vec<Stmt>;

/// One statement.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Stmt {
    /// `spawn gK NAME [parent REF]`.
    Spawn {
        slot: u8,
        body: String,
        parent: Option<Ref>,
    },
    /// `switch REF VALUE`.
    Switch(Ref, Value),
    /// `throw REF ERROR`.
    Throw(Ref, Error),
    /// `return VALUE`.
    Return(Value),
    /// `raise ERROR`.
    Raise(Error),
    /// `try { body } catch (ERROR | any) { handler }`.
    Try {
        body: Block,
        catch: Catch,
        handler: Block,
    },
    /// `repeat COUNT { ... }`.
    Repeat(u32, Block),
    /// `recurse COUNT { ... }`.
    Recurse(u32, Block),
    /// `reparent REF REF`: first.parent = second.
    Reparent(Ref, Ref),
    /// `observe REF`.
    Observe(Ref),
    /// `drop gK`: empties the slot, releasing its reference to the greenlet it held.
    Drop(u8),
}

/// What a `catch` catches.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Catch {
    /// One error.
    Error(Error),
    /// `any`: every error but `fuel`.
    Any,
}

/// A reference to a greenlet.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Ref {
    /// `g0` .. `g15`.
    Slot(u8),
    Main,
    Current,
    /// The current greenlet's parent.
    Parent,
}

/// A value written in a program (`exit` and "no value" only arise at run time).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Value {
    None,
    Int(i64),
    /// The text between the quotes: only `a-z`, `0-9`, `_` and space.
    Str(String),
}

/// An error a program can name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Error {
    /// `E0` .. `E9`.
    E(u8),
    /// greenlet.GreenletExit.
    Exit,
    BadParent,
    Unbound,
    Limit,
}

impl Error {
    /// Every error a program can name, in a fixed order.
    pub const ALL: [Error; 14] = [
        Error::E(0),
        Error::E(1),
        Error::E(2),
        Error::E(3),
        Error::E(4),
        Error::E(5),
        Error::E(6),
        Error::E(7),
        Error::E(8),
        Error::E(9),
        Error::Exit,
        Error::BadParent,
        Error::Unbound,
        Error::Limit,
    ];

    /// The error's word.
    pub fn name(self) -> &'static str {
        match self {
            Error::E(n) => ["E0", "E1", "E2", "E3", "E4", "E5", "E6", "E7", "E8", "E9"][n as usize],
            Error::Exit => "exit",
            Error::BadParent => "badparent",
            Error::Unbound => "unbound",
            Error::Limit => "limit",
        }
    }

    /// The error named by `word`, if any.
    pub fn from_name(word: &str) -> Option<Error> {
        Error::ALL.into_iter().find(|e| e.name() == word)
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::None => f.write_str("none"),
            Value::Int(i) => write!(f, "{i}"),
            Value::Str(s) => write!(f, "\"{s}\""),
        }
    }
}

impl fmt::Display for Ref {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Ref::Slot(k) => write!(f, "g{k}"),
            Ref::Main => f.write_str("main"),
            Ref::Current => f.write_str("current"),
            Ref::Parent => f.write_str("parent"),
        }
    }
}

impl fmt::Display for Catch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Catch::Error(e) => e.fmt(f),
            Catch::Any => f.write_str("any"),
        }
    }
}

/// Words that cannot be body names.
pub const RESERVED: &[&str] = &[
    "def",
    "main",
    "spawn",
    "switch",
    "throw",
    "return",
    "raise",
    "try",
    "catch",
    "repeat",
    "recurse",
    "reparent",
    "observe",
    "drop",
    "parent",
    "current",
    "none",
    "any",
    "fuel",
    "E0",
    "E1",
    "E2",
    "E3",
    "E4",
    "E5",
    "E6",
    "E7",
    "E8",
    "E9",
    "exit",
    "badparent",
    "unbound",
    "limit",
];

/// Counts statements (at any depth), as the minimizer and the generators measure size.
pub fn count_statements(block: &[Stmt]) -> usize {
    block
        .iter()
        .map(|s| 1 + s.children().map(|b| count_statements(b)).sum::<usize>())
        .sum()
}

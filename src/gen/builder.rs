//! The program builder shared by switchyard's two random program generators: the seeded one
//! ([`super::seeded`], choices from a ChaCha8 RNG) and the fuzzer's ([`super::bytes`],
//! choices from libFuzzer's bytes through `arbitrary`). Only the source of choices differs
//! ([`Choices`]); what a program looks like is decided here, once.
//!
//! Every program obeys every static rule of `docs/language.md` (slots g0..g15,
//! counts ≤ 1000, blocks nested ≤ 100 deep, `recurse` counts around any statement ≤ 4096,
//! spawns name defined bodies, valid unique names, fuel ≤ 1000000) and stays within the
//! [`GenConfig`] bounds. Programs are tuned to really switch: main spawns first, references
//! lean on the slots main has filled, bodies switch to `parent` and `main`, throws reach
//! greenlets in every state, greenlets get reparented, slots get dropped (killing suspended
//! greenlets whose last reference that was), switches sometimes sit under deep `recurse`
//! chains, and fuel is sometimes small. The lowest choice of every roll (what an
//! exhausted fuzz input gives) is a switch into `g0`, so even short inputs switch.

use super::{Choices, GenConfig};
use crate::lang::ast::{
    Block, Catch, Def, Error, Program, Ref, Stmt, Value, MAX_COUNT, MAX_FUEL, MAX_NESTING,
    MAX_RECURSION, SLOTS,
};

/// Name stems of bodies: each body gets a stem and its index, so names are always unique
/// (the stems differ and the index is one digit) and valid, some of them close to reserved
/// words and slots.
pub(crate) const STEMS: [&str; 8] = ["f", "body_", "_", "gx", "mainx", "e", "exit_", "anyx"];

const STRINGS: [&str; 6] = ["", "a", "done", "x y", "hello_1", "z9 _"];

/// A valid program, every choice taken from `choices`, shaped by `config`.
pub fn build<C: Choices>(choices: &mut C, config: &GenConfig) -> Program {
    let mut g = Builder {
        c: choices,
        config,
        names: Vec::new(),
        statements: 0,
        slots_used: 1,
        filled: 0,
        deep: false,
    };
    let n_defs = g.int(1, config.max_defs.max(1) as u32) as usize;
    g.names = (0..n_defs)
        .map(|i| {
            let stem = if g.percent() < 70 {
                STEMS[0]
            } else {
                STEMS[g.int(0, STEMS.len() as u32 - 1) as usize]
            };
            format!("{stem}{i}")
        })
        .collect();
    g.slots_used = match g.percent() {
        0..=59 => g.int(3, 6) as u8,
        60..=89 => g.int(1, 10) as u8,
        _ => g.int(1, SLOTS as u32) as u8,
    };
    g.deep = g.percent() < config.deep_percent;
    let fuel = match g.percent() {
        0..=79 => None,
        80..=89 => Some(g.int(1, 150) as u64),
        90..=96 => Some(g.int(150, 3_000) as u64),
        97 => Some(g.int(0, 4) as u64),
        _ => Some(u64::from(g.int(0, MAX_FUEL as u32))),
    };
    let main = g.main_block();
    let mut defs = Vec::with_capacity(n_defs);
    for i in 0..n_defs {
        let body = g.block(1, 0, Role::Body, false);
        defs.push(Def {
            name: g.names[i].clone(),
            body,
        });
    }
    let main_position = g.int(0, defs.len() as u32) as usize;
    Program {
        fuel,
        defs,
        main,
        main_position,
    }
}

/// Whose code a statement is in: main drives the greenlets it spawned; bodies switch back to
/// their parents and main, return and raise.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Role {
    Main,
    Body,
}

struct Builder<'c, C: Choices> {
    c: &'c mut C,
    config: &'c GenConfig,
    names: Vec<String>,
    /// Statements built so far, at any depth.
    statements: usize,
    /// Slots this program uses (g0 .. g{slots_used-1}).
    slots_used: u8,
    /// Slots main's opening spawns filled (g0 .. g{filled-1}).
    filled: u8,
    /// Whether `recurse` counts may run into the hundreds.
    deep: bool,
}

impl<C: Choices> Builder<'_, C> {
    /// An integer in `lo..=hi` (`lo` once the input is exhausted).
    fn int(&mut self, lo: u32, hi: u32) -> u32 {
        self.c.int(lo, hi.max(lo))
    }

    fn percent(&mut self) -> u32 {
        self.int(0, 99)
    }

    fn room(&self) -> usize {
        self.config.max_statements.saturating_sub(self.statements)
    }

    /// Main: spawn first, then drive the spawned greenlets.
    fn main_block(&mut self) -> Block {
        let mut block = Vec::new();
        let spawns = self.int(1, u32::from(self.slots_used.min(6)));
        for _ in 0..spawns {
            block.push(self.spawn_next());
        }
        let len = self.int(1, self.config.max_block + 8);
        for _ in 0..len {
            if self.room() == 0 {
                break;
            }
            let stmt = self.stmt(1, 0, Role::Main, false);
            let switched = match stmt {
                Stmt::Switch(Ref::Slot(k), _) => Some(k),
                _ => None,
            };
            let guard = matches!(
                stmt,
                Stmt::Switch(..) | Stmt::Throw(..) | Stmt::Reparent(..)
            ) && self.room() > 0
                && self.percent() >= 55;
            if guard {
                self.statements += 1;
                let handler = if self.room() > 0 && self.percent() < 50 {
                    self.statements += 1;
                    vec![Stmt::Observe(Ref::Slot(self.live_slot()))]
                } else {
                    Vec::new()
                };
                block.push(Stmt::Try {
                    body: vec![stmt],
                    catch: Catch::Any,
                    handler,
                });
            } else {
                block.push(stmt);
            }
            // A greenlet main has just switched to is often suspended now: dropping its slot
            // then is the likeliest way to reach a kill on a last reference.
            if let Some(k) = switched {
                if self.room() > 0 && self.percent() < 35 {
                    self.statements += 1;
                    block.push(Stmt::Drop(k));
                }
            }
        }
        block
    }

    /// A block at nesting `depth` (a body's own block is depth 1) under `recursion` frames.
    fn block(&mut self, depth: usize, recursion: u32, role: Role, in_try: bool) -> Block {
        let mut block = Vec::new();
        if depth > self.config.max_depth + 1 {
            return block;
        }
        let len = if depth == 1 {
            self.int(1, self.config.max_block + 2)
        } else {
            self.int(1, 4)
        };
        for _ in 0..len {
            if self.room() == 0 {
                break;
            }
            block.push(self.stmt(depth, recursion, role, in_try));
        }
        block
    }

    /// A slot main filled (mostly), or any slot in use.
    fn live_slot(&mut self) -> u8 {
        if self.filled > 0 && self.percent() < 94 {
            self.int(0, u32::from(self.filled) - 1) as u8
        } else {
            self.int(0, u32::from(self.slots_used) - 1) as u8
        }
    }

    fn target(&mut self, role: Role) -> Ref {
        let roll = self.percent();
        match role {
            Role::Main => match roll {
                0..=87 => Ref::Slot(self.live_slot()),
                88..=93 => Ref::Current,
                _ => Ref::Main,
            },
            Role::Body => match roll {
                0..=44 => Ref::Slot(self.live_slot()),
                45..=71 => Ref::Parent,
                72..=91 => Ref::Main,
                _ => Ref::Current,
            },
        }
    }

    fn value(&mut self) -> Value {
        match self.int(0, 9) {
            0..=1 => Value::None,
            2..=6 => Value::Int(i64::from(self.int(0, 104)) - 5),
            7 => Value::Int(self.c.any_i64()),
            8 => Value::Str(STRINGS[self.int(0, STRINGS.len() as u32 - 1) as usize].to_string()),
            _ => {
                let len = self.int(0, 12);
                let text = (0..len)
                    .map(|_| {
                        b"abcdefghijklmnopqrstuvwxyz0123456789_ "[self.int(0, 37) as usize] as char
                    })
                    .collect();
                Value::Str(text)
            }
        }
    }

    fn error(&mut self) -> Error {
        match self.percent() {
            0..=54 => Error::E(self.int(0, 2) as u8),
            55..=62 => Error::E(self.int(3, 9) as u8),
            63..=87 => Error::Exit,
            88..=92 => Error::BadParent,
            93..=96 => Error::Unbound,
            _ => Error::Limit,
        }
    }

    fn catch(&mut self) -> Catch {
        if self.percent() < 35 {
            Catch::Any
        } else {
            Catch::Error(self.error())
        }
    }

    fn body_name(&mut self) -> String {
        let i = self.int(0, self.names.len() as u32 - 1) as usize;
        self.names[i].clone()
    }

    /// `spawn` into the next slot main has not filled yet.
    fn spawn_next(&mut self) -> Stmt {
        self.statements += 1;
        let slot = self.filled % self.slots_used;
        let parent = if self.filled > 0 && self.percent() >= 75 {
            Some(Ref::Slot(self.int(0, u32::from(self.filled) - 1) as u8))
        } else {
            None
        };
        self.filled = (self.filled + 1).min(self.slots_used);
        Stmt::Spawn {
            slot,
            body: self.body_name(),
            parent,
        }
    }

    fn spawn(&mut self, role: Role) -> Stmt {
        if role == Role::Main && self.filled < self.slots_used && self.percent() < 70 {
            return self.spawn_next();
        }
        self.statements += 1;
        let slot = self.int(0, u32::from(self.slots_used) - 1) as u8;
        let parent = match self.percent() {
            0..=76 => None,
            77..=86 => Some(Ref::Slot(self.live_slot())),
            87..=94 => Some(Ref::Main),
            _ => Some(Ref::Parent),
        };
        Stmt::Spawn {
            slot,
            body: self.body_name(),
            parent,
        }
    }

    /// A `recurse` count that fits under `recursion`.
    fn recurse_count(&mut self, recursion: u32) -> u32 {
        let room = MAX_RECURSION - recursion;
        if self.deep && self.percent() < 40 {
            self.int(50.min(room), MAX_COUNT.min(room))
        } else {
            self.int(0, 20.min(room))
        }
    }

    fn stmt(&mut self, depth: usize, recursion: u32, role: Role, in_try: bool) -> Stmt {
        let nest = depth <= self.config.max_depth && self.room() >= 2;
        // Main raises and returns rarely outside a `try`, so that its programs run on.
        let bold = role == Role::Body || in_try || depth > 1;
        let roll = self.percent();
        let stmt = match roll {
            0..=35 => Stmt::Switch(self.target(role), self.value()),
            36..=42 => Stmt::Throw(self.target(role), self.error()),
            43..=48 => return self.spawn(role),
            49..=52 if role == Role::Body => Stmt::Return(self.value()),
            53..=56 if bold => Stmt::Raise(self.error()),
            57..=66 if nest => {
                self.statements += 1;
                let body = self.block(depth + 1, recursion, role, true);
                let catch = self.catch();
                let handler = self.block(depth + 1, recursion, role, in_try);
                return Stmt::Try {
                    body,
                    catch,
                    handler,
                };
            }
            67..=72 if nest => {
                self.statements += 1;
                // Long loops mostly switch to greenlets that died in an early round, so
                // they are rare: the counts' full range, for coverage, but seldom.
                let n = match self.percent() {
                    0..=96 => self.int(0, 6),
                    97..=98 => self.int(7, 60),
                    _ => self.int(61, MAX_COUNT),
                };
                return Stmt::Repeat(n, self.block(depth + 1, recursion, role, in_try));
            }
            73..=80 if nest => {
                self.statements += 1;
                let n = self.recurse_count(recursion);
                return Stmt::Recurse(n, self.block(depth + 1, recursion + n, role, in_try));
            }
            81..=82 if nest && self.room() >= 4 => {
                return self.chain(depth, recursion, role);
            }
            83..=88 => {
                let child = match self.percent() {
                    0..=84 => Ref::Slot(self.live_slot()),
                    _ => self.target(role),
                };
                let parent = match self.percent() {
                    0..=54 => Ref::Slot(self.live_slot()),
                    55..=79 => Ref::Main,
                    _ => self.target(role),
                };
                Stmt::Reparent(child, parent)
            }
            89..=95 => Stmt::Observe(self.target(role)),
            // Releases a slot: when that was the last reference to a suspended greenlet, it
            // is killed (`#I kill #J`); in a body, often the body's own slot.
            96..=99 => Stmt::Drop(self.live_slot()),
            _ => Stmt::Switch(self.target(role), self.value()),
        };
        self.statements += 1;
        stmt
    }

    /// A chain of nested `recurse`/`try`/`repeat` blocks, up to the static nesting limit,
    /// around a few switches: switching with many native frames (and many blocks) live.
    fn chain(&mut self, depth: usize, recursion: u32, role: Role) -> Stmt {
        // The statement sits in a block at `depth`; its innermost block is at depth + links.
        let most = (MAX_NESTING - depth).min(self.room().saturating_sub(2));
        let links = self.int(1, most as u32) as usize;
        let mut kinds = Vec::with_capacity(links);
        let mut total = recursion;
        // Each link is one statement (a handler link two); one is left for a leaf.
        let mut budget = self.room() - 1;
        for _ in 0..links {
            if budget < 2 {
                break;
            }
            let kind = match self.percent() {
                0..=59 => {
                    let room = MAX_RECURSION - total;
                    let n = if self.deep {
                        self.int(0, 200.min(room))
                    } else {
                        self.int(0, 30.min(room))
                    };
                    total += n;
                    Link::Recurse(n)
                }
                60..=79 => Link::Try(self.catch()),
                80..=89 => Link::Repeat(self.int(1, 2)),
                _ => Link::Handler(self.catch()),
            };
            let cost = if matches!(kind, Link::Handler(_)) {
                2
            } else {
                1
            };
            budget -= cost;
            self.statements += cost;
            kinds.push(kind);
        }
        let leaves = self.int(1, 3.min(self.room() as u32).max(1));
        let mut inner: Block = Vec::new();
        for _ in 0..leaves {
            if self.room() == 0 {
                break;
            }
            self.statements += 1;
            inner.push(match self.percent() {
                0..=69 => Stmt::Switch(self.target(role), self.value()),
                70..=84 => Stmt::Throw(self.target(role), self.error()),
                _ => Stmt::Observe(self.target(role)),
            });
        }
        let mut block = inner;
        let mut stmt = None;
        for kind in kinds.into_iter().rev() {
            let body = match stmt.take() {
                Some(s) => vec![s],
                None => std::mem::take(&mut block),
            };
            stmt = Some(match kind {
                Link::Recurse(n) => Stmt::Recurse(n, body),
                Link::Repeat(n) => Stmt::Repeat(n, body),
                Link::Try(catch) => Stmt::Try {
                    body,
                    catch,
                    handler: Vec::new(),
                },
                Link::Handler(catch) => Stmt::Try {
                    body: vec![Stmt::Raise(Error::E(0))],
                    catch,
                    handler: body,
                },
            });
        }
        stmt.unwrap_or(Stmt::Observe(Ref::Main))
    }
}

/// One level of a [`Builder::chain`].
enum Link {
    Recurse(u32),
    Repeat(u32),
    Try(Catch),
    /// The chain goes on in the handler of a `try` whose body raises E0.
    Handler(Catch),
}

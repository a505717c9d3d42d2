//! The seeded random program generator: valid programs, bounded in size, tuned so that they
//! really switch (most switches reach a live greenlet, recursion around switches, many live
//! greenlets, throws into every state, errors crossing parent chains, reparenting, fuel
//! exhaustion, teardown). Program `i` of seed `s` is always the same program.

use crate::ast::{
    Block, Catch, Def, Error, Program, Ref, Stmt, Value, MAX_COUNT, MAX_NESTING, MAX_RECURSION,
};
use rand::{Rng, RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Knobs of the generator.
#[derive(Clone, Debug)]
pub struct GenConfig {
    /// Most bodies (`def`s) in a program.
    pub max_defs: usize,
    /// Most statements in one block.
    pub max_block: usize,
    /// Most nesting of blocks inside a body.
    pub max_depth: usize,
    /// Most statements in a whole program.
    pub max_statements: usize,
    /// Per mille of programs that get a deep `recurse` (hundreds to thousands of frames).
    pub deep_recursion_permille: u32,
}

impl Default for GenConfig {
    fn default() -> Self {
        GenConfig {
            max_defs: 5,
            max_block: 7,
            max_depth: 4,
            max_statements: 80,
            deep_recursion_permille: 150,
        }
    }
}

impl GenConfig {
    /// Programs that recurse deeply around their switches, with many greenlets alive.
    pub fn deep() -> GenConfig {
        GenConfig {
            max_depth: 5,
            max_statements: 120,
            deep_recursion_permille: 600,
            ..GenConfig::default()
        }
    }
}

/// The program number `index` of the run seeded with `seed`.
pub fn program(seed: u64, index: u64, config: &GenConfig) -> Program {
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ index.wrapping_mul(0x9e37_79b9_7f4a_7c15));
    generate(&mut rng, config)
}

/// A random valid program.
pub fn generate<R: Rng>(rng: &mut R, config: &GenConfig) -> Program {
    let n_defs = rng.random_range(1..=config.max_defs.max(1));
    let names: Vec<String> = (0..n_defs).map(|i| format!("f{i}")).collect();
    let mut g = Gen {
        rng,
        config,
        names: &names,
        statements: 0,
        slots_used: 0,
        filled: 0,
        deep: false,
    };
    g.deep = g.rng.random_range(0..1000) < config.deep_recursion_permille;
    g.slots_used = g.rng.random_range(3..=16);
    let fuel = match g.rng.random_range(0..12) {
        0 => Some(g.rng.random_range(5..150)),
        1 => Some(g.rng.random_range(150..2_000)),
        _ => None,
    };
    let main = g.main_block();
    let defs = names
        .iter()
        .map(|name| Def {
            name: name.clone(),
            body: g.block(1, 0, Role::Body),
        })
        .collect::<Vec<_>>();
    let main_position = g.rng.random_range(0..=defs.len());
    Program {
        fuel,
        defs,
        main,
        main_position,
    }
}

/// Whose code a statement is in: main's body favours driving the greenlets it spawned,
/// bodies favour switching back to parents and main, returning and raising.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Role {
    Main,
    Body,
}

struct Gen<'a, R: Rng> {
    rng: &'a mut R,
    config: &'a GenConfig,
    names: &'a [String],
    statements: usize,
    /// Slots this program uses (g0 .. g{slots_used-1}): fewer slots, more reuse.
    slots_used: u8,
    /// Slots main has spawned into so far, in program order (g0 .. g{filled-1}).
    filled: u8,
    /// Whether this program may recurse hundreds or thousands of frames.
    deep: bool,
}

impl<R: Rng> Gen<'_, R> {
    fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.rng.random_range(0..items.len())]
    }

    fn percent(&mut self) -> u32 {
        self.rng.random_range(0..100)
    }

    /// Main: spawn a few greenlets, then drive them.
    fn main_block(&mut self) -> Block {
        let mut block = Vec::new();
        let spawns = self.rng.random_range(1..=self.slots_used.min(6));
        for _ in 0..spawns {
            block.push(self.spawn_next());
        }
        let len = self.rng.random_range(3..=self.config.max_block + 6);
        for _ in 0..len {
            if self.statements >= self.config.max_statements {
                break;
            }
            let stmt = self.stmt(1, 0, Role::Main, false);
            let guarded = matches!(
                stmt,
                Stmt::Switch(..) | Stmt::Throw(..) | Stmt::Reparent(..)
            ) && self.percent() < 45;
            if guarded {
                let handler = if self.percent() < 50 {
                    vec![Stmt::Observe(Ref::Slot(self.live_slot()))]
                } else {
                    Vec::new()
                };
                self.statements += 1;
                block.push(Stmt::Try {
                    body: vec![stmt],
                    catch: Catch::Any,
                    handler,
                });
            } else {
                block.push(stmt);
            }
        }
        block
    }

    fn block(&mut self, depth: usize, recursion: u32, role: Role) -> Block {
        self.block_of(depth, recursion, role, false)
    }

    fn block_of(&mut self, depth: usize, recursion: u32, role: Role, in_try: bool) -> Block {
        let mut block = Vec::new();
        if depth > self.config.max_depth.min(MAX_NESTING) {
            return block;
        }
        let len = if depth == 1 {
            self.rng.random_range(2..=self.config.max_block + 2)
        } else {
            self.rng.random_range(1..=self.config.max_block.min(4))
        };
        for _ in 0..len {
            if self.statements >= self.config.max_statements {
                break;
            }
            block.push(self.stmt(depth, recursion, role, in_try));
        }
        block
    }

    /// A slot that main has (probably) spawned into, or now and then any slot.
    fn live_slot(&mut self) -> u8 {
        if self.filled > 0 && self.percent() < 96 {
            self.rng.random_range(0..self.filled)
        } else {
            self.rng.random_range(0..self.slots_used)
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
                0..=49 => Ref::Slot(self.live_slot()),
                50..=74 => Ref::Parent,
                75..=92 => Ref::Main,
                _ => Ref::Current,
            },
        }
    }

    fn value(&mut self) -> Value {
        match self.rng.random_range(0..10) {
            0..=1 => Value::None,
            2..=7 => Value::Int(self.rng.random_range(-5..100)),
            8 => Value::Int(self.rng.random()),
            _ => Value::Str(self.pick(&["a", "done", "x y", "hello_1", ""]).to_string()),
        }
    }

    fn error(&mut self) -> Error {
        match self.percent() {
            0..=54 => Error::E(self.rng.random_range(0..3)),
            55..=62 => Error::E(self.rng.random_range(3..10)),
            63..=89 => Error::Exit,
            90..=93 => Error::BadParent,
            94..=97 => Error::Unbound,
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
        self.names[self.rng.random_range(0..self.names.len())].clone()
    }

    /// `spawn` into the next unfilled slot (main's opening spawns).
    fn spawn_next(&mut self) -> Stmt {
        self.statements += 1;
        let slot = self.filled % self.slots_used;
        let parent = if self.filled > 0 && self.percent() < 25 {
            Some(Ref::Slot(self.rng.random_range(0..self.filled)))
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
        let slot = self.rng.random_range(0..self.slots_used);
        let parent = match self.percent() {
            0..=9 => Some(Ref::Slot(self.live_slot())),
            10..=17 => Some(Ref::Main),
            18..=22 => Some(Ref::Parent),
            _ => None,
        };
        Stmt::Spawn {
            slot,
            body: self.body_name(),
            parent,
        }
    }

    fn stmt(&mut self, depth: usize, recursion: u32, role: Role, in_try: bool) -> Stmt {
        let nest = depth < self.config.max_depth;
        let roll = self.percent();
        // Main raises and returns rarely outside a `try`, so that its programs run on.
        let bold = role == Role::Body || in_try || depth > 1;
        let stmt = match roll {
            0..=5 => return self.spawn(role),
            6..=41 => Stmt::Switch(self.target(role), self.value()),
            42..=48 => Stmt::Throw(self.target(role), self.error()),
            49..=52 if bold && role == Role::Body => Stmt::Return(self.value()),
            53..=57 if bold => Stmt::Raise(self.error()),
            58..=68 if nest => {
                self.statements += 1;
                let body = self.block_of(depth + 1, recursion, role, true);
                let catch = self.catch();
                let handler = self.block_of(depth + 1, recursion, role, in_try);
                return Stmt::Try {
                    body,
                    catch,
                    handler,
                };
            }
            69..=75 if nest => {
                self.statements += 1;
                let n = self.rng.random_range(0..=6);
                return Stmt::Repeat(n, self.block_of(depth + 1, recursion, role, in_try));
            }
            76..=83 if nest => {
                self.statements += 1;
                let room = MAX_RECURSION - recursion;
                let n = if self.deep && self.percent() < 40 {
                    self.rng.random_range(50.min(room)..=MAX_COUNT.min(room))
                } else {
                    self.rng.random_range(0..=20.min(room))
                };
                return Stmt::Recurse(n, self.block_of(depth + 1, recursion + n, role, in_try));
            }
            84..=88 => {
                let child = Ref::Slot(self.live_slot());
                let parent = match self.percent() {
                    0..=59 => Ref::Slot(self.live_slot()),
                    60..=84 => Ref::Main,
                    _ => self.target(role),
                };
                Stmt::Reparent(child, parent)
            }
            89..=99 => Stmt::Observe(self.target(role)),
            _ => Stmt::Switch(self.target(role), self.value()),
        };
        self.statements += 1;
        stmt
    }
}

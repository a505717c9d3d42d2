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
        deep: false,
    };
    g.deep = g.rng.random_range(0..1000) < config.deep_recursion_permille;
    g.slots_used = g.rng.random_range(2..=16);
    let fuel = match g.rng.random_range(0..10) {
        0 => Some(g.rng.random_range(5..300)),
        1 => Some(g.rng.random_range(300..20_000)),
        _ => None,
    };
    let main = g.block(1, 0, true);
    let defs = names
        .iter()
        .map(|name| Def {
            name: name.clone(),
            body: g.block(1, 0, false),
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

struct Gen<'a, R: Rng> {
    rng: &'a mut R,
    config: &'a GenConfig,
    names: &'a [String],
    statements: usize,
    /// Slots this program uses (g0 .. g{slots_used-1}): fewer slots, more reuse.
    slots_used: u8,
    /// Whether this program may recurse thousands of frames.
    deep: bool,
}

impl<R: Rng> Gen<'_, R> {
    fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.rng.random_range(0..items.len())]
    }

    fn block(&mut self, depth: usize, recursion: u32, is_main: bool) -> Block {
        let mut block = Vec::new();
        if depth > self.config.max_depth.min(MAX_NESTING) {
            return block;
        }
        let len = if depth == 1 {
            self.rng.random_range(2..=self.config.max_block + 3)
        } else {
            self.rng.random_range(0..=self.config.max_block.min(4))
        };
        // Main starts by spawning, so that switches have live targets.
        if is_main && depth == 1 {
            for _ in 0..self.rng.random_range(1..=4) {
                block.push(self.spawn());
            }
        }
        for _ in 0..len {
            if self.statements >= self.config.max_statements {
                break;
            }
            block.push(self.stmt(depth, recursion, is_main));
        }
        block
    }

    fn slot(&mut self) -> u8 {
        self.rng.random_range(0..self.slots_used)
    }

    fn target(&mut self) -> Ref {
        match self.rng.random_range(0..100) {
            0..=69 => Ref::Slot(self.slot()),
            70..=81 => Ref::Parent,
            82..=93 => Ref::Main,
            _ => Ref::Current,
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
        match self.rng.random_range(0..100) {
            0..=54 => Error::E(self.rng.random_range(0..3)),
            55..=64 => Error::E(self.rng.random_range(3..10)),
            65..=89 => Error::Exit,
            90..=93 => Error::BadParent,
            94..=97 => Error::Unbound,
            _ => Error::Limit,
        }
    }

    fn spawn(&mut self) -> Stmt {
        self.statements += 1;
        let slot = self.slot();
        let body = self.names[self.rng.random_range(0..self.names.len())].clone();
        let parent = match self.rng.random_range(0..10) {
            0 => Some(Ref::Slot(self.slot())),
            1 => Some(Ref::Main),
            2 => Some(Ref::Parent),
            _ => None,
        };
        Stmt::Spawn { slot, body, parent }
    }

    fn stmt(&mut self, depth: usize, recursion: u32, is_main: bool) -> Stmt {
        let nest = depth < self.config.max_depth;
        let roll = self.rng.random_range(0..100);
        let stmt = match roll {
            0..=11 => return self.spawn(),
            12..=43 => Stmt::Switch(self.target(), self.value()),
            44..=52 => Stmt::Throw(self.target(), self.error()),
            53..=56 if !is_main || depth > 1 => Stmt::Return(self.value()),
            57..=60 => Stmt::Raise(self.error()),
            61..=70 if nest => {
                self.statements += 1;
                let body = self.block(depth + 1, recursion, is_main);
                let catch = if self.rng.random_bool(0.35) {
                    Catch::Any
                } else {
                    Catch::Error(self.error())
                };
                let handler = self.block(depth + 1, recursion, is_main);
                return Stmt::Try {
                    body,
                    catch,
                    handler,
                };
            }
            71..=75 if nest => {
                self.statements += 1;
                let n = self.rng.random_range(0..=4);
                return Stmt::Repeat(n, self.block(depth + 1, recursion, is_main));
            }
            76..=82 if nest => {
                self.statements += 1;
                let room = MAX_RECURSION - recursion;
                let n = if self.deep && self.rng.random_bool(0.3) {
                    self.rng.random_range(100..=MAX_COUNT.min(room))
                } else {
                    self.rng.random_range(0..=20.min(room))
                };
                return Stmt::Recurse(n, self.block(depth + 1, recursion + n, is_main));
            }
            83..=88 => Stmt::Reparent(self.target(), self.target()),
            89..=99 => Stmt::Observe(self.target()),
            _ => Stmt::Switch(self.target(), self.value()),
        };
        self.statements += 1;
        stmt
    }
}

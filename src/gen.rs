//! The seeded random program generator: valid programs, bounded in size, tuned so that they
//! really switch (most switches reach a live greenlet, recursion around switches, many live
//! greenlets, throws into every state, errors crossing parent chains, reparenting, fuel
//! exhaustion, teardown). Program `i` of seed `s` is always the same program.

use crate::ast::Program;
use crate::builder::{self, Choices};
use rand::{Rng, RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// The shape of generated programs (both generators build with [`crate::builder`]).
#[derive(Clone, Debug)]
pub struct GenConfig {
    /// Most bodies (`def`s) in a program.
    pub max_defs: usize,
    /// Statements in an ordinary block: up to this (main's own block a few more).
    pub max_block: u32,
    /// Ordinary nesting of blocks inside a body (deep chains go further, up to the static
    /// limit).
    pub max_depth: usize,
    /// Most statements in a whole program, at any depth.
    pub max_statements: usize,
    /// Percent of programs whose `recurse` counts may run into the hundreds.
    pub deep_percent: u32,
}

impl Default for GenConfig {
    fn default() -> Self {
        GenConfig {
            max_defs: 5,
            max_block: 7,
            max_depth: 4,
            max_statements: 80,
            deep_percent: 15,
        }
    }
}

impl GenConfig {
    /// Programs that recurse deeply around their switches, with many greenlets alive.
    pub fn deep() -> GenConfig {
        GenConfig {
            max_depth: 5,
            max_statements: 120,
            deep_percent: 60,
            ..GenConfig::default()
        }
    }

    /// What the fuzz targets build from fuzzer bytes.
    pub fn fuzz() -> GenConfig {
        GenConfig {
            max_defs: crate::fuzz_input::MAX_DEFS,
            max_statements: crate::fuzz_input::MAX_STATEMENTS,
            deep_percent: 20,
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
    builder::build(&mut RngChoices(rng), config)
}

/// Choices drawn from a random number generator.
struct RngChoices<'r, R: Rng>(&'r mut R);

impl<R: Rng> Choices for RngChoices<'_, R> {
    fn int(&mut self, lo: u32, hi: u32) -> u32 {
        self.0.random_range(lo..=hi)
    }
    fn any_i64(&mut self) -> i64 {
        self.0.random()
    }
}

//! The seeded random program generator: choices from a ChaCha8 RNG fed to
//! [`super::builder::build`]. Program `index` of seed `seed` is always the same program, on
//! every platform and run (this is what `--seed`, `gen --start` and finding headers replay).

use super::{builder, Choices, GenConfig};
use crate::lang::ast::Program;
use rand::{Rng, RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

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

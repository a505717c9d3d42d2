//! Random program generators: what a generated program looks like ([`builder`]), and the
//! sources of choices that drive it: a seeded ChaCha8 RNG ([`seeded`], the campaign's and the
//! CLI's programs), libFuzzer's bytes ([`bytes`], the fuzz targets) and proptest strategies
//! ([`strategy`], shrinking property tests).
//!
//! Contract: every generated program obeys every static rule of the language
//! (`docs/language.md`), so it parses back from its printed text. Generators only build
//! programs: this module and its children import nothing of switchyard but [`crate::lang`];
//! they never run a program nor call the checker ([`crate::check`]) or the campaign.

pub mod builder;
pub mod bytes;
pub mod seeded;
pub mod strategy;

/// The shape of generated programs (the seeded and the byte generators both build with
/// [`builder::build`]).
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
}

/// Which generator settings seeded programs come from (`--profile`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Profile {
    Default,
    Deep,
}

impl Profile {
    pub fn name(self) -> &'static str {
        match self {
            Profile::Default => "default",
            Profile::Deep => "deep",
        }
    }

    pub fn from_name(name: &str) -> Option<Profile> {
        match name {
            "default" => Some(Profile::Default),
            "deep" => Some(Profile::Deep),
            _ => None,
        }
    }

    pub fn config(self) -> GenConfig {
        match self {
            Profile::Default => GenConfig::default(),
            Profile::Deep => GenConfig::deep(),
        }
    }
}

/// Where a builder's choices come from.
pub trait Choices {
    /// An integer in `lo..=hi` (`lo <= hi`); a source that has run out gives `lo`.
    fn int(&mut self, lo: u32, hi: u32) -> u32;
    /// Any 64-bit integer (for the extremes of the value range).
    fn any_i64(&mut self) -> i64;
}

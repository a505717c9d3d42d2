//! `docs/language.md`, the language reference, against the code: every example program in it
//! parses, every trace written under an example is what the oracle and real greenlet print,
//! every rejected file is rejected with the error line shown, and the `drop` section's examples
//! really kill (their traces, checked on the oracle and real greenlet like every other, contain
//! `#I kill #J` events).
//!
//! Fenced blocks are classified by their tag:
//! - ```` ```gp ````: a whole program, which must parse;
//! - ```` ```trace ````: right after a `gp` block (no block between), that program's trace;
//! - ```` ```reject ````: a file that must be rejected;
//! - ```` ```error ````: right after a `reject` block, its exact error line (file `example.gp`);
//! - ```` ```text ````, ```` ```sh ````: anything else. Untagged blocks are refused, so that no
//!   program can escape the checks by losing its tag.

use std::path::PathBuf;
use switchyard::check::crosscheck::{self, GreenletRunner};
use switchyard::check::registry;
use switchyard::lang::trace::{diff, Trace};

/// The project's parser and its program type: the only mention of either in this file.
type Program = switchyard::lang::ast::Program;
fn parse(name: &str, source: &str) -> Result<Program, String> {
    switchyard::lang::parse::parse(name, source.as_bytes()).map_err(|e| e.to_string())
}

const TAGS: &[&str] = &["gp", "trace", "reject", "error", "text", "sh"];

/// One fenced block of the page.
struct Block {
    tag: String,
    text: String,
    /// 1-based line of its opening fence.
    line: usize,
}

fn doc_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("docs/language.md")
}

fn doc() -> String {
    std::fs::read_to_string(doc_path()).expect("docs/language.md is readable")
}

/// The fenced blocks of a markdown text, in order. Panics on an unclosed fence.
fn blocks(markdown: &str) -> Vec<Block> {
    let mut out = Vec::new();
    let mut open: Option<Block> = None;
    for (i, line) in markdown.lines().enumerate() {
        match open.take() {
            None => {
                if let Some(tag) = line.strip_prefix("```") {
                    open = Some(Block {
                        tag: tag.trim().to_string(),
                        text: String::new(),
                        line: i + 1,
                    });
                }
            }
            Some(mut block) => {
                if line.trim_end() == "```" {
                    out.push(block);
                } else {
                    block.text.push_str(line);
                    block.text.push('\n');
                    open = Some(block);
                }
            }
        }
    }
    if let Some(block) = open {
        panic!("docs/language.md:{}: the block is never closed", block.line);
    }
    out
}

/// Every (program block, its trace block) pair.
fn traced_examples(blocks: &[Block]) -> Vec<(&Block, &Block)> {
    blocks
        .windows(2)
        .filter(|w| w[0].tag == "gp" && w[1].tag == "trace")
        .map(|w| (&w[0], &w[1]))
        .collect()
}

fn where_(block: &Block) -> String {
    format!("docs/language.md:{}", block.line)
}

/// Parses a `gp` block as if the rest of the page were blank lines, so that an error's
/// LINE:COL is its place in docs/language.md.
fn parse_block(block: &Block) -> Result<Program, String> {
    let source = "\n".repeat(block.line) + &block.text;
    parse("docs/language.md", &source)
}

#[test]
fn every_block_is_tagged_and_paired() {
    let blocks = blocks(&doc());
    let mut problems = Vec::new();
    for (i, b) in blocks.iter().enumerate() {
        if !TAGS.contains(&b.tag.as_str()) {
            problems.push(format!(
                "{}: block tagged {:?}; use one of {TAGS:?}",
                where_(b),
                b.tag
            ));
        }
        let before = i.checked_sub(1).map(|j| blocks[j].tag.as_str());
        if b.tag == "trace" && before != Some("gp") {
            problems.push(format!(
                "{}: a trace block must come right after a gp block",
                where_(b)
            ));
        }
        if b.tag == "error" && before != Some("reject") {
            problems.push(format!(
                "{}: an error block must come right after a reject block",
                where_(b)
            ));
        }
        let after = blocks.get(i + 1).map(|n| n.tag.as_str());
        if b.tag == "reject" && after != Some("error") {
            problems.push(format!(
                "{}: a reject block must be followed by its error block",
                where_(b)
            ));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    let programs = blocks.iter().filter(|b| b.tag == "gp").count();
    let traced = traced_examples(&blocks).len();
    assert!(programs >= 8, "only {programs} gp blocks");
    assert_eq!(traced, programs, "every example program has its trace");
}

#[test]
fn every_example_program_parses() {
    let blocks = blocks(&doc());
    let failures: Vec<String> = blocks
        .iter()
        .filter(|b| b.tag == "gp")
        .filter_map(|b| parse_block(b).err())
        .collect();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn every_example_trace_is_the_oracles() {
    let blocks = blocks(&doc());
    let mut failures = Vec::new();
    for (program, trace) in traced_examples(&blocks) {
        let parsed = match parse_block(program) {
            Ok(p) => p,
            Err(e) => {
                failures.push(e);
                continue;
            }
        };
        let expected = Trace::from_text(&trace.text);
        match registry::oracle().run(&parsed) {
            Ok(actual) => {
                if let Some(d) = diff(&expected, &actual) {
                    failures.push(format!(
                        "{}: the oracle's trace differs: {d}\noracle:\n{actual}",
                        where_(trace)
                    ));
                }
            }
            Err(fatal) => failures.push(format!("{}: {fatal}", where_(program))),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn every_rejected_example_gives_its_error_line() {
    let blocks = blocks(&doc());
    let mut failures = Vec::new();
    for pair in blocks.windows(2) {
        let (reject, error) = (&pair[0], &pair[1]);
        if reject.tag != "reject" || error.tag != "error" {
            continue;
        }
        match parse("example.gp", &reject.text) {
            Ok(_) => failures.push(format!("{}: parses, but should not", where_(reject))),
            Err(e) if e != error.text.trim_end() => failures.push(format!(
                "{}: the parser says\n  {e}\nthe page says\n  {}",
                where_(error),
                error.text.trim_end()
            )),
            Err(_) => {}
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// The venv's python (`ci/venv.sh` creates it on first use).
fn python() -> PathBuf {
    crosscheck::make_venv().unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn every_example_trace_is_real_greenlets() {
    let blocks = blocks(&doc());
    let mut runner = GreenletRunner::start(&python(), &crosscheck::default_runner()).unwrap();
    let mut failures = Vec::new();
    for (program, trace) in traced_examples(&blocks) {
        let expected = Trace::from_text(&trace.text);
        let actual = runner
            .run(&program.text)
            .unwrap_or_else(|e| panic!("{}: greenlet_runner.py: {e}", where_(program)));
        if let Some(d) = diff(&expected, &actual) {
            failures.push(format!(
                "{}: real greenlet's trace differs: {d}\ngreenlet:\n{actual}",
                where_(trace)
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Section 15 (`drop`) shows kills: its examples' traces (checked against the oracle and real
/// greenlet by the two tests above) contain `#I kill #J` events, among them a kill by a greenlet
/// other than main and a kill of a dropper inside its own drop.
#[test]
fn the_drop_section_examples_kill() {
    let page = doc();
    let start = page
        .find("## 15. `drop SLOT`")
        .expect("section 15 is about drop");
    let end = page[start..]
        .find("\n## 16.")
        .map_or(page.len(), |i| start + i);
    let section = blocks(&page[start..end]);
    let examples = traced_examples(&section);
    assert!(
        examples.len() >= 5,
        "{} traced drop examples",
        examples.len()
    );
    let kills: Vec<&str> = examples
        .iter()
        .flat_map(|(_, t)| t.text.lines())
        .filter(|l| l.contains(" kill #"))
        .collect();
    assert!(kills.len() >= 6, "{kills:?}");
    assert!(kills.iter().any(|l| !l.starts_with("#0 ")), "{kills:?}");
    for (program, _) in &examples {
        assert!(program.text.contains("drop g"), "{}", program.text);
        parse("example.gp", &program.text).unwrap();
    }
}

/// GitHub's anchor for a heading: lower case, punctuation dropped, spaces as hyphens.
fn anchor(heading: &str) -> String {
    heading
        .to_lowercase()
        .chars()
        .filter(|c| c.is_alphanumeric() || *c == ' ' || *c == '-' || *c == '_')
        .map(|c| if c == ' ' { '-' } else { c })
        .collect()
}

#[test]
fn internal_links_point_at_headings() {
    let page = doc();
    let anchors: Vec<String> = page
        .lines()
        .filter_map(|l| l.strip_prefix("## "))
        .map(anchor)
        .collect();
    let mut broken = Vec::new();
    for (i, line) in page.lines().enumerate() {
        for (start, _) in line.match_indices("](#") {
            let rest = &line[start + 3..];
            let target = &rest[..rest.find(')').unwrap_or(rest.len())];
            if !anchors.iter().any(|a| a == target) {
                broken.push(format!("docs/language.md:{}: #{target}", i + 1));
            }
        }
    }
    assert!(
        broken.is_empty(),
        "links to no heading:\n{}",
        broken.join("\n")
    );
}

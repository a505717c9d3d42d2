//! `switchyard bench`: measure backends through the greenlet trait beside their peers, print
//! the table, and write the JSON and the SVG plot if asked.

use super::{bad_argument, select_backends, shown, AGREED, OUTPUT_ERROR};
use crate::bench::{self, Plan, DEPTHS};
use std::path::PathBuf;
use std::time::Duration;

/// How to read the numbers (in `--help`).
pub const READING: &str = "\
How to read the numbers:
  round trip     main switches to a greenlet, which switches straight back: two switches
                 through the greenlet trait (`Hub::switch_ref`, the caller keeping its
                 handle; `Hub::switch(g.clone(), v)` adds a clone and a drop of the handle,
                 two atomic operations per switch on the native runtime). The greenlet was
                 started from the same function main loops in, and switches from one extra
                 frame of DEPTH bytes of locals below its start, so stack-copy has that
                 frame (and the runtime's own) to copy and nothing of main's. `copied` is
                 stack-copy's own count of bytes saved plus restored per round trip (0 on
                 the other backends, which copy nothing).
  spawn->finish  spawn a greenlet, switch to it, it returns its start value (mmap/ucontext
                 take pooled stacks).
  memory/susp.   growth of the resident set per greenlet while N greenlets are held suspended
                 (at depth 0; their bodies capture nothing), from /proc/self/statm; `heap`
                 the growth of the allocator's in-use bytes (glibc mallinfo2, exact: the
                 resident set reads low when the allocator reuses memory freed by earlier
                 figures); page tables (VmPTE) apart; `saved stack` is stack-copy's heap
                 copy of their stacks, `bookkeeping` the larger of the two growths less it.
  4K offsets     the 4 KiB round trip at 8 stack positions 512 B apart: worst / best median
                 (a 4K-aliasing cliff shows as a large ratio).
  peers          measured in the same run: corosensei (resume + suspend; spawn to finish with a
                 new or a reused stack), a raw swapcontext ping-pong (the ucontext backend's
                 floor), a raw two-thread Mutex+Condvar ping-pong (the thread oracle's floor)
                 and a hot memcpy of exactly the bytes stack-copy copied (with the mmap round
                 trip at the same depth, stack-copy's floor).
  goals          issue 12's targets as ratios of this run's figures, `met` or `NOT met`.
                 The table's figures are measured one after another, tens of seconds apart,
                 and a shared machine's neighbours can change the conditions in between. So
                 each timed goal is measured again in pairs: every figure it compares is
                 kept alive on a thread of its own (calibrated once), and in each of
                 2 x SAMPLES rounds every figure takes one sample of SAMPLE-MS / 3, back to
                 back (the order reversed every other round), and once more: an odd
                 number, so that the median is one round's. The goal's value is the median
                 of the rounds' ratios (for the page offsets: worst / best of the 8 figures'
                 median times, since the slowest over the fastest of 8 noisy samples is
                 biased upwards by noise alone), with the lowest and highest round in
                 brackets: a wide bracket means the conditions changed within the run.
                 --unpaired judges the goals from the table's medians instead (faster);
                 --iterations always does.
Times are medians of SAMPLES samples (the fastest in brackets), each about SAMPLE-MS long; on a
shared machine they move with the load, which the first line reports: compare ratios from one
run, and count instructions for optimisation work: `tools/instructions.sh BACKEND...` runs
`switchyard bench --iterations N` under callgrind at two depth sets and two N and prints the
instructions per round trip and per spawn to finish from the differences (both sides of every
switch counted, start-up and reporting cancelled out).";

#[derive(clap::Args)]
pub struct Args {
    /// Backends to measure, comma-separated. Default: every real backend (the oracle
    /// included). Any registered backend can be measured.
    #[arg(long, value_delimiter = ',', value_name = "NAMES")]
    backends: Vec<String>,
    /// Depths of the round-trip sweep in KiB, comma-separated, from 0, 1, 2, 4, 8, 16, 32, 64,
    /// 128. Default: 0,1,4,16,64.
    #[arg(long, value_delimiter = ',', value_name = "KIB")]
    depths: Vec<usize>,
    /// A short run (a few seconds): 3 samples of ~15 ms, 500 greenlets for the memory figure.
    #[arg(long)]
    quick: bool,
    /// Timed samples per figure (default 7, or 3 with --quick).
    #[arg(long, value_name = "N")]
    samples: Option<usize>,
    /// Target length of one sample in milliseconds (default 60, or 15 with --quick).
    #[arg(long, value_name = "MS")]
    sample_ms: Option<u64>,
    /// Run exactly N operations per figure, one sample, no calibration: for counting
    /// instructions under callgrind.
    #[arg(long, value_name = "N")]
    iterations: Option<u64>,
    /// Greenlets held suspended for the memory figure (default 4000, or 500 with --quick).
    #[arg(long, value_name = "N")]
    memory_greenlets: Option<usize>,
    /// Skip the memory figure.
    #[arg(long)]
    no_memory: bool,
    /// Skip the 4 KiB round trip at 8 page offsets.
    #[arg(long)]
    no_page_offsets: bool,
    /// Skip the peers (corosensei, raw swapcontext, raw thread ping-pong, memcpy).
    #[arg(long)]
    no_peers: bool,
    /// Judge the goals from the table's medians instead of measuring each goal's figures
    /// again in alternation (see "goals" below; saves about a quarter of a default run).
    #[arg(long)]
    unpaired: bool,
    /// Print the JSON document on stdout instead of the table.
    #[arg(long)]
    json: bool,
    /// Also write the JSON document to FILE.
    #[arg(long, value_name = "FILE")]
    json_out: Option<PathBuf>,
    /// Write the SVG plot of round trip against depth to FILE.
    #[arg(long, value_name = "FILE")]
    svg: Option<PathBuf>,
    /// No progress lines on stderr.
    #[arg(long, short = 'q')]
    quiet: bool,
}

pub fn run(args: &Args) -> u8 {
    let backends = match select_backends(&args.backends) {
        Ok(b) => b,
        Err(code) => return code,
    };
    let mut plan = if args.quick {
        Plan::quick()
    } else {
        Plan::default_run()
    };
    if !args.depths.is_empty() {
        plan.depths = args.depths.iter().map(|k| k << 10).collect();
        if let Some(bad) = plan.depths.iter().find(|d| !DEPTHS.contains(d)) {
            return bad_argument(&format!(
                "--depths: {} KiB is not one of 0, 1, 2, 4, 8, 16, 32, 64, 128",
                bad >> 10
            ));
        }
    }
    if let Some(n) = args.samples {
        if n == 0 {
            return bad_argument("--samples must be at least 1");
        }
        plan.samples = n;
    }
    if let Some(ms) = args.sample_ms {
        if ms == 0 {
            return bad_argument("--sample-ms must be at least 1");
        }
        plan.sample_time = Duration::from_millis(ms);
    }
    if let Some(n) = args.iterations {
        if n == 0 {
            return bad_argument("--iterations must be at least 1");
        }
        plan.iterations = Some(n);
    }
    if let Some(n) = args.memory_greenlets {
        plan.memory_greenlets = n;
    }
    if args.no_memory {
        plan.memory_greenlets = 0;
    }
    plan.page_offsets &= !args.no_page_offsets;
    plan.peers &= !args.no_peers;
    plan.paired &= !args.unpaired;
    plan.progress = !args.quiet;
    let report = match bench::run(&backends, &plan) {
        Ok(r) => r,
        Err(e) => {
            errln!("switchyard: bench: {e}");
            return OUTPUT_ERROR;
        }
    };
    let json = bench::json(&report);
    let text = match serde_json::to_string_pretty(&json) {
        Ok(t) => t,
        Err(e) => {
            errln!("switchyard: bench: cannot render the JSON: {e}");
            return OUTPUT_ERROR;
        }
    };
    if let Some(path) = &args.json_out {
        if let Err(e) = std::fs::write(path, format!("{text}\n")) {
            errln!("switchyard: cannot write {}: {e}", shown(path));
            return OUTPUT_ERROR;
        }
    }
    if let Some(path) = &args.svg {
        let svg = match bench::svg(&report) {
            Ok(svg) => svg,
            Err(e) => {
                errln!("switchyard: bench: cannot draw the plot: {e}");
                return OUTPUT_ERROR;
            }
        };
        if let Err(e) = std::fs::write(path, svg) {
            errln!("switchyard: cannot write {}: {e}", shown(path));
            return OUTPUT_ERROR;
        }
    }
    if args.json {
        outln!("{text}");
    } else {
        out!("{}", bench::table(&report));
    }
    AGREED
}

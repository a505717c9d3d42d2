//! `switchyard bench` does what its help says: a table with a row per backend and peer and
//! the goals, JSON that parses and holds every figure, an SVG plot, bytes copied on
//! stack-copy only, and bad arguments refused. Never a speed: figures are only checked to be
//! there and positive.

use std::process::Command;

/// The fastest run that still measures everything: one 1 ms sample per figure.
fn bench(extra: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_switchyard"))
        .args([
            "bench",
            "--samples",
            "1",
            "--sample-ms",
            "1",
            "--memory-greenlets",
            "40",
            "--depths",
            "0,4",
            "--quiet",
        ])
        .args(extra)
        .output()
        .expect("switchyard runs")
}

/// [`bench`] with `--json`, which must succeed: the document.
fn bench_json(extra: &[&str]) -> serde_json::Value {
    let out = bench(&[extra, &["--json"]].concat());
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("JSON on stdout")
}

#[test]
fn table_has_a_row_per_backend_and_peer_and_the_goals() {
    let out = bench(&[]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let table = String::from_utf8(out.stdout).unwrap();
    assert!(
        table.contains("0 KiB") && table.contains("4 KiB"),
        "{table}"
    );
    for name in switchyard::check::registry::real().map(|b| b.name) {
        assert!(
            table.lines().filter(|l| l.starts_with(name)).count() >= 2,
            "{name}: no round-trip and memory rows in\n{table}"
        );
    }
    #[cfg(all(target_arch = "x86_64", target_os = "linux"))]
    {
        assert!(table.lines().any(|l| l.starts_with("  copied")), "{table}");
        assert!(table.contains("hot memcpy of"), "{table}");
        assert!(table.contains("mmap round trip / corosensei"), "{table}");
    }
    assert!(
        table.contains("raw Mutex+Condvar two-thread ping-pong"),
        "{table}"
    );
    #[cfg(feature = "peers")]
    assert!(table.contains("corosensei resume + suspend"), "{table}");
    assert!(table.contains("Goals (issue 12)"), "{table}");
    assert!(!table.contains("error:"), "{table}");
}

#[test]
fn json_parses_and_holds_every_figure() {
    let dir = tempdir();
    let svg = dir.join("plot.svg");
    let out = bench(&["--json", "--svg", svg.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON on stdout");
    let backends = doc["backends"].as_array().unwrap();
    let names: Vec<&str> = backends
        .iter()
        .map(|b| b["name"].as_str().unwrap())
        .collect();
    let real: Vec<&str> = switchyard::check::registry::real()
        .map(|b| b.name)
        .collect();
    assert_eq!(names, real);
    for b in backends {
        let rows = b["round_trip"].as_array().expect("round-trip rows");
        let depths: Vec<u64> = rows
            .iter()
            .map(|r| r["depth_bytes"].as_u64().unwrap())
            .collect();
        assert_eq!(depths, [0, 4096], "{b}");
        for r in rows {
            assert!(r["time"]["median_ns"].as_f64().unwrap() > 0.0, "{r}");
        }
        let copied = rows[1]["saved_bytes"].as_f64().unwrap();
        if b["name"] == "stack-copy" {
            // At least the 4 KiB frame, both ways.
            assert!(copied >= 4096.0, "{b}");
            assert!(rows[1]["restored_bytes"].as_f64().unwrap() >= 4096.0, "{b}");
        } else {
            assert_eq!(copied, 0.0, "{b}");
        }
        assert!(
            b["spawn_to_finish"]["median_ns"].as_f64().unwrap() > 0.0,
            "{b}"
        );
        assert_eq!(b["memory"]["greenlets"], 40, "{b}");
        assert_eq!(b["page_offsets_ns"].as_array().unwrap().len(), 8, "{b}");
    }
    assert!(
        doc["peers"]["thread_round_trip"]["median_ns"]
            .as_f64()
            .unwrap()
            > 0.0
    );
    let goals = doc["goals"].as_array().unwrap();
    assert!(goals.iter().all(|g| g["met"].is_boolean()));
    // Paired by default: every timed goal measured in 3 rounds (1 sample x 2, and one more);
    // the byte count is the table's. A ratio goal's value is its median round's, and its
    // bracket the lowest and highest round.
    for g in goals {
        assert!(g["error"].is_null(), "{g}");
        if g["unit"] == "B" {
            assert!(g["rounds"].is_null(), "{g}");
            continue;
        }
        let r = &g["rounds"];
        assert_eq!(r["count"], 3, "{g}");
        let mut values: Vec<f64> = r["values"]
            .as_array()
            .expect("each round's value")
            .iter()
            .map(|v| v.as_f64().unwrap())
            .collect();
        assert_eq!(values.len(), 3, "{g}");
        values.sort_by(f64::total_cmp);
        let (low, value, high) = (
            r["low"].as_f64().unwrap(),
            g["value"].as_f64().unwrap(),
            r["high"].as_f64().unwrap(),
        );
        assert!(0.0 < low && low <= high && value > 0.0, "{g}");
        assert_eq!((low, high), (values[0], values[2]), "{g}");
        // A ratio is the median round's (a spread is that of the figures' medians).
        if !g["what"].as_str().unwrap().contains("page offsets") {
            assert_eq!(value, values[1], "{g}");
        }
    }
    #[cfg(all(target_arch = "x86_64", target_os = "linux"))]
    assert!(
        goals.iter().any(|g| g["what"]
            .as_str()
            .unwrap()
            .starts_with("stack-copy round trip at 4 KiB")),
        "{goals:?}"
    );
    let svg = std::fs::read_to_string(&svg).expect("the SVG was written");
    assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
    for name in real {
        assert!(svg.contains(name), "no {name} in the plot's legend");
    }
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn fixed_iterations_and_skips_are_honoured() {
    let doc = bench_json(&[
        "--backends",
        "thread",
        "--iterations",
        "3",
        "--no-peers",
        "--no-memory",
        "--no-page-offsets",
    ]);
    let b = &doc["backends"][0];
    assert_eq!(b["name"], "thread");
    assert_eq!(b["round_trip"][0]["time"]["iterations"], 3);
    assert!(b["memory"].is_null() && b["page_offsets_ns"].is_null());
    assert!(doc["peers"].is_null());
}

#[test]
fn unpaired_goals_come_from_the_table() {
    let doc = bench_json(&[
        "--backends",
        "thread",
        "--no-memory",
        "--no-page-offsets",
        "--unpaired",
    ]);
    let goals = doc["goals"].as_array().unwrap();
    let g = goals
        .iter()
        .find(|g| g["what"] == "thread round trip / raw Mutex+Condvar ping-pong")
        .expect("the thread goal");
    assert!(g["rounds"].is_null(), "{g}");
    let rt = doc["backends"][0]["round_trip"][0]["time"]["median_ns"]
        .as_f64()
        .unwrap();
    let raw = doc["peers"]["thread_round_trip"]["median_ns"]
        .as_f64()
        .unwrap();
    assert!(
        (g["value"].as_f64().unwrap() - rt / raw).abs() < 1e-9,
        "{g}"
    );
}

#[test]
fn bad_arguments_are_refused() {
    for args in [
        &["--depths", "3"][..],
        &["--backends", "nonesuch"],
        &["--samples", "0"],
    ] {
        let out = bench(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
    }
}

#[test]
fn help_explains_every_flag_and_the_numbers() {
    let out = Command::new(env!("CARGO_BIN_EXE_switchyard"))
        .args(["bench", "--help"])
        .output()
        .unwrap();
    let help = String::from_utf8(out.stdout).unwrap();
    for flag in [
        "--backends",
        "--depths",
        "--quick",
        "--samples",
        "--sample-ms",
        "--iterations",
        "--memory-greenlets",
        "--no-memory",
        "--no-page-offsets",
        "--no-peers",
        "--json",
        "--json-out",
        "--svg",
        "--quiet",
    ] {
        assert!(help.contains(flag), "{flag} missing from\n{help}");
    }
    assert!(help.contains("How to read the numbers"), "{help}");
    assert!(help.contains("callgrind"), "{help}");
}

fn tempdir() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("switchyard-bench-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

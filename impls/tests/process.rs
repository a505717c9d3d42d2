//! `process::close_stdout` ends stdout for its reader but keeps file descriptor 1 occupied, so
//! that no file opened afterwards becomes fd 1 and receives what the process prints. Run in a
//! child process (this test binary again), since it changes the process's stdout.

#![cfg(target_os = "linux")]

use std::io::Read;
use std::os::fd::AsRawFd;
use std::process::{Command, Stdio};

const ENV: &str = "SWITCHYARD_CLOSE_STDOUT_FILE";

/// The child side: does nothing unless the variable names a file to create.
#[test]
fn close_stdout_child() {
    let Ok(path) = std::env::var(ENV) else { return };
    // SAFETY: this child process owns its stdout; nothing else in it holds fd 1.
    unsafe { switchyard_impls::process::close_stdout() }.unwrap();
    let file = std::fs::File::create(&path).unwrap();
    assert_ne!(file.as_raw_fd(), 1, "a new file became fd 1");
    println!("printed after close_stdout");
    std::io::Write::flush(&mut std::io::stdout()).unwrap();
    eprintln!("child done, file fd {}", file.as_raw_fd());
}

#[test]
fn close_stdout_ends_stdout_and_keeps_fd_1_occupied() {
    let dir = std::env::temp_dir().join(format!("switchyard-close-stdout-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("after-close.txt");
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "close_stdout_child",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(ENV, &path)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The reader sees end-of-file (the child's stdout was its only writer).
    let mut out = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    let result = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&result.stderr);
    assert!(result.status.success(), "{stderr}");
    assert!(stderr.contains("child done"), "{stderr}");
    assert!(!out.contains("printed after close_stdout"), "{out}");
    let written = std::fs::read_to_string(&path).unwrap();
    assert_eq!(
        written, "",
        "stdout went into the file opened after close_stdout"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

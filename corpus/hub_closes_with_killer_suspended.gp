# drop: #1 drops the last handle of #2 (whose parent is #1), killing it; #2 catches
# GreenletExit, finds its slot already empty, and switches to main from inside the kill, so #1
# stays suspended inside it. Teardown throws into #1 (its kill swallows the exit, so #1 goes on)
# and #2. Found by a soak (`switchyard fuzz --seed 20261206`, program 321373, minimized): the
# runtime's own reference on #1's stack kept the stack-copy hub alive after the run, so every
# later mmap/ucontext program on that thread failed; each run must now leave no hub behind.
main {
  spawn g0 f3
  spawn g1 f3 parent g0
  switch g1 none
}

def f3 {
  try {
    switch parent none
  } catch any {}
  try {
    drop g1
  } catch any {}
  switch main none
}

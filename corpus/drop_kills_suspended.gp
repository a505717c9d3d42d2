# drop: main drops the only reference to a suspended greenlet, which is killed at once
# (parent := main, exit raised at its switch); its handler returns and main receives nothing.
# greenlet: green_dealloc / test_greenlet.py::test_dealloc; docs/experiments/drop/e01.
def w {
  try { switch main 10 } catch exit { return "bye" }
}
main {
  spawn g0 w
  switch g0 1
  drop g0
  observe current
}

# GreenletExit as an ordinary exception (docs/greenlet.rst "Greenlets and Python's exceptions" /
# test_throw.py::test_kill): caught by catch exit and by catch any, it is a normal error; left
# uncaught it kills the greenlet and the parent receives the value exit (not an error).
def catches {
  try { switch parent 1 } catch exit { switch parent "survived exit" }
  try { switch parent 2 } catch any { return "any caught exit" }
}
def uncaught {
  switch parent 3
  observe current
}
main {
  spawn g0 catches
  switch g0 none
  throw g0 exit
  throw g0 exit
  spawn g1 uncaught
  switch g1 none
  throw g1 exit
  observe g1
  try { raise exit } catch E1 { } # not caught by E1: main fails with exit
}

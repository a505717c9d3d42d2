# test_greenlet.py::TestGreenlet::test_exception: two greenlets suspended in fmain; g2 is
# reparented under g1; resuming g2 makes it raise SomeError (E1), which is raised in its parent
# g1 at its suspension point; g1 catches it (catch any) and raises E1 again (dies), reaching
# main. Switching the dead g2 again goes up the dead chain to main and returns the value at once.
def fmain {
  try { switch parent none } catch any { raise E1 }
  raise E1
}
main {
  spawn g0 fmain
  spawn g1 fmain
  switch g0 none
  switch g1 none
  reparent g1 g0
  try { switch g1 none } catch E1 { observe g0 }
  observe g1
  switch g1 25
}

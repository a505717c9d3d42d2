# Teardown order (test_greenlet.py::test_dealloc kills each greenlet in turn): greenlets are
# visited once each in id order, including ones spawned during teardown, and only if suspended
# at their turn. #1 answers its GreenletExit by spawning #4 and starting it; #2 is unstarted at
# its turn and is skipped even though #4's teardown handler starts it later; #3 is dead and
# skipped; #4 is suspended at its turn and is torn down. #1, #2 and #4 are still suspended at
# end and are released silently.
def late {
  try { switch main "late parked" } catch exit { switch g1 "start g1 now" }
}
def quick {
  return "quick done"
}
def tears {
  try { switch main "parked" } catch exit {
    spawn g3 late parent main
    switch g3 "from teardown"
  }
}
main {
  spawn g0 tears
  spawn g1 late
  spawn g2 quick
  switch g2 none
  switch g0 none
}

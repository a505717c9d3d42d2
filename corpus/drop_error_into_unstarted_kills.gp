# drop: an error thrown into an unstarted greenlet starts it for a moment (g_initialstub), so
# it kills the thrower that had dropped its own slot. docs/experiments/drop/e09 throw.
def thrower {
  drop g1
  throw g0 E1
}
def idle { return 1 }
main {
  spawn g0 idle
  spawn g1 thrower
  try { switch g1 none } catch E1 { observe g0 }
}

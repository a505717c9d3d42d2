# test_greenlet.py::TestGreenlet::test_trivial_cycle, test_trivial_cycle_main, test_deeper_cycle,
# test_cannot_delete_parent_of_main: setting a parent that would form a cycle raises ValueError,
# setting main's parent raises AttributeError; both are badparent and change nothing.
def idle {
  observe current
}
main {
  spawn g0 idle
  spawn g1 idle
  spawn g2 idle
  try { reparent g0 g0 } catch badparent { observe g0 }
  reparent g0 g1
  reparent g1 g2
  try { reparent g2 g0 } catch badparent { observe g2 }
  try { reparent main main } catch badparent { observe main }
  try { reparent main g0 } catch badparent { observe main }
  reparent g2 main
  try { reparent main g2 } catch badparent { observe g2 }
  switch g0 "g0 returns to g1 then g2 then main"
  observe g1
}

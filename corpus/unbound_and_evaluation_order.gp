# References and evaluation order (greenlet: getcurrent().parent is None for main,
# test_greenlet.py::test_main_greenlet_parent_is_none): an empty slot and main's parent raise
# unbound; a statement pays fuel first, then resolves its references left to right, so
# reparent with two bad refs fails at the first one; a failed spawn leaves its slot as it was.
fuel 40
def idle {
  return "idle"
}
main {
  try { observe g5 } catch unbound { }
  try { switch parent 1 } catch unbound { }
  try { reparent g9 main } catch unbound { }
  try { reparent main g9 } catch unbound { }
  try { reparent main main } catch badparent { }
  spawn g0 idle
  try { spawn g0 idle parent g9 } catch unbound { observe g0 }
  try { throw g10 E1 } catch unbound { }
  switch g0 none
  repeat 100 { try { observe g15 } catch any { } }
}

# parent cycles: a kill's parent restore (docs/language.md section 15, step 6) closes a cycle of
# dead greenlets #1 -> #3 -> #2 -> #1; a switch and a throw into it go to main instead, and a
# reparent or a spawn onto it raises badparent (section 8, "Parent cycles"). greenlet 3.5.6
# itself loops forever in C on each of these four statements.
def idle {}
def victim {
  try { switch main "parked" } catch exit {
    spawn g2 idle
    switch g2 "child"
    reparent g1 g2
  }
}
main {
  spawn g1 idle
  switch g1 "p"
  spawn g0 victim parent g1
  switch g0 "j"
  drop g0
  observe g1
  observe g2
  switch g1 "lost"
  try { throw g2 E2 } catch E2 { observe g2 }
  spawn g3 idle
  try { reparent g3 g1 } catch badparent { observe g3 }
  try { spawn g4 idle parent g2 } catch badparent {}
  observe g1
}

# Reparenting dead and suspended greenlets (test_greenlet.py::
# test_switch_to_dead_greenlet_reparent, test_exception's g2.parent = g1, and the parent setter
# docs: any greenlet of the thread that makes no cycle). A throw of exit into an unstarted child
# whose parent is also unstarted kills the child and starts the parent with no value
# ("start ()"); a dead greenlet and a suspended one are reparented; a switch to the dead one
# then goes to its new parent, whose own return goes through its dead new parent to main.
def p {
  observe current
  return "p"
}
def c {
  return "c"
}
def w {
  switch main 1
}
main {
  spawn g0 p
  spawn g1 c parent g0
  throw g1 exit
  observe g1
  spawn g2 w
  switch g2 none
  reparent g1 g2
  observe g1
  spawn g3 c
  switch g3 none
  reparent g2 g3
  observe g2
  switch g1 "to g2 via dead g1"
  spawn g4 c parent g1
  switch g4 none
}

# Switching to a dead greenlet (docs/greenlet.rst "Parents": "switching to a dead greenlet
# switches to its parent"; test_greenlet.py::test_exception's final switches): with g2 dead under
# dead g1 under suspended g0, switch g2 resumes g0, the first live ancestor, with the value.
def waiter {
  spawn g1 mid
  switch g1 none
  switch main "g0 waits"
  observe current
}
def mid {
  spawn g2 leaf parent main
  reparent g2 current
  switch g2 none
  return "mid done"
}
def leaf {
  return "leaf done"
}
main {
  spawn g0 waiter
  switch g0 none
  observe g2
  observe g1
  switch g2 "via dead chain"
  switch g2 "to main itself"
}

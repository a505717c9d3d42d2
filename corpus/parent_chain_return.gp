# Nested greenlets three deep (docs/greenlet.rst "Parents"): when a greenlet dies its return
# value goes to its parent, which is resumed at its pending switch, all the way up to main.
def leaf {
  observe parent
  return 3
}
def mid {
  spawn g2 leaf
  switch g2 none
  return "mid got leaf"
}
def top {
  spawn g1 mid
  switch g1 none
  return 1
}
main {
  spawn g0 top
  switch g0 none
  observe g0
  observe g1
  observe g2
}

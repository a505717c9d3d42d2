# Errors crossing a parent chain (docs/greenlet.rst "Greenlets and Python's exceptions": an
# uncaught exception in a greenlet propagates to its parent): E6 raised three levels down passes
# through a suspended parent that only catches E1 and is caught by the grandparent.
def grand {
  spawn g1 mid
  try { switch g1 none } catch E6 { observe g1 }
  return "grand caught it"
}
def mid {
  spawn g2 leaf
  try { switch g2 none } catch E1 { return "wrong" }
}
def leaf {
  raise E6
}
main {
  spawn g0 grand
  switch g0 none
  observe g2
}

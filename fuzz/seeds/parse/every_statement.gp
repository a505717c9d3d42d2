def a {
  repeat 3 { switch parent 0 }
  recurse 12 { throw g1 badparent }
  reparent g1 main
  return "done"
}
def g1a { raise limit }
main {
  spawn g1 g1a
  spawn g2 a parent g1
  try { switch g2 none } catch E9 { observe current } 
  try {} catch unbound {}
  throw g2 exit
  observe g2
}

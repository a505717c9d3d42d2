# parent cycles: a soak finding (seed 20261207, program 3483986, minimized). A kill's parent
# restore closes the cycle #1 -> #5 -> #2 -> #1 (#2 dead); #1's spawn (default parent: #1,
# on the cycle) raises badparent, and #1's failure, which would go round the cycle, goes to
# main (docs/language.md section 8, "Parent cycles"). greenlet 3.5.6 and every backend used
# to loop forever here without spending fuel.
main {
  spawn g0 f1
  spawn g1 f1 parent g0
  spawn g2 f1
  switch g1 none
}

def body_0 {}

def f1 {
  try {
    switch g2 none
  } catch any {}
  spawn g2 body_0
  reparent g0 g2
  drop g1
  switch g0 none
}

# return from any depth (a Python return inside loops, nested calls and try blocks): return
# ends the body at once from inside repeat, recurse and try (and a catch handler), in a child
# and in main; the value reaches the parent.
def in_repeat {
  repeat 5 { observe current return "from repeat" }
}
def in_recurse {
  recurse 300 { repeat 2 { try { return "from recurse try" } catch any { } } }
}
def in_handler {
  try { raise E1 } catch E1 { recurse 10 { return "from handler" } }
}
def after_switch {
  recurse 50 { try { switch parent "inside" return "after switch" } catch any { } }
}
main {
  spawn g0 in_repeat
  switch g0 none
  spawn g1 in_recurse
  switch g1 none
  spawn g2 in_handler
  switch g2 none
  spawn g3 after_switch
  switch g3 none
  switch g3 none
  repeat 3 { recurse 5 { try { return 99 } catch any { } } }
}

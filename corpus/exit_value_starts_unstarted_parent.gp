# The exit-value quirk (greenlet's g_handle_exit hands the GreenletExit instance over as the
# argument "tuple"): a child ending with an uncaught GreenletExit sends the value exit to its
# unstarted parent, which then starts with no argument at all: "start ()". Compare a normal
# return (start 42 in return_to_unstarted_parent.gp). Also the same via throw into a dead child.
def p_body {
  return "parent ran"
}
def dies_with_exit {
  raise exit
}
def quick {
  return 1
}
main {
  spawn g0 p_body
  spawn g1 dies_with_exit parent g0
  switch g1 "go"
  spawn g2 p_body
  spawn g3 quick
  switch g3 none
  reparent g3 g2
  throw g3 exit
  observe g2
}

# drop: a parent link is a reference; freeing the unstarted child releases its parent,
# which is killed inside the same drop. docs/experiments/drop/e03 parent_of_unstarted.
def w { try { switch main 1 } catch exit { return 2 } }
def q { return 3 }
main {
  spawn g0 w
  switch g0 none
  spawn g1 q parent g0
  drop g0
  drop g1
}

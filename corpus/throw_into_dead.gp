# Throw into a dead greenlet (test_throw.py::test_kill "immediately eaten by the already-dead
# greenlet"): the error goes up the dead greenlet's parent chain; here the chain is dead all the
# way to main, where E3 is raised; an exit becomes the value exit.
def quick {
  return "q"
}
def holder {
  spawn g1 quick
  switch g1 none
  return "h"
}
main {
  spawn g0 holder
  switch g0 none
  observe g1
  observe g0
  try { throw g1 E3 } catch E3 { observe current }
  throw g1 exit
  throw g0 exit
}

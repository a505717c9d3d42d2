# test_greenlet.py::TestGreenlet::test_parent_restored_on_kill (and test_dealloc): a worker
# whose parent is a "hub" catches the GreenletExit of teardown (greenlet's kill on dealloc sets
# the parent to the killer first) and switches to the hub instead of dying; the hub runs and
# returns to its parent, main, which records what it got. The worker stays suspended after
# teardown and is released silently after end.
def hub_body {
  observe current
  return "hub finished"
}
def worker {
  try { switch main "parked" } catch exit {
    observe current
    switch g0 "resurrected"
    observe current
  }
}
main {
  spawn g0 hub_body
  spawn g1 worker parent g0
  switch g1 none
  observe g1
}

# test_greenlet.py::TestGreenlet::test_dealloc_catches_GreenletExit_throws_other: a greenlet
# that answers the teardown GreenletExit by raising another error (SomeError = E8); teardown
# records it as caught E8 (greenlet reports it as unraisable on dealloc) and goes on with the
# next greenlet.
def run_body {
  try { switch parent none } catch exit { raise E8 }
}
def plain {
  switch parent none
}
main {
  spawn g0 run_body
  switch g0 none
  spawn g1 plain
  switch g1 none
}

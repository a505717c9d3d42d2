# Throwing into the current greenlet (greenlet.throw on getcurrent(), as in
# test_throw.py::test_not_throwable's target): the error is raised right there, in main and in a
# child; throwing exit into oneself raises GreenletExit, which a catch exit handles.
def child {
  try { throw current E6 } catch E6 { switch parent "child caught" }
  throw current exit
}
main {
  try { throw current E7 } catch E7 { observe main }
  try { throw main exit } catch exit { observe current }
  spawn g0 child
  switch g0 none
  switch g0 none
  observe g0
}

# test_throw.py::ThrowTests::test_kill: throw() with no argument throws GreenletExit; an uncaught
# GreenletExit kills the greenlet and is handed to the parent as a value (an instance of
# GreenletExit). Throwing exit again into the now dead greenlet is "eaten" the same way.
def f {
  switch parent "ok"
  switch parent "fail"
}
main {
  spawn g0 f
  switch g0 none
  throw g0 exit
  observe g0
  throw g0 exit
}

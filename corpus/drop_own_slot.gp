# drop: a greenlet drops its own slot; it dies only when it switches away, killed by main
# before main's switch returns (the value it sent is delivered afterwards).
# greenlet: test_greenlet.py::test_dealloc_switch_args_not_lost; docs/experiments/drop/e04.
def a { drop g0  switch main "a to main" }
main {
  spawn g0 a
  switch g0 1
  observe main
}

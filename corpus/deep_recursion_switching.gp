# Deep native recursion while switching (test_greenlet.py::test_get_stack_with_nested_c_calls,
# test_stack_saved.py, test_generator_deeply_nested.py): two greenlets each 1000+ frames deep
# ping-pong values, so greenlet must save and restore large stack slices on every switch; main
# switches from 2000 frames deep as well.
def deep_a {
  recurse 1000 {
    recurse 500 {
      repeat 3 { switch g1 "a" }
    }
  }
  return "a done"
}
def deep_b {
  recurse 1000 {
    repeat 3 { switch g0 "b" }
  }
  return "b done"
}
main {
  spawn g0 deep_a
  spawn g1 deep_b parent g0
  recurse 1000 { recurse 1000 { switch g0 "go" } }
  observe g0
  observe g1
}

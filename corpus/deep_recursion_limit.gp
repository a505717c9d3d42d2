# The deepest recursion the static limits allow (4096 recurse frames), inside a greenlet that
# switches out from the bottom and is resumed, then returns from the bottom
# (test_generator_deeply_nested.py-style deep stacks; test_stack_saved.py).
def deepest {
  recurse 1000 { recurse 1000 { recurse 1000 { recurse 1000 { recurse 96 {
    switch parent "bottom"
    return "returned from 4096 deep"
  } } } } }
}
main {
  spawn g0 deepest
  switch g0 1
  observe g0
  switch g0 2
}

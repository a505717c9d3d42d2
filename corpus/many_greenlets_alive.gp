# Many greenlets alive at once (test_leaks.py / test_gc.py create and drop greenlets in bulk;
# test_dealloc): 45 greenlets are started and left suspended (slots are reused, the greenlets
# stay alive), the last one is resumed and finishes, and teardown kills the other 44 in id order.
fuel 100000
def worker {
  switch parent "up"
  return "resumed"
}
main {
  repeat 45 {
    spawn g0 worker
    switch g0 none
  }
  switch g0 "last"
  observe g0
}

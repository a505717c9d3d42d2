# test_generator.py::GeneratorTests::test_generator: a generator built from greenlets; each
# next() sets the genlet's parent to the consumer and switches into it, and Yield switches the
# value to the parent. The consumer loops until the genlet is dead; done three times.
def gen5 {
  switch parent 0
  switch parent 1
  switch parent 2
  switch parent 3
  switch parent 4
}
def consumer {
  spawn g1 gen5
  repeat 6 { reparent g1 current switch g1 none observe g1 }
  return "consumed"
}
main {
  repeat 3 {
    spawn g0 consumer
    switch g0 none
  }
}

# try/catch (docs/greenlet.rst "Greenlets and Python's exceptions"): catch any catches every
# error (E0..E9, exit, badparent, unbound, limit, one thrown in from another greenlet); a
# specific catch lets other errors through; an error raised inside a handler propagates.
def thrower {
  throw parent E9
}
main {
  try { raise E0 } catch any { }
  try { raise exit } catch any { }
  try { reparent main main } catch any { }
  try { switch g7 none } catch any { }
  try { observe parent } catch any { }
  try { raise limit } catch any { }
  spawn g0 thrower
  try { switch g0 none } catch any { observe g0 }
  try { try { raise E1 } catch E2 { observe main } } catch E1 { }
  try { try { raise E1 } catch E1 { raise E2 } } catch E2 { }
  try { raise E4 } catch E4 { try { raise E5 } catch any { } }
  raise E3
}

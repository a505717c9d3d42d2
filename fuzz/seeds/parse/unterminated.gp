def x {
  spawn g16 x

main {
  switch g0 "ÿþ"
}

/*
 * testutil_main.c — main() for test binaries: runs the TEST()s registered in
 * the binary (see testutil.h). Kept in its own object so that a test file
 * with its own main() links without a clash.
 */
#include "testutil.h"

/* The hook first: under DBFORK_TEST_START_METHOD=spawn every worker is an
 * exec of the test binary that becomes the worker here. */
int main(int argc, char **argv) {
  int rc;
  if (dbfork_child_main(&argc, &argv, &rc)) return rc;
  return tu_main(argc, argv);
}

/*
 * testutil_main.c — main() for test binaries: runs the TEST()s registered in
 * the binary (see testutil.h). Kept in its own object so that a test file
 * with its own main() links without a clash.
 */
#include "testutil.h"

int main(int argc, char **argv) { return tu_main(argc, argv); }

// Test-only helpers that Swift's Glibc module does not expose.
#ifndef CTESTSUPPORT_H
#define CTESTSUPPORT_H

/// Opens a pseudo-terminal pair; returns the primary descriptor (non-blocking) and writes the
/// secondary's descriptor, or returns -1.
int swl_test_open_pseudo_terminal(int *secondary);

#endif

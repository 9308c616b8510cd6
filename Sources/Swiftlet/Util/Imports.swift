// Library-wide re-exports so every file sees the C runtime (strdup, free, fopen, ...).
#if canImport(Glibc)
@_exported import Glibc
#endif

// Invariant checks for the fuzz targets. A broken invariant aborts, so
// libFuzzer keeps the input that broke it; running the target on that file
// prints which check failed.
#pragma once
#include <cstdio>
#include <cstdlib>

#define FUZZ_CHECK(condition)                                                                    \
    do {                                                                                         \
        if (!(condition)) {                                                                      \
            std::fprintf(stderr, "%s:%d: invariant broken: %s\n", __FILE__, __LINE__, #condition); \
            std::abort();                                                                        \
        }                                                                                        \
    } while (0)

#define FUZZ_FAIL(what)                                                          \
    do {                                                                         \
        std::fprintf(stderr, "%s:%d: invariant broken: %s\n", __FILE__, __LINE__, what); \
        std::abort();                                                            \
    } while (0)

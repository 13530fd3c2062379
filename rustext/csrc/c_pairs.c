/* allocbench's C-level baseline ("the physical limit"): the alloc+free pair of
 * rustext/src/workloads/raw.rs (raw_pair) and throughput.rs (alloc_pair), written in C and
 * calling each allocator the way a C extension does: plain extern declarations, direct
 * calls (through the PLT for the interpreter's and libc's functions), no function pointers.
 *
 * Each allocator gets its own function (allocbench_c_pair_<primitive>, its own symbol:
 * allocbench.calls reads its calls from the machine code). Each runs `loops` pairs of one
 * size: allocate, write one non-zero byte (volatile), hand the pointer to an empty asm
 * statement that claims to read it and clobber memory (so the compiler can neither drop
 * the block nor fold malloc + free away), free. It returns the seconds the loop took,
 * measured here with CLOCK_MONOTONIC (pyperf's bench_time_func shape: f(loops) ->
 * seconds), or a negative value when the allocator returned NULL.
 *
 * The PyMem_Malloc and PyMem_Calloc pairs need a thread holding the GIL (the Python
 * binding holds it: rustext/src/bindings/workloads.rs never detaches around them). The PyMem_Raw
 * and libc pairs need no thread state.
 *
 * Compiled by rustext/build.rs only with the `python` feature (`cargo test` links no
 * libpython); the mimalloc and jemalloc pairs only in their flavours (ALLOCBENCH_MIMALLOC,
 * ALLOCBENCH_JEMALLOC), where the static allocator is linked into the extension. */

#define _POSIX_C_SOURCE 200809L

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>

/* CPython's allocator API, declared as Python.h declares it. The abi3 extension is
 * linked with these undefined; the interpreter resolves them when it loads the module. */
extern void *PyMem_Malloc(size_t size);
extern void *PyMem_Calloc(size_t nelem, size_t elsize);
extern void PyMem_Free(void *ptr);
extern void *PyMem_RawMalloc(size_t size);
extern void PyMem_RawFree(void *ptr);

#ifdef ALLOCBENCH_MIMALLOC
/* mimalloc.h; libmimalloc-sys links mimalloc statically into the extension. */
extern void *mi_malloc(size_t size);
extern void mi_free(void *p);
#endif

#ifdef ALLOCBENCH_JEMALLOC
/* tikv-jemalloc-sys builds jemalloc with the symbol prefix _rjem_. */
extern void *_rjem_malloc(size_t size);
extern void _rjem_free(void *ptr);
#endif

static double seconds_between(const struct timespec *a, const struct timespec *b) {
    return (double)(b->tv_sec - a->tv_sec) + (double)(b->tv_nsec - a->tv_nsec) * 1e-9;
}

/* NEIGHBOUR: before the loop, a block is allocated, a second one (the neighbour) beside it,
 * and the first freed. pymalloc serves the pair from the pool the neighbour lives in, which
 * the pair's free can then never empty; without it, whether a pool empties (and is set up
 * again on the next allocation, ~20 instructions per pair) depended on what the process had
 * allocated before, and counts of one point moved by 20 % between runs with other filters.
 * Every pair loop (alloc_pair, alloc_pair_unguarded, raw_pair) does the same.
 * One function per primitive: ALLOC is an expression of `size`, FREE a function name. */
#define ALLOCBENCH_C_PAIR(name, ALLOC, FREE)                                                \
    __attribute__((noinline)) double allocbench_c_pair_##name(uint64_t loops, size_t size) { \
        struct timespec t0, t1;                                                             \
        int failed = 0;                                                                     \
        /* The neighbour (see NEIGHBOUR below): kept live beside the pair's block. */        \
        void *first = (ALLOC), *neighbour = (ALLOC);                                        \
        if (first == NULL || neighbour == NULL) {                                           \
            FREE(first);                                                                    \
            FREE(neighbour);                                                                \
            return -1.0;                                                                    \
        }                                                                                   \
        FREE(first);                                                                        \
        clock_gettime(CLOCK_MONOTONIC, &t0);                                                \
        for (uint64_t i = 0; i < loops; i++) {                                              \
            unsigned char *p = (unsigned char *)(ALLOC);                                    \
            if (p == NULL) {                                                                \
                failed = 1;                                                                 \
                break;                                                                      \
            }                                                                               \
            *(volatile unsigned char *)p = 1;                                               \
            __asm__ volatile("" : : "r"(p) : "memory");                                     \
            FREE(p);                                                                        \
        }                                                                                   \
        clock_gettime(CLOCK_MONOTONIC, &t1);                                                \
        FREE(neighbour);                                                                    \
        return failed ? -1.0 : seconds_between(&t0, &t1);                                   \
    }

/* Prototypes: these are the extension's entry points (rustext/src/workloads/c_pair.rs). */
double allocbench_c_pair_pymem(uint64_t loops, size_t size);
double allocbench_c_pair_pymem_calloc(uint64_t loops, size_t size);
double allocbench_c_pair_pymem_raw(uint64_t loops, size_t size);
double allocbench_c_pair_malloc(uint64_t loops, size_t size);

ALLOCBENCH_C_PAIR(pymem, PyMem_Malloc(size), PyMem_Free)
ALLOCBENCH_C_PAIR(pymem_calloc, PyMem_Calloc(1, size), PyMem_Free)
ALLOCBENCH_C_PAIR(pymem_raw, PyMem_RawMalloc(size), PyMem_RawFree)
ALLOCBENCH_C_PAIR(malloc, malloc(size), free)

#ifdef ALLOCBENCH_MIMALLOC
double allocbench_c_pair_mimalloc(uint64_t loops, size_t size);
ALLOCBENCH_C_PAIR(mimalloc, mi_malloc(size), mi_free)
#endif

#ifdef ALLOCBENCH_JEMALLOC
double allocbench_c_pair_jemalloc(uint64_t loops, size_t size);
ALLOCBENCH_C_PAIR(jemalloc, _rjem_malloc(size), _rjem_free)
#endif

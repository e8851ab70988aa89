/*
 * precopy_loop.c: the C reference loop of benchmarks/bench_kernel.py.
 *
 * The least work a page-by-page pre-copy simulation must do, written as plainly
 * as C allows, to measure the compiled kernel against.  A guest of MEM_GIB GiB
 * of 4 KiB pages writes WRITES_PER_S pages per second: each write is hot with
 * probability HOT_FRAC (a page uniform over the first WWS_GIB GiB) or else a
 * page uniform over all memory; the draw is the kernel's own (one splitmix64
 * number per write, the low 32 bits against the hot threshold, the high 32 bits
 * scaled to the range by multiply-shift).  A round sends its pages at LINK_GBPS
 * Gbit/s of payload; the writes made meanwhile set bits in a dirty bitmap, which
 * is counted and cleared at the end of the round.  The round loop stops when the
 * next round would take less than 0.3 s (that round is the downtime) or after
 * 30 rounds.  No per-round table, no page skip, no aids: a floor, not a model.
 *
 * Build: cc -O2 -o precopy_loop precopy_loop.c
 * Usage: precopy_loop MEM_GIB WWS_GIB HOT_FRAC WRITES_PER_S LINK_GBPS REPEATS
 * Prints one JSON object: rounds, total_time_s, downtime_s, writes (all repeats),
 * wall_s_per_repeat, ns_per_write.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define PAGES_PER_GIB 262144ull /* 4 KiB pages */
#define PAGE_BITS 32768.0       /* bits in one 4 KiB page */
#define TARGET_S 0.3
#define MAX_ROUNDS 30

static uint64_t state;

static inline uint64_t splitmix64(void)
{
    uint64_t z = (state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static uint64_t count_bits(const uint64_t *bm, uint64_t words)
{
    uint64_t c = 0;
    for (uint64_t i = 0; i < words; i++)
        c += (uint64_t)__builtin_popcountll(bm[i]);
    return c;
}

int main(int argc, char **argv)
{
    if (argc != 7) {
        fprintf(stderr, "usage: %s MEM_GIB WWS_GIB HOT_FRAC WRITES_PER_S LINK_GBPS REPEATS\n", argv[0]);
        return 2;
    }
    const double mem_gib = atof(argv[1]), wws_gib = atof(argv[2]), hot = atof(argv[3]);
    const double writes_per_s = atof(argv[4]), gbps = atof(argv[5]);
    const int repeats = atoi(argv[6]);
    if (mem_gib <= 0 || wws_gib <= 0 || wws_gib > mem_gib || hot < 0 || hot > 1 || writes_per_s < 0 ||
        gbps <= 0 || repeats < 1) {
        fprintf(stderr, "precopy_loop: arguments out of range\n");
        return 2;
    }
    const uint64_t n_pages = (uint64_t)(mem_gib * PAGES_PER_GIB);
    const uint64_t hot_pages = (uint64_t)(wws_gib * PAGES_PER_GIB);
    const uint64_t words = (n_pages + 63) / 64;
    const uint64_t hot_thr = (uint64_t)llround(hot * 4294967296.0);
    const double pages_per_s = gbps * 1e9 / PAGE_BITS;
    uint64_t *bm = calloc(words, sizeof *bm);
    if (!bm) {
        fprintf(stderr, "precopy_loop: out of memory\n");
        return 1;
    }

    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    uint64_t writes = 0;
    int rounds = 0;
    double total_s = 0.0, downtime_s = 0.0;
    for (int rep = 0; rep < repeats; rep++) {
        state = (uint64_t)rep + 1;
        uint64_t to_send = n_pages;
        double guest_s = 0.0;     /* guest time at the start of the round */
        uint64_t done = 0;        /* writes made so far: floor(rate * guest_s) */
        total_s = 0.0;
        rounds = 0;
        for (;;) {
            const double dur = (double)to_send / pages_per_s;
            total_s += dur;
            rounds++;
            if (dur < TARGET_S || rounds >= MAX_ROUNDS) {
                downtime_s = dur;
                break;
            }
            guest_s += dur;
            const uint64_t target = (uint64_t)floor(writes_per_s * guest_s);
            for (uint64_t k = done; k < target; k++) {
                const uint64_t z = splitmix64();
                const uint64_t hi = z >> 32;
                const uint64_t p = (z & 0xFFFFFFFFull) < hot_thr ? (hi * hot_pages) >> 32
                                                                : (hi * n_pages) >> 32;
                bm[p >> 6] |= 1ull << (p & 63);
            }
            writes += target - done;
            done = target;
            to_send = count_bits(bm, words);
            memset(bm, 0, words * sizeof *bm);
        }
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    const double wall = (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec);
    printf("{\"rounds\": %d, \"total_time_s\": %.6f, \"downtime_s\": %.6f, \"writes\": %llu, "
           "\"wall_s_per_repeat\": %.6f, \"ns_per_write\": %.3f}\n",
           rounds, total_s, downtime_s, (unsigned long long)writes, wall / repeats,
           writes ? wall * 1e9 / (double)writes : 0.0);
    free(bm);
    return 0;
}

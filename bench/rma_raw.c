/* rma_raw: the bare MPI one-sided baseline that `dagr bench transfer` is compared against.
 *
 * usage: mpirun -np 3 bench/rma_raw --bytes B [--reps R]      (B accepts K, M, G suffixes = 2^10, 2^20, 2^30)
 *
 * It uses the MPI settings dagr uses: MPI_THREAD_FUNNELED, OMPI_MCA_osc_rdma_priority=10 set before MPI
 * starts (single-node MPI_Win_allocate windows then go to osc/sm), one MPI_Win_allocate arena per rank over
 * MPI_COMM_WORLD (rank 0: 0 bytes, workers: B bytes, disp_unit 1) and one MPI_Win_lock_all(MPI_MODE_NOCHECK)
 * epoch for the whole run.
 *
 * Rank 1 fills its arena with a pattern and is the target. Rank 2 is the consumer: per repetition it issues
 * MPI_Rget of B bytes from rank 1 (displacement 0) into its own arena, in pieces of at most 256 MiB (int
 * counts), and waits for all of them; each repetition is timed with MPI_Wtime. Ranks 0 and 1 keep entering
 * MPI (MPI_Test on an MPI_Ibarrier with a short, backed-off nanosleep) while rank 2 works, because
 * passive-target RMA may need target progress. The data of the last repetition is verified against the
 * pattern. Rank 2 prints one line:
 *   bench=rma_raw bytes=B reps=R seconds=<median> bytes_per_s=<B/median> min_seconds=<min> ok=1
 * Exit status: 0 when verified, 1 on a data mismatch, 2 on bad usage (fewer than 3 ranks included). */
#include <mpi.h>

#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define PIECE_MAX ((size_t)256 << 20) /* bytes per MPI_Rget: well inside an int count */
#define TARGET 1
#define CONSUMER 2

/* Parse a byte count: digits with an optional K/M/G suffix (binary), optionally followed by "B" or "iB". */
static int parse_bytes(const char *s, size_t *out) {
    if (s == NULL || *s < '0' || *s > '9') return -1;
    errno = 0;
    char *end = NULL;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno != 0 || end == s) return -1;
    unsigned shift = 0;
    switch (*end) {
    case 'k': case 'K': shift = 10; end++; break;
    case 'm': case 'M': shift = 20; end++; break;
    case 'g': case 'G': shift = 30; end++; break;
    default: break;
    }
    if (shift != 0 && (end[0] == 'i' || end[0] == 'I') && (end[1] == 'b' || end[1] == 'B')) end += 2;
    else if (end[0] == 'b' || end[0] == 'B') end++;
    if (*end != '\0') return -1;
    if (shift != 0 && v > (ULLONG_MAX >> shift)) return -1;
    v <<= shift;
    if (v == 0 || v > (unsigned long long)SIZE_MAX || v > (unsigned long long)(((uint64_t)1 << 62))) return -1;
    *out = (size_t)v;
    return 0;
}

static int parse_int(const char *s, int *out) {
    if (s == NULL) return -1;
    errno = 0;
    char *end = NULL;
    long v = strtol(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v < 1 || v > INT_MAX) return -1;
    *out = (int)v;
    return 0;
}

/* The pattern: 64-bit word i holds a mixed function of i, so shifted or stale data does not match. */
static inline uint64_t pattern_word(uint64_t i) {
    uint64_t x = (i + 1) * UINT64_C(0x9E3779B97F4A7C15);
    x ^= x >> 29;
    return x * UINT64_C(0xBF58476D1CE4E5B9);
}

static void fill_pattern(unsigned char *buf, size_t n) {
    size_t words = n / 8;
    for (size_t i = 0; i < words; i++) {
        uint64_t w = pattern_word(i);
        memcpy(buf + i * 8, &w, 8); /* every page is written */
    }
    if (n % 8) {
        uint64_t w = pattern_word(words);
        memcpy(buf + words * 8, &w, n % 8);
    }
}

/* Returns the offset of the first byte that differs from the pattern, or n when all match. */
static size_t check_pattern(const unsigned char *buf, size_t n) {
    size_t words = n / 8;
    for (size_t i = 0; i < words; i++) {
        uint64_t w = pattern_word(i);
        if (memcmp(buf + i * 8, &w, 8) != 0) {
            for (size_t b = 0; b < 8; b++)
                if (buf[i * 8 + b] != ((const unsigned char *)&w)[b]) return i * 8 + b;
        }
    }
    if (n % 8) {
        uint64_t w = pattern_word(words);
        for (size_t b = 0; b < n % 8; b++)
            if (buf[words * 8 + b] != ((const unsigned char *)&w)[b]) return words * 8 + b;
    }
    return n;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Complete `req` while entering MPI regularly: spin briefly, then sleep with a backoff capped at 256 us
 * (a few % of a core when idle, yet the rank answers progress within a fraction of a millisecond). */
static void poll_until_done(MPI_Request *req) {
    long sleep_ns = 1000;
    int spins = 0;
    for (;;) {
        int flag = 0, probe = 0;
        MPI_Test(req, &flag, MPI_STATUS_IGNORE);
        if (flag) return;
        MPI_Iprobe(MPI_ANY_SOURCE, MPI_ANY_TAG, MPI_COMM_WORLD, &probe, MPI_STATUS_IGNORE);
        if (++spins < 64) continue;
        struct timespec ts = {0, sleep_ns};
        nanosleep(&ts, NULL);
        if (sleep_ns < 256000) sleep_ns *= 2;
    }
}

static void usage(const char *prog) {
    fprintf(stderr,
            "usage: mpirun -np 3 %s --bytes B [--reps R]\n"
            "  B: bytes per transfer, suffixes K, M, G (powers of 2^10), e.g. 1M, 64M, 1G\n"
            "  R: timed repetitions (default 20)\n"
            "  needs at least 3 ranks: 0 idles, 1 is the target, 2 the consumer\n",
            prog);
}

int main(int argc, char **argv) {
    /* As dagr does: keep single-node MPI_Win_allocate windows on osc/sm (osc/rdma is ~2 GB/s here). */
    setenv("OMPI_MCA_osc_rdma_priority", "10", 0);

    int provided = 0;
    MPI_Init_thread(&argc, &argv, MPI_THREAD_FUNNELED, &provided);
    int rank = 0, size = 0;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);

    size_t bytes = 0;
    int reps = 20, bad = 0;
    for (int i = 1; i < argc && !bad; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--bytes") == 0) bad = i + 1 >= argc || parse_bytes(argv[++i], &bytes) != 0;
        else if (strncmp(a, "--bytes=", 8) == 0) bad = parse_bytes(a + 8, &bytes) != 0;
        else if (strcmp(a, "--reps") == 0) bad = i + 1 >= argc || parse_int(argv[++i], &reps) != 0;
        else if (strncmp(a, "--reps=", 7) == 0) bad = parse_int(a + 7, &reps) != 0;
        else if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            if (rank == 0) usage(argv[0]);
            MPI_Finalize();
            return 0;
        } else bad = 1;
        if (bad && rank == 0) {
            if (strncmp(a, "--bytes", 7) == 0 || strncmp(a, "--reps", 6) == 0)
                fprintf(stderr, "rma_raw: bad or missing value for %s (--bytes N[K|M|G], --reps N; N >= 1)\n", a);
            else fprintf(stderr, "rma_raw: unknown argument '%s'\n", a);
        }
    }
    if (!bad && bytes == 0) {
        if (rank == 0) fprintf(stderr, "rma_raw: --bytes is required\n");
        bad = 1;
    }
    if (!bad && size < 3) {
        if (rank == 0)
            fprintf(stderr, "rma_raw: needs at least 3 ranks (0 idles, 1 is the target, 2 the consumer); got %d."
                            " Run: mpirun -np 3 %s --bytes B\n", size, argv[0]);
        bad = 1;
    }
    if (bad) {
        if (rank == 0) usage(argv[0]);
        MPI_Finalize();
        return 2;
    }

    /* One arena per rank, as dagr's object store: rank 0 holds no objects. */
    MPI_Aint win_bytes = rank == 0 ? 0 : (MPI_Aint)bytes;
    unsigned char *base = NULL;
    MPI_Win win;
    MPI_Win_allocate(win_bytes, 1, MPI_INFO_NULL, MPI_COMM_WORLD, &base, &win);
    MPI_Win_lock_all(MPI_MODE_NOCHECK, win);

    if (rank == TARGET) fill_pattern(base, bytes);
    if (rank == CONSUMER) memset(base, 0xA5, bytes); /* fault the destination pages in before timing */
    MPI_Win_sync(win); /* local stores visible to RMA (unified model), then everyone agrees on it */
    MPI_Barrier(MPI_COMM_WORLD);
    MPI_Win_sync(win);

    int ok = 1;
    double *times = NULL;
    size_t npieces = (bytes + PIECE_MAX - 1) / PIECE_MAX;
    if (rank == CONSUMER) {
        times = malloc(sizeof(double) * (size_t)reps);
        MPI_Request *reqs = malloc(sizeof(MPI_Request) * npieces);
        if (times == NULL || reqs == NULL) {
            fprintf(stderr, "rma_raw: out of memory\n");
            MPI_Abort(MPI_COMM_WORLD, 1);
        }
        for (int r = 0; r < reps; r++) {
            /* Untimed: clear the destination before the last (verified) repetition so that the check
             * proves that this repetition delivered the data. */
            if (r == reps - 1) memset(base, 0xA5, bytes);
            double t0 = MPI_Wtime();
            for (size_t p = 0; p < npieces; p++) {
                size_t off = p * PIECE_MAX;
                size_t n = bytes - off < PIECE_MAX ? bytes - off : PIECE_MAX;
                MPI_Rget(base + off, (int)n, MPI_BYTE, TARGET, (MPI_Aint)off, (int)n, MPI_BYTE, win, &reqs[p]);
            }
            MPI_Waitall((int)npieces, reqs, MPI_STATUSES_IGNORE);
            times[r] = MPI_Wtime() - t0;
        }
        free(reqs);
    }

    /* Ranks 0 and 1 sit here polling MPI (target progress) until rank 2 has finished its repetitions. */
    MPI_Request bar;
    MPI_Ibarrier(MPI_COMM_WORLD, &bar);
    poll_until_done(&bar);

    if (rank == CONSUMER) {
        size_t bad_at = check_pattern(base, bytes);
        if (bad_at != bytes) {
            ok = 0;
            fprintf(stderr, "rma_raw: data mismatch at byte %zu of %zu in the last repetition\n", bad_at, bytes);
        }
        double min = times[0];
        for (int r = 1; r < reps; r++)
            if (times[r] < min) min = times[r];
        qsort(times, (size_t)reps, sizeof(double), cmp_double);
        double median = reps % 2 ? times[reps / 2] : 0.5 * (times[reps / 2 - 1] + times[reps / 2]);
        printf("bench=rma_raw bytes=%zu reps=%d pieces=%zu seconds=%.9f bytes_per_s=%.0f min_seconds=%.9f "
               "max_bytes_per_s=%.0f ok=%d\n",
               bytes, reps, npieces, median, median > 0 ? (double)bytes / median : 0.0, min,
               min > 0 ? (double)bytes / min : 0.0, ok);
        fflush(stdout);
        free(times);
    }

    MPI_Win_unlock_all(win);
    MPI_Win_free(&win);
    MPI_Finalize();
    return ok ? 0 : 1;
}

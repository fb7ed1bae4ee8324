/* Which kernel runs each product: the GEMM path (OpenBLAS or the engine's own), the
 * precision of the products (float or bf16), and an optional record of the paths
 * each layer and GEMM shape took, with their time, for benchmarks. */
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/err.h"
#include "nn/nn_impl.h"

static NnGemmPath g_path = NN_GEMM_AUTO;
static NnPrecision g_prec = NN_PREC_FP32;
static int g_path_from_env = -1; /* SEQJEPA_GEMM read once */

const char *nn_gemm_path_name(NnGemmPath p) {
    return p == NN_GEMM_BLAS ? "blas" : p == NN_GEMM_OWN ? "own" : "auto";
}

void nn_set_gemm_path(NnGemmPath p) {
    g_path_from_env = 0;
    g_path = p;
}

int nn_env_choice(const char *var, const NnEnvChoice *choices, int n, int dflt) {
    const char *e = getenv(var);
    if (!e) return dflt;
    for (int i = 0; i < n; i++)
        if (!strcasecmp(e, choices[i].name)) return choices[i].value;
    char names[256] = "";
    for (int i = 0; i < n; i++)
        snprintf(names + strlen(names), sizeof names - strlen(names), "%s%s", i ? ", " : "", choices[i].name);
    wm_warn("nn: %s='%.60s' is not one of %s; ignored", var, e, names);
    return dflt;
}

NnGemmPath nn_get_gemm_path(void) {
    if (g_path_from_env < 0) {
        static const NnEnvChoice ch[] = {{"blas", NN_GEMM_BLAS}, {"own", NN_GEMM_OWN}, {"auto", NN_GEMM_AUTO}};
        g_path_from_env = 0;
        g_path = (NnGemmPath)nn_env_choice("SEQJEPA_GEMM", ch, 3, g_path);
        if (g_path == NN_GEMM_OWN && !nn_gemm_own_ok(0)) g_path = NN_GEMM_AUTO;
    }
    return g_path;
}

int nn_set_precision(NnPrecision p, char *err, size_t errsz) {
    if (p == NN_PREC_BF16 && !nn_gemm_own_ok(1))
        return wm_errf(err, errsz, WM_ERR_ARG,
                       "precision bf16 needs a CPU with AVX512_BF16 (vdpbf16ps), and this one has none; "
                       "use precision fp32");
    g_prec = p;
    return WM_OK;
}

NnPrecision nn_get_precision(void) {
    return g_prec;
}

/* ---------------------------------------------------------------- record */

#define MAX_NOTES 512
typedef struct {
    char key[160];
    long calls;
    double seconds, wall, flop; /* CPU seconds, wall seconds (0: not measured) */
} Note;

static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static Note g_notes[MAX_NOTES];
static int g_n_notes, g_recording, g_dropped;

void nn_paths_record(int on) {
    pthread_mutex_lock(&g_lock);
    g_recording = on;
    if (on) g_n_notes = g_dropped = 0;
    pthread_mutex_unlock(&g_lock);
}

int nn_paths_recording(void) {
    return g_recording;
}

void nn_path_add(const char *key, double seconds, double wall, double flop) {
    if (!g_recording) return;
    pthread_mutex_lock(&g_lock);
    int i = 0;
    while (i < g_n_notes && strcmp(g_notes[i].key, key))
        i++;
    if (i == g_n_notes) {
        if (g_n_notes == MAX_NOTES) {
            g_dropped++;
            pthread_mutex_unlock(&g_lock);
            return;
        }
        snprintf(g_notes[i].key, sizeof g_notes[i].key, "%s", key);
        g_notes[i].calls = 0;
        g_notes[i].seconds = g_notes[i].wall = g_notes[i].flop = 0;
        g_n_notes++;
    }
    g_notes[i].calls++;
    g_notes[i].seconds += seconds;
    g_notes[i].wall += wall;
    g_notes[i].flop += flop;
    pthread_mutex_unlock(&g_lock);
}

void nn_path_notef(const char *fmt, ...) {
    if (!g_recording) return;
    char key[160];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(key, sizeof key, fmt, ap);
    va_end(ap);
    nn_path_add(key, 0, 0, 0);
}

static int by_key(const void *a, const void *b) {
    return strcmp(((const Note *)a)->key, ((const Note *)b)->key);
}

void nn_paths_print(FILE *f) {
    pthread_mutex_lock(&g_lock);
    qsort(g_notes, (size_t)g_n_notes, sizeof g_notes[0], by_key);
    for (int i = 0; i < g_n_notes; i++) {
        const Note *n = &g_notes[i];
        if (n->seconds > 0 && n->wall > 0)
            fprintf(f, "    %-72s %5ld calls %8.3f CPU-s %6.1f GFLOP/CPU-s %8.3f s %4.2f cores busy\n", n->key,
                    n->calls, n->seconds, n->flop / n->seconds * 1e-9, n->wall, n->seconds / n->wall);
        else if (n->seconds > 0)
            fprintf(f, "    %-72s %5ld calls %8.3f CPU-s %6.1f GFLOP/CPU-s\n", n->key, n->calls, n->seconds,
                    n->flop / n->seconds * 1e-9);
        else
            fprintf(f, "    %-72s %7ld calls\n", n->key, n->calls);
    }
    if (g_dropped) fprintf(f, "    (%d more kinds not recorded)\n", g_dropped);
    pthread_mutex_unlock(&g_lock);
}

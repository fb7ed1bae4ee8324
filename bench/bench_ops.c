/* `seqjepa bench ops`: the nn engine's speed against the machine's own cblas_sgemm
 * rate: per-op forward and backward GFLOP/s of the encoders and the transformer. */
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench/bench.h"
#include "run/args.h"
#include "core/alloc.h"
#include "core/clock.h"
#include "core/err.h"
#include "core/rng.h"
#include "nn/nn.h"

typedef struct {
    int threads, batch, reps, seqs, sgemm_only, gemm, optim;
} OpsArgs;

/* The best GFLOP per CPU-second of the engine's split sgemm seen so far. */
static double sgemm_per_cpu;
double bench_sgemm_per_cpu(void) { return sgemm_per_cpu; }

static float *randn(size_t n, WmRng *r) {
    float *x = wm_new(float, n);
    for (size_t i = 0; i < n; i++)
        x[i] = (float)wm_rng_normal(r);
    return x;
}

/* GFLOP/s of an n x n x n sgemm, best of a few timed runs after a warm-up: with
 * OpenBLAS's own threads (cblas_sgemm as any program would call it), or split over
 * the engine's pool as the engine runs its products (nn_gemm). */
double bench_sgemm_rate(int n, int openblas_threads) {
    WmRng r;
    wm_rng_seed(&r, 1, 0);
    size_t nn2 = (size_t)n * n;
    float *a = randn(nn2, &r), *b = randn(nn2, &r), *c = wm_new(float, nn2);
    if (openblas_threads) openblas_set_num_threads(nn_runtime_threads());
    double best = 0;
    for (int rep = 0; rep < 6; rep++) {
        double t = wm_now(), c0 = wm_cpu_now();
        if (openblas_threads)
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1, a, n, b, n, 0, c, n);
        else
            nn_gemm(0, 0, n, n, n, 1, a, n, b, n, 0, c, n);
        t = wm_now() - t;
        double flop = 2.0 * n * n * (double)n, rate = flop / t / 1e9;
        if (rep > 0 && rate > best) best = rate;
        /* OpenBLAS's threads spin while they wait, so only the engine's split counts */
        double per_cpu = flop / (wm_cpu_now() - c0) / 1e9;
        if (rep > 0 && !openblas_threads && per_cpu > sgemm_per_cpu) sgemm_per_cpu = per_cpu;
    }
    if (openblas_threads) openblas_set_num_threads(1); /* the engine's setting */
    wm_free(a);
    wm_free(b);
    wm_free(c);
    return best;
}

/* The best of the four sgemm measurements (1024 and 2048, both threadings). */
double bench_sgemm_best(void) {
    double best = 0;
    for (int i = 0; i < 4; i++) {
        double r = bench_sgemm_rate(i / 2 ? 2048 : 1024, i % 2);
        if (r > best) best = r;
    }
    return best;
}

double bench_load_average(void) {
    double load = -1;
    FILE *f = fopen("/proc/loadavg", "r");
    if (f) {
        if (fscanf(f, "%lf", &load) != 1) load = -1;
        fclose(f);
    }
    return load;
}

/* One line per configuration for the closing summary. */
typedef struct {
    char label[96];
    double rate, sgemm, per_cpu;
} Row;
static Row rows[12];
static int n_rows;

static void print_profile(const char *label, const NnProfile *p, double fwd_s, double bwd_s,
                          double sgemm, double cpu_s) {
    double ff = 0, bf = 0;
    printf("    %-12s %9s %10s %9s %10s %7s\n", "op", "fwd ms", "fwd GF/s", "bwd ms", "bwd GF/s",
           "share");
    for (int k = 0; k < NN_OP_COUNT_; k++) {
        if (p->fwd_s[k] == 0 && p->bwd_s[k] == 0) continue;
        char fr[16] = "-", br[16] = "-";
        if (p->fwd_flop[k] > 0) snprintf(fr, sizeof fr, "%.1f", p->fwd_flop[k] / p->fwd_s[k] / 1e9);
        if (p->bwd_flop[k] > 0) snprintf(br, sizeof br, "%.1f", p->bwd_flop[k] / p->bwd_s[k] / 1e9);
        printf("    %-12s %9.2f %10s %9.2f %10s %6.1f%%\n", nn_op_name((NnOpKind)k),
               1e3 * p->fwd_s[k], fr, 1e3 * p->bwd_s[k], br,
               100 * (p->fwd_s[k] + p->bwd_s[k]) / (fwd_s + bwd_s));
        ff += p->fwd_flop[k];
        bf += p->bwd_flop[k];
    }
    printf("    %-12s %9.2f %10.1f %9.2f %10.1f\n", "total", 1e3 * fwd_s, ff / fwd_s / 1e9,
           1e3 * bwd_s, bf / bwd_s / 1e9);
    double rate = (ff + bf) / (fwd_s + bwd_s) / 1e9;
    printf(
        "    forward+backward: %.1f GFLOP/s = %.0f%% of the sgemm rate measured just before and\n"
        "    after it (%.1f GFLOP/s, the better of the two)\n",
        rate, 100 * rate / sgemm, sgemm);
    double per_cpu = (ff + bf) / cpu_s / 1e9;
    printf("    per CPU-second: %.1f GFLOP = %.0f%% of sgemm's %.1f GFLOP per CPU-second\n",
           per_cpu, 100 * per_cpu / sgemm_per_cpu, sgemm_per_cpu);
    if (n_rows < (int)(sizeof rows / sizeof rows[0])) {
        Row *r = &rows[n_rows++];
        snprintf(r->label, sizeof r->label, "%s", label);
        r->rate = rate;
        r->sgemm = sgemm;
        r->per_cpu = per_cpu;
    }
}

/* Times reps forward+backward passes (pass(ctx, 0) then pass(ctx, 1)) and keeps the
 * fastest, with the profile it filled, and the least CPU time: the machine's other work
 * only ever slows a pass. */
static void time_passes(void (*pass)(void *ctx, int backward), void *ctx, NnStore *s, const NnParams *p,
                        NnProfile *prof, int reps, NnProfile *best, double *tf, double *tb, double *cpu) {
    for (int i = 0; i < reps; i++) {
        memset(prof, 0, sizeof *prof);
        nn_store_zero_grad(s, p);
        double t0 = wm_now(), c0 = wm_cpu_now();
        pass(ctx, 0);
        double t1 = wm_now();
        pass(ctx, 1);
        double t2 = wm_now(), c = wm_cpu_now() - c0;
        if (i == 0 || t2 - t0 < *tf + *tb) {
            *tf = t1 - t0;
            *tb = t2 - t1;
            *best = *prof;
        }
        if (i == 0 || c < *cpu) *cpu = c;
    }
}

typedef struct {
    NnResNet *r;
    const float *x;
    float *y;
    const float *dy;
    int n;
    NnStore *s;
} EncPass;

static void enc_pass(void *ctx, int backward) {
    EncPass *e = ctx;
    if (backward) nn_resnet_backward(e->r, NULL, e->dy, e->s);
    else nn_resnet_forward(e->r, e->y, e->x, e->n, e->s, 1);
}

typedef struct {
    NnTransformer *tf;
    const float *x;
    float *y;
    const float *dy;
    int seqs, t;
    WmRng *rng;
    NnStore *s;
} TfPass;

static void tf_pass(void *ctx, int backward) {
    TfPass *p = ctx;
    if (backward) nn_transformer_backward(p->tf, NULL, p->dy, p->s);
    else nn_transformer_forward(p->tf, p->y, p->x, p->seqs, p->t, p->s, 1, p->rng);
}

static void bench_encoder(const char *label, NnResNetConfig cfg, int n, int hw, int reps) {
    NnParams p;
    nn_params_init(&p);
    NnResNet *r = nn_resnet_create(&p, "encoder", &cfg);
    NnStore s;
    nn_store_create(&s, &p, NN_STORE_GRAD);
    WmRng rng;
    wm_rng_seed(&rng, 3, 0);
    nn_store_init(&s, &p, &rng);
    size_t bytes = nn_resnet_bind(r, n, hw, hw, 1);
    int d = nn_resnet_out_dim(r);
    float *x = randn((size_t)3 * n * hw * hw, &rng), *y = wm_new(float, (size_t)n *d);
    float *dy = randn((size_t)n * d, &rng);
    printf("  encoder %s, %dx%d, batch %d: %.3f GFLOP/image forward, %.0f MiB activations\n", label,
           hw, hw, n, nn_resnet_flops(r, hw, hw) / 1e9, bytes / 1048576.0);
    nn_store_zero_grad(&s, &p);
    nn_resnet_forward(r, y, x, n, &s, 1); /* warm-up */
    nn_resnet_backward(r, NULL, dy, &s);
    NnProfile prof, best;
    double tf = 0, tb = 0, cpu = 0;
    nn_resnet_set_profile(r, &prof);
    double sgemm = bench_sgemm_best();
    EncPass ep = {r, x, y, dy, n, &s};
    time_passes(enc_pass, &ep, &s, &p, &prof, reps, &best, &tf, &tb, &cpu);
    nn_resnet_set_profile(r, NULL);
    double after = bench_sgemm_best();
    char row[96];
    snprintf(row, sizeof row, "%s %dx%d", label, hw, hw);
    print_profile(row, &best, tf, tb, after > sgemm ? after : sgemm, cpu);
    printf("    %.1f images/s forward+backward\n", n / (tf + tb));
    wm_free(x);
    wm_free(y);
    wm_free(dy);
    nn_resnet_destroy(r);
    nn_store_free(&s);
    nn_params_free(&p);
}

static void bench_transformer(int e, int seqs, int t, int reps) {
    NnParams p;
    nn_params_init(&p);
    NnTransformerConfig cfg = {3, e, 4, 4 * e, 0.1f, 1, NULL};
    NnTransformer *tf = nn_transformer_create(&p, "transformer", &cfg);
    NnStore s;
    nn_store_create(&s, &p, NN_STORE_GRAD);
    WmRng rng;
    wm_rng_seed(&rng, 4, 0);
    nn_store_init(&s, &p, &rng);
    nn_transformer_bind(tf, seqs, t, 1);
    size_t n = (size_t)seqs * t * e;
    float *x = randn(n, &rng), *y = wm_new(float, n), *dy = randn(n, &rng);
    printf("  transformer: 3 layers, width %d, 4 heads, FFN %d, dropout 0.1, %d sequences of %d "
           "tokens: %.3f GFLOP forward\n",
           e, 4 * e, seqs, t, nn_transformer_flops(tf, seqs, t) / 1e9);
    nn_store_zero_grad(&s, &p);
    nn_transformer_forward(tf, y, x, seqs, t, &s, 1, &rng);
    nn_transformer_backward(tf, NULL, dy, &s);
    NnProfile prof, best;
    double tfw = 0, tbw = 0, cpu = 0;
    nn_transformer_set_profile(tf, &prof);
    double sgemm = bench_sgemm_best();
    TfPass tp = {tf, x, y, dy, seqs, t, &rng, &s};
    time_passes(tf_pass, &tp, &s, &p, &prof, reps, &best, &tfw, &tbw, &cpu);
    nn_transformer_set_profile(tf, NULL);
    double after = bench_sgemm_best();
    char row[96];
    snprintf(row, sizeof row, "transformer, width %d", e);
    print_profile(row, &best, tfw, tbw, after > sgemm ? after : sgemm, cpu);
    wm_free(x);
    wm_free(y);
    wm_free(dy);
    nn_transformer_destroy(tf);
    nn_store_free(&s);
    nn_params_free(&p);
}

static double thread_cpu_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* GFLOP per second of this thread's CPU time for one GEMM shape on one path, best of
 * reps: CPU time, not wall time, so that other processes sharing the cores barely
 * move it. */
static double gemm_cpu_rate(int path, const int *s, const float *a, const float *b, float *c) {
    char err[256];
    nn_set_gemm_path(path == 0 ? NN_GEMM_BLAS : NN_GEMM_OWN);
    if (nn_set_precision(path == 2 ? NN_PREC_BF16 : NN_PREC_FP32, err, sizeof err)) return 0;
    const int ta = s[0], tb = s[1], m = s[2], n = s[3], k = s[4];
    double t = thread_cpu_now();
    int calls = 0;
    do { /* at least 20 ms of CPU per measurement */
        nn_gemm(ta, tb, m, n, k, 1, a, ta ? m : k, b, tb ? k : n, 0, c, n);
        calls++;
    } while (thread_cpu_now() - t < 0.02);
    t = thread_cpu_now() - t;
    nn_set_precision(NN_PREC_FP32, err, sizeof err);
    nn_set_gemm_path(NN_GEMM_AUTO);
    return 2.0 * m * n * k * calls / t * 1e-9;
}

/* The GEMM shapes the convolutions and linear layers of the three training
 * configurations run on one thread (im2col chunks, weight gradients, scatters,
 * transformer and predictor products), on OpenBLAS and on the engine's own kernel
 * (fp32, bf16), measured alternately. */
static void bench_gemm_paths(int reps) {
    static const int shapes[][5] = {
        {0, 0, 64, 512, 576},   {0, 0, 128, 512, 1152}, {0, 0, 256, 512, 2304}, {0, 0, 512, 512, 4608},
        {0, 0, 64, 4096, 27},   {0, 1, 64, 576, 512},   {0, 1, 128, 1152, 512}, {0, 1, 256, 2304, 512},
        {0, 1, 512, 4608, 512}, {0, 1, 64, 27, 4096},   {1, 0, 1152, 512, 128}, {1, 0, 2304, 512, 256},
        {0, 1, 128, 960, 640},  {0, 0, 128, 320, 2560}, {1, 0, 640, 1280, 128}, {0, 1, 32, 512, 768},
        {0, 1, 96, 128, 4},     {1, 0, 128, 4, 96}};
    const int ns = (int)(sizeof shapes / sizeof shapes[0]);
    WmRng r;
    wm_rng_seed(&r, 3, 0);
    printf("GEMM paths on one thread, GFLOP per CPU-second (best of %d, alternated), OpenBLAS %s; load %.2f\n",
           reps, openblas_get_corename(), bench_load_average());
    printf("  %-28s %9s %9s %9s %8s %8s\n", "shape (op, m, n, k)", "OpenBLAS", "own fp32", "own bf16",
           "fp32/BL", "bf16/BL");
    for (int i = 0; i < ns; i++) {
        const int *s = shapes[i];
        float *a = randn((size_t)s[2] * s[4], &r), *b = randn((size_t)s[4] * s[3], &r);
        float *c = wm_new(float, (size_t)s[2] * s[3]);
        double best[3] = {0, 0, 0};
        for (int rep = 0; rep < reps; rep++)
            for (int p = 0; p < 3; p++) {
                double v = gemm_cpu_rate(p, s, a, b, c);
                if (v > best[p]) best[p] = v;
            }
        char label[64];
        snprintf(label, sizeof label, "%c%c %5d %5d %5d", s[0] ? 'T' : 'N', s[1] ? 'T' : 'N', s[2], s[3], s[4]);
        printf("  %-28s %9.1f %9.1f %9.1f %7.2fx %7.2fx\n", label, best[0], best[1], best[2], best[1] / best[0],
               best[2] / best[0]);
        fflush(stdout);
        wm_free(a);
        wm_free(b);
        wm_free(c);
    }
    printf("  load %.2f at the end\n", bench_load_average());
}

/* CPU milliseconds of the passes over every parameter that each training step makes
 * besides forward and backward (clearing the gradients, their norm, AdamW, the EMA of
 * the target encoder), on n parameters in tensors of ResNet-like sizes, best of reps. */
static void bench_optim(size_t n, int reps) {
    NnParams p;
    nn_params_init(&p);
    for (size_t total = 0, k = 0; total < n; k++) {
        size_t c = k % 3 == 2 ? 512 : 880000; /* weights with decay, norms without */
        if (c > n - total) c = n - total;
        char name[32];
        snprintf(name, sizeof name, "t%zu", k);
        nn_params_add(&p, "", name, NN_PARAM, 1, &c, k % 3 != 2, NN_INIT_NORMAL, 0.1f);
        total += c;
    }
    NnStore s, t;
    nn_store_create(&s, &p, NN_STORE_GRAD | NN_STORE_ADAM);
    nn_store_create(&t, &p, 0);
    WmRng r;
    wm_rng_seed(&r, 1, 0);
    nn_store_init(&s, &p, &r);
    nn_store_init(&t, &p, &r);
    NnAdamW opt = nn_adamw_default(1e-4f, 1e-3f);
    static const char *const names[4] = {"zero_grad", "grad_norm", "adamw", "ema"};
    double best[4] = {0, 0, 0, 0}, sink = 0;
    printf("optimiser passes, %zu parameters in %d tensors, %d thread%s, load %.2f\n", p.n_param, p.n,
           nn_runtime_threads(), nn_runtime_threads() == 1 ? "" : "s", bench_load_average());
    for (int rep = 0; rep <= reps; rep++) /* rep 0 warms up */
        for (int j = 0; j < 4; j++) {
            if (j == 1)
                for (size_t i = 0; i < p.n_param; i++) s.grad[i] = 1e-3f * (float)(i % 1000) - 0.5f;
            double c0 = wm_cpu_now();
            if (j == 0) nn_store_zero_grad(&s, &p);
            else if (j == 1) sink += nn_grad_norm(&s, &p);
            else if (j == 2) nn_adamw_step(&opt, &p, &s);
            else nn_ema_update(t.param, s.param, p.n_param, 0.99);
            double c = wm_cpu_now() - c0;
            if (rep > 0 && (best[j] == 0 || c < best[j])) best[j] = c;
        }
    for (int j = 0; j < 4; j++)
        printf("  %-10s %7.1f CPU-ms (best of %d)\n", names[j], 1e3 * best[j], reps);
    printf("  load %.2f at the end%s\n", bench_load_average(), sink < 0 ? " " : "");
    nn_store_free(&s);
    nn_store_free(&t);
    nn_params_free(&p);
}

static void usage(FILE *out) {
    fprintf(out,
            "usage: seqjepa bench ops [--threads N] [--batch N] [--reps N] [--seqs N] [--sgemm] [--gemm]\n\n"
            "Measures cblas_sgemm, then forward and backward GFLOP/s per op of the small\n"
            "encoders (widths 16 and 32, CIFAR stem) and ResNet-18-CIFAR at 32x32 and\n"
            "64x64, and of the 3-layer transformer, with their ratio to the sgemm rate.\n"
            "  --threads N  compute threads (default: one per core)\n"
            "  --batch N    images per encoder pass (default 128)\n"
            "  --reps N     timed passes per configuration, the fastest reported (default 3)\n"
            "  --seqs N     transformer sequences (default 256)\n"
            "  --sgemm      only the sgemm figures (compare kernels with OPENBLAS_CORETYPE,\n"
            "               or SEQJEPA_BLAS_REEXEC=0 for the kernels OpenBLAS picks itself)\n"
            "  --gemm       only the GEMM shapes of the training configurations on one thread:\n"
            "               OpenBLAS against the engine's own kernel in fp32 and bf16\n"
            "  --optim      only the per-step passes over every parameter (clearing the\n"
            "               gradients, their norm, AdamW, EMA) at the reference model's size,\n"
            "               best of --reps (at least 7)\n");
}

static int parse_int(const char *flag, const char *val, int lo, int hi, int *out) {
    char *end;
    long v = val ? strtol(val, &end, 10) : 0;
    if (!val || *end || v < lo || v > hi) {
        fprintf(stderr, "seqjepa bench ops: %s needs an integer in [%d, %d], got '%s'\n", flag, lo,
                hi, val ? val : "");
        return -1;
    }
    *out = (int)v;
    return 0;
}

int cli_bench_ops(int argc, char **argv) {
    OpsArgs a = {0, 128, 3, 256, 0, 0, 0};
    for (int i = 1; i < argc; i++) {
        const char *f = argv[i];
        int rc = 0;
        if (run_is_help(f)) {
            usage(stdout);
            return 0;
        } else if (!strcmp(f, "--threads")) {
            rc = parse_int(f, i + 1 < argc ? argv[++i] : NULL, 0, 1024, &a.threads);
        } else if (!strcmp(f, "--batch")) {
            rc = parse_int(f, i + 1 < argc ? argv[++i] : NULL, 1, 65536, &a.batch);
        } else if (!strcmp(f, "--reps")) {
            rc = parse_int(f, i + 1 < argc ? argv[++i] : NULL, 1, 10000, &a.reps);
        } else if (!strcmp(f, "--sgemm")) {
            a.sgemm_only = 1;
        } else if (!strcmp(f, "--gemm")) {
            a.gemm = 1;
        } else if (!strcmp(f, "--optim")) {
            a.optim = 1;
        } else if (!strcmp(f, "--seqs")) {
            rc = parse_int(f, i + 1 < argc ? argv[++i] : NULL, 1, 65536, &a.seqs);
        } else {
            fprintf(stderr, "seqjepa bench ops: unknown argument '%s'\n\n", f);
            usage(stderr);
            return 2;
        }
        if (rc) return 2;
    }
    if (a.gemm) {
        nn_runtime_init(1);
        bench_gemm_paths(a.reps);
        nn_runtime_shutdown();
        return 0;
    }
    if (a.optim) {
        nn_runtime_init(a.threads);
        bench_optim(27255104, a.reps < 7 ? 7 : a.reps); /* ResNet-18-CIFAR seq-JEPA's count */
        nn_runtime_shutdown();
        return 0;
    }
    nn_runtime_init(a.threads);
    NnBlasInfo bi;
    nn_blas_info(&bi);
    printf("ops: %d thread%s, OpenBLAS %s kernels%s%s%s\n", nn_runtime_threads(),
           nn_runtime_threads() == 1 ? "" : "s", bi.core, bi.forced_by[0] ? " (" : "", bi.forced_by,
           bi.forced_by[0] ? ")" : "");
    printf("  load average %.2f at the start (other processes slow every figure below)\n",
           bench_load_average());
    double rate[2][2];
    for (int i = 0; i < 2; i++)
        for (int k = 0; k < 2; k++)
            rate[i][k] = bench_sgemm_rate(i ? 2048 : 1024, k);
    double sgemm = 0;
    for (int i = 0; i < 4; i++)
        sgemm = rate[i / 2][i % 2] > sgemm ? rate[i / 2][i % 2] : sgemm;
    printf("  cblas_sgemm GFLOP/s   OpenBLAS threads   split over the engine's threads\n");
    printf("    1024^3            %10.1f         %10.1f\n", rate[0][1], rate[0][0]);
    printf("    2048^3            %10.1f         %10.1f\n", rate[1][1], rate[1][0]);
    printf("  best of the four: %.1f GFLOP/s (each configuration below is compared with the\n"
           "  same measurement taken just before and after it, as the machine's load varies)\n",
           sgemm);
    printf("  engine's sgemm per CPU-second of the process: %.1f GFLOP\n", sgemm_per_cpu);
    if (a.sgemm_only) {
        nn_runtime_shutdown();
        return 0;
    }
    /* the small encoders of the presets: width 16 (quick, and the config default) and
     * width 32 (the default preset), then ResNet-18-CIFAR */
    for (int width = 16; width <= 32; width *= 2)
        for (int hw = 32; hw <= 64; hw *= 2) {
            char label[64];
            snprintf(label, sizeof label, "small %d-%d-%d-%d", width, 2 * width, 4 * width,
                     8 * width);
            bench_encoder(label, nn_resnet_small_config(width, 1), a.batch, hw, a.reps);
        }
    bench_encoder("ResNet-18-CIFAR", nn_resnet18_config(1), a.batch, 32, a.reps);
    bench_encoder("ResNet-18-CIFAR", nn_resnet18_config(1), a.batch, 64, a.reps);
    bench_transformer(256, a.seqs, 4, a.reps);
    bench_transformer(640, a.seqs, 4, a.reps);
    printf("  load average %.2f at the end\n", bench_load_average());
    printf(
        "\n  summary (forward+backward)                     GFLOP/s  /sgemm   per CPU-s  /sgemm\n");
    for (int i = 0; i < n_rows; i++)
        printf("  %-46s %7.1f  %5.0f%%   %9.1f  %5.0f%%\n", rows[i].label, rows[i].rate,
               100 * rows[i].rate / rows[i].sgemm, rows[i].per_cpu,
               100 * rows[i].per_cpu / sgemm_per_cpu);
    printf("  (wall-clock rates against sgemm measured around each; per CPU-second against the\n"
           "  best sgemm per CPU-second of the run, %.1f GFLOP)\n",
           sgemm_per_cpu);
    nn_runtime_shutdown();
    return 0;
}

/* The convolution passes on oneDNN (nn/nn_dnnl.c) against the direct-loop reference
 * convolution, for the reference configuration's layer shapes at small batch: forward,
 * input gradient (added into din, and overwriting it) and weight gradient (added into
 * dw), on one and two threads with batches that do not split evenly, also with every
 * image a chunk of its own (threads running several chunks); two runs give the
 * same bits; oneDNN starts no threads of its own beside the pool; and with the route
 * switched off the same shapes still match the reference. Tolerance: the error
 * relative to the tensor's scale (max |a - b| / max |b|) below 1e-5, as for the
 * engine's own routes (float sums of 27 to 4608 products against double sums). Also
 * the Winograd passes (same bound) and, where the CPU has AVX512_BF16, the bf16 passes
 * against the own bf16 route. */
#include <dirent.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/rng.h"
#include "nn/nn.h"
#include "nn/nn_impl.h"
#include "tests/test.h"
#include "tests/test_nn_util.h"

static WmRng rng;
static int base_threads; /* the process's threads on one pool thread, before any oneDNN call */

typedef struct {
    float *o, *dx, *dxa, *dw;
} Result;

/* One forward, one backward that adds into din and dw (starting from din0, dw0), and
 * one backward_assign that overwrites din, on the current thread count and route. */
static Result run_conv(const NnConv2d *d, const float *x, const float *w, const float *g,
                       const float *dx0, const float *dw0) {
    const size_t nx = (size_t)d->ci * d->n * d->h * d->w, nw = (size_t)d->co * d->ci * d->kh * d->kw;
    const size_t no = (size_t)d->co * d->n * d->oh * d->ow;
    Result r = {wm_new(float, no), wm_new(float, nx), wm_new(float, nx), wm_new(float, nw)};
    float *scratch = wm_new(float, nn_conv2d_scratch(d) + 1), *dw_unused = wm_new(float, nw);
    memcpy(r.dx, dx0, nx * sizeof *dx0);
    memcpy(r.dw, dw0, nw * sizeof *dw0);
    for (size_t i = 0; i < nx; i++)
        r.dxa[i] = 1e30f; /* overwritten */
    nn_conv2d_forward(r.o, x, w, NULL, d, scratch);
    nn_conv2d_backward(r.dx, r.dw, NULL, g, x, w, d, scratch);
    nn_conv2d_backward_assign(r.dxa, dw_unused, NULL, g, x, w, d, scratch);
    wm_free(scratch);
    wm_free(dw_unused);
    return r;
}

static void free_result(Result *r) {
    wm_free(r->o);
    wm_free(r->dx);
    wm_free(r->dxa);
    wm_free(r->dw);
}

/* Threads of this process (main, pool workers, and any a library started). */
static int process_threads(void) {
    DIR *dir = opendir("/proc/self/task");
    int n = 0;
    if (!dir) return -1;
    for (struct dirent *e; (e = readdir(dir));)
        if (e->d_name[0] != '.') n++;
    closedir(dir);
    return n;
}

/* One shape's random inputs and the reference: forward, backward added into dx0 and
 * dw0, and backward into zeroed buffers (the overwriting pass). */
typedef struct {
    size_t nx, nw, no;
    float *x, *w, *g, *dx0, *dw0, *o_ref, *dx_ref, *dw_ref, *dxa_ref, *dw_tmp;
} Case;

static Case make_case(const NnConv2d *d) {
    Case c = {(size_t)d->ci * d->n * d->h * d->w, (size_t)d->co * d->ci * d->kh * d->kw,
              (size_t)d->co * d->n * d->oh * d->ow, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL};
    c.x = test_randn(&rng, c.nx, 1), c.w = test_randn(&rng, c.nw, 0.05), c.g = test_randn(&rng, c.no, 1);
    c.dx0 = test_randn(&rng, c.nx, 1), c.dw0 = test_randn(&rng, c.nw, 1);
    c.o_ref = wm_new(float, c.no), c.dx_ref = wm_new(float, c.nx), c.dw_ref = wm_new(float, c.nw);
    c.dxa_ref = wm_new(float, c.nx), c.dw_tmp = wm_new(float, c.nw);
    memcpy(c.dx_ref, c.dx0, c.nx * sizeof *c.dx0);
    memcpy(c.dw_ref, c.dw0, c.nw * sizeof *c.dw0);
    nn_conv2d_forward_naive(c.o_ref, c.x, c.w, NULL, d);
    nn_conv2d_backward_naive(c.dx_ref, c.dw_ref, NULL, c.g, c.x, c.w, d);
    nn_conv2d_backward_naive(c.dxa_ref, c.dw_tmp, NULL, c.g, c.x, c.w, d);
    return c;
}

static void free_case(Case *c) {
    float *arr[] = {c->x, c->w, c->g, c->dx0, c->dw0, c->o_ref, c->dx_ref, c->dw_ref, c->dxa_ref, c->dw_tmp};
    for (size_t i = 0; i < sizeof arr / sizeof *arr; i++)
        wm_free(arr[i]);
}

/* Two results bit for bit equal. */
static int same_bits(const Result *a, const Result *b, const Case *c) {
    return !memcmp(a->o, b->o, c->no * sizeof *a->o) && !memcmp(a->dx, b->dx, c->nx * sizeof *a->dx) &&
           !memcmp(a->dxa, b->dxa, c->nx * sizeof *a->dxa) && !memcmp(a->dw, b->dw, c->nw * sizeof *a->dw);
}

static void check_shape(NnConv2d d) {
    Case c = make_case(&d);
    const size_t nx = c.nx, nw = c.nw, no = c.no;
    float *x = c.x, *w = c.w, *g = c.g, *dx0 = c.dx0, *dw0 = c.dw0;
    float *o_ref = c.o_ref, *dx_ref = c.dx_ref, *dw_ref = c.dw_ref, *dxa_ref = c.dxa_ref;
    char what[96];
    snprintf(what, sizeof what, "conv %d->%d k%d s%d %dx%d n%d", d.ci, d.co, d.kh, d.stride, d.h, d.w, d.n);

    const NnDnnlRoute routes[2] = {NN_DNNL_ALL, NN_DNNL_OFF};
    for (int ri = 0; ri < 2; ri++)
        for (int threads = 1; threads <= 2; threads++) {
            nn_set_dnnl_route(routes[ri]);
            nn_runtime_init(threads);
            Result a = run_conv(&d, x, w, g, dx0, dw0);
            const char *route = nn_dnnl_route_name(routes[ri]);
            double eo = test_rel_err(a.o, o_ref, no), ex = test_rel_err(a.dx, dx_ref, nx);
            double exa = test_rel_err(a.dxa, dxa_ref, nx), ew = test_rel_err(a.dw, dw_ref, nw);
            CHECK(eo < 1e-5, "%s, oneDNN %s, %d threads: forward rel err %.3g", what, route, threads, eo);
            CHECK(ex < 1e-5, "%s, oneDNN %s, %d threads: din (added) rel err %.3g", what, route, threads, ex);
            CHECK(exa < 1e-5, "%s, oneDNN %s, %d threads: din (overwritten) rel err %.3g", what, route, threads,
                  exa);
            CHECK(ew < 1e-5, "%s, oneDNN %s, %d threads: dw rel err %.3g", what, route, threads, ew);
            if (routes[ri] == NN_DNNL_ALL) {
                /* one image per chunk: each thread runs several chunks in turn, adding
                 * their weight gradients into its partial */
                nn_dnnl_set_chunk_bytes(1);
                Result one = run_conv(&d, x, w, g, dx0, dw0);
                nn_dnnl_set_chunk_bytes(0);
                double co = test_rel_err(one.o, o_ref, no), cx = test_rel_err(one.dx, dx_ref, nx);
                double cxa = test_rel_err(one.dxa, dxa_ref, nx), cw = test_rel_err(one.dw, dw_ref, nw);
                CHECK(co < 1e-5 && cx < 1e-5 && cxa < 1e-5 && cw < 1e-5,
                      "%s, oneDNN, %d threads, one image per chunk: rel err forward %.3g, din added %.3g, "
                      "overwritten %.3g, dw %.3g",
                      what, threads, co, cx, cxa, cw);
                free_result(&one);
                /* the cached primitives, run again: the same bits */
                Result b = run_conv(&d, x, w, g, dx0, dw0);
                CHECK(same_bits(&a, &b, &c), "%s, oneDNN, %d threads: two runs give the same bits", what, threads);
                free_result(&b);
                CHECK(process_threads() == base_threads + threads - 1,
                      "%s, oneDNN, %d threads: the process runs %d threads (%d before oneDNN, on one)", what,
                      threads, process_threads(), base_threads);
            }
            free_result(&a);
        }
    free_case(&c);
}

/* Winograd F(4x4, 3x3) (the rule's 3x3 stride-1 fp32 passes, route AUTO): within 1e-5
 * of the scale of the double-summed reference, as every route (measured 1e-6 to 4e-6,
 * direct sums 0.3e-6 to 2.6e-6), the oneDNN implementation named
 * "wino" for the passes the rule gives it (forward and input gradient on planes from
 * 8x8, the weight gradient there and for 512->512 on 4x4), the same bits on a second
 * run; with nn_set_winograd(0) the same passes take direct sums. */
static void check_winograd(NnConv2d d, int planes_ok) {
    Case c = make_case(&d);
    char what[96];
    snprintf(what, sizeof what, "Winograd conv %d->%d %dx%d n%d", d.ci, d.co, d.h, d.w, d.n);
    nn_set_dnnl_route(NN_DNNL_AUTO);
    for (int on = 1; on >= 0; on--)
        for (int threads = 1; threads <= 2; threads++) {
            nn_set_winograd(on);
            nn_runtime_init(threads);
            Result a = run_conv(&d, c.x, c.w, c.g, c.dx0, c.dw0), b = run_conv(&d, c.x, c.w, c.g, c.dx0, c.dw0);
            const double tol = 1e-5;
            double eo = test_rel_err(a.o, c.o_ref, c.no), ex = test_rel_err(a.dx, c.dx_ref, c.nx);
            double exa = test_rel_err(a.dxa, c.dxa_ref, c.nx), ew = test_rel_err(a.dw, c.dw_ref, c.nw);
            CHECK(eo < tol && ex < tol && exa < tol && ew < tol,
                  "%s, Winograd %s, %d threads: rel err forward %.3g, din added %.3g, overwritten %.3g, dw %.3g", what,
                  on ? "on" : "off", threads, eo, ex, exa, ew);
            CHECK(same_bits(&a, &b, &c), "%s, Winograd %s, %d threads: two runs give the same bits", what,
                  on ? "on" : "off", threads);
            if (on && !nn_get_winograd()) {
                printf("%s: oneDNN has no Winograd convolution on this CPU; its checks left out\n", what);
                free_result(&a), free_result(&b);
                break;
            }
            if (on) {
                const int fwd = strstr(nn_dnnl_impl(NN_DNNL_FWD, NN_DNNL_WINOGRAD, &d), "wino") != NULL;
                const int dgr = strstr(nn_dnnl_impl(NN_DNNL_DGRAD, NN_DNNL_WINOGRAD, &d), "wino") != NULL;
                const int wgr = strstr(nn_dnnl_impl(NN_DNNL_WGRAD, NN_DNNL_WINOGRAD, &d), "wino") != NULL;
                CHECK(fwd == planes_ok && dgr == planes_ok && wgr,
                      "%s, %d threads: Winograd ran forward %d, dinput %d, dweight %d (expected %d, %d, 1)", what,
                      threads, fwd, dgr, wgr, planes_ok, planes_ok);
            }
            free_result(&a), free_result(&b);
        }
    nn_set_winograd(1);
    free_case(&c);
}

/* bf16: every pass of the shape on oneDNN against the own bf16 route (im2col and the
 * own bf16 GEMM), on one and two threads. Both round the two inputs of each product to
 * bfloat16 and sum in float, so they agree to the float sums' order (< 1e-5 of the
 * scale, as the float routes), while both are 1e-4 to 1e-2 of the scale from the float
 * result (the bf16 rounding: oneDNN did run in bf16); two runs give the same bits. */
static void check_shape_bf16(NnConv2d d) {
    Case c = make_case(&d);
    const size_t nx = c.nx, nw = c.nw, no = c.no;
    char what[96], err[256];
    snprintf(what, sizeof what, "bf16 conv %d->%d k%d s%d %dx%d n%d", d.ci, d.co, d.kh, d.stride, d.h, d.w, d.n);
    CHECK(nn_set_precision(NN_PREC_BF16, err, sizeof err) == 0, "%s", err);
    for (int threads = 1; threads <= 2; threads++) {
        nn_runtime_init(threads);
        nn_set_dnnl_route(NN_DNNL_OFF);
        Result own = run_conv(&d, c.x, c.w, c.g, c.dx0, c.dw0);
        nn_set_dnnl_route(NN_DNNL_ALL);
        Result a = run_conv(&d, c.x, c.w, c.g, c.dx0, c.dw0), b = run_conv(&d, c.x, c.w, c.g, c.dx0, c.dw0);
        double eo = test_rel_err(a.o, own.o, no), ex = test_rel_err(a.dx, own.dx, nx);
        double exa = test_rel_err(a.dxa, own.dxa, nx), ew = test_rel_err(a.dw, own.dw, nw);
        CHECK(eo < 1e-5 && ex < 1e-5 && exa < 1e-5 && ew < 1e-5,
              "%s, %d threads: oneDNN against the own bf16 route: rel err forward %.3g, din added %.3g, "
              "overwritten %.3g, dw %.3g",
              what, threads, eo, ex, exa, ew);
        double ef = test_rel_err(a.o, c.o_ref, no);
        CHECK(ef > 1e-4 && ef < 1e-2, "%s, %d threads: forward %.3g of the scale from float (bf16 rounding)", what,
              threads, ef);
        CHECK(same_bits(&a, &b, &c), "%s, oneDNN, %d threads: two runs give the same bits", what, threads);
        free_result(&own), free_result(&a), free_result(&b);
    }
    CHECK(nn_set_precision(NN_PREC_FP32, err, sizeof err) == 0, "%s", err);
    free_case(&c);
}

/* The environment settings: a known value (any case) chosen, unset gives the default,
 * an unknown one the default (with a warning naming it). */
static void test_env_choice(void) {
    static const NnEnvChoice ch[] = {{"0", 10}, {"off", 10}, {"all", 12}};
    unsetenv("SEQJEPA_TEST_CHOICE");
    CHECK(nn_env_choice("SEQJEPA_TEST_CHOICE", ch, 3, 11) == 11, "unset: the default");
    setenv("SEQJEPA_TEST_CHOICE", "ALL", 1);
    CHECK(nn_env_choice("SEQJEPA_TEST_CHOICE", ch, 3, 11) == 12, "a choice, any case");
    setenv("SEQJEPA_TEST_CHOICE", "0", 1);
    CHECK(nn_env_choice("SEQJEPA_TEST_CHOICE", ch, 3, 11) == 10, "an alias");
    setenv("SEQJEPA_TEST_CHOICE", "sometimes", 1);
    CHECK(nn_env_choice("SEQJEPA_TEST_CHOICE", ch, 3, 11) == 11, "unknown: the default");
    unsetenv("SEQJEPA_TEST_CHOICE");
}

int main(void) {
    wm_rng_seed(&rng, 7, 0);
    nn_runtime_init(1);
    base_threads = process_threads(); /* main, and OpenBLAS's own */
    test_env_choice();
    if (!nn_dnnl_available()) {
        /* a build without oneDNN: the route stays off whatever is asked */
        nn_set_dnnl_route(NN_DNNL_ALL);
        CHECK(nn_get_dnnl_route() == NN_DNNL_OFF, "no oneDNN: the route is off");
        return TEST_DONE();
    }
    /* the reference configuration's layers (ResNet-18 on 32 px), batches 3 and 1:
     * 3 images split 1 + 2 over two threads, 1 image leaves the second thread idle;
     * {n, ci, plane, co, k, stride} */
    static const int layers[][6] = {{3, 3, 32, 64, 3, 1},     {3, 64, 32, 64, 3, 1},   {3, 64, 32, 128, 3, 2},
                                    {3, 64, 32, 128, 1, 2},   {3, 128, 16, 128, 3, 1}, {1, 128, 16, 256, 3, 2},
                                    {3, 128, 16, 256, 1, 2},  {3, 256, 8, 256, 3, 1},  {1, 256, 8, 512, 3, 2},
                                    {2, 512, 4, 512, 3, 1}};
    const size_t n_layers = sizeof layers / sizeof layers[0];
    for (size_t i = 0; i < n_layers; i++) {
        const int *l = layers[i];
        check_shape(nn_conv2d_dims(l[0], l[1], l[2], l[2], l[3], l[4], l[5], l[4] / 2));
    }
    check_winograd(nn_conv2d_dims(3, 32, 16, 16, 32, 3, 1, 1), 1);
    check_winograd(nn_conv2d_dims(5, 32, 8, 8, 32, 3, 1, 1), 1);
    check_winograd(nn_conv2d_dims(3, 64, 32, 32, 64, 3, 1, 1), 1);
    check_winograd(nn_conv2d_dims(3, 128, 16, 16, 128, 3, 1, 1), 1);
    check_winograd(nn_conv2d_dims(5, 256, 8, 8, 256, 3, 1, 1), 1);
    check_winograd(nn_conv2d_dims(2, 512, 4, 4, 512, 3, 1, 1), 0);
    if (nn_gemm_own_ok(1)) {
        for (size_t i = 0; i < n_layers; i++) { /* all but the 3-channel stem */
            const int *l = layers[i];
            if (l[1] >= 64) check_shape_bf16(nn_conv2d_dims(l[0], l[1], l[2], l[2], l[3], l[4], l[5], l[4] / 2));
        }
    } else {
        printf("bf16 passes on oneDNN not checked: this CPU has no AVX512_BF16\n");
    }
    /* a pass's chunks split evenly over the threads (as many chunks per thread) wherever
     * the batch has enough images: the reference configuration's layers at batch 96 and
     * 32, on 2 and 3 threads */
    {
        const int cs[][4] = {{64, 32, 64, 1}, {64, 32, 128, 2}, {128, 16, 128, 1}, {128, 16, 256, 2},
                             {256, 8, 256, 1}, {256, 8, 512, 2}, {512, 4, 512, 1}};
        int uneven = 0, over = 0;
        for (size_t i = 0; i < sizeof cs / sizeof cs[0]; i++)
            for (int n = 32; n <= 96; n += 64)
                for (int T = 2; T <= 3; T++) {
                    NnConv2d d = nn_conv2d_dims(n, cs[i][0], cs[i][1], cs[i][1], cs[i][2], 3, cs[i][3], 1);
                    int c = nn_dnnl_chunks(&d, T);
                    if (c % T && c != n) uneven++;
                    if (c < T || c > n) over++;
                }
        CHECK(uneven == 0, "every pass runs in a multiple of the thread count of chunks (%d do not)", uneven);
        CHECK(over == 0, "between one chunk per thread and one per image (%d outside)", over);
        NnConv2d d = nn_conv2d_dims(96, 64, 32, 32, 128, 3, 2, 1); /* 384 KiB an image: 5 chunks of 8 MiB */
        CHECK(nn_dnnl_chunks(&d, 2) == 6 && nn_dnnl_chunks(&d, 1) == 5, "5 chunks of 8 MiB: 6 on 2 threads, 5 on 1 (%d, %d)",
              nn_dnnl_chunks(&d, 2), nn_dnnl_chunks(&d, 1));
    }
    /* the switch read at start: SEQJEPA_DNNL=0 turns the route off (tested through
     * nn_set_dnnl_route above); what `bench train --paths` prints names the route */
    nn_set_dnnl_route(NN_DNNL_ALL);
    nn_runtime_init(2);
    {
        NnConv2d d = nn_conv2d_dims(3, 16, 8, 8, 16, 3, 1, 1);
        const size_t nx = (size_t)d.ci * d.n * d.h * d.w, nw = (size_t)d.co * d.ci * 9, no = nx;
        float *x = test_randn(&rng, nx, 1), *w = test_randn(&rng, nw, 0.1), *o = wm_new(float, no);
        float *scratch = wm_new(float, nn_conv2d_scratch(&d));
        nn_paths_record(1);
        nn_conv2d_forward(o, x, w, NULL, &d, scratch);
        nn_paths_record(0);
        char *buf = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&buf, &len);
        nn_paths_print(f);
        fclose(f);
        CHECK(strstr(buf, "forward oneDNN jit") != NULL, "paths name the oneDNN route: %s", buf);
        double busy = 0;
        const char *c = strstr(buf, " cores busy");
        if (c) /* back to the number before it */
            while (c > buf && c[-1] != ' ')
                c--;
        CHECK(c && sscanf(c, "%lf", &busy) == 1 && busy > 0 && busy <= 2.5,
              "paths give the pass's wall time and the cores it kept busy: %s", buf);
        free(buf); /* open_memstream's buffer */
        wm_free(x);
        wm_free(w);
        wm_free(o);
        wm_free(scratch);
    }
    nn_runtime_shutdown();
    return TEST_DONE();
}

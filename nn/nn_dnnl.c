/* Convolution passes on oneDNN (libdnnl), bit-reproducibly: the batch is cut into
 * chunks of images (their number depends only on the shape and the thread count), each
 * pool thread runs single-threaded oneDNN primitives on its fixed contiguous range of
 * chunks, one after the other, adding the weight gradients of its chunks in order into
 * its own partial, and the caller sums the threads' partials in thread order. Which
 * passes come here is nn_conv.c's rule (use_dnnl).
 *
 * Our CNHW activations, sliced by images, are plain strided memory for oneDNN
 * (dims n', c, h, w; strides h*w, n*h*w, w, 1). The convolution takes the layout it
 * prefers (format_tag_any: nChw16c and blocked weights on AVX-512), and reorders move
 * each chunk in and out of it in the thread's own workspace; the weights are reordered
 * once per pass before the threads start. Primitives are cached per shape, pass and
 * chunk size (creating one costs milliseconds).
 *
 * oneDNN here runs on OpenMP (libgomp). Each thread that runs or creates a primitive
 * first sets its OpenMP thread count to 1 (libgomp keeps that per thread), so oneDNN
 * never starts threads of its own beside the pool. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/alloc.h"
#include "core/err.h"
#include "nn/nn_impl.h"

const char *nn_dnnl_route_name(NnDnnlRoute r) {
    return r == NN_DNNL_OFF ? "off" : r == NN_DNNL_ALL ? "all" : "auto";
}

#if defined(NN_REAL_DOUBLE) || defined(NN_NO_DNNL)

int nn_dnnl_available(void) {
    return 0;
}
void nn_set_dnnl_route(NnDnnlRoute r) {
    (void)r;
}
NnDnnlRoute nn_get_dnnl_route(void) {
    return NN_DNNL_OFF;
}
void nn_dnnl_reset(void) {}
void nn_set_winograd(int on) {
    (void)on;
}
int nn_get_winograd(void) {
    return 0;
}
void nn_dnnl_set_chunk_bytes(size_t bytes) {
    (void)bytes;
}
int nn_dnnl_chunks(const NnConv2d *d, int threads) {
    (void)d, (void)threads;
    return 0;
}
int nn_dnnl_conv(NnDnnlPass pass, NnDnnlAlg alg, const NnConv2d *d, NnReal *out, int accumulate, const NnReal *a,
                 const NnReal *b, size_t part_stride) {
    (void)pass, (void)alg, (void)d, (void)out, (void)accumulate, (void)a, (void)b, (void)part_stride;
    return -1;
}
const char *nn_dnnl_impl(NnDnnlPass pass, NnDnnlAlg alg, const NnConv2d *d) {
    (void)pass, (void)alg, (void)d;
    return "";
}

#else

#include <oneapi/dnnl/dnnl.h>

/* libgomp's (linked with -lgomp), declared here so that no compiler's omp.h is needed. */
extern void omp_set_num_threads(int n);

static NnDnnlRoute g_route = NN_DNNL_AUTO;
static int g_route_from_env = -1; /* SEQJEPA_DNNL read once */

int nn_dnnl_available(void) {
    return 1;
}

void nn_set_dnnl_route(NnDnnlRoute r) {
    g_route_from_env = 0;
    g_route = r;
}

NnDnnlRoute nn_get_dnnl_route(void) {
    if (g_route_from_env < 0) {
        static const NnEnvChoice ch[] = {
            {"0", NN_DNNL_OFF}, {"off", NN_DNNL_OFF}, {"auto", NN_DNNL_AUTO}, {"all", NN_DNNL_ALL}};
        g_route_from_env = 0;
        g_route = (NnDnnlRoute)nn_env_choice("SEQJEPA_DNNL", ch, 4, g_route);
    }
    return g_route;
}

static int g_wino = -1; /* -1: SEQJEPA_WINOGRAD not read yet */

void nn_set_winograd(int on) {
    g_wino = on != 0;
}

int nn_get_winograd(void) {
    if (g_wino < 0) {
        static const NnEnvChoice ch[] = {{"0", 0}, {"off", 0}, {"1", 1}, {"on", 1}};
        g_wino = nn_env_choice("SEQJEPA_WINOGRAD", ch, 4, 1);
    }
    return g_wino;
}

/* One argument of a convolution: how we hold it (user) and how the primitive wants it
 * (conv), with the reorder between them when they differ (user -> conv for inputs,
 * conv -> user for the output; reo_add adds into the user's buffer). */
typedef struct {
    int arg;
    dnnl_memory_desc_t user, conv;
    dnnl_primitive_t reo, reo_add;
    size_t bytes; /* conv buffer when reo */
} Arg;

/* A cached primitive: key, then the convolution and its three arguments, in the
 * order (activation input, second input, output): forward src, weights, dst; input
 * gradient diff_dst, weights, diff_src; weight gradient src, diff_dst, diff_weights. */
typedef struct {
    int key[13];
    int ok;
    char impl[64];
    dnnl_primitive_t conv;
    Arg a[3];
    size_t pad_bytes; /* the largest scratchpad of the conv and the reorders */
} Entry;

#define MAX_ENTRIES 256
static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static dnnl_engine_t g_engine;
static dnnl_stream_t *g_streams;
static int g_nstreams;
static Entry *g_entries[MAX_ENTRIES];
static int g_n_entries;
static unsigned char **g_ws; /* per pool thread: its workspace, and its capacity */
static size_t *g_ws_cap;
static unsigned char *g_wbuf; /* the reordered weights of the pass in flight */
static size_t g_wbuf_cap;
static int g_failed_note;
/* SEQJEPA_DNNL_FORMAT=plain (for measuring): the convolutions take our strided CNHW
 * slices directly instead of their preferred layout and reorders. */
static int g_plain = -1;

/* Sets this thread's OpenMP team size to 1, once per thread. */
static void one_omp_thread(void) {
    static _Thread_local int done;
    if (!done) {
        omp_set_num_threads(1);
        done = 1;
    }
}

static void destroy_prims(Entry *e) {
    if (e->conv) dnnl_primitive_destroy(e->conv);
    e->conv = NULL;
    for (int i = 0; i < 3; i++) {
        if (e->a[i].reo) dnnl_primitive_destroy(e->a[i].reo);
        if (e->a[i].reo_add) dnnl_primitive_destroy(e->a[i].reo_add);
        e->a[i].reo = e->a[i].reo_add = NULL;
    }
}

static void free_entry(Entry *e) {
    destroy_prims(e);
    wm_free(e);
}

void nn_dnnl_reset(void) {
    pthread_mutex_lock(&g_lock);
    for (int i = 0; i < g_n_entries; i++)
        free_entry(g_entries[i]);
    g_n_entries = 0;
    for (int i = 0; i < g_nstreams; i++) {
        dnnl_stream_destroy(g_streams[i]);
        wm_free(g_ws[i]);
    }
    wm_free(g_streams);
    wm_free(g_ws);
    wm_free(g_ws_cap);
    g_streams = NULL;
    g_ws = NULL;
    g_ws_cap = NULL;
    g_nstreams = 0;
    wm_free(g_wbuf);
    g_wbuf = NULL;
    g_wbuf_cap = 0;
    if (g_engine) dnnl_engine_destroy(g_engine);
    g_engine = NULL;
    pthread_mutex_unlock(&g_lock);
}

/* The engine and one stream and workspace per pool thread (under g_lock). */
static int ensure_streams(int threads) {
    if (g_plain < 0) {
        static const NnEnvChoice ch[] = {{"plain", 1}, {"any", 0}};
        g_plain = nn_env_choice("SEQJEPA_DNNL_FORMAT", ch, 2, 0);
    }
    if (!g_engine && dnnl_engine_create(&g_engine, dnnl_cpu, 0) != dnnl_success) return -1;
    if (g_nstreams >= threads) return 0;
    g_streams = wm_realloc(g_streams, (size_t)threads, sizeof *g_streams);
    g_ws = wm_realloc(g_ws, (size_t)threads, sizeof *g_ws);
    g_ws_cap = wm_realloc(g_ws_cap, (size_t)threads, sizeof *g_ws_cap);
    for (int i = g_nstreams; i < threads; i++) {
        g_ws[i] = NULL;
        g_ws_cap[i] = 0;
        if (dnnl_stream_create(&g_streams[i], g_engine, dnnl_stream_default_flags) != dnnl_success)
            return -1;
        g_nstreams = i + 1;
    }
    return 0;
}

static size_t align64(size_t n) {
    return (n + 63) / 64 * 64;
}

/* Grows *buf to hold bytes (64-byte aligned use: callers align the pointer). */
static void grow(unsigned char **buf, size_t *cap, size_t bytes) {
    if (*cap >= bytes + 64) return;
    wm_free(*buf);
    *cap = bytes + 64;
    *buf = wm_new(unsigned char, *cap);
}
static unsigned char *aligned(unsigned char *p) {
    return (unsigned char *)(((uintptr_t)p + 63) & ~(uintptr_t)63);
}

/* A primitive from pd with a user scratchpad; *pad = max(*pad, its size). */
static int make_prim(dnnl_primitive_desc_t pd, dnnl_primitive_t *prim, size_t *pad) {
    const dnnl_memory_desc_t *sp = dnnl_primitive_desc_query_md(pd, dnnl_query_scratchpad_md, 0);
    size_t bytes = sp ? dnnl_memory_desc_get_size(sp) : 0;
    if (bytes > *pad) *pad = bytes;
    int r = dnnl_primitive_create(prim, pd) == dnnl_success ? 0 : -1;
    dnnl_primitive_desc_destroy(pd);
    return r;
}

static int make_reorder(const dnnl_memory_desc_t *from, const dnnl_memory_desc_t *to, int add,
                        dnnl_primitive_t *prim, size_t *pad) {
    dnnl_primitive_attr_t attr;
    dnnl_post_ops_t po = NULL;
    dnnl_primitive_desc_t pd = NULL;
    if (dnnl_primitive_attr_create(&attr) != dnnl_success) return -1;
    int ok = dnnl_primitive_attr_set_scratchpad_mode(attr, dnnl_scratchpad_mode_user) == dnnl_success;
    if (ok && add)
        ok = dnnl_post_ops_create(&po) == dnnl_success && dnnl_post_ops_append_sum(po, 1.0f) == dnnl_success &&
             dnnl_primitive_attr_set_post_ops(attr, po) == dnnl_success;
    ok = ok && dnnl_reorder_primitive_desc_create(&pd, from, g_engine, to, g_engine, attr) == dnnl_success;
    if (po) dnnl_post_ops_destroy(po);
    dnnl_primitive_attr_destroy(attr);
    return ok ? make_prim(pd, prim, pad) : -1;
}

/* The CNHW slice of nb images out of n as an oneDNN (nb, c, h, w) float memory. */
static void slice_md(dnnl_memory_desc_t *md, int n, int nb, int c, int h, int w) {
    dnnl_dims_t dims = {nb, c, h, w}, strides = {(dnnl_dim_t)h * w, (dnnl_dim_t)n * h * w, w, 1};
    WM_ASSERT(dnnl_memory_desc_init_by_strides(md, 4, dims, dnnl_f32, strides) == dnnl_success);
}

/* Creates the primitives of e (pass and shape in d, slices of nb images). bf16: the
 * pass's two inputs in bfloat16 (the reorders into the primitive's layout round them,
 * nearest even), its output and every sum in float, as the engine's own bf16 products;
 * the arguments we hold stay float. */
static int build(Entry *e, NnDnnlPass pass, NnDnnlAlg alg_kind, const NnConv2d *d, int nb, int bf16) {
    const dnnl_alg_kind_t alg = alg_kind == NN_DNNL_WINOGRAD ? dnnl_convolution_winograd : dnnl_convolution_direct;
    dnnl_memory_desc_t src_any, w_any, dst_any, src_user, w_user, dst_user;
    dnnl_dims_t sd = {nb, d->ci, d->h, d->w}, wd = {d->co, d->ci, d->kh, d->kw},
                dd = {nb, d->co, d->oh, d->ow};
    dnnl_dims_t strides = {d->stride, d->stride}, pad = {d->pad, d->pad};
    const dnnl_data_type_t in = bf16 ? dnnl_bf16 : dnnl_f32;
    const dnnl_data_type_t src_t = pass == NN_DNNL_DGRAD ? dnnl_f32 : in, dst_t = pass == NN_DNNL_FWD ? dnnl_f32 : in;
    if (dnnl_memory_desc_init_by_tag(&src_any, 4, sd, src_t, dnnl_format_tag_any) ||
        dnnl_memory_desc_init_by_tag(&w_any, 4, wd, pass == NN_DNNL_WGRAD ? dnnl_f32 : in, dnnl_format_tag_any) ||
        dnnl_memory_desc_init_by_tag(&dst_any, 4, dd, dst_t, dnnl_format_tag_any) ||
        dnnl_memory_desc_init_by_tag(&w_user, 4, wd, dnnl_f32, dnnl_oihw))
        return -1;
    slice_md(&src_user, d->n, nb, d->ci, d->h, d->w);
    slice_md(&dst_user, d->n, nb, d->co, d->oh, d->ow);
    if (g_plain && !bf16) { /* the activations as they lie, no reorders */
        src_any = src_user;
        dst_any = dst_user;
    }

    dnnl_convolution_desc_t fwd, cd;
    /* the forward description: the forward pass itself, or the hint of a backward pass
     * in that pass's inputs' type */
    dnnl_memory_desc_t hs = src_any, hw = w_any, hd = dst_any;
    if (bf16 && pass != NN_DNNL_FWD &&
        (dnnl_memory_desc_init_by_tag(&hs, 4, sd, dnnl_bf16, dnnl_format_tag_any) ||
         dnnl_memory_desc_init_by_tag(&hw, 4, wd, dnnl_bf16, dnnl_format_tag_any) ||
         dnnl_memory_desc_init_by_tag(&hd, 4, dd, dnnl_bf16, dnnl_format_tag_any)))
        return -1;
    if (dnnl_convolution_forward_desc_init(&fwd, dnnl_forward_training, alg, &hs, &hw, NULL,
                                           &hd, strides, pad, pad))
        return -1;
    dnnl_primitive_desc_t hint = NULL, pd = NULL;
    if (dnnl_primitive_desc_create(&hint, &fwd, NULL, g_engine, NULL)) return -1;
    dnnl_primitive_attr_t attr;
    if (dnnl_primitive_attr_create(&attr)) {
        dnnl_primitive_desc_destroy(hint);
        return -1;
    }
    dnnl_primitive_attr_set_scratchpad_mode(attr, dnnl_scratchpad_mode_user);
    int r = 0;
    if (pass == NN_DNNL_FWD) { /* fwd is this pass's own description (hs, hw, hd are its) */
        r = dnnl_primitive_desc_create(&pd, &fwd, attr, g_engine, NULL);
        e->a[0] = (Arg){DNNL_ARG_SRC, src_user, {0}, NULL, NULL, 0};
        e->a[1] = (Arg){DNNL_ARG_WEIGHTS, w_user, {0}, NULL, NULL, 0};
        e->a[2] = (Arg){DNNL_ARG_DST, dst_user, {0}, NULL, NULL, 0};
    } else if (pass == NN_DNNL_DGRAD) {
        r = dnnl_convolution_backward_data_desc_init(&cd, alg, &src_any, &w_any, &dst_any,
                                                     strides, pad, pad) ||
            dnnl_primitive_desc_create(&pd, &cd, attr, g_engine, hint);
        e->a[0] = (Arg){DNNL_ARG_DIFF_DST, dst_user, {0}, NULL, NULL, 0};
        e->a[1] = (Arg){DNNL_ARG_WEIGHTS, w_user, {0}, NULL, NULL, 0};
        e->a[2] = (Arg){DNNL_ARG_DIFF_SRC, src_user, {0}, NULL, NULL, 0};
    } else {
        r = dnnl_convolution_backward_weights_desc_init(&cd, alg, &src_any, &w_any, NULL,
                                                        &dst_any, strides, pad, pad) ||
            dnnl_primitive_desc_create(&pd, &cd, attr, g_engine, hint);
        e->a[0] = (Arg){DNNL_ARG_SRC, src_user, {0}, NULL, NULL, 0};
        e->a[1] = (Arg){DNNL_ARG_DIFF_DST, dst_user, {0}, NULL, NULL, 0};
        e->a[2] = (Arg){DNNL_ARG_DIFF_WEIGHTS, w_user, {0}, NULL, NULL, 0};
    }
    dnnl_primitive_attr_destroy(attr);
    dnnl_primitive_desc_destroy(hint);
    if (r) return -1;
    const char *impl = NULL;
    dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &impl);
    snprintf(e->impl, sizeof e->impl, "%s", impl ? impl : "?");
    if (bf16 && !strncmp(e->impl, "ref", 3)) { /* no bf16 kernel for this CPU: the own route is faster */
        dnnl_primitive_desc_destroy(pd);
        return -1;
    }
    for (int i = 0; i < 3; i++) {
        const dnnl_memory_desc_t *m = dnnl_primitive_desc_query_md(pd, dnnl_query_exec_arg_md, e->a[i].arg);
        e->a[i].conv = *m;
    }
    if (make_prim(pd, &e->conv, &e->pad_bytes)) return -1;
    for (int i = 0; i < 3; i++) {
        Arg *a = &e->a[i];
        if (dnnl_memory_desc_equal(&a->user, &a->conv)) continue;
        a->bytes = align64(dnnl_memory_desc_get_size(&a->conv));
        if (i < 2 && make_reorder(&a->user, &a->conv, 0, &a->reo, &e->pad_bytes)) return -1;
        if (i == 2 && make_reorder(&a->conv, &a->user, 0, &a->reo, &e->pad_bytes)) return -1;
        if (i == 2 && pass != NN_DNNL_FWD && make_reorder(&a->conv, &a->user, 1, &a->reo_add, &e->pad_bytes))
            return -1;
    }
    return 0;
}

/* The cache key of (pass, algorithm, d, chunks of nb images, precision). */
static void entry_key(int key[13], NnDnnlPass pass, NnDnnlAlg alg, const NnConv2d *d, int nb) {
    const int k[13] = {(int)pass, d->n, d->ci, d->h, d->w, d->co, d->kh, d->kw, d->stride, d->pad, nb,
                       (int)nn_get_precision(), (int)alg};
    memcpy(key, k, sizeof k);
}

/* The cached entry for (pass, d, nb), built on first use; NULL when oneDNN cannot
 * run it (noted once). Under g_lock, on the calling (owner) thread. */
static Entry *entry(NnDnnlPass pass, NnDnnlAlg alg, const NnConv2d *d, int nb) {
    int key[13];
    entry_key(key, pass, alg, d, nb);
    for (int i = 0; i < g_n_entries; i++)
        if (!memcmp(g_entries[i]->key, key, sizeof key)) return g_entries[i]->ok ? g_entries[i] : NULL;
    if (g_n_entries == MAX_ENTRIES) return NULL;
    Entry *e = wm_new(Entry, 1);
    memcpy(e->key, key, sizeof key);
    one_omp_thread();
    e->ok = build(e, pass, alg, d, nb, nn_get_precision() == NN_PREC_BF16) == 0;
    if (!e->ok && alg == NN_DNNL_WINOGRAD) {
        /* no Winograd kernel here (oneDNN 2.6 has it for AVX-512 only): direct sums from
         * now on; this one pass takes the own route */
        wm_info("nn: oneDNN has no Winograd convolution for this CPU (%d->%d on %dx%d); direct sums", d->ci, d->co,
                d->h, d->w);
        g_wino = 0;
        destroy_prims(e);
    } else if (!e->ok) {
        if (!g_failed_note++)
            wm_warn("nn: oneDNN could not create a convolution %d->%d k%d s%d on %dx%d; that pass runs "
                    "on the engine's own route",
                    d->ci, d->co, d->kh, d->stride, d->h, d->w);
        destroy_prims(e);
    }
    g_entries[g_n_entries++] = e;
    return e->ok ? e : NULL;
}

static size_t workspace_bytes(const Entry *e) {
    return e->a[0].bytes + e->a[1].bytes + e->a[2].bytes + align64(e->pad_bytes);
}

static int exec(dnnl_primitive_t p, dnnl_stream_t s, int n, const dnnl_exec_arg_t *args) {
    return dnnl_primitive_execute(p, s, n, args) == dnnl_success ? 0 : -1;
}

/* Runs prim with (arg, ptr) pairs plus the scratchpad at pad (when any). */
static int run(dnnl_primitive_t prim, dnnl_stream_t s, int n, const int *argk, void *const *ptr,
               const dnnl_memory_desc_t *const *md, void *pad, const dnnl_memory_desc_t *pad_md) {
    dnnl_memory_t mem[4] = {0};
    dnnl_exec_arg_t args[4];
    int r = 0, k = 0;
    for (; k < n && !r; k++) {
        r = dnnl_memory_create(&mem[k], md[k], g_engine, ptr[k]) != dnnl_success;
        args[k] = (dnnl_exec_arg_t){argk[k], mem[k]};
    }
    if (!r && pad_md) {
        r = dnnl_memory_create(&mem[k], pad_md, g_engine, pad) != dnnl_success;
        args[k] = (dnnl_exec_arg_t){DNNL_ARG_SCRATCHPAD, mem[k]};
        k++;
    }
    if (!r) r = exec(prim, s, k, args);
    if (!r) r = dnnl_stream_wait(s) != dnnl_success;
    for (int i = 0; i < k; i++)
        if (mem[i]) dnnl_memory_destroy(mem[i]);
    return r;
}

/* A reorder from (from_md, from) to (to_md, to) with the scratchpad at pad. */
static int reorder(dnnl_primitive_t p, dnnl_stream_t s, const dnnl_memory_desc_t *from_md, const void *from,
                   const dnnl_memory_desc_t *to_md, void *to, void *pad) {
    const int argk[2] = {DNNL_ARG_FROM, DNNL_ARG_TO};
    void *const ptr[2] = {(void *)from, to};
    const dnnl_memory_desc_t *md[2] = {from_md, to_md};
    dnnl_memory_desc_t sp;
    const_dnnl_primitive_desc_t pd;
    if (dnnl_primitive_get_primitive_desc(p, &pd) != dnnl_success) return -1;
    const dnnl_memory_desc_t *q = dnnl_primitive_desc_query_md(pd, dnnl_query_scratchpad_md, 0);
    sp = q ? *q : (dnnl_memory_desc_t){0};
    return run(p, s, 2, argk, ptr, md, pad, q && dnnl_memory_desc_get_size(&sp) ? &sp : NULL);
}

/* A thread's slice of the batch runs in chunks of images whose two activation tensors
 * take at most this many bytes, so that the workspace, which holds them in oneDNN's
 * layout, stays small (the whole batch of a 64-channel 32x32 layer at batch 384 would
 * be 200 MB per thread). */
#define CHUNK_BYTES ((size_t)8 << 20)
static size_t g_chunk_bytes = CHUNK_BYTES;

void nn_dnnl_set_chunk_bytes(size_t bytes) {
    g_chunk_bytes = bytes ? bytes : CHUNK_BYTES;
}

typedef struct {
    NnDnnlPass pass;
    const NnConv2d *d;
    NnReal *out;
    const NnReal *a, *b;
    size_t part_stride;
    int accumulate, chunks, fail;
    Entry *e[2]; /* chunks of nb_lo and nb_lo + 1 images */
    int nb_lo;
} Task;

/* Chunks of the batch: at least one per thread (up to one per image), more when an
 * image's activations are large, in a multiple of the thread count so that the pool's
 * equal split gives every thread as many (5 chunks on 2 threads kept one thread waiting
 * a third of the pass); depends on the shape and thread count only. */
static int chunk_count(const NnConv2d *d, int threads) {
    const size_t per_image = sizeof(NnReal) * ((size_t)d->ci * d->h * d->w + (size_t)d->co * d->oh * d->ow);
    const size_t cap = g_chunk_bytes / per_image > 0 ? g_chunk_bytes / per_image : 1;
    size_t c = ((size_t)d->n + cap - 1) / cap;
    c = (c + (size_t)threads - 1) / (size_t)threads * (size_t)threads;
    if (c > (size_t)d->n) c = (size_t)d->n;
    return (int)c;
}

int nn_dnnl_chunks(const NnConv2d *d, int threads) {
    return chunk_count(d, threads);
}

static void chunk(const Task *t, int64_t j, int *b0, int *nb) {
    *b0 = (int)((int64_t)t->d->n * j / t->chunks);
    *nb = (int)((int64_t)t->d->n * (j + 1) / t->chunks) - *b0;
}

static void jobs_fn(void *ctx, int64_t j0, int64_t j1, int worker) {
    Task *t = ctx;
    const NnConv2d *d = t->d;
    one_omp_thread();
    dnnl_stream_t s = g_streams[worker];
    for (int64_t j = j0; j < j1; j++) {
        int b0, nb;
        chunk(t, j, &b0, &nb);
        const Entry *e = t->e[nb - t->nb_lo];
        unsigned char *ws = aligned(g_ws[worker]), *pad = ws + e->a[0].bytes + e->a[1].bytes + e->a[2].bytes;
        /* the user pointers of the three arguments for this slice */
        void *user[3];
        const size_t in_plane = (size_t)d->h * d->w, out_plane = (size_t)d->oh * d->ow;
        if (t->pass == NN_DNNL_FWD) {
            user[0] = (void *)(t->a + (size_t)b0 * in_plane);
            user[1] = (void *)t->b;
            user[2] = t->out + (size_t)b0 * out_plane;
        } else if (t->pass == NN_DNNL_DGRAD) {
            user[0] = (void *)(t->a + (size_t)b0 * out_plane);
            user[1] = (void *)t->b;
            user[2] = t->out + (size_t)b0 * in_plane;
        } else {
            user[0] = (void *)(t->a + (size_t)b0 * in_plane);
            user[1] = (void *)(t->b + (size_t)b0 * out_plane);
            user[2] = t->out + (size_t)worker * t->part_stride; /* this thread's partial */
        }
        void *conv[3];
        const dnnl_memory_desc_t *md[3];
        unsigned char *p = ws;
        int r = 0;
        for (int i = 0; i < 3; i++) {
            const Arg *a = &e->a[i];
            const int shared_w = i == 1 && t->pass != NN_DNNL_WGRAD;
            if (shared_w) { /* reordered before the threads started */
                conv[i] = a->reo ? aligned(g_wbuf) : user[i];
                md[i] = a->reo ? &a->conv : &a->user;
                continue;
            }
            conv[i] = a->reo ? (void *)p : user[i];
            md[i] = a->reo ? &a->conv : &a->user;
            p += a->bytes;
            if (i < 2 && a->reo && !r) r = reorder(a->reo, s, &a->user, user[i], &a->conv, conv[i], pad);
        }
        const int argk[3] = {e->a[0].arg, e->a[1].arg, e->a[2].arg};
        const_dnnl_primitive_desc_t cpd;
        dnnl_memory_desc_t sp = {0};
        const dnnl_memory_desc_t *q = NULL;
        if (!r && dnnl_primitive_get_primitive_desc(e->conv, &cpd) == dnnl_success)
            q = dnnl_primitive_desc_query_md(cpd, dnnl_query_scratchpad_md, 0);
        if (q) sp = *q;
        if (!r) r = run(e->conv, s, 3, argk, conv, md, pad, q && dnnl_memory_desc_get_size(&sp) ? &sp : NULL);
        const Arg *o = &e->a[2];
        /* the weight gradient of the thread's later chunks adds into its partial */
        const int add = t->pass == NN_DNNL_WGRAD ? j > j0 : t->accumulate;
        if (!r && o->reo) r = reorder(add ? o->reo_add : o->reo, s, &o->conv, conv[2], &o->user, user[2], pad);
        if (r) t->fail = 1;
    }
}

int nn_dnnl_conv(NnDnnlPass pass, NnDnnlAlg alg, const NnConv2d *d, NnReal *out, int accumulate, const NnReal *a,
                 const NnReal *b, size_t part_stride) {
    const int T = nn_par_threads(), chunks = chunk_count(d, T);
    const int threads = chunks < T ? chunks : T; /* the pool's split of the chunks */
    Task t = {pass, d, out, a, b, part_stride, accumulate, chunks, 0, {NULL, NULL}, d->n / chunks};
    pthread_mutex_lock(&g_lock);
    int r = ensure_streams(nn_runtime_threads() > T ? nn_runtime_threads() : T);
    for (int k = 0; k < 2 && !r; k++) {
        if (k == 1 && d->n % chunks == 0) break;
        t.e[k] = entry(pass, alg, d, t.nb_lo + k);
        if (!t.e[k]) r = -1;
    }
    /* adding into din, or a thread's later chunks into its weight-gradient partial,
     * needs the reorder out of the primitive's layout */
    const int adds = (pass == NN_DNNL_DGRAD && accumulate) || (pass == NN_DNNL_WGRAD && chunks > threads);
    if (!r && adds && (!t.e[0]->a[2].reo || (t.e[1] && !t.e[1]->a[2].reo))) r = -1;
    for (int w = 0; w < T && !r; w++) {
        size_t need = workspace_bytes(t.e[0]);
        if (t.e[1] && workspace_bytes(t.e[1]) > need) need = workspace_bytes(t.e[1]);
        grow(&g_ws[w], &g_ws_cap[w], need);
    }
    /* the weights, once for every slice */
    if (!r && pass != NN_DNNL_WGRAD) {
        const Arg *wa = &t.e[0]->a[1];
        if (t.e[1]) WM_ASSERT(dnnl_memory_desc_equal(&wa->conv, &t.e[1]->a[1].conv));
        if (wa->reo) {
            grow(&g_wbuf, &g_wbuf_cap, wa->bytes);
            one_omp_thread();
            r = reorder(wa->reo, g_streams[0], &wa->user, b, &wa->conv, aligned(g_wbuf),
                        aligned(g_ws[0]) + workspace_bytes(t.e[0]) - align64(t.e[0]->pad_bytes));
        }
    }
    if (!r) {
        nn_par_for(chunks, jobs_fn, &t);
        WM_ASSERT(!t.fail); /* primitives that were created run */
    }
    pthread_mutex_unlock(&g_lock);
    return r ? -1 : threads;
}

const char *nn_dnnl_impl(NnDnnlPass pass, NnDnnlAlg alg, const NnConv2d *d) {
    const int chunks = chunk_count(d, nn_par_threads());
    int key[13];
    entry_key(key, pass, alg, d, d->n / chunks);
    const char *s = "?";
    pthread_mutex_lock(&g_lock);
    for (int i = 0; i < g_n_entries; i++)
        if (!memcmp(g_entries[i]->key, key, sizeof key)) s = g_entries[i]->impl;
    pthread_mutex_unlock(&g_lock);
    return s;
}

#endif

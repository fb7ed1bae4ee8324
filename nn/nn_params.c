/* The parameter registry (names, shapes, offsets), its storage, initialisation,
 * AdamW, EMA, schedules and checkpoint I/O by PyTorch name. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "core/alloc.h"
#include "core/err.h"
#include "nn/nn_impl.h"

/* Tensors start on 64-byte boundaries in their block. */
#define ALIGN_ELEMS (64 / sizeof(NnReal))

void nn_namef(char *out, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int len = vsnprintf(out, NN_NAME_MAX, fmt, ap);
    va_end(ap);
    WM_ASSERT(len >= 0 && len < NN_NAME_MAX);
}

void nn_params_init(NnParams *p) {
    memset(p, 0, sizeof *p);
}

void nn_params_free(NnParams *p) {
    wm_free(p->t);
    memset(p, 0, sizeof *p);
}

size_t nn_params_add(NnParams *p, const char *prefix, const char *name, NnKind kind, int ndim,
                     const size_t *shape, int decay, NnInit init, float init_a) {
    WM_ASSERT(ndim >= 0 && ndim <= 4);
    if (p->n == p->cap) {
        p->cap = p->cap ? 2 * p->cap : 64;
        p->t = wm_realloc(p->t, (size_t)p->cap, sizeof *p->t);
    }
    NnTensor *t = &p->t[p->n];
    memset(t, 0, sizeof *t);
    int len = prefix && *prefix ? snprintf(t->name, sizeof t->name, "%s.%s", prefix, name)
                                : snprintf(t->name, sizeof t->name, "%s", name);
    WM_ASSERT(len > 0 && (size_t)len < sizeof t->name);
    WM_ASSERT(!nn_params_find(p, t->name)); /* each name declared once */
    t->kind = kind;
    t->ndim = ndim;
    t->count = 1;
    for (int i = 0; i < ndim; i++) {
        t->shape[i] = shape[i];
        WM_ASSERT(wm_size_mul(t->count, shape[i], &t->count));
    }
    t->decay = decay;
    t->lr_scale = 1;
    t->init = init;
    t->init_a = init_a;
    size_t *used = kind == NN_PARAM    ? &p->n_param
                   : kind == NN_BUFFER ? &p->n_buffer
                                       : &p->n_counter;
    if (kind != NN_COUNTER) *used = (*used + ALIGN_ELEMS - 1) / ALIGN_ELEMS * ALIGN_ELEMS;
    t->offset = *used;
    *used += t->count;
    p->n++;
    return t->offset;
}

const NnTensor *nn_params_find(const NnParams *p, const char *name) {
    for (int i = 0; i < p->n; i++)
        if (!strcmp(p->t[i].name, name)) return &p->t[i];
    return NULL;
}

/* Whether name is module.X (len = strlen(module)). */
static int in_module(const char *name, const char *module, size_t len) {
    return !strncmp(name, module, len) && name[len] == '.';
}

int nn_params_set_lr_scale(NnParams *p, const char *prefix, float scale) {
    size_t n = strlen(prefix);
    int set = 0;
    for (int k = 0; k < p->n; k++)
        if (p->t[k].kind == NN_PARAM && in_module(p->t[k].name, prefix, n)) {
            p->t[k].lr_scale = scale;
            set++;
        }
    return set;
}

int nn_params_alias(NnParams *p, const char *module, const char *old_module) {
    size_t len = strlen(module);
    int n = 0;
    for (int i = 0; i < p->n; i++) {
        NnTensor *t = &p->t[i];
        if (!in_module(t->name, module, len)) continue;
        nn_namef(t->alias, "%s%s", old_module, t->name + len);
        n++;
    }
    return n;
}

void nn_store_create(NnStore *s, const NnParams *p, int flags) {
    memset(s, 0, sizeof *s);
    size_t np = p->n_param, nb = p->n_buffer, nc = p->n_counter;
    size_t copies = 1 + ((flags & NN_STORE_GRAD) ? 1 : 0) + ((flags & NN_STORE_ADAM) ? 2 : 0);
    size_t reals = np * copies + nb, bytes;
    WM_ASSERT(wm_size_mul(reals, sizeof(NnReal), &bytes));
    bytes = (bytes + 63) / 64 * 64;
    size_t total = bytes + nc * sizeof(int64_t) + 64;
    unsigned char *block = wm_calloc(total, 1);
    s->block_ = block;
    NnReal *base = (NnReal *)(((uintptr_t)block + 63) / 64 * 64);
    s->param = base;
    base += np;
    if (flags & NN_STORE_GRAD) {
        s->grad = base;
        base += np;
    }
    if (flags & NN_STORE_ADAM) {
        s->adam_m = base;
        s->adam_v = base + np;
        base += 2 * np;
    }
    s->buf = base;
    s->count = (int64_t *)((unsigned char *)s->param + bytes);
}

void nn_store_free(NnStore *s) {
    wm_free(s->block_);
    memset(s, 0, sizeof *s);
}

void nn_store_init(NnStore *s, const NnParams *p, WmRng *rng) {
    for (int i = 0; i < p->n; i++) {
        const NnTensor *t = &p->t[i];
        if (t->kind == NN_COUNTER) {
            for (size_t k = 0; k < t->count; k++)
                s->count[t->offset + k] = 0;
            continue;
        }
        NnReal *x = (t->kind == NN_PARAM ? s->param : s->buf) + t->offset;
        for (size_t k = 0; k < t->count; k++) {
            switch (t->init) {
            case NN_INIT_ZERO:
                x[k] = 0;
                break;
            case NN_INIT_ONE:
                x[k] = 1;
                break;
            case NN_INIT_UNIFORM:
                x[k] = (NnReal)wm_rng_range(rng, -t->init_a, t->init_a);
                break;
            case NN_INIT_NORMAL:
                x[k] = (NnReal)(t->init_a * wm_rng_normal(rng));
                break;
            }
        }
    }
}

static void zero_range(void *ctx, int64_t i0, int64_t i1, int worker) {
    (void)worker;
    memset((NnReal *)ctx + i0, 0, sizeof(NnReal) * (size_t)(i1 - i0));
}

void nn_store_zero_grad(NnStore *s, const NnParams *p) {
    WM_ASSERT(s->grad);
    /* a large model's gradient is a hundred megabytes: clear it on every thread */
    nn_par_for_work(p->n_param, (int64_t)p->n_param, zero_range, s->grad);
}

/* ---------------------------------------------------------------- AdamW */

NnAdamW nn_adamw_default(float lr, float weight_decay) {
    NnAdamW o = {lr, 0.9f, 0.999f, 1e-8f, weight_decay, 0};
    return o;
}

typedef struct {
    const NnParams *p;
    NnStore *s;
    double lr, b1, b2, eps, wd, bc1, bc2;
    size_t base; /* the first element of the range being stepped */
} AdamTask;

/* First tensor of kind PARAM whose range ends after offset i (tensors are in offset
 * order within their kind). */
static int first_param_after(const NnParams *p, size_t i) {
    for (int k = 0; k < p->n; k++)
        if (p->t[k].kind == NN_PARAM && p->t[k].offset + p->t[k].count > i) return k;
    return p->n;
}

#ifdef NN_REAL_DOUBLE
#define ADAM_SQRT sqrt
#else
#define ADAM_SQRT sqrtf
#endif

/* One tensor's update in NnReal arithmetic as torch.optim.AdamW does it (float for
 * float), so the loop vectorises (the file is built with -fno-math-errno so that the
 * square root is an instruction); every clone gives the same bits. */
NN_HOT static void adam_run(NnReal *restrict w, const NnReal *restrict g, NnReal *restrict m,
                            NnReal *restrict v, size_t n, NnReal dec, NnReal b1, NnReal b2,
                            NnReal step, NnReal sbc2, NnReal eps) {
    const NnReal c1 = 1 - b1, c2 = 1 - b2;
    for (size_t i = 0; i < n; i++) {
        const NnReal gi = g[i];
        const NnReal mi = b1 * m[i] + c1 * gi;
        const NnReal vi = b2 * v[i] + c2 * gi * gi;
        m[i] = mi;
        v[i] = vi;
        w[i] = w[i] * dec - step * mi / (ADAM_SQRT(vi) / sbc2 + eps);
    }
}

static void adam_range(void *ctx, int64_t i0, int64_t i1, int worker) {
    (void)worker;
    const AdamTask *a = ctx;
    i0 += (int64_t)a->base, i1 += (int64_t)a->base;
    NnReal *w = a->s->param, *g = a->s->grad, *m = a->s->adam_m, *v = a->s->adam_v;
    const NnReal b1 = (NnReal)a->b1, b2 = (NnReal)a->b2;
    const NnReal sbc2 = (NnReal)sqrt(a->bc2), eps = (NnReal)a->eps;
    for (int k = first_param_after(a->p, (size_t)i0); k < a->p->n; k++) {
        const NnTensor *t = &a->p->t[k];
        if (t->kind != NN_PARAM) continue;
        size_t lo = t->offset > (size_t)i0 ? t->offset : (size_t)i0;
        size_t hi = t->offset + t->count < (size_t)i1 ? t->offset + t->count : (size_t)i1;
        if (lo >= (size_t)i1) break;
        const double lr = a->lr * (double)t->lr_scale;
        const NnReal step = (NnReal)(lr / a->bc1), decay = t->decay ? (NnReal)(1.0 - lr * a->wd) : 1;
        adam_run(w + lo, g + lo, m + lo, v + lo, hi - lo, decay, b1, b2, step, sbc2, eps);
    }
}

void nn_adamw_step(NnAdamW *opt, const NnParams *p, NnStore *s) {
    nn_adamw_step_range(opt, p, s, 0, p->n_param);
}

void nn_adamw_step_range(NnAdamW *opt, const NnParams *p, NnStore *s, size_t begin, size_t end) {
    WM_ASSERT(s->grad && s->adam_m && s->adam_v && begin <= end && end <= p->n_param);
    opt->step++;
    AdamTask a = {p,
                  s,
                  opt->lr,
                  opt->beta1,
                  opt->beta2,
                  opt->eps,
                  opt->weight_decay,
                  1.0 - pow(opt->beta1, (double)opt->step),
                  1.0 - pow(opt->beta2, (double)opt->step),
                  begin};
    nn_par_for_work(end - begin, (int64_t)(end - begin), adam_range, &a);
}

/* ---------------------------------------------------------------- EMA, schedules */

typedef struct {
    NnReal *target;
    const NnReal *online;
    NnReal tau;
} EmaTask;

NN_HOT static void ema_range(void *ctx, int64_t i0, int64_t i1, int worker) {
    (void)worker;
    const EmaTask *e = ctx;
    const NnReal tau = e->tau, one = 1 - e->tau;
    for (int64_t i = i0; i < i1; i++)
        e->target[i] = tau * e->target[i] + one * e->online[i];
}

void nn_ema_update(NnReal *target, const NnReal *online, size_t n, double tau) {
    EmaTask e = {target, online, (NnReal)tau};
    nn_par_for_work(n, (int64_t)n, ema_range, &e);
}

double nn_lr_schedule(int64_t step, int64_t warmup, int64_t total_steps, double base_lr,
                      double final_lr) {
    if (step < warmup) return base_lr * (double)(step + 1) / (double)warmup;
    if (total_steps <= warmup) return base_lr;
    double prog = (double)(step - warmup) / (double)(total_steps - warmup);
    if (prog > 1) prog = 1;
    return final_lr + (base_lr - final_lr) * 0.5 * (1 + cos(M_PI * prog));
}

double nn_ema_tau(double progress, double base) {
    if (progress < 0) progress = 0;
    if (progress > 1) progress = 1;
    return 1 - (1 - base) * (cos(M_PI * progress) + 1) / 2;
}

/* Sum of squares in eight double lanes (element i goes to lane i % 8, lanes added in
 * order at the end): a fixed order that vectorises. */
NN_HOT static double sum_squares(const NnReal *restrict g, size_t n) {
    double lane[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int j = 0; j < 8; j++)
            lane[j] += (double)g[i + j] * (double)g[i + j];
    for (int j = 0; i < n; i++, j++)
        lane[j] += (double)g[i] * (double)g[i];
    double acc = 0;
    for (int j = 0; j < 8; j++)
        acc += lane[j];
    return acc;
}

/* The gradient is cut into at most NORM_BLOCKS blocks whose bounds depend on its size
 * alone; the pool sums blocks and the partial sums are added in block order, so the
 * norm is the same whatever the thread count. */
#define NORM_BLOCKS 256
typedef struct {
    const NnReal *g;
    size_t n, block;
    double part[NORM_BLOCKS];
} NormTask;

static void norm_range(void *ctx, int64_t b0, int64_t b1, int worker) {
    (void)worker;
    NormTask *t = ctx;
    for (int64_t b = b0; b < b1; b++) {
        size_t lo = (size_t)b * t->block, hi = lo + t->block < t->n ? lo + t->block : t->n;
        t->part[b] = lo < hi ? sum_squares(t->g + lo, hi - lo) : 0;
    }
}

double nn_grad_norm(const NnStore *s, const NnParams *p) {
    NormTask t;
    t.g = s->grad;
    t.n = p->n_param;
    t.block = (t.n + NORM_BLOCKS - 1) / NORM_BLOCKS;
    t.block = (t.block + 7) / 8 * 8;
    if (t.block == 0) return 0;
    const int64_t nb = (int64_t)((t.n + t.block - 1) / t.block);
    nn_par_for_work(t.n, nb, norm_range, &t);
    double acc = 0;
    for (int64_t b = 0; b < nb; b++)
        acc += t.part[b];
    return sqrt(acc);
}

/* ---------------------------------------------------------------- layers */

NnLinearP nn_linear_register(NnParams *p, const char *prefix, int fi, int fo, int bias) {
    NnLinearP l = {0, NN_NONE, fi, fo};
    float bound = 1.0f / sqrtf((float)fi);
    l.w = nn_params_add(p, prefix, "weight", NN_PARAM, 2, (size_t[]){(size_t)fo, (size_t)fi}, 1,
                        NN_INIT_UNIFORM, bound);
    if (bias)
        l.b = nn_params_add(p, prefix, "bias", NN_PARAM, 1, (size_t[]){(size_t)fo}, 0,
                            NN_INIT_UNIFORM, bound);
    return l;
}

NnBatchNormP nn_batchnorm_register(NnParams *p, const char *prefix, int c, int affine) {
    NnBatchNormP b = {NN_NONE, NN_NONE, 0, 0, 0, c};
    size_t shape[1] = {(size_t)c};
    if (affine) {
        b.gamma = nn_params_add(p, prefix, "weight", NN_PARAM, 1, shape, 0, NN_INIT_ONE, 0);
        b.beta = nn_params_add(p, prefix, "bias", NN_PARAM, 1, shape, 0, NN_INIT_ZERO, 0);
    }
    b.run_mean = nn_params_add(p, prefix, "running_mean", NN_BUFFER, 1, shape, 0, NN_INIT_ZERO, 0);
    b.run_var = nn_params_add(p, prefix, "running_var", NN_BUFFER, 1, shape, 0, NN_INIT_ONE, 0);
    b.nbt =
        nn_params_add(p, prefix, "num_batches_tracked", NN_COUNTER, 0, NULL, 0, NN_INIT_ZERO, 0);
    return b;
}

NnLayerNormP nn_layernorm_register(NnParams *p, const char *prefix, int f) {
    NnLayerNormP l = {0, 0, f};
    size_t shape[1] = {(size_t)f};
    l.gamma = nn_params_add(p, prefix, "weight", NN_PARAM, 1, shape, 0, NN_INIT_ONE, 0);
    l.beta = nn_params_add(p, prefix, "bias", NN_PARAM, 1, shape, 0, NN_INIT_ZERO, 0);
    return l;
}

/* ---------------------------------------------------------------- checkpoints */

#ifndef NN_REAL_DOUBLE
void nn_params_save(const NnParams *p, const NnStore *s, WmStWriter *w) {
    for (int i = 0; i < p->n; i++) {
        const NnTensor *t = &p->t[i];
        if (t->kind == NN_COUNTER)
            wm_st_writer_add(w, t->name, WM_I64, t->ndim, t->shape, s->count + t->offset);
        else
            wm_st_writer_add(w, t->name, WM_F32, t->ndim, t->shape,
                             (t->kind == NN_PARAM ? s->param : s->buf) + t->offset);
    }
}

/* A tensor under its name, else under its former name. */
static const WmStTensor *find_tensor(const WmStFile *f, const NnTensor *t) {
    const WmStTensor *x = wm_st_find(f, t->name);
    return x || !t->alias[0] ? x : wm_st_find(f, t->alias);
}

int nn_params_load(const NnParams *p, NnStore *s, const WmStFile *f, char *err, size_t errsz) {
    for (int i = 0; i < p->n; i++) {
        const NnTensor *t = &p->t[i];
        const WmStTensor *x = find_tensor(f, t);
        if (!x) return wm_errf(err, errsz, WM_ERR_MISMATCH, "tensor '%s' is missing", t->name);
        WmDtype want = t->kind == NN_COUNTER ? WM_I64 : WM_F32;
        if (x->dtype != want)
            return wm_errf(err, errsz, WM_ERR_MISMATCH, "tensor '%s' has dtype %s, expected %s",
                           t->name, wm_dtype_name(x->dtype), wm_dtype_name(want));
        int same = x->ndim == t->ndim;
        for (int k = 0; same && k < t->ndim; k++)
            same = x->shape[k] == t->shape[k];
        if (!same) {
            char got[96] = "", exp[96] = "";
            for (int k = 0; k < x->ndim; k++)
                snprintf(got + strlen(got), sizeof got - strlen(got), "%s%zu", k ? "," : "",
                         x->shape[k]);
            for (int k = 0; k < t->ndim; k++)
                snprintf(exp + strlen(exp), sizeof exp - strlen(exp), "%s%zu", k ? "," : "",
                         t->shape[k]);
            return wm_errf(err, errsz, WM_ERR_MISMATCH, "tensor '%s' has shape [%s], expected [%s]",
                           t->name, got, exp);
        }
    }
    for (int i = 0; i < p->n; i++) {
        const NnTensor *t = &p->t[i];
        const WmStTensor *x = find_tensor(f, t);
        if (t->kind == NN_COUNTER)
            memcpy(s->count + t->offset, x->data, t->count * sizeof(int64_t));
        else
            memcpy((t->kind == NN_PARAM ? s->param : s->buf) + t->offset, x->data,
                   t->count * sizeof(float));
    }
    return WM_OK;
}
#endif

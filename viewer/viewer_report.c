/* The JSON report of a scripted viewer session (screenshot path + ".json"). */
#include <SDL2/SDL.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/alloc.h"
#include "core/clock.h"
#include "core/err.h"
#include "core/fs.h"
#include "core/png.h"
#include "viewer/viewer_impl.h"

static void json_doubles(WmBuf *b, const double *x, int n) {
    wm_buf_puts(b, "[");
    for (int i = 0; i < n; i++) {
        if (i) wm_buf_puts(b, ", ");
        wm_buf_real(b, x[i]);
    }
    wm_buf_puts(b, "]");
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}


int vw_write_report(Vw *v, const char *path, const WorldEnd *ends, double *frame_s, int nframes,
                        int frames_drawn, double seconds, char *err, size_t errsz) {
    WmBuf b = {0};
    /* steady state: after the first 2 s (worlds made, shaders compiled) */
    int skip = 0;
    for (double t = 0; skip < nframes && t < 2.0; skip++)
        t += frame_s[skip];
    int ns = nframes - skip;
    double *steady = frame_s + skip, ssum = 0;
    qsort(steady, (size_t)ns, sizeof *steady, cmp_double);
    int sslow = 0;
    for (int i = 0; i < ns; i++)
        ssum += steady[i], sslow += steady[i] > 1.0 / 30;
#define SPCT(p) (ns ? 1000 * steady[(int)((ns - 1) * (p))] : 0)
    wm_buf_printf(&b,
                  "{\n  \"steady\": {\"frames\": %d, \"fps\": %.2f, \"p50_ms\": %.2f, \"p95_ms\": "
                  "%.2f, \"p99_ms\": %.2f, "
                  "\"max_ms\": %.2f, \"over_33ms\": %d},\n",
                  ns, ssum > 0 ? ns / ssum : 0, SPCT(0.5), SPCT(0.95), SPCT(0.99), SPCT(1.0),
                  sslow);
#undef SPCT
    qsort(frame_s, (size_t)nframes, sizeof *frame_s, cmp_double);
    double sum = 0;
    int slow = 0;
    for (int i = 0; i < nframes; i++)
        sum += frame_s[i], slow += frame_s[i] > 1.0 / 30;
#define PCT(p) (nframes ? 1000 * frame_s[(int)((nframes - 1) * (p))] : 0)
    wm_buf_printf(&b, "  \"frames\": %d,\n  \"frames_drawn\": %d,\n  \"seconds\": %.3f,\n",
                  v->d.frames, frames_drawn, seconds);
    wm_buf_printf(&b,
                  "  \"fps_mean\": %.2f,\n  \"frame_ms\": {\"p50\": %.2f, \"p95\": %.2f, \"p99\": "
                  "%.2f, \"max\": %.2f},\n",
                  sum > 0 ? nframes / sum : 0, PCT(0.5), PCT(0.95), PCT(0.99), PCT(1.0));
#undef PCT
    double per = frames_drawn > 0 ? 1000.0 / frames_drawn : 0;
    wm_buf_printf(&b,
                  "  \"window_ms\": {\"input\": %.2f, \"world_view\": %.2f, \"panels\": %.2f, "
                  "\"present\": %.2f},\n",
                  v->phase_s[0] * per, v->phase_s[1] * per, v->phase_s[2] * per,
                  v->phase_s[3] * per);
    wm_buf_printf(&b, "  \"frames_over_33ms\": %d,\n  \"frame_cap\": %.0f,\n  \"threads\": %d,\n",
                  slow, FRAME_CAP, v->d.threads);
    wm_buf_puts(&b, "  \"video_driver\": ");
    wm_buf_json_str(&b, v->video_driver);
    wm_buf_puts(&b, ",\n  \"renderer\": ");
    wm_buf_json_str(&b, v->gl ? rd_ctx_renderer(v->gl) : "");
    wm_buf_printf(&b, ",\n  \"window\": [%d, %d],\n  \"world\": \"%s\",\n  \"worlds\": [", v->cv.w,
                  v->cv.h, env_kind_name(vw_world(v)->kind));
    int first = 1;
    for (int i = 0; i < ENV_KIND_COUNT; i++) {
        VwWorld *w = &v->worlds[i];
        if (!w->made) continue;
        wm_buf_printf(&b,
                      "%s\n    {\"kind\": \"%s\", \"resets\": %llu, \"views\": %lld, \"class\": "
                      "%d, \"instance\": %d,\n",
                      first ? "" : ",", env_kind_name(w->kind),
                      (unsigned long long)w->resets, (long long)w->n, w->label, w->instance);
        first = 0;
        wm_buf_puts(&b, "     \"latent_start\": ");
        json_doubles(&b, w->lat0, w->NL);
        wm_buf_puts(&b, ",\n     \"latent_end\": ");
        json_doubles(&b, ends[i].lat_end, w->NL);
        wm_buf_puts(&b, ",\n     \"actions\": [");
        for (int k = 0; k < w->n_applied; k++) {
            double a[ENV_MAX_DIM];
            for (int j = 0; j < w->A; j++)
                a[j] = w->applied[(size_t)k * (size_t)w->A + (size_t)j];
            wm_buf_puts(&b, k ? ", " : "");
            json_doubles(&b, a, w->A);
        }
        wm_buf_printf(
            &b, "],\n     \"train_steps\": %lld,\n     \"sequences_mixed\": %d,\n     \"note\": ",
            (long long)ends[i].steps, ends[i].mixed);
        wm_buf_json_str(&b, ends[i].note);
        wm_buf_puts(&b, ",\n     \"checkpoint\": ");
        wm_buf_json_str(&b, ends[i].ckpt);
        wm_buf_puts(&b, "}");
    }
    wm_buf_puts(&b, "\n  ],\n  \"panels\": [");
    for (int p = 0; p < VW_NPANELS; p++)
        wm_buf_printf(
            &b,
            "%s\n    {\"name\": \"%s\", \"x\": %d, \"y\": %d, \"w\": %d, \"h\": %d, \"items\": %d}",
            p ? "," : "", vw_panel_names[p], v->r[p].x, v->r[p].y, v->r[p].w, v->r[p].h,
            v->items[p]);
    wm_buf_puts(&b, "\n  ]\n}\n");
    int rc = wm_write_file_atomic(path, b.data, b.len, err, errsz);
    wm_buf_free(&b);
    return rc;
}

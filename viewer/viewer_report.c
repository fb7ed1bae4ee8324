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
#include "core/json.h"
#include "core/png.h"
#include "viewer/viewer_impl.h"

static void json_doubles(WmJsonW *w, const double *x, int n) {
    wm_jw_arr(w);
    for (int i = 0; i < n; i++)
        wm_jw_real(w, x[i]);
    wm_jw_end(w);
}

/* Keys of the report's top level and of each world, each on its own line. */
static void line_key(WmJsonW *w, const char *indent, const char *key) {
    wm_jw_break(w, indent), wm_jw_key(w, key);
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
    WmJsonW w;
    wm_jw_init(&w, &b);
    wm_jw_obj(&w);
#define SPCT(p) (ns ? 1000 * steady[(int)((ns - 1) * (p))] : 0)
    line_key(&w, "\n  ", "steady"), wm_jw_obj(&w);
    wm_jw_key(&w, "frames"), wm_jw_int(&w, ns);
    wm_jw_key(&w, "fps"), wm_jw_fixed(&w, ssum > 0 ? ns / ssum : 0, 2);
    wm_jw_key(&w, "p50_ms"), wm_jw_fixed(&w, SPCT(0.5), 2);
    wm_jw_key(&w, "p95_ms"), wm_jw_fixed(&w, SPCT(0.95), 2);
    wm_jw_key(&w, "p99_ms"), wm_jw_fixed(&w, SPCT(0.99), 2);
    wm_jw_key(&w, "max_ms"), wm_jw_fixed(&w, SPCT(1.0), 2);
    wm_jw_key(&w, "over_33ms"), wm_jw_int(&w, sslow);
    wm_jw_end(&w);
#undef SPCT
    qsort(frame_s, (size_t)nframes, sizeof *frame_s, cmp_double);
    double sum = 0;
    int slow = 0;
    for (int i = 0; i < nframes; i++)
        sum += frame_s[i], slow += frame_s[i] > 1.0 / 30;
#define PCT(p) (nframes ? 1000 * frame_s[(int)((nframes - 1) * (p))] : 0)
    line_key(&w, "\n  ", "frames"), wm_jw_int(&w, v->d.frames);
    line_key(&w, "\n  ", "frames_drawn"), wm_jw_int(&w, frames_drawn);
    line_key(&w, "\n  ", "seconds"), wm_jw_fixed(&w, seconds, 3);
    line_key(&w, "\n  ", "fps_mean"), wm_jw_fixed(&w, sum > 0 ? nframes / sum : 0, 2);
    line_key(&w, "\n  ", "frame_ms"), wm_jw_obj(&w);
    wm_jw_key(&w, "p50"), wm_jw_fixed(&w, PCT(0.5), 2);
    wm_jw_key(&w, "p95"), wm_jw_fixed(&w, PCT(0.95), 2);
    wm_jw_key(&w, "p99"), wm_jw_fixed(&w, PCT(0.99), 2);
    wm_jw_key(&w, "max"), wm_jw_fixed(&w, PCT(1.0), 2);
    wm_jw_end(&w);
#undef PCT
    double per = frames_drawn > 0 ? 1000.0 / frames_drawn : 0;
    static const char *const phases[4] = {"input", "world_view", "panels", "present"};
    line_key(&w, "\n  ", "window_ms"), wm_jw_obj(&w);
    for (int i = 0; i < 4; i++)
        wm_jw_key(&w, phases[i]), wm_jw_fixed(&w, v->phase_s[i] * per, 2);
    wm_jw_end(&w);
    line_key(&w, "\n  ", "frames_over_33ms"), wm_jw_int(&w, slow);
    line_key(&w, "\n  ", "frame_cap"), wm_jw_fixed(&w, FRAME_CAP, 0);
    line_key(&w, "\n  ", "threads"), wm_jw_int(&w, v->d.threads);
    line_key(&w, "\n  ", "video_driver"), wm_jw_str(&w, v->video_driver);
    line_key(&w, "\n  ", "renderer"), wm_jw_str(&w, v->gl ? rd_ctx_renderer(v->gl) : "");
    line_key(&w, "\n  ", "window"), wm_jw_arr(&w);
    wm_jw_int(&w, v->cv.w), wm_jw_int(&w, v->cv.h);
    wm_jw_end(&w);
    line_key(&w, "\n  ", "world"), wm_jw_str(&w, env_kind_name(vw_world(v)->kind));
    line_key(&w, "\n  ", "worlds"), wm_jw_arr(&w);
    for (int i = 0; i < ENV_KIND_COUNT; i++) {
        VwWorld *vw = &v->worlds[i];
        if (!vw->made) continue;
        wm_jw_break(&w, "\n    "), wm_jw_obj(&w);
        wm_jw_key(&w, "kind"), wm_jw_str(&w, env_kind_name(vw->kind));
        wm_jw_key(&w, "resets"), wm_jw_uint(&w, vw->resets);
        wm_jw_key(&w, "views"), wm_jw_int(&w, vw->n);
        wm_jw_key(&w, "class"), wm_jw_int(&w, vw->label);
        wm_jw_key(&w, "instance"), wm_jw_int(&w, vw->instance);
        line_key(&w, "\n     ", "latent_start"), json_doubles(&w, vw->lat0, vw->NL);
        line_key(&w, "\n     ", "latent_end"), json_doubles(&w, ends[i].lat_end, vw->NL);
        line_key(&w, "\n     ", "actions"), wm_jw_arr(&w);
        for (int k = 0; k < vw->n_applied; k++) {
            double a[ENV_MAX_DIM];
            for (int j = 0; j < vw->A; j++)
                a[j] = vw->applied[(size_t)k * (size_t)vw->A + (size_t)j];
            json_doubles(&w, a, vw->A);
        }
        wm_jw_end(&w);
        line_key(&w, "\n     ", "train_steps"), wm_jw_int(&w, ends[i].steps);
        line_key(&w, "\n     ", "sequences_mixed"), wm_jw_int(&w, ends[i].mixed);
        line_key(&w, "\n     ", "note"), wm_jw_str(&w, ends[i].note);
        line_key(&w, "\n     ", "checkpoint"), wm_jw_str(&w, ends[i].ckpt);
        wm_jw_end(&w);
    }
    wm_jw_break(&w, "\n  "), wm_jw_end(&w);
    line_key(&w, "\n  ", "panels"), wm_jw_arr(&w);
    for (int p = 0; p < VW_NPANELS; p++) {
        wm_jw_break(&w, "\n    "), wm_jw_obj(&w);
        wm_jw_key(&w, "name"), wm_jw_str(&w, vw_panel_names[p]);
        wm_jw_key(&w, "x"), wm_jw_int(&w, v->r[p].x);
        wm_jw_key(&w, "y"), wm_jw_int(&w, v->r[p].y);
        wm_jw_key(&w, "w"), wm_jw_int(&w, v->r[p].w);
        wm_jw_key(&w, "h"), wm_jw_int(&w, v->r[p].h);
        wm_jw_key(&w, "items"), wm_jw_int(&w, v->items[p]);
        wm_jw_end(&w);
    }
    wm_jw_break(&w, "\n  "), wm_jw_end(&w);
    wm_jw_break(&w, "\n"), wm_jw_end(&w);
    wm_buf_puts(&b, "\n");
    int rc = wm_write_file_atomic(path, b.data, b.len, err, errsz);
    wm_buf_free(&b);
    return rc;
}

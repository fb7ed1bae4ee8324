/* Progress reporting: a redrawn bar on a terminal, periodic lines otherwise. */
#include "core/clock.h"
#include "core/progress.h"

#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static void fmt_time(char *out, size_t n, double s) {
    if (s < 0 || s > 1e7) {
        snprintf(out, n, "--:--");
        return;
    }
    int t = (int)(s + 0.5);
    if (t >= 3600)
        snprintf(out, n, "%d:%02d:%02d", t / 3600, t / 60 % 60, t % 60);
    else
        snprintf(out, n, "%02d:%02d", t / 60, t % 60);
}

void wm_progress_start(WmProgress *p, const char *label, int64_t total, const char *unit) {
    memset(p, 0, sizeof *p);
    snprintf(p->label, sizeof p->label, "%s", label);
    snprintf(p->unit, sizeof p->unit, "%s", unit ? unit : "it");
    p->total = total;
    p->t_start = p->t_last_draw = wm_now();
    p->tty = isatty(fileno(stderr));
    p->interval = 5.0;
    p->active = 1;
}

static void draw(WmProgress *p, double now, const char *extra, int final) {
    double el = now - p->t_start;
    double rate = el > 0 ? (double)(p->done - p->start) / el : 0;
    double eta = rate > 0 && p->total > 0 ? (double)(p->total - p->done) / rate : -1;
    char e1[32], e2[32];
    fmt_time(e1, sizeof e1, el);
    fmt_time(e2, sizeof e2, eta);
    double frac = p->total > 0 ? (double)p->done / (double)p->total : 0;
    if (frac > 1) frac = 1;
    if (p->tty) {
        char bar[32];
        int w = 24, fill = (int)(frac * w);
        for (int i = 0; i < w; i++) bar[i] = i < fill ? '#' : '.';
        bar[w] = 0;
        fprintf(stderr, "\r\033[K%s [%s] %3.0f%% %lld/%lld %.1f %s/s %s<%s%s%s%s", p->label, bar,
                100 * frac, (long long)p->done, (long long)p->total, rate, p->unit, e1, e2,
                extra ? "  " : "", extra ? extra : "", final ? "\n" : "");
    } else {
        fprintf(stderr, "%s: %lld/%lld (%.0f%%) %.1f %s/s elapsed %s eta %s%s%s\n", p->label,
                (long long)p->done, (long long)p->total, 100 * frac, rate, p->unit, e1, e2,
                extra ? "  " : "", extra ? extra : "");
    }
    fflush(stderr);
}

void wm_progress_from(WmProgress *p, int64_t done) {
    p->done = p->start = done;
    if (p->total > 0 && done >= p->total) p->active = 0; /* nothing left: nothing drawn */
}

void wm_progress_update(WmProgress *p, int64_t done, const char *extra) {
    if (!p->active) return;
    p->done = done;
    double now = wm_now();
    double every = p->tty ? 0.1 : p->interval;
    if (now - p->t_last_draw < every) return;
    p->t_last_draw = now;
    draw(p, now, extra, 0);
}

void wm_progress_finish(WmProgress *p, const char *extra) {
    if (!p->active) return;
    draw(p, wm_now(), extra, 1);
    p->active = 0;
}

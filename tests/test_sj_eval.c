/* The evaluation's controls and tables: chance is 1/K and 0, the oracle fed exact
 * latents and actions scores near 1 and near 0 on unrelated targets, the tables put
 * every column beside the model, leave M = 1 out of path integration and say why, and
 * show metrics a column lacks as a dash (null in JSON). */
#include "core/alloc.h"
#include "core/err.h"
#include "core/rng.h"
#include "model/sj_eval.h"
#include "tests/test.h"

enum { N_TR = 400, N_TE = 200, T = 4, A = 3, L = 3, MMAX = 3 };

typedef struct {
    float act[N_TR * (T - 1) * A], cum[N_TR * MMAX * A], lat[N_TR * T * L];
    int32_t lab[N_TR];
} Split;

/* Latents that move by the actions (a_i = lat_{i+1} - lat_i), the cumulative action a
 * plain sum: the oracle's probes can recover both exactly. unrelated: cumulative
 * targets drawn independently of everything instead. */
static void make_split(Split *s, int n, uint64_t seed, int unrelated, SjEvalSplit *out) {
    WmRng r;
    wm_rng_seed(&r, seed, 0);
    for (int i = 0; i < n; i++) {
        s->lab[i] = i % 4;
        for (int j = 0; j < L; j++) s->lat[(size_t)i * T * L + j] = (float)wm_rng_normal(&r);
        for (int k = 0; k + 1 < T; k++)
            for (int j = 0; j < A; j++) {
                float a = (float)wm_rng_normal(&r);
                s->act[((size_t)i * (T - 1) + k) * A + j] = a;
                s->lat[((size_t)i * T + k + 1) * L + j] = s->lat[((size_t)i * T + k) * L + j] + a;
            }
        for (int M = 1; M <= MMAX; M++)
            for (int j = 0; j < A; j++) {
                float c = 0;
                for (int k = 0; k < M; k++) c += s->act[((size_t)i * (T - 1) + k) * A + j];
                s->cum[((size_t)i * MMAX + M - 1) * A + j] = unrelated ? (float)wm_rng_normal(&r) : c;
            }
    }
    *out = (SjEvalSplit){n, T, NULL, s->act, s->lab, s->cum, s->lat, L};
}

static int count(const char *hay, const char *needle) {
    int n = 0;
    for (const char *p = strstr(hay, needle); p; p = strstr(p + 1, needle)) n++;
    return n;
}

int main(void) {
    static Split str, ste, utr, ute;
    SjEvalSplit tr, te, tr_u, te_u;
    make_split(&str, N_TR, 1, 0, &tr);
    make_split(&ste, N_TE, 2, 0, &te);
    make_split(&utr, N_TR, 3, 1, &tr_u);
    make_split(&ute, N_TE, 4, 1, &te_u);
    char err[256];
    SjEvalSpec spec = {.m_max = MMAX, .cum_dim = A, .seed = 1, .skip_trivial = 1};

    SjEvalResult chance, oracle, noise;
    sj_eval_chance(&chance, MMAX, 16);
    CHECK_NEAR(chance.top1_z, 1.0 / 16, 1e-12);
    CHECK(chance.top1_agg[MMAX] == 1.0 / 16 && chance.equiv_r2 == 0 && chance.pi_r2[2] == 0);
    CHECK(isnan(chance.loss) && isnan(chance.pi_r2_zero_act[2]), "chance has no loss and no ablations");

    CHECK(sj_eval_oracle_work(&spec, &tr, &te) == MMAX, "work: equivariance + M = 2..3");
    CHECK(sj_eval_oracle_result(&spec, &tr, &te, A, &oracle, err, sizeof err) == WM_OK, "%s", err);
    CHECK(oracle.equiv_r2 > 0.95 && oracle.pi_r2[2] > 0.95 && oracle.pi_r2[3] > 0.95, "oracle on exact targets: %.3f %.3f %.3f",
          oracle.equiv_r2, oracle.pi_r2[2], oracle.pi_r2[3]);
    CHECK(isnan(oracle.pi_r2[1]) && isnan(oracle.top1_z), "M = 1 skipped, no classifier");
    CHECK(sj_eval_oracle_result(&spec, &tr_u, &te_u, A, &noise, err, sizeof err) == WM_OK, "%s", err);
    CHECK(noise.pi_r2[2] < 0.05 && noise.pi_r2[3] < 0.05 && noise.pi_r2[2] > -0.2, "oracle on unrelated targets: %.3f %.3f",
          noise.pi_r2[2], noise.pi_r2[3]);

    /* A model column with a few measured values, beside the controls. */
    SjEvalResult model;
    sj_eval_result_blank(&model, MMAX);
    model.top1_z = 0.25, model.equiv_r2 = 0.5, model.pi_r2[1] = 1, model.pi_r2[2] = 0.4, model.pi_r2[3] = 0.3;
    model.pi_r2_zero_act[2] = 0.1, model.loss_m = 2, model.loss = 0.2, model.loss_copy = 0.3, model.loss_mean = 0.35;
    for (int M = 1; M <= MMAX; M++) model.top1_agg[M] = 0.2;
    SjEvalColumn cols[3] = {{"model", "a test model", &model}, {"chance", NULL, &chance}, {"oracle", "ground truth", &oracle}};
    WmBuf md = {0}, js = {0};
    sj_eval_markdown_table(cols, 3, &md);
    CHECK(count(md.data, "| | model | chance | oracle |") == 4, "four tables, each with every column:\n%s", md.data);
    CHECK(strstr(md.data, "| R^2, M = 2 | 0.400 | 0.000 |") && !strstr(md.data, "R^2, M = 1 |") &&
              strstr(md.data, "M = 1 is left out"), "no M = 1 row, and why");
    CHECK(strstr(md.data, "| top-1 from z (view 1) | 0.250 | 0.062 | – |") != NULL, "a dash where a column has no value");
    CHECK(strstr(md.data, "R^2, M = 2, actions zeroed | 0.100 | – | – |") && !strstr(md.data, "features zeroed"),
          "rows no column measures are left out");
    CHECK(strstr(md.data, "M = 2 observed views") && strstr(md.data, "**model**: a test model") &&
              strstr(md.data, "**oracle**: ground truth") && !strstr(md.data, "**chance**"), "loss M and the legend");
    WmJsonW jw;
    wm_jw_init(&jw, &js);
    sj_eval_json_table(cols, 3, &jw);
    CHECK(strstr(js.data, "\"model\": {\"top1_z\": 0.250000") && strstr(js.data, "\"oracle\": {\"top1_z\": null") &&
              !strstr(js.data, "pathint_r2_m1\""), "JSON table:\n%s", js.data);
    wm_buf_free(&md), wm_buf_free(&js);

    /* A one-view evaluation has no path-integration rows and says so. */
    SjEvalResult one;
    sj_eval_chance(&one, 1, 4);
    SjEvalColumn c1[1] = {{"chance", NULL, &one}};
    sj_eval_markdown_table(c1, 1, &md);
    CHECK(strstr(md.data, "no rows (eval.m_max = 1") && !strstr(md.data, "| R^2, M"), "%s", md.data);
    wm_buf_free(&md);
    return TEST_DONE();
}

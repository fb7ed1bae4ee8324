/* The evaluation's controls and tables: chance is 1/K, 0 and 1/(k+1), the oracle fed
 * exact latents and poses scores near 1 and near 0 on unrelated targets, noise in
 * place of features reads nothing, the tables put every column beside the model, keep
 * retrieval's M = 1 row and say why, and show metrics a column lacks as a dash (null
 * in JSON). */
#include "core/alloc.h"
#include "core/err.h"
#include "core/rng.h"
#include "model/sj_eval.h"
#include "tests/test.h"

enum { N_TR = 400, N_TE = 200, T = 4, A = 3, L = 3, MMAX = 3, RM = 2, RK = 3, RT = RM + 1 + RK, NR = 300 };

typedef struct {
    float act[N_TR * (T - 1) * A], lat[N_TR * T * L], pose[N_TR * T * L];
    int32_t lab[N_TR];
} Split;

/* Latents that move by the actions (a_i = lat_{i+1} - lat_i); the pose is the latent
 * itself, or (unrelated) drawn independently of everything. */
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
        for (int k = 0; k < T * L; k++)
            s->pose[(size_t)i * T * L + k] = unrelated ? (float)wm_rng_normal(&r) : s->lat[(size_t)i * T * L + k];
    }
    *out = (SjEvalSplit){n, T, NULL, s->act, s->lab, s->lat, L, s->pose, L, NULL};
}

/* Retrieval sequences in the same toy world: independent positions per view, the
 * action the displacement to the next, pose_next = pose + action. */
typedef struct {
    float act[NR * (RT - 1) * L], pose[NR * RT * L], next[NR * (RT - 1) * L];
} Retr;

static void make_retr(Retr *s, SjRetrSplit *out) {
    WmRng r;
    wm_rng_seed(&r, 5, 0);
    for (int i = 0; i < NR * RT * L; i++) s->pose[i] = (float)wm_rng_normal(&r);
    for (int i = 0; i < NR; i++)
        for (int v = 0; v + 1 < RT; v++)
            for (int j = 0; j < L; j++) {
                size_t a = ((size_t)i * (RT - 1) + v) * L + j, p = ((size_t)i * RT + v) * L + j;
                s->act[a] = s->pose[p + L] - s->pose[p];
                s->next[a] = s->pose[p] + s->act[a];
            }
    *out = (SjRetrSplit){NR, RT, NULL, s->act, s->pose, s->next, L, NULL, NULL, 0, 0};
}

static int count(const char *hay, const char *needle) {
    int n = 0;
    for (const char *p = strstr(hay, needle); p; p = strstr(p + 1, needle)) n++;
    return n;
}

int main(void) {
    static Split str, ste, utr, ute;
    static Retr rs;
    SjEvalSplit tr, te, tr_u, te_u;
    SjRetrSplit retr;
    make_split(&str, N_TR, 1, 0, &tr);
    make_split(&ste, N_TE, 2, 0, &te);
    make_split(&utr, N_TR, 3, 1, &tr_u);
    make_split(&ute, N_TE, 4, 1, &te_u);
    make_retr(&rs, &retr);
    char err[256];
    SjEvalSpec spec = {.m_max = MMAX, .seed = 1, .retr = &retr, .retr_m_max = RM, .retr_k = RK};

    SjEvalResult chance, oracle, noise, unrel;
    sj_eval_chance(&chance, MMAX, 16, RM, RK);
    CHECK_NEAR(chance.top1_z, 1.0 / 16, 1e-12);
    CHECK(chance.top1_agg[MMAX] == 1.0 / 16 && chance.equiv_r2 == 0 && chance.pose_r2 == 0 && chance.pose_mlp_r2 == 0);
    CHECK(chance.retr_top1[1] == 0.25 && chance.retr_top1[RM] == 0.25 && isnan(chance.retr_top1[RM + 1]));
    CHECK(isnan(chance.loss) && isnan(chance.retr_copy[1]), "chance has no loss and no copy baseline");

    CHECK(sj_eval_oracle_work(&spec, &tr, &te) == 2, "work: equivariance + pose");
    CHECK(sj_eval_oracle_result(&spec, &tr, &te, A, &oracle, err, sizeof err) == WM_OK, "%s", err);
    CHECK(oracle.equiv_r2 > 0.95 && oracle.pose_r2 > 0.95, "oracle on exact targets: %.3f %.3f", oracle.equiv_r2,
          oracle.pose_r2);
    CHECK(oracle.retr_top1[1] > 0.95 && oracle.retr_top1[RM] > 0.95 && oracle.retr_m_max == RM && oracle.retr_k == RK,
          "retrieval oracle: %.3f %.3f", oracle.retr_top1[1], oracle.retr_top1[RM]);
    CHECK(isnan(oracle.top1_z) && isnan(oracle.retr_copy[1]), "no classifier, no copy baseline");
    CHECK(isnan(oracle.pose_mlp_r2), "no MLP pose row without spec.mlp");
    /* A split's own equivariance target is the one scored: the same latents against a
     * target unrelated to them read nothing, against a_1 rescaled everything. */
    {
        static float rel_tr[N_TR * (T - 1) * A], rel_te[N_TE * (T - 1) * A];
        WmRng r;
        wm_rng_seed(&r, 9, 0);
        for (size_t i = 0; i < sizeof rel_tr / sizeof *rel_tr; i++) rel_tr[i] = (float)wm_rng_normal(&r);
        for (size_t i = 0; i < sizeof rel_te / sizeof *rel_te; i++) rel_te[i] = (float)wm_rng_normal(&r);
        SjEvalSplit etr = tr, ete = te;
        etr.equiv = rel_tr, ete.equiv = rel_te;
        SjEvalResult o2;
        CHECK(sj_eval_oracle_result(&spec, &etr, &ete, A, &o2, err, sizeof err) == WM_OK, "%s", err);
        CHECK(o2.equiv_r2 < 0.05, "oracle against an unrelated equivariance target: %.3f", o2.equiv_r2);
        for (size_t i = 0; i < sizeof rel_tr / sizeof *rel_tr; i++) rel_tr[i] = 3 * str.act[i];
        for (size_t i = 0; i < sizeof rel_te / sizeof *rel_te; i++) rel_te[i] = 3 * ste.act[i];
        CHECK(sj_eval_oracle_result(&spec, &etr, &ete, A, &o2, err, sizeof err) == WM_OK, "%s", err);
        CHECK(o2.equiv_r2 > 0.95, "oracle against a_1 rescaled: %.3f", o2.equiv_r2);
    }
    /* Poses unrelated to the latents: the noise column of the pose probe (fed the true
     * latents, which say nothing about these poses) scores about 0. */
    sj_eval_noise_result(&spec, &tr_u, &te_u, 32, &unrel);
    CHECK(unrel.pose_r2 < 0.05 && unrel.pose_r2 > -0.2, "noise features, pose: %.3f", unrel.pose_r2);
    sj_eval_noise_result(&spec, &tr, &te, 32, &noise);
    CHECK(noise.pose_r2 < 0.05 && noise.pose_r2 > -0.2, "noise features, pose: %.3f", noise.pose_r2);
    CHECK(fabs(noise.retr_top1[1] - 0.25) < 0.1 && fabs(noise.retr_top1[RM] - 0.25) < 0.1, "noise retrieval: %.3f %.3f",
          noise.retr_top1[1], noise.retr_top1[RM]);
    CHECK(isnan(noise.equiv_r2) && isnan(noise.top1_z), "noise: pose and retrieval only");
    /* With the MLP regressor the pose is also read non-linearly: the oracle still near 1,
     * noise and unrelated poses still about 0 (the regressor falls back to ridge where
     * the MLP does worse on its validation rows). */
    SjEvalSpec spec_mlp = spec;
    spec_mlp.mlp = 1, spec_mlp.mlp_hidden = 32, spec_mlp.mlp_epochs = 20;
    SjEvalResult oracle_mlp, noise_mlp, unrel_mlp;
    CHECK(sj_eval_oracle_work(&spec_mlp, &tr, &te) == 17, "work: equivariance (MLP 8) + pose (ridge 1, MLP 8): %d",
          sj_eval_oracle_work(&spec_mlp, &tr, &te));
    CHECK(sj_eval_oracle_result(&spec_mlp, &tr, &te, A, &oracle_mlp, err, sizeof err) == WM_OK, "%s", err);
    CHECK(oracle_mlp.pose_mlp_r2 > 0.95 && oracle_mlp.pose_r2 > 0.95, "oracle, both pose rows: %.3f %.3f",
          oracle_mlp.pose_r2, oracle_mlp.pose_mlp_r2);
    sj_eval_noise_result(&spec_mlp, &tr, &te, 32, &noise_mlp);
    sj_eval_noise_result(&spec_mlp, &tr_u, &te_u, 32, &unrel_mlp);
    CHECK(noise_mlp.pose_mlp_r2 < 0.05 && noise_mlp.pose_mlp_r2 > -0.2 && unrel_mlp.pose_mlp_r2 < 0.05 &&
              unrel_mlp.pose_mlp_r2 > -0.2,
          "noise features, MLP pose: %.3f, unrelated %.3f", noise_mlp.pose_mlp_r2, unrel_mlp.pose_mlp_r2);
    /* Noise is scored on the sequences the models are scored on: with every sequence left
     * out at M = 1 (too few distractors), nothing is scored there, as for a model. */
    static int32_t cand[NR * RM * (RK + 1)];
    for (int i = 0; i < NR; i++)
        for (int M = 1; M <= RM; M++)
            for (int j = 0; j <= RK; j++) cand[(i * RM + M - 1) * (RK + 1) + j] = M == 1 ? -1 : M + j;
    SjRetrSplit left = retr;
    left.cand = cand, left.cand_m = RM, left.cand_k = RK;
    SjEvalSpec spec_left = spec;
    spec_left.retr = &left;
    SjEvalResult noise_left;
    sj_eval_noise_result(&spec_left, &tr, &te, 32, &noise_left);
    CHECK(sj_retrieval_count(&left, 1) == 0 && isnan(noise_left.retr_top1[1]) &&
              fabs(noise_left.retr_top1[RM] - 0.25) < 0.1,
          "noise retrieval where every sequence is left out at M = 1: %.3f %.3f", noise_left.retr_top1[1],
          noise_left.retr_top1[RM]);

    /* A model column with a few measured values, beside the controls. */
    SjEvalResult model;
    sj_eval_result_blank(&model, MMAX);
    model.top1_z = 0.25, model.equiv_r2 = 0.5, model.pose_r2 = 0.6, model.pose_mlp_r2 = 0.65;
    model.retr_m_max = RM, model.retr_k = RK, model.retr_top1[1] = 0.7, model.retr_top1[2] = 0.4;
    model.retr_copy[1] = 0.2, model.loss_m = 2, model.loss = 0.2, model.loss_other = 0.25, model.loss_copy = 0.3,
    model.loss_mean = 0.35;
    for (int M = 1; M <= MMAX; M++) model.top1_agg[M] = 0.2;
    SjEvalColumn cols[3] = {{"model", "a test model", &model}, {"chance", NULL, &chance}, {"oracle", "ground truth", &oracle}};
    WmBuf md = {0}, js = {0};
    sj_eval_markdown_table(cols, 3, 0, &md);
    CHECK(count(md.data, "| | model | chance | oracle |") == 4, "four tables, each with every column:\n%s", md.data);
    CHECK(strstr(md.data, "3 other views of the same object, under the same lights and colours, at independent poses") &&
              strstr(md.data, "classifier of the object class") && !strstr(md.data, "glimpse"),
          "objects: the intros speak of objects, views and poses:\n%s", md.data);
    CHECK(strstr(md.data, "| top-1, M = 1 | 0.700 | 0.250 |") && strstr(md.data, "| top-1, M = 2 | 0.400 | 0.250 |") &&
              !strstr(md.data, "top-1, M = 3 |") && strstr(md.data, "M = 1 is not trivial"),
          "retrieval rows M = 1..retr_m_max, and why M = 1 stays:\n%s", md.data);
    CHECK(strstr(md.data, "chance 1/4") != NULL, "chance named in the intro");
    CHECK(strstr(md.data, "| pose R^2 from z (the gate) | 0.600 | 0.000 |") != NULL, "the pose row");
    CHECK(strstr(md.data, "| pose R^2 from z, MLP or ridge | 0.650 | 0.000 | – |") != NULL, "the MLP pose row");
    CHECK(strstr(md.data, "| top-1 from z (view 1) | 0.250 | 0.062 | – |") != NULL, "a dash where a column has no value");
    CHECK(strstr(md.data, "| copying view M, M = 1 | 0.200 | – | – |") && !strstr(md.data, "copying view M, M = 2 |"),
          "rows no column measures are left out");
    CHECK(strstr(md.data, "| the model's prediction | 0.200 | – | – |\n| the same, a_M of another sequence | 0.250 | – | – |") &&
              strstr(md.data, "what the prediction owes to the action"),
          "the loss with another sequence's action, below the model's own:\n%s", md.data);
    CHECK(strstr(md.data, "M = 2 observed views") && strstr(md.data, "**model**: a test model") &&
              strstr(md.data, "**oracle**: ground truth") && !strstr(md.data, "**chance**"), "loss M and the legend");
    WmJsonW jw;
    wm_jw_init(&jw, &js);
    sj_eval_json_table(cols, 3, &jw);
    CHECK(strstr(js.data, "\"model\": {\"top1_z\": 0.250000") && strstr(js.data, "\"oracle\": {\"top1_z\": null") &&
              strstr(js.data, "\"retrieval_top1_m1\": 0.700000") && strstr(js.data, "\"pose_r2\": 0.600000") &&
              !strstr(js.data, "retrieval_top1_m3\""), "JSON table:\n%s", js.data);
    WmBuf mdg = {0};
    sj_eval_markdown_table(cols, 3, 1, &mdg);
    CHECK(strstr(mdg.data, "3 other glimpses of the same image, at independent fixations") &&
              strstr(mdg.data, "classifier of the scene class") && strstr(mdg.data, "held-out images") &&
              !strstr(mdg.data, "object") && !strstr(mdg.data, "lights") && !strstr(mdg.data, "rotation"),
          "saccades: the intros speak of images, glimpses and fixations:\n%s", mdg.data);
    /* the tables themselves are the same for either world */
    const char *t1 = strstr(md.data, "| | model"), *t2 = strstr(mdg.data, "| | model");
    CHECK(t1 && t2 && strncmp(t1, t2, (size_t)(strchr(t1, '\n') - t1)) == 0, "same table headings");
    wm_buf_free(&mdg);
    wm_buf_free(&md), wm_buf_free(&js);
    wm_jw_init(&jw, &js);
    wm_jw_obj(&jw);
    sj_eval_json_fields(&model, &jw);
    wm_jw_end(&jw);
    CHECK(strstr(js.data, "\"retrieval_top1\": [0.700000, 0.400000]") && strstr(js.data, "\"pose_r2\": 0.600000") &&
              strstr(js.data, "\"pose_mlp_r2\": 0.650000") &&
              strstr(js.data, "\"retrieval_copy_last_view\": [0.200000, null]"), "results JSON:\n%s", js.data);
    wm_buf_free(&js);

    /* Without retrieval sequences there are no path-integration rows. */
    SjEvalResult one;
    sj_eval_chance(&one, 1, 4, 0, 7);
    SjEvalColumn c1[1] = {{"chance", NULL, &one}};
    sj_eval_markdown_table(c1, 1, 0, &md);
    CHECK(!strstr(md.data, "Path integration") && strstr(md.data, "| top-1 from z (view 1) | 0.250 |"), "%s", md.data);
    wm_buf_free(&md);
    return TEST_DONE();
}

/* INI config: every error class names its line, overrides win, the dump parses back
 * with reals in their shortest round-trip form, filtered dumps, world-specific keys. */
#include <math.h>
#include <stdlib.h>

#include "agents/agent.h"
#include "core/config.h"
#include "core/err.h"
#include "core/fs.h"
#include "core/rng.h"
#include "envs/env.h"
#include "envs/saccade.h"
#include "tests/test.h"

#define MODEL_FIELDS(X, S)                                                                         \
    X(S, ENUM, encoder, "small", 0, 0, "small|resnet18|resnet18-cifar", "encoder")                 \
    X(S, INT, layers, "3", 1, 12, NULL, "transformer layers")                                      \
    X(S, REAL, dropout, "0.1", 0, 1, NULL, "dropout")                                              \
    X(S, BOOL, ema, "true", 0, 0, NULL, "use EMA target")
#define TRAIN_FIELDS(X, S)                                                                         \
    X(S, INT, steps, "100", 0, 1000000, NULL, "steps")                                             \
    X(S, REAL, lr, "4e-4", 0, 10, NULL, "learning rate")                                           \
    X(S, STR, out, "runs/x", 0, 0, NULL, "output folder")

WM_CFG_STRUCT(ModelCfg, MODEL_FIELDS);
WM_CFG_STRUCT(TrainCfg, TRAIN_FIELDS);
WM_CFG_FIELDS(ModelCfg, MODEL_FIELDS);
WM_CFG_FIELDS(TrainCfg, TRAIN_FIELDS);

typedef struct {
    ModelCfg model;
    TrainCfg train;
} Cfg;

static const WmCfgSection sections[] = {
    {"model", ModelCfg_fields, 4, offsetof(Cfg, model), 0, NULL},
    {"train", TrainCfg_fields, 3, offsetof(Cfg, train), 0, NULL},
};
static const WmCfgSchema schema = {sections, 2};

static void expect_error(const char *text, int code, const char *want) {
    Cfg c;
    char err[512] = "";
    wm_cfg_defaults(&schema, &c);
    int rc = wm_cfg_load_string(&schema, &c, text, "t.ini", err, sizeof err);
    CHECK(rc == code && strstr(err, want), "rc=%d (%s) err='%s' want '%s'", rc, wm_status_name(rc), err, want);
}

static int keep_model_but_ema(const WmCfgSection *sec, const WmCfgField *f, const void *cfg, void *ctx) {
    (void)cfg, (void)ctx;
    return !strcmp(sec->name, "model") && strcmp(f->key, "ema");
}

int main(void) {
    char err[512];
    Cfg c;
    CHECK(ModelCfg_nfields == 4 && TrainCfg_nfields == 3);
    wm_cfg_defaults(&schema, &c);
    CHECK(c.model.encoder == 0 && c.model.layers == 3 && c.model.dropout == 0.1 && c.model.ema == 1);
    CHECK(c.train.lr == 4e-4 && !strcmp(c.train.out, "runs/x"));

    const char *good = "# comment\n; another\n\n[model]\n  encoder = resnet18-cifar  # inline\n"
                       "layers=5\r\ndropout = 0\nema = off\n[train]\nout = \"my run # 1\"\nlr = 1e-3\n";
    CHECK(wm_cfg_load_string(&schema, &c, good, "good.ini", err, sizeof err) == WM_OK, "%s", err);
    CHECK(c.model.encoder == 2 && c.model.layers == 5 && c.model.dropout == 0 && c.model.ema == 0);
    CHECK(!strcmp(c.train.out, "my run # 1") && c.train.lr == 1e-3 && c.train.steps == 100);

    /* Each error class, with its line number. */
    expect_error("[model]\nlayers = 3\n[bogus]\n", WM_ERR_PARSE, "t.ini:3: unknown section [bogus]");
    expect_error("[model]\n\nwidth = 3\n", WM_ERR_PARSE, "t.ini:3: unknown key 'width' in [model]");
    expect_error("[model]\nlayers = 3\n# x\nlayers = 4\n", WM_ERR_PARSE,
                 "t.ini:4: duplicate key 'layers' in [model] (first set at line 2)");
    expect_error("layers = 3\n[model]\n", WM_ERR_PARSE, "t.ini:1: key 'layers' appears before any [section]");
    expect_error("[model]\nlayers = 3x\n", WM_ERR_PARSE, "t.ini:2: model.layers: '3x' is not an integer");
    expect_error("[model]\nlayers =\n", WM_ERR_PARSE, "t.ini:2: model.layers: '' is not an integer");
    expect_error("[train]\nlr = 0.1.2\n", WM_ERR_PARSE, "t.ini:2: train.lr: '0.1.2' is not a finite number");
    expect_error("[train]\nlr = nan\n", WM_ERR_PARSE, "is not a finite number");
    expect_error("[model]\nlayers = 13\n", WM_ERR_RANGE, "t.ini:2: model.layers = 13 is out of range [1, 12]");
    expect_error("[model]\nlayers = 99999999999999999999\n", WM_ERR_PARSE, "is not an integer");
    expect_error("[train]\nlr = -1\n", WM_ERR_RANGE, "t.ini:2: train.lr = -1 is out of range");
    expect_error("[model]\nema = maybe\n", WM_ERR_PARSE, "t.ini:2: model.ema: 'maybe' is not a boolean");
    expect_error("[model]\nencoder = vit\n", WM_ERR_PARSE, "'vit' is not one of small|resnet18|resnet18-cifar");
    expect_error("[model]\njust words\n", WM_ERR_PARSE, "t.ini:2: expected 'key = value'");
    expect_error("[model\n", WM_ERR_PARSE, "t.ini:1: malformed section header");
    expect_error("[train]\nout = \"abc\n", WM_ERR_PARSE, "t.ini:2: unterminated quoted value");

    /* Reading only the sections one knows: others are skipped, known ones still checked. */
    wm_cfg_defaults(&schema, &c);
    CHECK(wm_cfg_load_sections(&schema, &c, "[env]\nsize = 64\nwhatever = 1\n[model]\nlayers = 6\n", "m", err,
                               sizeof err) == WM_OK && c.model.layers == 6, "%s", err);
    CHECK(wm_cfg_load_sections(&schema, &c, "[other]\nx=1\n[model]\nlayerz = 6\n", "m", err, sizeof err) ==
              WM_ERR_PARSE && strstr(err, "m:4: unknown key 'layerz'"), "%s", err);
    /* A file: the message names the path; a missing file names it too. */
    char path[600];
    snprintf(path, sizeof path, "%s/x.ini", test_tmpdir());
    const char *ftext = "[model]\nlayers = 4\n\n[train]\nsteps = -5\n";
    CHECK(wm_write_file_atomic(path, ftext, strlen(ftext), err, sizeof err) == WM_OK);
    wm_cfg_defaults(&schema, &c);
    CHECK(wm_cfg_load_file(&schema, &c, path, err, sizeof err) == WM_ERR_RANGE && strstr(err, "x.ini:5:"), "%s", err);
    CHECK(wm_cfg_load_file(&schema, &c, "/no/such.ini", err, sizeof err) == WM_ERR_IO && strstr(err, "/no/such.ini"));

    /* Overrides win over the file and are checked the same way. */
    wm_cfg_defaults(&schema, &c);
    CHECK(wm_cfg_load_string(&schema, &c, good, "good.ini", err, sizeof err) == WM_OK);
    CHECK(wm_cfg_override(&schema, &c, "model.layers=7", err, sizeof err) == WM_OK && c.model.layers == 7);
    CHECK(wm_cfg_override(&schema, &c, "train.out = runs/b", err, sizeof err) == WM_OK && !strcmp(c.train.out, "runs/b"));
    CHECK(wm_cfg_override(&schema, &c, "model.layers=70", err, sizeof err) == WM_ERR_RANGE &&
          strstr(err, "command line 'model.layers=70'"), "%s", err);
    CHECK(wm_cfg_override(&schema, &c, "layers=7", err, sizeof err) == WM_ERR_ARG && strstr(err, "section.key=value"));
    CHECK(wm_cfg_override(&schema, &c, "model.depth=7", err, sizeof err) == WM_ERR_PARSE && strstr(err, "unknown key 'depth'"));
    CHECK(c.model.layers == 7, "a failed override leaves the value");

    /* The dump loads back to identical values (including awkward strings and reals). */
    c.model.dropout = 0.1 + 0.2;
    snprintf(c.train.out, sizeof c.train.out, " lead; and # trail ");
    WmBuf dump = {0};
    wm_cfg_dump(&schema, &c, &dump);
    Cfg d;
    wm_cfg_defaults(&schema, &d);
    CHECK(wm_cfg_load_string(&schema, &d, dump.data, "dump", err, sizeof err) == WM_OK, "%s\n%s", err, dump.data);
    CHECK(c.model.encoder == d.model.encoder && c.model.layers == d.model.layers &&
          c.model.dropout == d.model.dropout && c.model.ema == d.model.ema && c.train.steps == d.train.steps &&
          c.train.lr == d.train.lr && !strcmp(c.train.out, d.train.out), "dump:\n%s", dump.data);
    wm_buf_free(&dump);

    /* Reals in their shortest round-trip form, whole numbers written out. */
    wm_cfg_defaults(&schema, &c);
    c.model.dropout = 0.2;
    c.train.lr = 30;
    wm_cfg_dump(&schema, &c, &dump);
    CHECK(strstr(dump.data, "dropout = 0.2\n") && strstr(dump.data, "lr = 30\n") &&
              !strstr(dump.data, "0000000"), "shortest reals:\n%s", dump.data);
    wm_buf_free(&dump);
    static const double reals[] = {0.2, 0.1 + 0.2, 4e-4, 1e-8, 30, 1e6, 1e15, 1e16, 1.0 / 3, 5e-324, -2.5, 0, 1e300};
    static const char *const shown[] = {"0.2", "0.30000000000000004", "0.0004", "1e-08", "30", "1000000",
                                        "1000000000000000", "1e+16", "0.3333333333333333", "5e-324", "-2.5", "0",
                                        "1e+300"};
    for (size_t i = 0; i < sizeof reals / sizeof reals[0]; i++) {
        char t[32];
        wm_fmt_real(t, sizeof t, reals[i]);
        CHECK(!strcmp(t, shown[i]), "%.17g written as %s, want %s", reals[i], t, shown[i]);
    }
    WmRng r;
    wm_rng_seed(&r, 5, 0);
    int shortest = 1, round_trip = 1;
    for (int i = 0; i < 20000; i++) {
        double x = wm_rng_normal(&r) * pow(10, (double)wm_rng_below(&r, 40) - 20);
        float xf = (float)x;
        char t[32], u[400];
        wm_fmt_real(t, sizeof t, x);
        if (strtod(t, NULL) != x) round_trip = 0, printf("double %.17g written as %s\n", x, t);
        /* one significant digit fewer no longer reads back (whole numbers aside) */
        int digits = 0;
        for (const char *q = t; *q && *q != 'e'; q++) digits += *q >= '0' && *q <= '9';
        for (const char *q = t + (t[0] == '-'); *q == '0' || *q == '.'; q++) digits -= *q == '0';
        snprintf(u, sizeof u, "%.*g", digits - 1, x);
        if (digits > 1 && strtod(u, NULL) == x && !(x == floor(x) && fabs(x) < 1e16)) shortest = 0;
        wm_fmt_real32(t, sizeof t, xf);
        if (strtof(t, NULL) != xf || strlen(t) > 15) round_trip = 0, printf("float %.9g written as %s\n", xf, t);
    }
    CHECK(round_trip, "20000 random doubles and floats read back exactly");
    CHECK(shortest, "no double is written with a digit to spare");

    /* A filtered dump leaves keys out, and a section with none kept goes whole. */
    wm_cfg_dump_some(&schema, &c, keep_model_but_ema, NULL, &dump);
    CHECK(strstr(dump.data, "[model]\nencoder = small\nlayers = 3\ndropout = 0.2\n") && !strstr(dump.data, "ema") &&
              !strstr(dump.data, "[train]") && !strstr(dump.data, "steps"), "filtered dump:\n%s", dump.data);
    wm_buf_free(&dump);

    /* World keys: a world's run reads its own keys and the shared ones. */
    EnvConfig ec;
    WM_CFG_DEFAULTS(EnvConfig, &ec);
    const WmCfgField *f_size = NULL, *f_inst = NULL, *f_fovea = NULL;
    for (int i = 0; i < EnvConfig_nfields; i++) {
        const WmCfgField *f = &EnvConfig_fields[i];
        if (!strcmp(f->key, "size")) f_size = f;
        if (!strcmp(f->key, "instances")) f_inst = f;
        if (!strcmp(f->key, "fovea")) f_fovea = f;
    }
    CHECK(f_size && f_inst && f_fovea, "env keys found");
    if (f_size && f_inst && f_fovea) {
        CHECK(ec.kind == 0 && env_reads_key(&ec, f_size) && env_reads_key(&ec, f_inst) && !env_reads_key(&ec, f_fovea),
              "objects3d reads its keys, not the saccade ones");
        ec.kind = 1;
        CHECK(env_reads_key(&ec, f_size) && !env_reads_key(&ec, f_inst) && env_reads_key(&ec, f_fovea),
              "saccade reads its keys, not the objects3d ones");
        ec.source = ENV_SOURCE_OBJECTS3D;
        CHECK(env_reads_key(&ec, f_inst) && env_reads_key(&ec, f_fovea), "saccade over objects3d scenes reads both");
    }
    int shift = 0;
    for (int i = 0; i < AgentConfig_nfields; i++)
        if (!strcmp(AgentConfig_fields[i].key, "max_shift")) {
            ec.kind = 0, ec.source = 0;
            shift = !env_reads_key(&ec, &AgentConfig_fields[i]);
        }
    CHECK(shift, "objects3d runs do not read agent.max_shift");

    WmBuf desc = {0};
    wm_cfg_describe(&schema, &desc);
    CHECK(strstr(desc.data, "encoder") && strstr(desc.data, "small|resnet18"));
    wm_buf_free(&desc);
    return TEST_DONE();
}

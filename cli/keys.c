/* seqjepa keys: every configuration key with its default, range and meaning. */
#include <stdio.h>
#include <string.h>

#include "cli/commands.h"
#include "run/args.h"
#include "run/runcfg.h"

static const char *usage_text =
    "usage: seqjepa keys [SECTION | SECTION.KEY ...]\n\n"
    "Lists the configuration keys that configs and 'section.key=value' arguments set (train,\n"
    "eval, gen, view and bench pathint read the same ones): each key's default, its range\n"
    "or choices, and what it does. With arguments, only those sections or keys.\n";

/* Prints text wrapped at width columns, each line indented by indent spaces. */
static void wrap(const char *text, int indent, int width) {
    const char *p = text;
    while (*p) {
        while (*p == ' ') p++;
        int room = width - indent, n = (int)strlen(p);
        if (n > room) {
            n = room;
            while (n > 0 && p[n] != ' ') n--;
            if (n == 0) /* one word longer than the line */
                while (p[n] && p[n] != ' ') n++;
        }
        printf("%*s%.*s\n", indent, "", n, p);
        p += n;
    }
}

static void print_key(const WmCfgSection *sec, const WmCfgField *f) {
    char range[320] = "";
    switch (f->type) {
    case WM_CFG_INT: snprintf(range, sizeof range, "integer %.0f to %.0f", f->min, f->max); break;
    case WM_CFG_REAL: snprintf(range, sizeof range, "number %g to %g", f->min, f->max); break;
    case WM_CFG_BOOL: snprintf(range, sizeof range, "true or false"); break;
    case WM_CFG_ENUM: snprintf(range, sizeof range, "one of %s", f->choices); break;
    case WM_CFG_STR: snprintf(range, sizeof range, "text"); break;
    }
    printf("  %s.%s = %s   (%s)\n", sec->name, f->key, f->def[0] ? f->def : "\"\"", range);
    if (f->help && f->help[0]) wrap(f->help, 6, 88);
}

static void print_section(const WmCfgSection *sec) {
    printf("[%s]\n", sec->name);
    for (int i = 0; i < sec->nfields; i++)
        print_key(sec, &sec->fields[i]);
}

static const WmCfgSection *find_section(const WmCfgSchema *sc, const char *name, size_t len) {
    for (int s = 0; s < sc->nsections; s++)
        if (strlen(sc->sections[s].name) == len && !strncmp(sc->sections[s].name, name, len))
            return &sc->sections[s];
    return NULL;
}

static void list_sections(const WmCfgSchema *sc) {
    fprintf(stderr, "(sections:");
    for (int s = 0; s < sc->nsections; s++)
        fprintf(stderr, " %s", sc->sections[s].name);
    fprintf(stderr, ")\n");
}

int cli_keys(int argc, char **argv) {
    const WmCfgSchema *sc = run_config_schema();
    for (int i = 1; i < argc; i++) {
        if (run_is_help(argv[i])) {
            printf("%s", usage_text);
            return 0;
        }
        if (argv[i][0] == '-') {
            fprintf(stderr, "seqjepa keys: unknown option '%s'\n\n%s", argv[i], usage_text);
            return 2;
        }
    }
    if (argc < 2) {
        for (int s = 0; s < sc->nsections; s++) {
            if (s) printf("\n");
            print_section(&sc->sections[s]);
        }
        return 0;
    }
    /* every argument checked before anything is printed */
    for (int pass = 0; pass < 2; pass++)
        for (int i = 1; i < argc; i++) {
            const char *arg = argv[i], *dot = strchr(arg, '.');
            size_t len = dot ? (size_t)(dot - arg) : strlen(arg);
            const WmCfgSection *sec = find_section(sc, arg, len);
            if (!sec) {
                fprintf(stderr, "seqjepa keys: no section '%.*s' ", (int)len, arg);
                list_sections(sc);
                return 2;
            }
            const WmCfgField *f = NULL;
            if (dot) {
                for (int k = 0; k < sec->nfields && !f; k++)
                    if (!strcmp(sec->fields[k].key, dot + 1)) f = &sec->fields[k];
                if (!f) {
                    fprintf(stderr, "seqjepa keys: [%s] has no key '%s' ('seqjepa keys %s' lists its keys)\n",
                            sec->name, dot + 1, sec->name);
                    return 2;
                }
            }
            if (pass == 1) {
                if (f) print_key(sec, f);
                else print_section(sec);
            }
        }
    return 0;
}

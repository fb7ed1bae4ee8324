/* Subcommand argument parsing (see args.h). */
#include "run/args.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/json.h"

int run_is_help(const char *arg) { return !strcmp(arg, "-h") || !strcmp(arg, "--help"); }

int run_args_parse(int argc, char **argv, const RunFlag *flags, int want_config, RunArgs *out, const char *usage) {
    memset(out, 0, sizeof *out);
    const char *cmd = argv[0];
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (wm_utf8_valid(a, strlen(a))) continue;
        /* Paths and values end up in checkpoints, manifests and reports as UTF-8
         * JSON; refusing them here keeps every file this program writes readable. */
        char shown[200];
        size_t k = 0;
        for (const unsigned char *c = (const unsigned char *)a; *c && k + 5 < sizeof shown; c++)
            k += (size_t)snprintf(shown + k, sizeof shown - k, *c < 0x20 || *c >= 0x7f ? "\\x%02x" : "%c", *c);
        fprintf(stderr, "seqjepa %s: argument '%s' is not valid UTF-8 (file names and values must be UTF-8 text)\n",
                cmd, shown);
        return 2;
    }
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (run_is_help(a)) {
            fputs(usage, stdout);
            return -1;
        }
        if (a[0] == '-' && a[1] == '-') {
            const RunFlag *f = NULL;
            for (int k = 0; flags && flags[k].name; k++)
                if (!strcmp(flags[k].name, a)) f = &flags[k];
            if (!f) {
                fprintf(stderr, "seqjepa %s: unknown option '%s'\n\n%s", cmd, a, usage);
                return 2;
            }
            if (f->takes_value) {
                if (i + 1 >= argc) {
                    fprintf(stderr, "seqjepa %s: option '%s' needs a value\n\n%s", cmd, a, usage);
                    return 2;
                }
                *f->value = argv[++i];
            } else {
                *f->value = "1";
            }
        } else if (strchr(a, '=')) {
            if (out->n_over == (int)(sizeof out->over / sizeof out->over[0])) {
                fprintf(stderr, "seqjepa %s: too many overrides\n", cmd);
                return 2;
            }
            if (!strncmp(a, "data=", 5)) {
                /* The shorthand names train.data; given twice, the last one wins. */
                if ((size_t)snprintf(out->data_over, sizeof out->data_over, "train.%s", a) >= sizeof out->data_over) {
                    fprintf(stderr, "seqjepa %s: path too long in '%s'\n", cmd, a);
                    return 2;
                }
                out->over[out->n_over++] = out->data_over;
            } else {
                out->over[out->n_over++] = argv[i];
            }
        } else if (want_config && !out->config) {
            out->config = a;
        } else {
            fprintf(stderr, "seqjepa %s: unexpected argument '%s'\n\n%s", cmd, a, usage);
            return 2;
        }
    }
    if (want_config && !out->config) {
        fprintf(stderr, "seqjepa %s: missing CONFIG file\n\n%s", cmd, usage);
        return 2;
    }
    return 0;
}

int run_flag_pair(const char *cmd, int argc, char **argv, int *i, const char **flag,
                  const char **value, void (*usage)(FILE *)) {
    const char *a = argv[*i];
    if (run_is_help(a)) {
        usage(stdout);
        return -1;
    }
    if (*i + 1 >= argc) {
        fprintf(stderr, "seqjepa %s: '%s' needs a value\n", cmd, a);
        return 2;
    }
    *flag = a;
    *value = argv[++*i];
    return 0;
}

int run_parse_int(const char *cmd, const char *s, const char *what, int lo, int *out) {
    char *end;
    long x = strtol(s, &end, 10);
    if (end == s || *end || x < lo || x > 1000000000) {
        fprintf(stderr, "seqjepa %s: %s '%s' must be an integer >= %d\n", cmd, what, s, lo);
        return 2;
    }
    *out = (int)x;
    return 0;
}

/* Length of "word: " when s opens with it, else 0. */
static size_t own_prefix(const char *s, const char *word, size_t n) {
    return n && !strncmp(s, word, n) && s[n] == ':' && s[n + 1] == ' ' ? n + 2 : 0;
}

void run_error(const char *cmd, const char *msg) {
    const char *last = strrchr(cmd, ' ');
    last = last ? last + 1 : cmd;
    size_t skip = own_prefix(msg, cmd, strlen(cmd));
    if (!skip) skip = own_prefix(msg, last, strlen(last));
    fprintf(stderr, "seqjepa %s: %s\n", cmd, msg + skip);
}

void run_command_line(const char *prog, int argc, char **argv, WmBuf *out) {
    wm_buf_puts(out, prog);
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        int plain = *a != 0;
        for (const char *p = a; *p && plain; p++)
            plain = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
                    strchr("-_./=:,+@%", *p) != NULL;
        wm_buf_puts(out, " ");
        if (plain) {
            wm_buf_puts(out, a);
            continue;
        }
        /* 'it'\''s': close the quote, an escaped quote, reopen */
        wm_buf_puts(out, "'");
        for (const char *p = a; *p; p++)
            if (*p == '\'') wm_buf_puts(out, "'\\''");
            else wm_buf_append(out, p, 1);
        wm_buf_puts(out, "'");
    }
}

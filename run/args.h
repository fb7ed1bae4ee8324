/* Shared argument handling for the subcommands: a config path, section.key=value
 * overrides and --flags, with usage errors (exit status 2) that name the argument. */
#ifndef RUN_ARGS_H
#define RUN_ARGS_H

#include <stdio.h>

#include "core/alloc.h"

typedef struct {
    const char *name;  /* "--ckpt" */
    int takes_value;   /* 1: "--ckpt FILE" */
    const char **value; /* where the value goes (or "1" for a switch) */
} RunFlag;

typedef struct {
    const char *config; /* first positional argument, if wanted */
    char *over[256];
    int n_over;
    char data_over[1100]; /* "train.data=DIR" made from the shorthand "data=DIR" */
} RunArgs;

/* Parses argv[1..]: flags from the table, "section.key=value" overrides (and the
 * shorthand "data=DIR" for train.data), one positional config when want_config.
 * On a usage error prints it with `usage` to stderr and returns 2; on --help prints
 * usage to stdout and returns -1; otherwise 0. */
int run_args_parse(int argc, char **argv, const RunFlag *flags, int want_config, RunArgs *out, const char *usage);

/* True when argv[i] is -h or --help. */
int run_is_help(const char *arg);

/* For commands that take "--flag VALUE" pairs alone: the pair at argv[*i], *i left on
 * the value. Returns 0 with *flag and *value; -1 after usage(stdout) for -h/--help;
 * 2 after "seqjepa CMD: 'FLAG' needs a value" on stderr. */
int run_flag_pair(const char *cmd, int argc, char **argv, int *i, const char **flag,
                  const char **value, void (*usage)(FILE *));

/* Parses flag value s as an integer in [lo, 1e9] into *out; otherwise prints
 * "seqjepa CMD: WHAT 's' must be an integer >= LO" to stderr and returns 2. */
int run_parse_int(const char *cmd, const char *s, const char *what, int lo, int *out);

/* The command line as a shell would take it back: prog ("seqjepa", "seqjepa bench")
 * and argv[0..argc-1], each argument single-quoted when it holds anything but letters,
 * digits and -_./=:,+@%, appended to out (stored in checkpoint metadata to say how a
 * model was made). */
void run_command_line(const char *prog, int argc, char **argv, WmBuf *out);

/* Prints "seqjepa CMD: MSG" to stderr. A message that already opens with the command's
 * name ("view: no display", from the library behind `seqjepa view` or `seqjepa bench
 * view`) keeps one prefix, not "view: view:". */
void run_error(const char *cmd, const char *msg);

#endif

/* The subcommands of `seqjepa`. Each takes the arguments after its own name and
 * returns the process exit status (0 ok, 1 failure, 2 usage error). */
#ifndef CLI_COMMANDS_H
#define CLI_COMMANDS_H

typedef struct {
    const char *name;
    const char *summary;
    int (*run)(int argc, char **argv);
} CliCommand;

int cli_version(int argc, char **argv);
int cli_bench(int argc, char **argv);
int cli_train(int argc, char **argv);
int cli_eval(int argc, char **argv);
int cli_embed(int argc, char **argv);
int cli_gen(int argc, char **argv);
int cli_view(int argc, char **argv);
int cli_keys(int argc, char **argv);

/* Benchmarks named by `seqjepa bench NAME`; each prints figures only. */
typedef struct {
    const char *name;
    const char *summary;
    int (*run)(int argc, char **argv);
    int in_all; /* run by 'seqjepa bench all' (those needing no arguments) */
} CliBench;

#endif

/* Files: whole-file reads, atomic writes (temporary file in the same folder, then
 * rename), folders. */
#ifndef WM_FS_H
#define WM_FS_H

#include <stdio.h>
#include <stddef.h>

/* Opens path read-only, refusing anything that is not a regular file (named pipes,
 * folders, devices) before it can block: the open does not wait for a writer.
 * Returns the descriptor (blocking mode, close-on-exec) and its size, or -1 with the
 * reason in err. */
int wm_open_regular(const char *path, size_t *size, char *err, size_t errsz);
/* Reads a whole regular file into a NUL-terminated heap buffer (free with wm_free). */
int wm_read_file(const char *path, char **data, size_t *len, char *err, size_t errsz);
/* Writes data to path through "path.tmp.<pid>" and rename(); on failure nothing is
 * left behind and an existing file at path is untouched. */
int wm_write_file_atomic(const char *path, const void *data, size_t len, char *err, size_t errsz);

/* Atomic writing through a FILE*: open gives a stream on a temporary file; commit
 * flushes, fsyncs and renames it over path; abort removes it. */
typedef struct {
    FILE *fp;
    char path[1024];
    char tmp[1100];
} WmAtomicFile;
int wm_atomic_open(WmAtomicFile *af, const char *path, char *err, size_t errsz);
int wm_atomic_commit(WmAtomicFile *af, char *err, size_t errsz);
void wm_atomic_abort(WmAtomicFile *af);

/* mkdir -p. */
int wm_mkdirs(const char *path, char *err, size_t errsz);
/* rm -r of a folder this program made (refuses "/" and ""). */
int wm_remove_tree(const char *path, char *err, size_t errsz);
int wm_path_exists(const char *path);
int wm_is_dir(const char *path);
/* 1 when folder dir holds no entries but those whose names contain `ignore` (NULL:
 * none ignored), 0 when it holds others, -1 when it cannot be read. */
int wm_dir_empty(const char *dir, const char *ignore);
/* Joins a and b with one '/' into out; returns -1 if it does not fit. */
int wm_path_join(char *out, size_t outsz, const char *a, const char *b);
/* Looks for the relative path rel in the running program's folder and in up to three
 * folders above it (bin/seqjepa finds the repository's assets/ one level up); 0 with
 * the path found in out, -1 when none holds it or the program cannot be located. */
int wm_find_near_program(const char *rel, char *out, size_t outsz);

#endif

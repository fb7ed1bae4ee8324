/* Whole-file reads, atomic writes and folders. */
#include "core/fs.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/err.h"

int wm_open_regular(const char *path, size_t *size, char *err, size_t errsz) {
    /* O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer. */
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
    if (fd < 0) {
        wm_errf(err, errsz, WM_ERR_IO, "cannot open '%s': %s", path, strerror(errno));
        return -1;
    }
    struct stat st;
    if (fstat(fd, &st)) {
        wm_errf(err, errsz, WM_ERR_IO, "cannot stat '%s': %s", path, strerror(errno));
        close(fd);
        return -1;
    }
    if (!S_ISREG(st.st_mode)) {
        const char *what = S_ISDIR(st.st_mode)    ? "a folder"
                           : S_ISFIFO(st.st_mode) ? "a named pipe"
                           : S_ISSOCK(st.st_mode) ? "a socket"
                           : S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode) ? "a device"
                                                                        : "not a regular file";
        wm_errf(err, errsz, WM_ERR_IO, "'%s' is %s, not a regular file", path, what);
        close(fd);
        return -1;
    }
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0 || fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) < 0) {
        wm_errf(err, errsz, WM_ERR_IO, "cannot read '%s': %s", path, strerror(errno));
        close(fd);
        return -1;
    }
    *size = (size_t)st.st_size;
    return fd;
}

int wm_read_file(const char *path, char **data, size_t *len, char *err, size_t errsz) {
    *data = NULL;
    *len = 0;
    size_t n;
    int fd = wm_open_regular(path, &n, err, errsz);
    if (fd < 0) return WM_ERR_IO;
    char *buf = wm_try_calloc(n + 1, 1);
    if (!buf) {
        close(fd);
        return wm_errf(err, errsz, WM_ERR_NOMEM, "'%s': %zu bytes do not fit in memory", path, n);
    }
    size_t got = 0;
    while (got < n) {
        ssize_t r = read(fd, buf + got, n - got);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) break;
        got += (size_t)r;
    }
    close(fd);
    if (got != n) {
        wm_free(buf);
        return wm_errf(err, errsz, WM_ERR_IO, "cannot read '%s' (%zu of %zu bytes)", path, got, n);
    }
    *data = buf;
    *len = n;
    return WM_OK;
}

int wm_atomic_open(WmAtomicFile *af, const char *path, char *err, size_t errsz) {
    memset(af, 0, sizeof *af);
    if (strlen(path) >= sizeof af->path)
        return wm_errf(err, errsz, WM_ERR_ARG, "path too long: '%s'", path);
    snprintf(af->path, sizeof af->path, "%s", path);
    snprintf(af->tmp, sizeof af->tmp, "%s.tmp.%ld", path, (long)getpid());
    af->fp = fopen(af->tmp, "wb");
    if (!af->fp)
        return wm_errf(err, errsz, WM_ERR_IO, "cannot write '%s': %s", af->tmp, strerror(errno));
    return WM_OK;
}

int wm_atomic_commit(WmAtomicFile *af, char *err, size_t errsz) {
    int bad = fflush(af->fp) != 0 || ferror(af->fp) || fsync(fileno(af->fp)) != 0;
    int e = errno;
    if (fclose(af->fp)) bad = 1, e = errno;
    af->fp = NULL;
    if (bad) {
        remove(af->tmp);
        return wm_errf(err, errsz, WM_ERR_IO, "cannot write '%s': %s", af->path, strerror(e));
    }
    if (rename(af->tmp, af->path)) {
        e = errno;
        remove(af->tmp);
        return wm_errf(err, errsz, WM_ERR_IO, "cannot rename onto '%s': %s", af->path, strerror(e));
    }
    return WM_OK;
}

void wm_atomic_abort(WmAtomicFile *af) {
    if (af->fp) fclose(af->fp);
    af->fp = NULL;
    if (af->tmp[0]) remove(af->tmp);
}

int wm_write_file_atomic(const char *path, const void *data, size_t len, char *err, size_t errsz) {
    WmAtomicFile af;
    int rc = wm_atomic_open(&af, path, err, errsz);
    if (rc) return rc;
    if (len && fwrite(data, 1, len, af.fp) != len) {
        int e = errno;
        wm_atomic_abort(&af);
        return wm_errf(err, errsz, WM_ERR_IO, "cannot write '%s': %s", path, strerror(e));
    }
    return wm_atomic_commit(&af, err, errsz);
}

int wm_mkdirs(const char *path, char *err, size_t errsz) {
    char buf[1024];
    if (strlen(path) >= sizeof buf) return wm_errf(err, errsz, WM_ERR_ARG, "path too long: '%s'", path);
    snprintf(buf, sizeof buf, "%s", path);
    for (char *p = buf + 1;; p++) {
        if (*p == '/' || !*p) {
            char c = *p;
            *p = 0;
            if (mkdir(buf, 0777) && errno != EEXIST)
                return wm_errf(err, errsz, WM_ERR_IO, "cannot create folder '%s': %s", buf, strerror(errno));
            *p = c;
            if (!c) break;
        }
    }
    if (!wm_is_dir(path)) return wm_errf(err, errsz, WM_ERR_IO, "'%s' exists and is not a folder", path);
    return WM_OK;
}

int wm_remove_tree(const char *path, char *err, size_t errsz) {
    if (!path[0] || !strcmp(path, "/"))
        return wm_errf(err, errsz, WM_ERR_ARG, "refusing to remove '%s'", path);
    struct stat st;
    if (lstat(path, &st)) return errno == ENOENT ? WM_OK : wm_errf(err, errsz, WM_ERR_IO, "cannot stat '%s'", path);
    if (S_ISDIR(st.st_mode)) {
        DIR *d = opendir(path);
        if (!d) return wm_errf(err, errsz, WM_ERR_IO, "cannot open folder '%s': %s", path, strerror(errno));
        struct dirent *de;
        int rc = WM_OK;
        while (rc == WM_OK && (de = readdir(d))) {
            if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..")) continue;
            char sub[2048];
            if (wm_path_join(sub, sizeof sub, path, de->d_name)) rc = WM_ERR_ARG;
            else rc = wm_remove_tree(sub, err, errsz);
        }
        closedir(d);
        if (rc) return rc;
        if (rmdir(path)) return wm_errf(err, errsz, WM_ERR_IO, "cannot remove '%s': %s", path, strerror(errno));
        return WM_OK;
    }
    if (unlink(path)) return wm_errf(err, errsz, WM_ERR_IO, "cannot remove '%s': %s", path, strerror(errno));
    return WM_OK;
}

int wm_path_exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0;
}

int wm_is_dir(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

int wm_dir_empty(const char *dir, const char *ignore) {
    DIR *d = opendir(dir);
    if (!d) return -1;
    struct dirent *e;
    int empty = 1;
    while (empty && (e = readdir(d)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..") && !(ignore && strstr(e->d_name, ignore))) empty = 0;
    closedir(d);
    return empty;
}

int wm_path_join(char *out, size_t outsz, const char *a, const char *b) {
    size_t la = strlen(a);
    int n = snprintf(out, outsz, "%s%s%s", a, (la && a[la - 1] == '/') ? "" : "/", b);
    return n < 0 || (size_t)n >= outsz ? -1 : 0;
}

int wm_find_near_program(const char *rel, char *out, size_t outsz) {
    char dir[1024];
    ssize_t n = readlink("/proc/self/exe", dir, sizeof dir - 1);
    if (n <= 0 || (size_t)n >= sizeof dir - 1) return -1;
    dir[n] = 0;
    for (int up = 0; up < 4; up++) {
        char *slash = strrchr(dir, '/');
        if (!slash) return -1;
        *slash = 0; /* the program's folder, then each folder above it */
        if (wm_path_join(out, outsz, dir[0] ? dir : "/", rel) == 0 && wm_path_exists(out)) return 0;
        if (!dir[0]) break;
    }
    return -1;
}

/*
 * snap.c - named snapshots and backups shared by every engine (see snap.h for the layout and the
 * SNAPSHOT file format).
 */
#include "snap.h"

#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static char *join3(const char *a, const char *b, const char *c) {
    size_t na = strlen(a), nb = strlen(b), nc = c ? strlen(c) : 0;
    char *s = (char *)malloc(na + nb + nc + 3);
    if (!s) {
        cairn_err__set(CAIRN_NOMEM, "out of memory");
        return NULL;
    }
    memcpy(s, a, na);
    s[na] = '/';
    memcpy(s + na + 1, b, nb);
    if (c) {
        s[na + 1 + nb] = '/';
        memcpy(s + na + 2 + nb, c, nc + 1);
    } else
        s[na + 1 + nb] = 0;
    return s;
}

static int valid_name(const char *n) {
    size_t len = strlen(n);
    if (len == 0 || len > CAIRN_SNAP_NAME_MAX || n[0] == '.') return 0;
    for (size_t i = 0; i < len; i++) {
        char c = n[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
              c == '-'))
            return 0;
    }
    if (len > 4 && strcmp(n + len - 4, ".tmp") == 0) return 0;
    return 1;
}

int cairn_snap__name(const char *root, const char *name, char *out) {
    if (name) {
        if (!valid_name(name))
            return cairn_err__set(CAIRN_INVALID, "snapshot name '%.140s': use 1..%d of A-Z a-z 0-9 . _ - (not starting "
                                                 "with '.', not ending in .tmp)", name, CAIRN_SNAP_NAME_MAX);
        strcpy(out, name);
        return 0;
    }
    {
        int64_t ms = cairn_time__now_ms();
        time_t secs = (time_t)(ms / 1000);
        struct tm tmv;
        char stamp[32];
        gmtime_r(&secs, &tmv);
        strftime(stamp, sizeof stamp, "%Y%m%dT%H%M%S", &tmv);
        for (unsigned n = 1; n < 1000000; n++) {
            char *p;
            uint64_t sz;
            int st;
            snprintf(out, CAIRN_SNAP_NAME_MAX + 1, "snap-%s.%03d-%u", stamp, (int)(ms % 1000), n);
            if (!(p = join3(root, out, NULL))) return CAIRN_NOMEM;
            st = cairn_io__stat(p, &sz);
            free(p);
            if (st < 0) return st;
            if (st == 0) return 0;
        }
        return cairn_err__set(CAIRN_EXISTS, "no free automatic snapshot name");
    }
}

/* Remove a directory tree (snapshots hold files only, one level deep). */
static int rmtree(const char *dir) {
    char **names = NULL;
    size_t n = 0;
    int rc = cairn_io__list(dir, &names, &n);
    if (rc == CAIRN_PATH) return 0;
    if (rc) return rc;
    for (size_t i = 0; i < n && !rc; i++) {
        char *p = join3(dir, names[i], NULL);
        uint64_t sz;
        if (!p) { rc = CAIRN_NOMEM; break; }
        if (cairn_io__stat(p, &sz) == 2) rc = rmtree(p);
        else rc = cairn_io__unlink(p);
        free(p);
    }
    cairn_io__list_free(names, n);
    if (!rc && rmdir(dir) != 0 && errno != ENOENT) rc = cairn_err__sys(errno, "rmdir %s", dir);
    return rc;
}

static void snap_free(cairn_snap *s) {
    free(s->root);
    free(s->name);
    free(s->tmp);
    free(s->final);
    memset(s, 0, sizeof *s);
}

char *cairn_snap__root(const char *store, int is_file) {
    size_t n = strlen(store);
    char *r = (char *)malloc(n + sizeof "/snapshots");
    if (!r) {
        cairn_err__set(CAIRN_NOMEM, "out of memory");
        return NULL;
    }
    memcpy(r, store, n);
    memcpy(r + n, is_file ? "-snapshots" : "/snapshots", sizeof "/snapshots");
    return r;
}

int cairn_snap__begin(cairn_snap *s, const char *root, const char *name) {
    char nm[CAIRN_SNAP_NAME_MAX + 1];
    int rc;
    uint64_t sz;
    memset(s, 0, sizeof *s);
    if (!(s->root = cairn_str__dup(root))) return CAIRN_NOMEM;
    if ((rc = cairn_io__mkdir(s->root)) != 0) goto fail;
    if ((rc = cairn_snap__name(s->root, name, nm)) != 0) goto fail;
    if (!(s->name = cairn_str__dup(nm)) || !(s->final = join3(s->root, nm, NULL))) { rc = CAIRN_NOMEM; goto fail; }
    if (!(s->tmp = (char *)malloc(strlen(s->final) + 5))) { rc = cairn_err__set(CAIRN_NOMEM, "out of memory"); goto fail; }
    strcpy(s->tmp, s->final);
    strcat(s->tmp, ".tmp");
    rc = cairn_io__stat(s->final, &sz);
    if (rc < 0) goto fail;
    if (rc != 0) { rc = cairn_err__set(CAIRN_EXISTS, "snapshot '%s' exists", nm); goto fail; }
    if ((rc = rmtree(s->tmp)) != 0) goto fail; /* left by a crash */
    if ((rc = cairn_io__mkdir(s->tmp)) != 0) goto fail;
    return 0;
fail:
    snap_free(s);
    return rc;
}

int cairn_snap__begin_backup(cairn_snap *s, const char *dest) {
    uint64_t sz;
    int st;
    memset(s, 0, sizeof *s);
    if (!dest || !*dest) return cairn_err__set(CAIRN_INVALID, "backup: empty destination");
    st = cairn_io__stat(dest, &sz);
    if (st < 0) return st;
    if (st == 1) return cairn_err__set(CAIRN_EXISTS, "backup: %s exists (a file)", dest);
    if (st == 2) {
        char **names = NULL;
        size_t n = 0;
        int rc = cairn_io__list(dest, &names, &n);
        cairn_io__list_free(names, n);
        if (rc) return rc;
        if (n) return cairn_err__set(CAIRN_EXISTS, "backup: %s is not empty", dest);
    }
    s->backup = 1;
    if (!(s->final = cairn_str__dup(dest)) || !(s->name = cairn_str__dup("backup")) ||
        !(s->root = cairn_path__dir(dest)) || !(s->tmp = (char *)malloc(strlen(dest) + 5))) {
        snap_free(s);
        return CAIRN_NOMEM;
    }
    strcpy(s->tmp, dest);
    strcat(s->tmp, ".tmp");
    {
        int rc = rmtree(s->tmp);
        if (!rc) rc = cairn_io__mkdir(s->tmp);
        if (rc) {
            snap_free(s);
            return rc;
        }
    }
    return 0;
}

/* Copy the first len bytes of from into to (created), through the I/O layer, then fsync. With
 * `share` (snapshots: on the store's file system, read-only) cairn_io__copy may share blocks: a
 * reflink where the file system can, else an in-kernel copy; a backup (share 0) gets blocks of
 * its own (a read/write loop), so damage to the store's blocks cannot reach it. */
static int copy_file(const char *from, const char *to, uint64_t len, int share, uint64_t *copied) {
    cairn_file *in = NULL, *out = NULL;
    uint64_t size = 0;
    int rc = cairn_io__open(&in, from, CAIRN_IO_RDONLY);
    if (rc) return rc;
    if ((rc = cairn_io__size(in, &size)) != 0) goto out;
    if (len == UINT64_MAX || len > size) len = size;
    if ((rc = cairn_io__open(&out, to, CAIRN_IO_RDWR | CAIRN_IO_CREATE | CAIRN_IO_TRUNC)) != 0) goto out;
    rc = cairn_io__copy(in, out, len, share);
    if (!rc) rc = cairn_io__fsync(out);
    if (!rc) *copied = len;
out:
    cairn_io__close(in);
    cairn_io__close(out);
    return rc;
}

int cairn_snap__copy(const char *from, const char *to, uint64_t *copied) {
    uint64_t got = 0;
    int rc = copy_file(from, to, UINT64_MAX, 0, &got);
    if (copied) *copied = rc ? 0 : got;
    return rc;
}

int cairn_snap__add(cairn_snap *s, const char *from, const char *fname, int immutable, uint64_t len) {
    char *to = join3(s->tmp, fname, NULL);
    int rc;
    uint64_t size = 0, got = 0;
    if (!to) return CAIRN_NOMEM;
    if (immutable && !s->backup && len == UINT64_MAX) {
        rc = cairn_io__stat(from, &size);
        if (rc == 1) {
            rc = cairn_io__link(from, to);
            if (rc == 0) {
                s->bytes += size;
                free(to);
                return 0;
            }
            /* another file system, or links not allowed: copy instead */
            cairn_errclear();
        } else if (rc >= 0)
            rc = cairn_err__set(CAIRN_PATH, "%s: missing", from);
        if (rc < 0) {
            free(to);
            return rc;
        }
    }
    rc = copy_file(from, to, len, !s->backup, &got);
    if (!rc) s->bytes += got;
    free(to);
    return rc;
}

int cairn_snap__write(cairn_snap *s, const char *fname, const void *data, size_t len) {
    char *to = join3(s->tmp, fname, NULL);
    cairn_file *f = NULL;
    int rc;
    if (!to) return CAIRN_NOMEM;
    rc = cairn_io__open(&f, to, CAIRN_IO_RDWR | CAIRN_IO_CREATE | CAIRN_IO_TRUNC);
    if (!rc && len) rc = cairn_io__pwrite(f, data, len, 0);
    if (!rc) rc = cairn_io__fsync(f);
    cairn_io__close(f);
    free(to);
    if (!rc) s->bytes += len;
    return rc;
}

int cairn_snap__commit(cairn_snap *s) {
    uint8_t rec[4 + 8 + 8 + 2 + CAIRN_SNAP_NAME_MAX + 4];
    size_t nl = strlen(s->name), n = 0;
    int rc;
    char *parent;
    memcpy(rec, "CSN1", 4);
    cairn_put64(rec + 4, (uint64_t)cairn_time__now_ms());
    cairn_put64(rec + 12, s->bytes);
    cairn_put16(rec + 20, (uint16_t)nl);
    memcpy(rec + 22, s->name, nl);
    n = 22 + nl;
    cairn_put32(rec + n, cairn_crc32c__update(0, rec, n));
    n += 4;
    {
        uint64_t keep = s->bytes;
        rc = cairn_snap__write(s, "SNAPSHOT", rec, n);
        s->bytes = keep;
    }
    if (rc) return rc;
    if ((rc = cairn_io__sync_dir(s->tmp)) != 0) return rc;
    if ((rc = cairn_io__rename(s->tmp, s->final)) != 0) return rc;
    if (!(parent = cairn_path__dir(s->final))) return CAIRN_NOMEM;
    rc = cairn_io__sync_dir(parent);
    free(parent);
    if (!rc) {
        free(s->tmp);
        s->tmp = NULL; /* nothing to remove at the end */
    }
    return rc;
}

void cairn_snap__end(cairn_snap *s) {
    if (s->tmp) {
        cairn_err_saved e;
        cairn_err__save(&e);
        (void)rmtree(s->tmp);
        cairn_err__restore(&e);
    }
    snap_free(s);
}

/* Read a snapshot's SNAPSHOT file. */
static int read_marker(const char *dir, int64_t *time_ms, uint64_t *bytes) {
    char *p = join3(dir, "SNAPSHOT", NULL);
    void *data = NULL;
    size_t len = 0, nl;
    int rc;
    const uint8_t *b;
    if (!p) return CAIRN_NOMEM;
    rc = cairn_io__read_all(p, &data, &len);
    if (rc == CAIRN_PATH) {
        rc = cairn_err__set(CAIRN_CORRUPT, "%s: missing", p);
        free(p);
        return rc;
    }
    if (rc) {
        free(p);
        return rc;
    }
    b = (const uint8_t *)data;
    if (len < 26 || memcmp(b, "CSN1", 4) != 0 || (nl = cairn_get16(b + 20), len != 26 + nl) ||
        cairn_get32(b + 22 + nl) != cairn_crc32c__update(0, b, 22 + nl)) {
        rc = cairn_err__set(CAIRN_CORRUPT, "%s: damaged (bad magic, length or CRC)", p);
    } else {
        if (time_ms) *time_ms = (int64_t)cairn_get64(b + 4);
        if (bytes) *bytes = cairn_get64(b + 12);
    }
    free(data);
    free(p);
    return rc;
}

int cairn_snap__path(const char *root, const char *name, char **path) {
    char *p;
    uint64_t sz;
    int rc;
    *path = NULL;
    if (!name || !valid_name(name)) return cairn_err__set(CAIRN_INVALID, "snapshot name '%.140s' is not valid", name ? name : "(null)");
    if (!(p = join3(root, name, NULL))) return CAIRN_NOMEM;
    rc = cairn_io__stat(p, &sz);
    if (rc != 2) {
        free(p);
        if (rc < 0) return rc;
        return cairn_err__set(CAIRN_NOTFOUND, "no snapshot '%s'", name);
    }
    if ((rc = read_marker(p, NULL, NULL)) != 0) {
        free(p);
        return rc;
    }
    *path = p;
    return 0;
}

int cairn_snap__drop(const char *root, const char *name) {
    char *p;
    uint64_t sz;
    int rc;
    if (!name || !valid_name(name)) return cairn_err__set(CAIRN_INVALID, "snapshot name '%.140s' is not valid", name ? name : "(null)");
    if (!(p = join3(root, name, NULL))) return CAIRN_NOMEM;
    rc = cairn_io__stat(p, &sz);
    if (rc != 2) {
        free(p);
        if (rc < 0) return rc;
        return cairn_err__set(CAIRN_NOTFOUND, "no snapshot '%s'", name);
    }
    /* rename first: a crash mid-removal leaves a .tmp directory, never a half snapshot */
    {
        char *t = (char *)malloc(strlen(p) + 5);
        if (!t) { free(p); return cairn_err__set(CAIRN_NOMEM, "out of memory"); }
        strcpy(t, p);
        strcat(t, ".tmp");
        rc = rmtree(t);
        if (!rc) rc = cairn_io__rename(p, t);
        if (!rc) rc = cairn_io__sync_dir(root);
        if (!rc) rc = rmtree(t);
        free(t);
    }
    free(p);
    return rc;
}

typedef struct {
    char *name;
    int64_t time;
    uint64_t bytes;
} snap_ent;

static int ent_cmp(const void *a, const void *b) {
    const snap_ent *x = (const snap_ent *)a, *y = (const snap_ent *)b;
    if (x->time != y->time) return x->time < y->time ? -1 : 1;
    return strcmp(x->name, y->name);
}

int cairn_snap__list(const char *root, char **json) {
    char **names = NULL;
    size_t n = 0, k = 0, cap = 3, len = 0; /* "[", "]" and the NUL */
    snap_ent *v = NULL;
    char *out = NULL;
    int rc;
    *json = NULL;
    rc = cairn_io__list(root, &names, &n);
    if (rc == CAIRN_PATH) rc = 0, n = 0, names = NULL;
    if (rc) goto out;
    if (!(v = (snap_ent *)calloc(n ? n : 1, sizeof *v))) { rc = cairn_err__set(CAIRN_NOMEM, "out of memory"); goto out; }
    for (size_t i = 0; i < n; i++) {
        char *p;
        if (!valid_name(names[i])) continue; /* <name>.tmp: unfinished */
        if (!(p = join3(root, names[i], NULL))) { rc = CAIRN_NOMEM; goto out; }
        rc = read_marker(p, &v[k].time, &v[k].bytes);
        free(p);
        if (rc == CAIRN_CORRUPT) { /* listed, so that it can be seen and dropped */
            cairn_errclear();
            rc = 0;
            v[k].time = 0;
            v[k].bytes = 0;
        }
        if (rc) goto out;
        v[k++].name = names[i];
        cap += strlen(names[i]) + 80;
    }
    qsort(v, k, sizeof *v, ent_cmp);
    if (!(out = (char *)malloc(cap))) { rc = cairn_err__set(CAIRN_NOMEM, "out of memory"); goto out; }
    out[len++] = '[';
    for (size_t i = 0; i < k; i++)
        len += (size_t)snprintf(out + len, cap - len, "%s{\"name\":\"%s\",\"time\":%lld,\"bytes\":%llu}", i ? "," : "",
                                v[i].name, (long long)v[i].time, (unsigned long long)v[i].bytes);
    out[len++] = ']';
    out[len] = 0;
    *json = out;
    out = NULL;
out:
    free(out);
    free(v);
    cairn_io__list_free(names, n);
    return rc;
}

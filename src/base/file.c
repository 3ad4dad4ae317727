/* file.c — atomic file replacement with one fsync policy. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/file.h"

#define TMP_SUFFIX_MAX 48   /* ".tmp.<pid>.<counter>" */

/* Opens a new temporary file next to path (its name into tmp), or NULL. The
 * name carries the pid and a counter, and O_EXCL retries past leftovers. */
static FILE *open_temp(const char *path, char *tmp, size_t len, unsigned mode)
{
    static unsigned counter;
    for (int tries = 0; tries < 100; tries++) {
        snprintf(tmp, len, "%s.tmp.%ld.%u", path, (long)getpid(), counter++);
        int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL, 0666);
        if (fd < 0 && errno == EEXIST)
            continue;
        if (fd < 0)
            return NULL;
        FILE *f = NULL;
        if ((mode == 0 || fchmod(fd, (mode_t)mode) == 0) && (f = fdopen(fd, "w")))
            return f;
        int e = errno;
        close(fd);
        unlink(tmp);
        errno = e;
        return NULL;
    }
    return NULL;
}

/* fsyncs the directory holding path, so the rename survives a crash. Best
 * effort: path already holds the new content when this runs, and some file
 * systems cannot sync a directory at all, so a failure here is not one of
 * the write. */
static void sync_dir(const char *path)
{
    char dir[PATH_MAX];
    const char *slash = strrchr(path, '/');
    if (!slash)
        snprintf(dir, sizeof dir, ".");
    else
        snprintf(dir, sizeof dir, "%.*s", slash == path ? 1 : (int)(slash - path), path);
    int fd = open(dir, O_RDONLY | O_DIRECTORY);
    if (fd >= 0) {
        (void)fsync(fd);
        close(fd);
    }
}

/* Replaces path atomically through writer (temporary, fsync, rename, directory fsync). */
int kvq__file_replace(const char *path, int (*writer)(FILE *, void *), void *arg,
                     unsigned mode, int *writer_rc)
{
    char tmp[PATH_MAX + TMP_SUFFIX_MAX];
    int rc = 0, stage = KVQ_REPLACE_OK, err = 0;
    if (writer_rc)
        *writer_rc = 0;
    if (strlen(path) >= PATH_MAX) {
        errno = ENAMETOOLONG;
        return KVQ_REPLACE_CREATE;
    }
    FILE *f = open_temp(path, tmp, sizeof tmp, mode);
    if (!f)
        return KVQ_REPLACE_CREATE;
    rc = writer(f, arg);
    /* The data must be on disk before the name points at it, or a crash
     * can leave path renamed onto an empty file. */
    if (rc || fflush(f) != 0 || ferror(f) || fsync(fileno(f)) != 0)
        stage = KVQ_REPLACE_WRITE, err = errno;
    if (fclose(f) != 0 && !stage)
        stage = KVQ_REPLACE_WRITE, err = errno;
    if (!stage && rename(tmp, path) != 0)
        stage = KVQ_REPLACE_RENAME, err = errno;
    if (writer_rc)
        *writer_rc = rc;
    if (stage) {
        unlink(tmp);
        errno = err;
        return stage;
    }
    sync_dir(path);
    return KVQ_REPLACE_OK;
}

/* file.h — replacing a file atomically (bottom layer: depends on nothing in
 * kvq). Every file kvq writes goes through here, so there is one durability
 * policy: the data is fsync'ed before the rename, the directory after it. */
#ifndef KVQ_BASE_FILE_H
#define KVQ_BASE_FILE_H

#include <stdio.h>

/* Where kvq__file_replace failed. */
enum {
    KVQ_REPLACE_OK = 0,
    KVQ_REPLACE_CREATE,   /* no temporary file (path too long, no directory, no permission) */
    KVQ_REPLACE_WRITE,    /* the writer failed, or flushing / syncing / closing did */
    KVQ_REPLACE_RENAME    /* the temporary could not be renamed onto path */
};

/* Writes path through writer(fp, arg) into a new temporary file next to it,
 * flushes and fsyncs it, renames it onto path, then fsyncs the directory.
 * On any failure the temporary is removed and an existing path is left as it
 * was. mode 0 creates the file as fopen would (0666 & ~umask); any other
 * mode is set exactly. Returns KVQ_REPLACE_OK or the stage that failed, with
 * errno from that failure; *writer_rc (when not NULL) gets writer's return,
 * 0 if it never ran. */
int kvq__file_replace(const char *path, int (*writer)(FILE *, void *), void *arg,
                     unsigned mode, int *writer_rc);

#endif

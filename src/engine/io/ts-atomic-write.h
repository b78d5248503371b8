/* ts-atomic-write.h: writing a file so that a failure at any point (a full
 * disk, a kill) leaves the old one as it was: the bytes go to a temporary
 * file "PATH.tmp-XXXXXX" beside it, which is synced and renamed over PATH,
 * then the folder is synced.  The one implementation behind every file the
 * project writes whole (models, checkpoints, ONNX exports). */
#pragma once

#include <stddef.h>

#include "ts-status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
  const void *data;
  size_t len;
} ts_write_part;

/* Writes the @n parts, one after another, to @path.  The new file gets mode
 * 0666 less the umask, as any new file.  Errors name @path (not the
 * temporary, which is removed). */
ts_status ts_atomic_write (const char *path, const ts_write_part *parts, int n);

/* Makes a rename into @path's folder durable; a failure loses durability
 * only, not data. */
void ts_sync_parent_dir (const char *path);

/* Removes the temporaries of @path that a write killed midway left; returns
 * how many.  Only for the one writer of @path (another process's write in
 * progress would fail). */
int ts_atomic_remove_temps (const char *path);

#ifdef __cplusplus
}
#endif

/* ts-atomic-write.c: see ts-atomic-write.h. */
#define _GNU_SOURCE
#include "ts-atomic-write.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define TEMP_SUFFIX ".tmp-"

static const char temp_chars[] =
  "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";

/* @path's folder ("." for a bare name), malloc'ed; NULL when out of memory */
static char *
parent_of (const char *path)
{
  const char *slash = strrchr (path, '/');

  return slash ? strndup (path, (size_t) (slash - path) + (slash == path)) : strdup (".");
}

void
ts_sync_parent_dir (const char *path)
{
  char *dir = parent_of (path);
  int fd;

  if (dir == NULL)
    return;
  fd = open (dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd >= 0)
    {
      fsync (fd);
      close (fd);
    }
  free (dir);
}

/* mkstemp, except for the mode: 0666 less the umask, as for any new file
 * (mkstemp's 0600 is too strict for a model people share, and reading the
 * umask means setting it, which races other threads creating files).  @tmpl
 * ends in "XXXXXX", replaced by letters and digits as mkstemp does. */
static int
make_temp (char *tmpl)
{
  static unsigned counter;
  size_t n = strlen (tmpl);
  struct timespec ts;
  uint64_t x;

  clock_gettime (CLOCK_REALTIME, &ts);
  x = (uint64_t) ts.tv_nsec ^ ((uint64_t) ts.tv_sec << 30) ^ ((uint64_t) getpid () << 40)
      ^ ((uint64_t) __atomic_fetch_add (&counter, 1, __ATOMIC_RELAXED) << 20)
      ^ (uint64_t) (uintptr_t) tmpl;
  for (int attempt = 0; attempt < 1000; attempt++)
    {
      int fd;

      for (size_t i = n - 6; i < n; i++)
        {
          x ^= x << 13;
          x ^= x >> 7;
          x ^= x << 17;
          tmpl[i] = temp_chars[x % (sizeof temp_chars - 1)];
        }
      fd = open (tmpl, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
      if (fd >= 0 || errno != EEXIST)
        return fd;
    }
  errno = EEXIST;
  return -1;
}

/* 0 with errno set on failure (ENOSPC for a write that stored nothing) */
static int
write_all (int fd, const void *buf, size_t n)
{
  const uint8_t *p = buf;

  while (n > 0)
    {
      ssize_t w = write (fd, p, n);
      if (w < 0 && errno == EINTR)
        continue;
      if (w <= 0)
        {
          if (w == 0)
            errno = ENOSPC;
          return 0;
        }
      p += w;
      n -= (size_t) w;
    }
  return 1;
}

ts_status
ts_atomic_write (const char *path, const ts_write_part *parts, int n)
{
  size_t plen = strlen (path);
  char *tmp = malloc (plen + sizeof TEMP_SUFFIX + 6);
  int fd, ok = 1;

  if (tmp == NULL)
    return ts_error (TS_ERR_NOMEM, "%s: out of memory", path);
  snprintf (tmp, plen + sizeof TEMP_SUFFIX + 6, "%s" TEMP_SUFFIX "XXXXXX", path);
  if ((fd = make_temp (tmp)) < 0)
    {
      ts_status s = ts_error (TS_ERR_IO, "%s: cannot create a temporary file beside it: %s",
                              path, strerror (errno));
      free (tmp);
      return s;
    }
  for (int i = 0; i < n && ok; i++)
    ok = write_all (fd, parts[i].data, parts[i].len);
  ok = ok && fsync (fd) == 0;
  ok = close (fd) == 0 && ok;
  ok = ok && rename (tmp, path) == 0;
  if (!ok)
    {
      ts_status s = ts_error (TS_ERR_IO, "%s: write failed: %s", path, strerror (errno));
      unlink (tmp);
      free (tmp);
      return s;
    }
  free (tmp);
  ts_sync_parent_dir (path);
  return TS_OK;
}

/* "NAME.tmp-XXXXXX", as ts_atomic_write names them for NAME (@base) */
static int
is_temp_of (const char *entry, const char *base)
{
  size_t n = strlen (base), k = sizeof TEMP_SUFFIX - 1;

  if (strncmp (entry, base, n) != 0 || strncmp (entry + n, TEMP_SUFFIX, k) != 0
      || strlen (entry + n + k) != 6)
    return 0;
  return strspn (entry + n + k, temp_chars) == 6;
}

int
ts_atomic_remove_temps (const char *path)
{
  const char *slash = strrchr (path, '/');
  const char *base = slash ? slash + 1 : path;
  char *dir = parent_of (path);
  DIR *d;
  struct dirent *e;
  int n = 0;

  if (dir == NULL || *base == '\0' || (d = opendir (dir)) == NULL)
    {
      free (dir);
      return 0;
    }
  while ((e = readdir (d)) != NULL)
    if (is_temp_of (e->d_name, base) && unlinkat (dirfd (d), e->d_name, 0) == 0)
      n++;
  closedir (d);
  free (dir);
  return n;
}

/* file.h: small file helpers.
 *
 * gw_file_write_atomic replaces a file so that a crash leaves either the
 * old content or the new one, never a mix: write "<path>.tmp" with @mode,
 * fsync it, rename it over @path, fsync the directory. Failure modes: any
 * step failing is GW_EIO with errno kept for the caller's log line; the
 * temp file is removed, the old file is untouched. Any thread (no shared
 * state); blocking: call it at start-up or from a thread that may block. */
#ifndef GW_FILE_H
#define GW_FILE_H

#include <stddef.h>
#include <sys/types.h>

/* Replace @path with the @len bytes at @data, mode @mode (exactly: the
 * umask does not apply). 0, or GW_EIO with errno set (the caller logs it,
 * naming the file). A failed directory fsync is ignored (the data file is
 * synced; only its name may be lost on power loss). */
int gw_file_write_atomic(const char *path, const void *data, size_t len, mode_t mode);

#endif

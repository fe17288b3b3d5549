/*
 * loader.h — what the data set loaders of runtime/ share and nothing above
 * runtime/ needs: opening a data file (plain or gzipped, regular files
 * only), reading it in pieces, and the memory limit check named after it.
 */
#ifndef SINTER_RUNTIME_LOADER_H
#define SINTER_RUNTIME_LOADER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <zlib.h>

#include "runtime/runtime.h"

/* The file at path, transparently inflated; NULL with a message in err. */
gzFile rt_data_open(const char *path, char *err, size_t errlen);
/* Up to n bytes: the count read (below n only at the end of the file), or
   -1 with a message on a read or decompression error. */
int64_t rt_data_read(gzFile f, const char *path, void *dst, size_t n, char *err, size_t errlen);
/* rt_mem_check for `bytes` more of the data file at path. */
bool rt_data_mem_ok(const char *path, size_t bytes, char *err, size_t errlen);

/* The bytes of a text file or of a directory's text files concatenated
   (as text() reads them: runtime/data.c); with ends, *ends receives the
   end offset of each file (*nends of them, malloc'ed), so that a reader
   can keep files apart. */
unsigned char *rt_text_read(const char *path, size_t *size, size_t **ends, size_t *nends, char *err,
                            size_t errlen);
/* A set of n documents: spans[2i], spans[2i + 1] are the start and length
   of document i in bytes[0..size).  Takes both malloc'ed buffers, which
   count as held; the caller has checked the memory limit. */
RtDataset *rt_dataset_docs(unsigned char *bytes, size_t size, int64_t *spans, int64_t n);

#endif

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
/* A token file (tokens(path, ...)): the whole file, its header checked, every
   token below vocab when vocab > 0; *count u16 LE tokens start
   RT_TOKENS_HEADER bytes in.  NULL with a message in err. */
#define RT_TOKENS_HEADER 1024 /* bytes: 256 int32 */
unsigned char *rt_tokens_read(const char *path, int64_t vocab, size_t *size, int64_t *count, char *err,
                              size_t errlen);
/* A set of n documents: spans[2i] is the byte offset of document i in
   bytes[0..size), spans[2i + 1] its length in tokens of width bytes (1:
   text, 2: u16 LE token ids).  Takes both malloc'ed buffers, which count
   as held; the caller has checked the memory limit. */
RtDataset *rt_dataset_docs(unsigned char *bytes, size_t size, int64_t *spans, int64_t n, int width);

#endif

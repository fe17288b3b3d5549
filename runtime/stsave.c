/*
 * stsave.c — save named tensors as a safetensors file (the format and the
 * loader are in runtime/safetensors.c), so that nothing partial is ever
 * left: the data goes to a temporary file PATH.tmp.PID.XXXXXX, locked
 * while it is written, fsync'ed and renamed into place.  A successful save
 * then removes the temporary files of PATH that killed processes left
 * (their PID is dead and nobody holds their lock), never those of a live
 * writer.  A second SIGINT during a save removes its temporary file
 * (runtime/log.c, rt_tmp_register).
 */
#include "runtime/runtime.h"

#include "base/arena.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#if __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "safetensors data is little-endian; this file assumes a little-endian host"
#endif

enum { MAX_RANK = 8 };

/* A JSON string literal; names are ours to escape, whatever they hold. */
static void put_json_string(FILE *b, const char *s)
{
	fputc('"', b);
	for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
		char esc[8];
		if (*c == '"' || *c == '\\') {
			esc[0] = '\\';
			esc[1] = (char)*c;
			fwrite(esc, 1, 2, b);
		} else if (*c < 0x20) {
			snprintf(esc, sizeof esc, "\\u%04x", *c);
			fwrite(esc, 1, 6, b);
		} else {
			fputc(*c, b);
		}
	}
	fputc('"', b);
}

static const char *dtype_name(RtDType dt)
{
	return dt == RT_F32 ? "F32" : dt == RT_BF16 ? "BF16" : "I32";
}

static int cmp_by_name(const void *a, const void *b)
{
	return strcmp(((const RtTensor *)a)->name, ((const RtTensor *)b)->name);
}

/* ---- save ---- */

/* Removes the temporary files PATH.tmp.PID.XXXXXX of path whose writer is
   gone: PID is not a live process and the file's lock is free (the lock
   covers a PID reused by another process, or one in another PID namespace).
   Called after a successful save, so at most one leftover set survives. */
static void remove_stale_temps(const char *path)
{
	const char *slash = strrchr(path, '/');
	char *dir = slash ? strndup(path, (size_t)(slash - path + 1)) : strdup("./");
	const char *base = slash ? slash + 1 : path;
	size_t blen = strlen(base);
	DIR *d = opendir(dir);
	if (!d) {
		free(dir);
		return;
	}
	for (struct dirent *de; (de = readdir(d));) {
		const char *nm = de->d_name;
		if (strncmp(nm, base, blen) || strncmp(nm + blen, ".tmp.", 5))
			continue;
		char *end;
		long pid = strtol(nm + blen + 5, &end, 10);
		if (end == nm + blen + 5 || *end != '.' || strlen(end + 1) != 6 || pid <= 0)
			continue; /* not one of ours */
		if (pid == (long)getpid() || kill((pid_t)pid, 0) == 0 || errno != ESRCH)
			continue; /* its writer may still be at work */
		size_t dlen = strlen(dir);
		char *full = xmalloc(dlen + strlen(nm) + 1);
		memcpy(full, dir, dlen);
		strcpy(full + dlen, nm);
		int fd = open(full, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
		if (fd >= 0) {
			if (flock(fd, LOCK_EX | LOCK_NB) == 0)
				unlink(full);
			close(fd);
		}
		free(full);
	}
	closedir(d);
	free(dir);
}

bool rt_safetensors_save(const char *path, const RtTensor *t, int n, char *err, size_t errlen)
{
	RtTensor *s = xmalloc((size_t)(n > 0 ? n : 1) * sizeof *s);
	if (n > 0)
		memcpy(s, t, (size_t)n * sizeof *s);
	qsort(s, (size_t)(n > 0 ? n : 0), sizeof *s, cmp_by_name);

	char *hp = NULL;
	size_t hlen = 0;
	FILE *h = open_memstream(&hp, &hlen);
	fputs("{\"__metadata__\":{\"format\":\"pt\"}", h);
	int64_t off = 0;
	for (int i = 0; i < n; i++) {
		int64_t numel = s[i].rank >= 0 && s[i].rank <= MAX_RANK ? rt_tensor_numel(s[i].rank, s[i].dim) : -1;
		if (numel < 0 || (s[i].dt != RT_F32 && s[i].dt != RT_I32 && s[i].dt != RT_BF16)) {
			snprintf(err, errlen, "cannot save '%s': tensor '%s' has an invalid shape or type", path, s[i].name);
			goto fail;
		}
		if (!strcmp(s[i].name, "__metadata__") || (i > 0 && !strcmp(s[i].name, s[i - 1].name))) {
			snprintf(err, errlen, "cannot save '%s': tensor name '%s' is %s", path, s[i].name,
				 i > 0 && !strcmp(s[i].name, s[i - 1].name) ? "used twice" : "reserved");
			goto fail;
		}
		char num[64];
		fputc(',', h);
		put_json_string(h, s[i].name);
		fputs(":{\"dtype\":\"", h);
		fputs(dtype_name(s[i].dt), h);
		fputs("\",\"shape\":[", h);
		for (int d = 0; d < s[i].rank; d++) {
			snprintf(num, sizeof num, "%s%" PRId64, d ? "," : "", s[i].dim[d]);
			fputs(num, h);
		}
		snprintf(num, sizeof num, "],\"data_offsets\":[%" PRId64 ",%" PRId64 "]}", off, off + rt_dtype_size(s[i].dt) * numel);
		fputs(num, h);
		off += rt_dtype_size(s[i].dt) * numel;
	}
	fputc('}', h);
	/* Padding keeps the data 8-byte aligned for readers that map the file. */
	while (ftell(h) % 8)
		fputc(' ', h);
	fclose(h);
	h = NULL;

	size_t plen = strlen(path);
	char *tmp = xmalloc(plen + 48);
	snprintf(tmp, plen + 48, "%s.tmp.%ld.XXXXXX", path, (long)getpid());
	int fd = mkstemp(tmp);
	if (fd < 0) {
		snprintf(err, errlen, "cannot write '%s': %s", path, strerror(errno));
		free(tmp);
		goto fail;
	}
	/* held until the rename: others' cleanup leaves a locked file alone */
	flock(fd, LOCK_EX);
	rt_tmp_register(tmp);
	/* mkstemp makes the file private; give it the mode a plain create would. */
	mode_t mask = umask(0);
	umask(mask);
	fchmod(fd, 0666 & ~mask);
	FILE *f = fdopen(fd, "wb");
	if (!f) {
		close(fd);
		goto write_failed;
	}
	unsigned char len8[8];
	for (int k = 0; k < 8; k++)
		len8[k] = (unsigned char)((uint64_t)hlen >> (8 * k));
	bool ok = fwrite(len8, 1, 8, f) == 8 && fwrite(hp, 1, hlen, f) == hlen;
	for (int i = 0; ok && i < n; i++) {
		size_t bytes = (size_t)(rt_dtype_size(s[i].dt) * rt_tensor_numel(s[i].rank, s[i].dim));
		if (bytes && !s[i].data)
			die("rt_safetensors_save: tensor '%s' has no data", s[i].name);
		ok = fwrite(s[i].data, 1, bytes, f) == bytes;
	}
	/* fsync before rename: a crash must leave the old file or the new one. */
	ok = ok && fflush(f) == 0 && fsync(fileno(f)) == 0;
	int saved = errno;
	if (fclose(f) != 0 && ok) {
		ok = false;
		saved = errno;
	}
	errno = saved;
	if (!ok)
		goto write_failed;
	if (rename(tmp, path) != 0)
		goto write_failed;
	rt_tmp_register(NULL);
	remove_stale_temps(path);
	free(tmp);
	free(hp);
	free(s);
	return true;
write_failed:
	snprintf(err, errlen, "cannot write '%s': %s", path, strerror(errno));
	unlink(tmp);
	rt_tmp_register(NULL);
	free(tmp);
fail:
	if (h)
		fclose(h);
	free(hp);
	free(s);
	return false;
}


/*
 * driver.h — options of the sinter command line and the commands.
 */
#ifndef SINTER_DRIVER_H
#define SINTER_DRIVER_H

#include <stdbool.h>
#include <stdint.h>

#include "frontend/eval.h"

enum { MAX_DEFINES = 64 };

typedef struct {
	const char *cmd;      /* run, check, ir, opt, gradcheck */
	const char *file;
	uint64_t seed;
	int threads;          /* 0: library default */
	const char *defines[MAX_DEFINES]; /* "NAME=VALUE" */
	int ndefines;
	const char *after;    /* --after PASS */
	const char *passes;   /* --passes=a,b (opt) */
	const char *disable;  /* --no-PASS, comma separated */
	const char *log;      /* --log PATH */
	bool time_passes;
	bool interp;
} Options;

int cmd_program(const Options *o);
int cmd_opt(const Options *o);
int cmd_gradcheck(const Options *o);
int cmd_plan(const Options *o);

/* Loads the program and binds its globals (consts with -D overrides). */
Ev *driver_setup(const Options *o, Arena *a);

#endif

/* testutil.h - the scratch-directory fixture shared by the C tests of util, WAL and blob.
 * (The KV tests have their own richer helpers in kv_testutil.h.) */
#ifndef CAIRN_TESTUTIL_H
#define CAIRN_TESTUTIL_H

#include <check.h>

/* The current test's scratch directory. */
extern char ct_dir[512];

/* Make a fresh ct_dir: "<$CAIRN_TEST_TMP or /tmp>/<tag>-XXXXXX". */
void ct_tmp_create(const char *tag);
/* Remove ct_dir (kept when CAIRN_TEST_KEEP is set, for a post-mortem) and reset the I/O layer's
 * fault-injection and crash-simulation hooks, so that no test leaks them into the next. */
void ct_tmp_remove(void);
/* "<ct_dir>/<name>" in one of four rotating static buffers (so a call may take a few). */
char *ct_path(const char *name);

/* Run every test of `s` (Check's default fork mode) and return the process exit status. */
int ct_run(Suite *s);

#endif

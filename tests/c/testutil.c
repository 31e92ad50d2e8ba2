/* testutil.c - see testutil.h. */
#include "testutil.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "util.h"

char ct_dir[512];

void ct_tmp_create(const char *tag) {
    const char *base = getenv("CAIRN_TEST_TMP");
    char tmpl[512];
    if (base && *base) {
        mkdir(base, 0755);
        snprintf(tmpl, sizeof tmpl, "%s/%s-XXXXXX", base, tag);
    } else {
        snprintf(tmpl, sizeof tmpl, "/tmp/cairn-%s-XXXXXX", tag);
    }
    ck_assert_ptr_nonnull(mkdtemp(tmpl));
    snprintf(ct_dir, sizeof ct_dir, "%s", tmpl);
}

void ct_tmp_remove(void) {
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", ct_dir);
    if (!getenv("CAIRN_TEST_KEEP")) ck_assert_int_eq(system(cmd), 0);
    cairn_io__fault_reset();
    cairn_io__crash_track(0);
}

char *ct_path(const char *name) {
    static char ring[4][600];
    static int next;
    char *p = ring[next++ & 3];
    snprintf(p, sizeof ring[0], "%s/%s", ct_dir, name);
    return p;
}

int ct_run(Suite *s) {
    SRunner *sr = srunner_create(s);
    int failed;
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

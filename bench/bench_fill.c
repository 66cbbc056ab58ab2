/*
 * bench_fill.c - fill a store with care plans fast, for the load tests.
 *
 * bench_fill DIR PLANS PER_PLAN: PLANS new plans of PER_PLAN one-field
 * changes each (plan.title), authored by DIR's node, in batches of about
 * 1,000 changes (one durable commit each). The store is unlocked by
 * CAIRN_KEY_FILE; the node must be on its organisation's roster with the
 * care-manager role. The CLI makes one change per command: a store of
 * 10,000 changes takes it minutes, this a fraction of a second.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_util.h"
#include "cairn/cairn.h"

#define BATCH 1000

static size_t number(const char *s, const char *what)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || *end || s[0] == '-' || v == 0 || v > 10000000)
        bench_die(what, "not an integer from 1 to 10000000");
    return (size_t)v;
}

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: bench_fill DIR PLANS PER_PLAN (unlocked by CAIRN_KEY_FILE)\n");
        return 2;
    }
    size_t nplans = number(argv[2], "PLANS"), per_plan = number(argv[3], "PER_PLAN");
    const char *key = getenv("CAIRN_KEY_FILE");
    if (key == NULL || key[0] == '\0')
        bench_die("CAIRN_KEY_FILE", "not set");
    cairn_unlock_t u = {CAIRN_UNLOCK_KEY_FILE, NULL, 0, key};
    cairn_store_t *s;
    bench_check(cairn_store_open(argv[1], &u, &s), argv[1]);
    uint8_t(*plans)[CAIRN_PLAN_ID_BYTES] = bench_plan_ids(nplans);
    uint16_t title = (uint16_t)cairn_field_by_name(CAIRN_ET_PLAN, "title");
    size_t group = BATCH / per_plan ? BATCH / per_plan : 1;
    for (size_t g = 0; g < nplans; g += group) {
        size_t end = g + group < nplans ? g + group : nplans;
        cairn_batch_t *b;
        bench_check(cairn_batch_begin(s, &b), "batch");
        for (size_t i = 0; i < per_plan; i++)
            for (size_t p = g; p < end; p++) {
                char t[48];
                snprintf(t, sizeof t, "Care plan rev %zu", i);
                cairn_value_t v = {CAIRN_VALUE_STR, 0, t, strlen(t)};
                cairn_edit_t *e;
                bench_check(cairn_edit_begin(b, plans[p], &e), "edit begin");
                bench_check(cairn_edit_set(e, CAIRN_ET_PLAN, cairn_singleton_eid, title, &v),
                            "edit set");
                bench_check(cairn_edit_commit(e, NULL), "edit commit");
            }
        bench_check(cairn_batch_commit(b), "batch commit");
    }
    free(plans);
    cairn_store_close(s);
    printf("%zu changes in %zu plans\n", nplans * per_plan, nplans);
    return 0;
}

/*
 * org.c - cairn id, org create|join|show, roster add|revoke.
 *
 * Enrolling a node takes three steps across two nodes: the new node prints
 * its public key (cairn id), an administrator puts that key on the roster
 * with roles (cairn roster add), and the new node joins the organisation by
 * its key (cairn org join). The roster itself then travels like any plan.
 * The roster is read here only to print it; who may do what is decided by
 * libcairn at ingest.
 */
#include "cli.h"

#include <string.h>

int cmd_id(cli_args_t *a)
{
    if (cli_need_args(a, 1, "id DIR"))
        return EXIT_USAGE;
    cairn_store_t *store;
    int rc = cli_open_store(a, &store);
    if (rc != 0)
        return rc;
    cairn_store_info_t info;
    cairn_err_t err = cairn_store_info(store, &info);
    cairn_store_close(store);
    if (err != CAIRN_OK)
        return cli_fail(a->pos[0], err);
    char pk[CLI_HEX(CAIRN_PUBLIC_KEY_BYTES)];
    cli_hex(pk, info.public_key, sizeof info.public_key);
    printf("%s\n", pk);
    return 0;
}

/* The last component of dir, without trailing slashes: a default node name. */
static void base_name(const char *dir, char *out, size_t n)
{
    size_t len = strlen(dir);
    while (len > 1 && dir[len - 1] == '/')
        len--;
    const char *start = dir;
    for (size_t i = 0; i + 1 < len; i++)
        if (dir[i] == '/')
            start = dir + i + 1;
    snprintf(out, n, "%.*s", (int)(len - (size_t)(start - dir)), start);
}

int cmd_org_create(cli_args_t *a)
{
    if (cli_need_args(a, 1, "org create DIR [--name NAME]"))
        return EXIT_USAGE;
    char name[201];
    if (a->name != NULL)
        snprintf(name, sizeof name, "%s", a->name);
    else
        base_name(a->pos[0], name, sizeof name);
    cairn_store_t *store;
    int rc = cli_open_store(a, &store);
    if (rc != 0)
        return rc;
    uint8_t org[32];
    cairn_err_t err = cairn_org_create(store, name);
    if (err == CAIRN_OK)
        err = cairn_org_key(store, org);
    cairn_store_close(store);
    if (err == CAIRN_EEXIST)
        return cli_fail_msg(a->pos[0], "already belongs to an organisation", err);
    if (err != CAIRN_OK)
        return cli_fail("org create", err);
    char hex[CLI_HEX(32)];
    cli_hex(hex, org, 32);
    printf("%s\n", hex);
    fflush(stdout);
    fprintf(stderr, "created an organisation; this node is on its roster as admin\n");
    return 0;
}

int cmd_org_join(cli_args_t *a)
{
    if (cli_need_args(a, 2, "org join DIR ORGKEY"))
        return EXIT_USAGE;
    uint8_t org[32];
    if (cli_parse_hex(a->pos[1], org, 32, "ORGKEY") != 0)
        return EXIT_USAGE;
    cairn_store_t *store;
    int rc = cli_open_store(a, &store);
    if (rc != 0)
        return rc;
    cairn_err_t err = cairn_org_join(store, org);
    cairn_store_close(store);
    if (err == CAIRN_EEXIST)
        return cli_fail_msg(a->pos[0], "already belongs to another organisation", err);
    if (err != CAIRN_OK)
        return cli_fail("org join", err);
    char hex[CLI_HEX(32)];
    cli_hex(hex, org, 32);
    printf("joined organisation %.16s...; its roster arrives with a bundle\n", hex);
    return 0;
}

/* ---- org show ------------------------------------------------------------- */

/* One roster entry as read from the merged roster plan. */
typedef struct entry {
    const cairn_value_t *key, *name;
    int64_t roles, from, until, revoked;
} entry_t;

static const cairn_value_t *roster_value(const cairn_plan_state_t *st, const uint8_t *eid,
                                         const char *field)
{
    cairn_field_view_t v;
    int f = cairn_field_by_name(CAIRN_ET_ROSTER_ENTRY, field);
    if (f < 0 || cairn_plan_state_field(st, CAIRN_ET_ROSTER_ENTRY, eid, (uint16_t)f, &v) != 0)
        return NULL;
    return &v.values[0]; /* the last-writer-wins winner; valid while st is */
}

static int64_t roster_int(const cairn_plan_state_t *st, const uint8_t *eid, const char *field)
{
    const cairn_value_t *v = roster_value(st, eid, field);
    return v != NULL && v->type == CAIRN_VALUE_INT ? v->i : 0;
}

static void entry_read(const cairn_plan_state_t *st, const uint8_t *eid, entry_t *e)
{
    e->key = roster_value(st, eid, "key");
    e->name = roster_value(st, eid, "name");
    e->roles = roster_int(st, eid, "roles");
    e->from = roster_int(st, eid, "valid_from");
    e->until = roster_int(st, eid, "valid_until");
    e->revoked = roster_int(st, eid, "revoked_at");
}

static json_t *str_json(const cairn_value_t *v)
{
    if (v == NULL || v->type != CAIRN_VALUE_STR)
        return json_null();
    return json_stringn(v->s, v->len);
}

static json_t *time_json(int64_t ms)
{
    return ms != 0 ? json_integer(ms) : json_null();
}

static json_t *entry_json(const entry_t *e)
{
    return json_pack("{s:o, s:o, s:o, s:I, s:o, s:o}", "key", str_json(e->key), "name",
                     str_json(e->name), "roles", cli_roles_json((unsigned)e->roles), "valid_from",
                     (json_int_t)e->from, "valid_until", time_json(e->until), "revoked_at",
                     time_json(e->revoked));
}

/* Print e with its name padded to *width columns (control bytes not counted). */
static void entry_print(const entry_t *e, void *width)
{
    char roles[128];
    size_t name_len = e->name != NULL && e->name->type == CAIRN_VALUE_STR ? e->name->len : 0;
    size_t w = *(const size_t *)width;
    cli_roles_str((unsigned)e->roles, roles, sizeof roles);
    printf("  ");
    if (e->key != NULL && e->key->type == CAIRN_VALUE_STR)
        cli_print_text(stdout, e->key->s, e->key->len);
    printf("  ");
    if (name_len > 0)
        cli_print_text(stdout, e->name->s, name_len);
    printf("%*s  %s", (int)(name_len < w ? w - name_len : 0), "", roles);
    if (e->from != 0)
        printf("  from %lld", (long long)e->from);
    if (e->until != 0)
        printf("  until %lld", (long long)e->until);
    if (e->revoked != 0)
        printf("  revoked at %lld", (long long)e->revoked);
    printf("\n");
}

static void entry_measure(const entry_t *e, void *width)
{
    size_t *w = width;
    if (e->name != NULL && e->name->type == CAIRN_VALUE_STR && e->name->len > *w &&
        e->name->len <= 32)
        *w = e->name->len;
}

static void entry_append(const entry_t *e, void *arr)
{
    json_array_append_new(arr, entry_json(e));
}

/* Call fn for every present roster entry; returns their number. */
static size_t roster_walk(const cairn_plan_state_t *st, void (*fn)(const entry_t *, void *),
                          void *ctx)
{
    cairn_field_view_t v;
    size_t n = 0;
    for (size_t i = 0; cairn_plan_state_at(st, i, &v) == 0; i++) {
        if (v.etype != CAIRN_ET_ROSTER_ENTRY || v.field != 0 ||
            !cairn_plan_state_present(st, v.etype, v.eid))
            continue;
        entry_t e;
        entry_read(st, v.eid, &e);
        fn(&e, ctx);
        n++;
    }
    return n;
}

cairn_err_t cli_roster_read(cairn_store_t *store, cairn_plan_state_t **roster)
{
    uint8_t org[32], plan[CAIRN_PLAN_ID_BYTES];
    *roster = NULL;
    cairn_err_t err = cairn_org_key(store, org);
    if (err != CAIRN_OK)
        return err == CAIRN_ENOTFOUND ? CAIRN_OK : err;
    cairn_roster_plan_id(org, plan);
    return cairn_plan_read(store, plan, roster);
}

const cairn_value_t *cli_roster_name(const cairn_plan_state_t *roster, const uint8_t key[32])
{
    char hex[CLI_HEX(32)];
    cairn_field_view_t v;
    cli_hex(hex, key, 32);
    for (size_t i = 0; roster != NULL && cairn_plan_state_at(roster, i, &v) == 0; i++) {
        if (v.etype != CAIRN_ET_ROSTER_ENTRY || v.field != 0 ||
            !cairn_plan_state_present(roster, v.etype, v.eid))
            continue;
        const cairn_value_t *k = roster_value(roster, v.eid, "key");
        if (k != NULL && k->type == CAIRN_VALUE_STR && k->len == 64 && memcmp(k->s, hex, 64) == 0)
            return roster_value(roster, v.eid, "name");
    }
    return NULL;
}

static int org_show_print(const uint8_t *org, const cairn_plan_state_t *st, int json)
{
    char hex[CLI_HEX(32)];
    cli_hex(hex, org, 32);
    if (json) {
        json_t *arr = json_array();
        if (arr != NULL)
            roster_walk(st, entry_append, arr);
        return cli_print_json(json_pack("{s:s, s:I, s:o*}", "organisation", hex, "roster_changes",
                                        (json_int_t)cairn_plan_state_changes(st), "roster", arr),
                              "org show");
    }
    printf("organisation %s\n", hex);
    uint64_t n = cairn_plan_state_changes(st);
    printf("roster (%llu change%s):\n", (unsigned long long)n, n == 1 ? "" : "s");
    size_t width = 0;
    roster_walk(st, entry_measure, &width);
    if (roster_walk(st, entry_print, &width) == 0)
        printf("  no entries here yet: they arrive with a bundle from an administrator\n");
    return 0;
}

int cmd_org_show(cli_args_t *a)
{
    if (cli_need_args(a, 1, "org show DIR [--json]"))
        return EXIT_USAGE;
    cairn_store_t *store;
    int rc = cli_open_store(a, &store);
    if (rc != 0)
        return rc;
    uint8_t org[32], roster[CAIRN_PLAN_ID_BYTES];
    cairn_plan_state_t *st = NULL;
    cairn_err_t err = cairn_org_key(store, org);
    if (err == CAIRN_OK) {
        cairn_roster_plan_id(org, roster);
        err = cairn_plan_read(store, roster, &st);
    }
    cairn_store_close(store);
    if (err == CAIRN_ENOTFOUND)
        return cli_fail_msg(a->pos[0], "belongs to no organisation (cairn org create or join)",
                            err);
    if (err != CAIRN_OK)
        return cli_fail("org show", err);
    rc = org_show_print(org, st, a->json);
    cairn_plan_state_free(st);
    return rc;
}

/* ---- roster --------------------------------------------------------------- */

/* The message for a roster write the library refused. */
static int roster_fail(const char *dir, cairn_err_t err)
{
    if (err == CAIRN_ENOTFOUND)
        return cli_fail_msg(dir, "no such roster entry, or no organisation here", err);
    if (err == CAIRN_EDENIED)
        return cli_fail_msg(dir, "only an administrator may change the roster", err);
    return cli_fail("roster", err);
}

int cmd_roster_add(cli_args_t *a)
{
    static const char synopsis[] =
        "roster add DIR KEY --name NAME --roles R[,R...] [--from MS] [--until MS]";
    if (cli_need_args(a, 2, synopsis))
        return EXIT_USAGE;
    uint8_t key[32];
    if (cli_parse_hex(a->pos[1], key, 32, "KEY") != 0)
        return EXIT_USAGE;
    if (a->name == NULL || a->roles == 0) {
        fprintf(stderr, "usage: cairn %s\n", synopsis);
        return EXIT_USAGE;
    }
    if (a->until != 0 && a->until <= a->from)
        return cli_usage_error("--until must be later than --from");
    cairn_store_t *store;
    int rc = cli_open_store(a, &store);
    if (rc != 0)
        return rc;
    cairn_err_t err = cairn_roster_put(store, key, a->name, a->roles, a->from, a->until);
    cairn_store_close(store);
    if (err != CAIRN_OK)
        return roster_fail(a->pos[0], err);
    char roles[128], hex[CLI_HEX(32)];
    cli_roles_str(a->roles, roles, sizeof roles);
    cli_hex(hex, key, 32);
    printf("roster: %.16s... is %s\n", hex, roles);
    return 0;
}

int cmd_roster_revoke(cli_args_t *a)
{
    if (cli_need_args(a, 2, "roster revoke DIR KEY [--at MS]"))
        return EXIT_USAGE;
    uint8_t key[32];
    if (cli_parse_hex(a->pos[1], key, 32, "KEY") != 0)
        return EXIT_USAGE;
    uint64_t at = a->at != 0 ? a->at : cli_now_ms();
    cairn_store_t *store;
    int rc = cli_open_store(a, &store);
    if (rc != 0)
        return rc;
    cairn_err_t err = cairn_roster_revoke(store, key, at);
    cairn_store_close(store);
    if (err != CAIRN_OK)
        return roster_fail(a->pos[0], err);
    char hex[CLI_HEX(32)];
    cli_hex(hex, key, 32);
    printf("roster: %.16s... revoked from %llu\n", hex, (unsigned long long)at);
    return 0;
}

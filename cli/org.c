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
    cli_print_hex(info.public_key, sizeof info.public_key);
    return 0;
}

/* The message for a node name the library refused (too long, or not UTF-8). */
static int name_fail(cairn_err_t err)
{
    return cli_fail_msg("--name", "a name is UTF-8 text of at most 200 bytes", err);
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
    char dir_name[256]; /* a path component is at most 255 bytes */
    const char *name = a->name;
    if (name == NULL) {
        base_name(a->pos[0], dir_name, sizeof dir_name);
        name = dir_name;
    }
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
    if (err == CAIRN_EINVAL)
        return name_fail(err);
    if (err != CAIRN_OK)
        return cli_fail("org create", err);
    cli_print_hex(org, 32);
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

/* One roster entry as read from the merged roster plan; key and name are strings or NULL. */
typedef struct entry {
    const cairn_value_t *key, *name;
    int64_t roles, from, until, revoked;
} entry_t;

/* The last-writer-wins value of field when it is of type, else NULL; valid while st is. */
static const cairn_value_t *roster_value(const cairn_plan_state_t *st, const uint8_t *eid,
                                         const char *field, cairn_value_type_t type)
{
    cairn_field_view_t v;
    int f = cairn_field_by_name(CAIRN_ET_ROSTER_ENTRY, field);
    if (f < 0 || cairn_plan_state_field(st, CAIRN_ET_ROSTER_ENTRY, eid, (uint16_t)f, &v) != 0)
        return NULL;
    return v.values[0].type == type ? &v.values[0] : NULL;
}

static int64_t roster_int(const cairn_plan_state_t *st, const uint8_t *eid, const char *field)
{
    const cairn_value_t *v = roster_value(st, eid, field, CAIRN_VALUE_INT);
    return v != NULL ? v->i : 0;
}

static void entry_read(const cairn_plan_state_t *st, const uint8_t *eid, entry_t *e)
{
    e->key = roster_value(st, eid, "key", CAIRN_VALUE_STR);
    e->name = roster_value(st, eid, "name", CAIRN_VALUE_STR);
    e->roles = roster_int(st, eid, "roles");
    e->from = roster_int(st, eid, "valid_from");
    e->until = roster_int(st, eid, "valid_until");
    e->revoked = roster_int(st, eid, "revoked_at");
}

static json_t *str_json(const cairn_value_t *v)
{
    return v != NULL ? json_stringn(v->s, v->len) : json_null();
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
    size_t name_len = e->name != NULL ? e->name->len : 0;
    size_t w = *(const size_t *)width;
    cli_roles_str((unsigned)e->roles, roles, sizeof roles);
    printf("  ");
    if (e->key != NULL)
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
    if (e->name != NULL && e->name->len > *w && e->name->len <= 32)
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

cairn_err_t cli_org_read(cairn_store_t *store, cli_org_t *org)
{
    cairn_err_t err = cairn_org_key(store, org->key);
    org->has = err == CAIRN_OK;
    if (org->has)
        cairn_roster_plan_id(org->key, org->roster);
    return err == CAIRN_ENOORG ? CAIRN_OK : err;
}

int cli_is_roster(const cli_org_t *org, const uint8_t plan[CAIRN_PLAN_ID_BYTES])
{
    return org->has && memcmp(plan, org->roster, CAIRN_PLAN_ID_BYTES) == 0;
}

cairn_err_t cli_roster_read(cairn_store_t *store, cairn_plan_state_t **roster)
{
    cli_org_t org;
    *roster = NULL;
    cairn_err_t err = cli_org_read(store, &org);
    if (err != CAIRN_OK || !org.has)
        return err;
    return cairn_plan_read(store, org.roster, roster);
}

typedef struct name_match {
    char key[CLI_HEX(32)];
    const cairn_value_t *name;
} name_match_t;

static void entry_match(const entry_t *e, void *ctx)
{
    name_match_t *m = ctx;
    if (m->name == NULL && e->key != NULL && e->key->len == 64 &&
        memcmp(e->key->s, m->key, 64) == 0)
        m->name = e->name;
}

const cairn_value_t *cli_roster_name(const cairn_plan_state_t *roster, const uint8_t key[32])
{
    name_match_t m = {.name = NULL};
    if (roster == NULL)
        return NULL;
    cli_hex(m.key, key, 32);
    roster_walk(roster, entry_match, &m);
    return m.name;
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
    cli_org_t org;
    cairn_plan_state_t *st = NULL;
    cairn_err_t err = cli_org_read(store, &org);
    if (err == CAIRN_OK && !org.has)
        err = CAIRN_ENOORG;
    if (err == CAIRN_OK)
        err = cairn_plan_read(store, org.roster, &st);
    cairn_store_close(store);
    if (err == CAIRN_ENOORG)
        return cli_fail_msg(a->pos[0], "belongs to no organisation (cairn org create or join)",
                            err);
    if (err != CAIRN_OK)
        return cli_fail("org show", err);
    rc = org_show_print(org.key, st, a->json);
    cairn_plan_state_free(st);
    return rc;
}

/* ---- roster --------------------------------------------------------------- */

/* The message for a roster write the library refused. */
static int roster_fail(const char *dir, cairn_err_t err)
{
    if (err == CAIRN_EINVAL) /* the key, roles and times were checked here: the name */
        return name_fail(err);
    if (err == CAIRN_ENOTFOUND)
        return cli_fail_msg(dir, "no such roster entry", err);
    if (err == CAIRN_ENOORG)
        return cli_fail_msg(dir, "belongs to no organisation (cairn org create or join)", err);
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
    if (a->name == NULL || a->roles == 0)
        return cli_usage(synopsis);
    if (a->until != CLI_NO_TIME && a->until <= a->from)
        return cli_usage_error("--until must be later than --from");
    uint64_t until = a->until != CLI_NO_TIME ? a->until : 0; /* 0: open-ended */
    cairn_store_t *store;
    int rc = cli_open_store(a, &store);
    if (rc != 0)
        return rc;
    cairn_err_t err = cairn_roster_put(store, key, a->name, a->roles, a->from, until);
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
    if (a->at == 0) /* libcairn refuses 0, which means "not revoked" */
        return cli_usage_error("--at takes a time after 0");
    uint64_t at = a->at != CLI_NO_TIME ? a->at : cli_now_ms();
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

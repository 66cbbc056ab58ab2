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
    printf("joined organisation %.16s...; its roster arrives by sync or a bundle\n", hex);
    return 0;
}

/* ---- org show ------------------------------------------------------------- */

/* A roster entry's key as hex, or NULL when the entry has none; valid until the next call. */
static const char *entry_key_hex(const cairn_roster_entry_t *e, char hex[CLI_HEX(32)])
{
    if (!e->has_key)
        return NULL;
    cli_hex(hex, e->key, 32);
    return hex;
}

static json_t *name_json(const cairn_roster_entry_t *e)
{
    return e->name != NULL ? json_stringn(e->name, e->name_len) : json_null();
}

static json_t *time_json(uint64_t ms)
{
    return ms != 0 ? json_integer((json_int_t)ms) : json_null();
}

static json_t *entry_json(const cairn_roster_entry_t *e)
{
    char hex[CLI_HEX(32)];
    const char *key = entry_key_hex(e, hex);
    return json_pack("{s:o, s:o, s:o, s:I, s:o, s:o}", "key",
                     key != NULL ? json_string(key) : json_null(), "name", name_json(e), "roles",
                     cli_roles_json(e->roles), "valid_from", (json_int_t)e->valid_from,
                     "valid_until", time_json(e->valid_until), "revoked_at",
                     time_json(e->revoked_at));
}

/* Print e with its name padded to *width columns (control bytes not counted). */
static void entry_print(const cairn_roster_entry_t *e, void *width)
{
    char roles[128], hex[CLI_HEX(32)];
    const char *key = entry_key_hex(e, hex);
    size_t name_len = e->name != NULL ? e->name_len : 0;
    size_t w = *(const size_t *)width;
    cli_roles_str(e->roles, roles, sizeof roles);
    printf("  ");
    if (key != NULL)
        printf("%s", key);
    printf("  ");
    if (name_len > 0)
        cli_print_text(stdout, e->name, name_len);
    printf("%*s  %s", (int)(name_len < w ? w - name_len : 0), "", roles);
    if (e->valid_from != 0)
        printf("  from %llu", (unsigned long long)e->valid_from);
    if (e->valid_until != 0)
        printf("  until %llu", (unsigned long long)e->valid_until);
    if (e->revoked_at != 0)
        printf("  revoked at %llu", (unsigned long long)e->revoked_at);
    printf("\n");
}

static void entry_measure(const cairn_roster_entry_t *e, void *width)
{
    size_t *w = width;
    if (e->name != NULL && e->name_len > *w && e->name_len <= 32)
        *w = e->name_len;
}

static void entry_append(const cairn_roster_entry_t *e, void *arr)
{
    json_array_append_new(arr, entry_json(e));
}

/* Call fn for every present roster entry; *n receives their number. */
static cairn_err_t roster_walk(const cairn_plan_state_t *st,
                               void (*fn)(const cairn_roster_entry_t *, void *), void *ctx,
                               size_t *n)
{
    cairn_roster_iter_t it;
    cairn_roster_entry_t e;
    cairn_err_t err = cairn_roster_iter_init(&it, st);
    *n = 0;
    while (err == CAIRN_OK && (err = cairn_roster_next(&it, &e)) == CAIRN_OK) {
        fn(&e, ctx);
        (*n)++;
    }
    return err == CAIRN_ENOTFOUND ? CAIRN_OK : err;
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
    *roster = NULL;
    cairn_err_t err = cairn_roster_read(store, roster);
    return err == CAIRN_ENOORG ? CAIRN_OK : err; /* no organisation: no roster */
}

int cli_roster_name(const cairn_plan_state_t *roster, const uint8_t key[32], const char **name,
                    size_t *len)
{
    cairn_roster_entry_t e;
    if (roster == NULL || cairn_roster_get(roster, key, &e) != CAIRN_OK || !e.present ||
        !e.has_key || memcmp(e.key, key, 32) != 0 || e.name == NULL)
        return 0;
    *name = e.name;
    *len = e.name_len;
    return 1;
}

static int org_show_print(const uint8_t *org, const cairn_plan_state_t *st, int json)
{
    char hex[CLI_HEX(32)];
    size_t count;
    cli_hex(hex, org, 32);
    if (json) {
        json_t *arr = json_array();
        cairn_err_t err = arr != NULL ? roster_walk(st, entry_append, arr, &count) : CAIRN_OK;
        if (err != CAIRN_OK) {
            json_decref(arr);
            return cli_fail("org show", err);
        }
        return cli_print_json(json_pack("{s:s, s:I, s:o*}", "organisation", hex, "roster_changes",
                                        (json_int_t)cairn_plan_state_changes(st), "roster", arr),
                              "org show");
    }
    size_t width = 0;
    cairn_err_t err = roster_walk(st, entry_measure, &width, &count);
    if (err != CAIRN_OK)
        return cli_fail("org show", err);
    printf("organisation %s\n", hex);
    uint64_t n = cairn_plan_state_changes(st);
    printf("roster (%llu change%s):\n", (unsigned long long)n, n == 1 ? "" : "s");
    roster_walk(st, entry_print, &width, &count); /* the same walk again: cannot fail now */
    if (count == 0)
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

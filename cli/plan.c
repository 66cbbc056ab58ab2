/*
 * plan.c - cairn plan new|list|add|set|remove: editing care plans.
 *
 * Every editing command is exactly one signed change: a batch, one edit,
 * its operations, commit. The words of the command line (entity and field
 * names, FIELD=VALUE) are checked against the schema's public lookups
 * before the store is opened; values are checked by libcairn, which also
 * decides whether this node's roles allow the edit. Values are never
 * echoed in messages: they may be patient content.
 */
#include "cli.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* What an editing command does to its entity. */
typedef enum edit_kind {
    EDIT_ADD,    /* plan add: a new entity of a set or log, no id given */
    EDIT_SET,    /* plan set, plan new: a singleton without an id, any other type with one */
    EDIT_REMOVE, /* plan remove: an entity of a set, with its id */
} edit_kind_t;

/* ENTITY or ENTITY:EID from the command line. */
typedef struct target {
    uint16_t etype;
    uint8_t eid[CAIRN_ENTITY_ID_BYTES];
} target_t;

/* One FIELD=VALUE; a string value points into argv. */
typedef struct assign {
    uint16_t field;
    const char *name;
    cairn_value_t value;
} assign_t;

/*
 * A usage error for a name the schema does not know. The name is echoed only
 * when it looks like one: a mistyped argument may be patient content.
 */
static int unknown_name(const char *what, const char *s, size_t len)
{
    int word = len > 0 && len <= 32;
    for (size_t i = 0; word && i < len; i++)
        word = isalnum((unsigned char)s[i]) || s[i] == '_' || s[i] == '-';
    if (word)
        return cli_usage_error("%s '%.*s' (see docs/data-model.md)", what, (int)len, s);
    return cli_usage_error("%s (see docs/data-model.md)", what);
}

static int parse_etype(const char *s, size_t len, uint16_t *etype)
{
    char name[32];
    int et = -1;
    if (len < sizeof name) {
        memcpy(name, s, len);
        name[len] = '\0';
        et = cairn_etype_by_name(name);
    }
    if (et < 0)
        return unknown_name("unknown entity type", s, len);
    *etype = (uint16_t)et;
    return 0;
}

/* Parse ENTITY[:EID]: whether an id belongs depends on the kind of edit and the type. */
static int parse_target(const char *s, edit_kind_t kind, target_t *t)
{
    const char *colon = strchr(s, ':');
    size_t len = colon != NULL ? (size_t)(colon - s) : strlen(s);
    if (parse_etype(s, len, &t->etype) != 0)
        return EXIT_USAGE;
    const char *name = cairn_etype_name(t->etype);
    int is_set = cairn_etype_is_set(t->etype);
    memcpy(t->eid, cairn_singleton_eid, CAIRN_ENTITY_ID_BYTES);
    if (kind == EDIT_ADD && colon != NULL)
        return cli_usage_error("plan add makes a new %s: give no id", name);
    if (kind == EDIT_ADD && !is_set)
        return cli_usage_error("every plan has one %s: use plan set %s FIELD=VALUE", name, name);
    if (kind == EDIT_REMOVE && !is_set)
        return cli_usage_error("a %s cannot be removed", name);
    if (kind != EDIT_ADD && !is_set && colon != NULL)
        return cli_usage_error("every plan has one %s: write %s, without an id", name, name);
    if (kind != EDIT_ADD && is_set && colon == NULL)
        return cli_usage_error("name the %s: %s:EID (ids are in cairn plan show)", name, name);
    if (colon != NULL && cli_parse_hex(colon + 1, t->eid, CAIRN_ENTITY_ID_BYTES, "EID") != 0)
        return EXIT_USAGE;
    return 0;
}

static int parse_int(const char *s, int64_t *out)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || end == s || *end)
        return -1;
    *out = v;
    return 0;
}

/*
 * Parse FIELD=VALUE for entity type etype. An empty value clears the field.
 * Returns 0, EXIT_USAGE (unknown field, no '='), or the exit status of
 * CAIRN_EINVAL (an integer field given something else).
 */
static int parse_assign(const char *what, uint16_t etype, char *s, assign_t *as)
{
    char *eq = strchr(s, '=');
    if (eq == NULL) /* not echoed: it may be a value */
        return cli_usage_error("expected FIELD=VALUE after ENTITY");
    *eq = '\0';
    int f = cairn_field_by_name(etype, s);
    if (f < 0) {
        char msg[64];
        snprintf(msg, sizeof msg, "%s has no field", cairn_etype_name(etype));
        return unknown_name(msg, s, strlen(s));
    }
    as->field = (uint16_t)f;
    as->name = s;
    const char *v = eq + 1;
    memset(&as->value, 0, sizeof as->value);
    if (*v == '\0') {
        as->value.type = CAIRN_VALUE_NIL;
    } else if (cairn_field_is_int(etype, as->field)) {
        as->value.type = CAIRN_VALUE_INT;
        if (parse_int(v, &as->value.i) != 0) {
            char msg[96];
            snprintf(msg, sizeof msg, "%s.%s takes an integer", cairn_etype_name(etype), s);
            return cli_fail_msg(what, msg, CAIRN_EINVAL);
        }
    } else {
        as->value.type = CAIRN_VALUE_STR;
        as->value.s = v;
        as->value.len = strlen(v);
    }
    return 0;
}

/* ---- one edit, one change ------------------------------------------------ */

typedef struct edit_req {
    edit_kind_t kind;
    uint8_t plan[CAIRN_PLAN_ID_BYTES];
    target_t t;
    const assign_t *as;
    size_t nas;
    const char *bad;    /* the field whose value libcairn refused */
    cairn_reason_t why; /* set when the roster refused the edit */
} edit_req_t;

static cairn_err_t edit_ops(cairn_edit_t *e, edit_req_t *r)
{
    if (r->kind == EDIT_REMOVE)
        return cairn_edit_remove(e, r->t.etype, r->t.eid);
    cairn_err_t err = r->kind == EDIT_ADD ? cairn_edit_add(e, r->t.etype, r->t.eid) : CAIRN_OK;
    for (size_t i = 0; i < r->nas && err == CAIRN_OK; i++) {
        err = cairn_edit_set(e, r->t.etype, r->t.eid, r->as[i].field, &r->as[i].value);
        if (err == CAIRN_EINVAL)
            r->bad = r->as[i].name;
    }
    return err;
}

/* Make r one signed change in its own batch; id receives the change id. */
static cairn_err_t run_edit(cairn_store_t *store, edit_req_t *r, uint8_t id[CAIRN_CHANGE_ID_BYTES])
{
    cairn_batch_t *b;
    cairn_edit_t *e;
    cairn_err_t err = cairn_batch_begin(store, &b);
    if (err != CAIRN_OK)
        return err;
    err = cairn_edit_begin(b, r->plan, &e);
    if (err == CAIRN_OK) {
        err = edit_ops(e, r);
        if (err == CAIRN_OK)
            err = cairn_edit_commit(e, id); /* frees e */
        else
            cairn_edit_abort(e);
    }
    if (err != CAIRN_OK) {
        r->why = cairn_batch_last_reason(b);
        cairn_batch_abort(b);
        return err;
    }
    return cairn_batch_commit(b);
}

static int edit_fail(const char *dir, const char *what, const edit_req_t *r, cairn_err_t err)
{
    char msg[160];
    const char *et = cairn_etype_name(r->t.etype);
    switch (err) {
    case CAIRN_EDENIED:
        if (r->why == CAIRN_REASON_NOT_PERMITTED)
            snprintf(msg, sizeof msg, "not allowed: this node's roles do not allow editing %s", et);
        else if (r->why == CAIRN_REASON_NOT_VALID)
            snprintf(msg, sizeof msg,
                     "not allowed: this node's roster entry is not valid now "
                     "(revoked or expired)");
        else
            snprintf(msg, sizeof msg, "not allowed: this node is not on the organisation's roster");
        return cli_fail_msg(dir, msg, err);
    case CAIRN_ENOTFOUND:
        snprintf(msg, sizeof msg, "no such %s in this plan (never added here, or removed)", et);
        return cli_fail_msg(dir, msg, err);
    case CAIRN_EINVAL:
        if (r->bad != NULL)
            snprintf(msg, sizeof msg, "invalid value for %s.%s (see docs/data-model.md)", et,
                     r->bad);
        else if (r->t.etype == CAIRN_ET_CHECKIN && r->kind != EDIT_ADD)
            snprintf(msg, sizeof msg,
                     "check-ins are append-only: their fields are given in "
                     "plan add, and they are never removed");
        else /* refused when the change was made: its encoding or the schema's rules */
            snprintf(msg, sizeof msg,
                     "a text value is not valid UTF-8, or the schema's rules refuse this edit "
                     "of a %s (see docs/data-model.md)",
                     et);
        return cli_fail_msg(what, msg, err);
    default:
        return cli_fail(what, err);
    }
}

/* Open the store, run the edit, close. Prints errors; returns 0 or the exit status. */
static int edit_store(cli_args_t *a, edit_req_t *r, const char *what,
                      uint8_t id[CAIRN_CHANGE_ID_BYTES])
{
    cairn_store_t *store;
    int rc = cli_open_store(a, &store);
    if (rc != 0)
        return rc;
    cairn_err_t err = run_edit(store, r, id);
    cairn_store_close(store);
    return err == CAIRN_OK ? 0 : edit_fail(a->pos[0], what, r, err);
}

/*
 * plan add, set and remove: DIR PLAN ENTITY[:EID] [FIELD=VALUE ...], every
 * word checked before the store is opened, then the edit of r->kind.
 */
static int plan_edit(cli_args_t *a, const char *what, edit_req_t *r,
                     uint8_t id[CAIRN_CHANGE_ID_BYTES])
{
    if (cli_parse_hex(a->pos[1], r->plan, CAIRN_PLAN_ID_BYTES, "PLAN") != 0)
        return EXIT_USAGE;
    int rc = parse_target(a->pos[2], r->kind, &r->t);
    if (rc != 0)
        return rc;
    assign_t *as = calloc((size_t)a->npos, sizeof *as);
    if (as == NULL)
        return cli_fail(what, CAIRN_ENOMEM);
    r->as = as;
    for (int i = 3; i < a->npos && rc == 0; i++)
        rc = parse_assign(what, r->t.etype, a->pos[i], &as[r->nas++]);
    if (rc == 0)
        rc = edit_store(a, r, what, id);
    free(as);
    r->as = NULL;
    return rc;
}

static void print_change(FILE *f, const uint8_t id[CAIRN_CHANGE_ID_BYTES])
{
    char hex[CLI_HEX(CAIRN_CHANGE_ID_BYTES)];
    cli_hex(hex, id, CAIRN_CHANGE_ID_BYTES);
    fflush(stdout);
    fprintf(f, "change %s\n", hex);
}

/* ---- the commands --------------------------------------------------------- */

static assign_t plan_field(const char *field, const char *value)
{
    return (assign_t){(uint16_t)cairn_field_by_name(CAIRN_ET_PLAN, field),
                      field,
                      {CAIRN_VALUE_STR, 0, value, strlen(value)}};
}

int cmd_plan_new(cli_args_t *a)
{
    if (cli_need_args(a, 1, "plan new DIR [--title T]"))
        return EXIT_USAGE;
    assign_t as[2];
    edit_req_t r = {.kind = EDIT_SET, .t.etype = CAIRN_ET_PLAN, .as = as};
    memcpy(r.t.eid, cairn_singleton_eid, CAIRN_ENTITY_ID_BYTES);
    cairn_plan_id_new(r.plan);
    if (a->title != NULL)
        as[r.nas++] = plan_field("title", a->title);
    as[r.nas++] = plan_field("status", "draft");
    uint8_t id[CAIRN_CHANGE_ID_BYTES];
    int rc = edit_store(a, &r, "plan new", id);
    if (rc != 0)
        return rc;
    cli_print_hex(r.plan, CAIRN_PLAN_ID_BYTES);
    print_change(stderr, id);
    return 0;
}

int cmd_plan_add(cli_args_t *a)
{
    if (cli_need_min_args(a, 3, "plan add DIR PLAN ENTITY [FIELD=VALUE ...]"))
        return EXIT_USAGE;
    edit_req_t r = {.kind = EDIT_ADD};
    uint8_t id[CAIRN_CHANGE_ID_BYTES];
    int rc = plan_edit(a, "plan add", &r, id);
    if (rc != 0)
        return rc;
    cli_print_hex(r.t.eid, CAIRN_ENTITY_ID_BYTES);
    print_change(stderr, id);
    return 0;
}

int cmd_plan_set(cli_args_t *a)
{
    if (cli_need_min_args(a, 4, "plan set DIR PLAN ENTITY[:EID] FIELD=VALUE [FIELD=VALUE ...]"))
        return EXIT_USAGE;
    edit_req_t r = {.kind = EDIT_SET};
    uint8_t id[CAIRN_CHANGE_ID_BYTES];
    int rc = plan_edit(a, "plan set", &r, id);
    if (rc == 0)
        print_change(stdout, id);
    return rc;
}

int cmd_plan_remove(cli_args_t *a)
{
    if (cli_need_args(a, 3, "plan remove DIR PLAN ENTITY:EID"))
        return EXIT_USAGE;
    edit_req_t r = {.kind = EDIT_REMOVE};
    uint8_t id[CAIRN_CHANGE_ID_BYTES];
    int rc = plan_edit(a, "plan remove", &r, id);
    if (rc == 0)
        print_change(stdout, id);
    return rc;
}

/* ---- plan list ------------------------------------------------------------ */

typedef struct list_ctx {
    cli_org_t org;
    json_t *arr; /* --json */
    size_t n;
    int oom;
} list_ctx_t;

static int list_one(void *ctx, const uint8_t plan[CAIRN_PLAN_ID_BYTES], uint64_t nchanges)
{
    list_ctx_t *l = ctx;
    char hex[CLI_HEX(CAIRN_PLAN_ID_BYTES)];
    cli_hex(hex, plan, CAIRN_PLAN_ID_BYTES);
    int roster = cli_is_roster(&l->org, plan);
    l->n++;
    if (l->arr != NULL) {
        l->oom = json_array_append_new(l->arr, json_pack("{s:s, s:I, s:b}", "plan", hex, "changes",
                                                         (json_int_t)nchanges, "roster", roster));
        return l->oom;
    }
    printf("%s  %6llu change%s%s\n", hex, (unsigned long long)nchanges, nchanges == 1 ? " " : "s",
           roster ? "  (the organisation's roster)" : "");
    return 0;
}

int cmd_plan_list(cli_args_t *a)
{
    if (cli_need_args(a, 1, "plan list DIR [--json]"))
        return EXIT_USAGE;
    cairn_store_t *store;
    int rc = cli_open_store(a, &store);
    if (rc != 0)
        return rc;
    list_ctx_t l = {0};
    cairn_err_t err = cli_org_read(store, &l.org);
    if (err == CAIRN_OK && a->json && (l.arr = json_array()) == NULL)
        err = CAIRN_ENOMEM;
    if (err == CAIRN_OK)
        err = cairn_plan_list(store, list_one, &l);
    if (err == CAIRN_OK && l.oom)
        err = CAIRN_ENOMEM;
    cairn_store_close(store);
    if (err != CAIRN_OK) {
        json_decref(l.arr);
        return cli_fail("plan list", err);
    }
    if (a->json)
        return cli_print_json(l.arr, "plan list");
    if (l.n == 0)
        printf("no plans\n");
    return 0;
}

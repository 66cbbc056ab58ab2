/*
 * show.c - cairn plan show and cairn conflicts: printing a merged plan.
 *
 * libcairn hands out the merged state through cairn/view.h: the present
 * entities of each type in id order, and each field's live values:
 * values[0] is the last-writer-wins winner, and a multi-value field with
 * more than one live value is in conflict. This file only walks types,
 * entities and fields in that order and prints them; the merge happened in
 * libcairn. Patient content is printed here by design, on the
 * terminal of the user who asked for it, with control characters escaped.
 */
#include "cli.h"

#include <string.h>

#define SHORT_KEY 8 /* hex digits of an author key in listings */

/* What the walk needs to know beyond the current entity. */
typedef struct walk {
    const cairn_plan_state_t *st, *roster;
    int json;
    json_t *entities, *fields; /* --json: the array filled, the current entity's fields */
    size_t shown;              /* conflicts listed */
} walk_t;

/* The entity types, in ascending number order as the table lists them. */
#define ET_NUMBER(id, ...) CAIRN_ET_##id,
#define F_NONE(...)
static const uint16_t etypes[] = {CAIRN_SCHEMA(ET_NUMBER, F_NONE)};

/* A field cleared to nil by its only live write is shown as absent. */
static int cleared(const cairn_field_view_t *v)
{
    return v->nvalues == 1 && v->values[0].type == CAIRN_VALUE_NIL;
}

static void print_value(const cairn_value_t *v, int quote)
{
    if (v->type == CAIRN_VALUE_INT) {
        printf("%lld", (long long)v->i);
    } else if (v->type == CAIRN_VALUE_STR) {
        if (quote)
            putchar('"');
        cli_print_text(stdout, v->s, v->len);
        if (quote)
            putchar('"');
    } else {
        printf("(cleared)");
    }
}

static json_t *value_json(const cairn_value_t *v)
{
    if (v->type == CAIRN_VALUE_INT)
        return json_integer(v->i);
    if (v->type == CAIRN_VALUE_STR)
        return json_stringn(v->s, v->len);
    return json_null();
}

static void print_entity(uint16_t etype, const uint8_t *eid)
{
    printf("%s", cairn_etype_name(etype));
    if (cairn_etype_is_set(etype)) {
        char hex[CLI_HEX(CAIRN_ENTITY_ID_BYTES)];
        cli_hex(hex, eid, CAIRN_ENTITY_ID_BYTES);
        printf(" %s", hex);
    }
}

/* "1746268272345" or "1746268272345+2": the HLC's ms and, if any, its counter. */
static void print_hlc(cairn_hlc_t h)
{
    printf("%llu", (unsigned long long)CAIRN_HLC_MS(h));
    if (CAIRN_HLC_COUNTER(h) != 0)
        printf("+%u", (unsigned)CAIRN_HLC_COUNTER(h));
}

/* Columns a value takes when printed (quoted strings; escapes not counted). */
static size_t value_width(const cairn_value_t *v)
{
    char num[24];
    if (v->type == CAIRN_VALUE_STR)
        return v->len + 2;
    if (v->type == CAIRN_VALUE_INT)
        return (size_t)snprintf(num, sizeof num, "%lld", (long long)v->i);
    return sizeof "(cleared)" - 1;
}

/*
 * One live value of a field, padded to width, with its author (short key
 * and roster name) and time.
 */
static void print_live(const walk_t *w, const cairn_field_view_t *v, size_t k, size_t width)
{
    char key[CLI_HEX(32)];
    cli_hex(key, v->authors[k], 32);
    printf("    ");
    print_value(&v->values[k], 1);
    size_t vw = value_width(&v->values[k]);
    printf("%*s  by %.*s", (int)(vw < width ? width - vw : 0), "", SHORT_KEY, key);
    const char *name;
    size_t len;
    if (cli_roster_name(w->roster, v->authors[k], &name, &len)) {
        printf(" (");
        cli_print_text(stdout, name, len);
        printf(")");
    }
    printf("  at ");
    print_hlc(v->hlcs[k]);
    printf("\n");
}

static json_t *live_json(const walk_t *w, const cairn_field_view_t *v, size_t k)
{
    char key[CLI_HEX(32)];
    cli_hex(key, v->authors[k], 32);
    const char *name;
    size_t len;
    int named = cli_roster_name(w->roster, v->authors[k], &name, &len);
    return json_pack("{s:o, s:s, s:o, s:I, s:I}", "value", value_json(&v->values[k]), "author", key,
                     "author_name", named ? json_stringn(name, len) : json_null(), "hlc_ms",
                     (json_int_t)CAIRN_HLC_MS(v->hlcs[k]), "hlc_counter",
                     (json_int_t)CAIRN_HLC_COUNTER(v->hlcs[k]));
}

static json_t *lives_json(const walk_t *w, const cairn_field_view_t *v)
{
    json_t *arr = json_array();
    for (size_t k = 0; arr != NULL && k < v->nvalues; k++)
        json_array_append_new(arr, live_json(w, v, k));
    return arr;
}

/* {"type": ..., "id": ... (sets only)} for an entity; NULL if out of memory. */
static json_t *entity_head_json(uint16_t etype, const uint8_t *eid)
{
    json_t *o = json_pack("{s:s}", "type", cairn_etype_name(etype));
    if (o != NULL && cairn_etype_is_set(etype)) {
        char hex[CLI_HEX(CAIRN_ENTITY_ID_BYTES)];
        cli_hex(hex, eid, CAIRN_ENTITY_ID_BYTES);
        json_object_set_new(o, "id", json_string(hex));
    }
    return o;
}

/* ---- plan show ------------------------------------------------------------ */

static void show_field(const cairn_field_view_t *v)
{
    printf("  %-14s ", cairn_field_name(v->etype, v->field));
    if (v->conflict) {
        printf("CONFLICT:");
        for (size_t k = 0; k < v->nvalues; k++) {
            printf(k ? " | " : " ");
            print_value(&v->values[k], 1);
        }
    } else {
        print_value(&v->values[0], 0);
        if (v->nvalues > 1)
            printf("   (won over %zu concurrent value%s by last-writer-wins; kept in history)",
                   v->nvalues - 1, v->nvalues == 2 ? "" : "s");
    }
    printf("\n");
}

static json_t *field_json(const walk_t *w, const cairn_field_view_t *v)
{
    json_t *o = json_pack("{s:o}", "value", value_json(&v->values[0]));
    if (o == NULL || v->nvalues == 1)
        return o;
    json_object_set_new(o, "conflict", json_boolean(v->conflict));
    if (!v->conflict)
        json_object_set_new(o, "superseded_concurrent", json_integer((json_int_t)v->nvalues - 1));
    json_object_set_new(o, "values", lives_json(w, v));
    return o;
}

static void entity_json(walk_t *w, uint16_t etype, const uint8_t *eid)
{
    json_t *e = entity_head_json(etype, eid);
    json_t *fields = json_object();
    w->fields = NULL;
    if (e == NULL || fields == NULL) {
        json_decref(e);
        json_decref(fields);
        return;
    }
    if (json_object_set_new(e, "fields", fields) != 0) {
        json_decref(e);
        return;
    }
    if (json_array_append_new(w->entities, e) == 0)
        w->fields = fields; /* borrowed: e owns it, the array owns e */
}

/*
 * Call fn with every written field of present entity (etype, eid), in field
 * order; returns how many there were. fn may be NULL (only counting).
 */
static size_t each_field(walk_t *w, uint16_t etype, const uint8_t *eid,
                         void (*fn)(walk_t *, const cairn_field_view_t *))
{
    cairn_field_view_t v;
    size_t n = 0;
    for (uint16_t f = 1; cairn_field_name(etype, f) != NULL; f++) {
        if (cairn_entity_values(w->st, etype, eid, f, &v) != CAIRN_OK || v.nvalues == 0)
            continue;
        n++;
        if (fn != NULL)
            fn(w, &v);
    }
    return n;
}

/* One field of plan show; a field cleared by its only live write is left out. */
static void show_one(walk_t *w, const cairn_field_view_t *v)
{
    if (cleared(v))
        return;
    if (!w->json)
        show_field(v);
    else if (w->fields != NULL)
        json_object_set_new(w->fields, cairn_field_name(v->etype, v->field), field_json(w, v));
}

/*
 * One present entity of plan show: its header, then its fields. A set
 * entity is always shown; a singleton (always present) only once one of
 * its fields was written.
 */
static void show_entity(walk_t *w, uint16_t etype, const uint8_t *eid)
{
    if (!cairn_etype_is_set(etype) && each_field(w, etype, eid, NULL) == 0)
        return;
    if (w->json) {
        entity_json(w, etype, eid);
    } else {
        print_entity(etype, eid);
        printf("\n");
    }
    each_field(w, etype, eid, show_one);
}

/* Read plan's state and the roster; ENOTFOUND if the store holds no change of plan. */
static int read_plan(cli_args_t *a, const char *what, uint8_t *plan, cairn_plan_state_t **st,
                     cairn_plan_state_t **roster)
{
    if (cli_parse_hex(a->pos[1], plan, CAIRN_PLAN_ID_BYTES, "PLAN") != 0)
        return EXIT_USAGE;
    cairn_store_t *store;
    int rc = cli_open_store(a, &store);
    if (rc != 0)
        return rc;
    *st = NULL;
    cairn_err_t err = cairn_plan_read(store, plan, st);
    if (err == CAIRN_OK)
        err = cli_roster_read(store, roster);
    cairn_store_close(store);
    if (err == CAIRN_OK && cairn_plan_state_changes(*st) == 0)
        err = CAIRN_ENOTFOUND;
    if (err == CAIRN_OK)
        return 0;
    cairn_plan_state_free(*st);
    cairn_plan_state_free(*roster);
    if (err == CAIRN_ENOTFOUND)
        return cli_fail_msg(a->pos[0], "no such plan here", err);
    return cli_fail(what, err);
}

/*
 * The plan's id, change count, digest and conflict count: a JSON object, or
 * printed (for plan show, with a line counting conflicts and a blank line).
 */
static json_t *summary(const cairn_plan_state_t *st, const uint8_t *plan, int json, int show)
{
    char id[CLI_HEX(CAIRN_PLAN_ID_BYTES)], dg[CLI_HEX(32)];
    uint8_t digest[32];
    cli_hex(id, plan, CAIRN_PLAN_ID_BYTES);
    cairn_plan_state_digest(st, digest);
    cli_hex(dg, digest, 32);
    uint64_t n = cairn_plan_state_changes(st);
    size_t c = cairn_plan_state_conflicts(st);
    if (json)
        return json_pack("{s:s, s:I, s:s, s:I}", "plan", id, "changes", (json_int_t)n, "digest", dg,
                         "conflicts", (json_int_t)c);
    printf("plan %s: %llu change%s, digest %s\n", id, (unsigned long long)n, n == 1 ? "" : "s", dg);
    if (c > 0 && show)
        printf("%zu field%s in conflict: cairn conflicts lists every value\n", c,
               c == 1 ? "" : "s");
    if (show)
        printf("\n");
    return NULL;
}

/* ---- conflicts ------------------------------------------------------------ */

static void conflict_one(walk_t *w, const cairn_field_view_t *v)
{
    if (!v->conflict)
        return;
    w->shown++;
    if (w->json) {
        json_t *o = entity_head_json(v->etype, v->eid);
        if (o != NULL) {
            json_object_set_new(o, "field", json_string(cairn_field_name(v->etype, v->field)));
            json_object_set_new(o, "values", lives_json(w, v));
        }
        json_array_append_new(w->entities, o);
        return;
    }
    print_entity(v->etype, v->eid);
    printf(" %s: %zu values\n", cairn_field_name(v->etype, v->field), v->nvalues);
    size_t width = 0;
    for (size_t k = 0; k < v->nvalues; k++)
        if (value_width(&v->values[k]) > width && value_width(&v->values[k]) <= 40)
            width = value_width(&v->values[k]);
    for (size_t k = 0; k < v->nvalues; k++)
        print_live(w, v, k, width);
}

/* The fields in conflict of one present entity. */
static void conflict_entity(walk_t *w, uint16_t etype, const uint8_t *eid)
{
    each_field(w, etype, eid, conflict_one);
}

/* ---- the commands --------------------------------------------------------- */

/*
 * plan show (show != 0) and conflicts: read the plan, print its summary,
 * then every present entity, by type and id, through show_entity or
 * conflict_entity. With --json the summary is an object and the entities
 * fill its "entities" or "fields".
 */
static int walk_cmd(cli_args_t *a, int show)
{
    const char *what = show ? "plan show" : "conflicts";
    uint8_t plan[CAIRN_PLAN_ID_BYTES];
    cairn_plan_state_t *st, *roster = NULL;
    int rc = read_plan(a, what, plan, &st, &roster);
    if (rc != 0)
        return rc;
    walk_t w = {.st = st, .roster = roster, .json = a->json};
    json_t *o = summary(st, plan, a->json, show);
    if (a->json && o != NULL && (w.entities = json_array()) != NULL)
        json_object_set_new(o, show ? "entities" : "fields", w.entities);
    void (*visit)(walk_t *, uint16_t, const uint8_t *) = show ? show_entity : conflict_entity;
    cairn_err_t err = CAIRN_OK;
    for (size_t t = 0; t < sizeof etypes / sizeof etypes[0] && err == CAIRN_OK; t++) {
        cairn_entity_iter_t it;
        const uint8_t *eid;
        err = cairn_entity_iter_init(&it, st, etypes[t]);
        while (err == CAIRN_OK && cairn_entity_next(&it, &eid))
            visit(&w, etypes[t], eid);
    }
    if (err != CAIRN_OK) {
        json_decref(o);
        rc = cli_fail(what, err);
    } else if (a->json)
        rc = cli_print_json(o, what);
    else if (!show && w.shown == 0)
        printf("no conflicts\n");
    cairn_plan_state_free(st);
    cairn_plan_state_free(roster);
    return rc;
}

int cmd_plan_show(cli_args_t *a)
{
    if (cli_need_args(a, 2, "plan show DIR PLAN [--json]"))
        return EXIT_USAGE;
    return walk_cmd(a, 1);
}

int cmd_conflicts(cli_args_t *a)
{
    if (cli_need_args(a, 2, "conflicts DIR PLAN [--json]"))
        return EXIT_USAGE;
    return walk_cmd(a, 0);
}

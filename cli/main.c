/*
 * main.c - the cairn command line: options, dispatch, and the node commands.
 *
 * Parses arguments, calls libcairn, prints. No storage or merge logic lives
 * here or in the command groups (org.c, plan.c, show.c, bundle.c). Each
 * cairn_err_t maps to its own exit status (10 + the negated code) so
 * scripts can tell a wrong passphrase from a locked store; 2 is a usage
 * error. Messages name ids and counts, never secrets or patient content.
 */
#include <cairn/cairn.h>
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: cairn <command> [options]\n"
            "\n"
            "a node:\n"
            "  init DIR              create a node: identity, data key, encrypted store\n"
            "  status DIR            node id, organisation, counts (--json)\n"
            "  id DIR                print this node's public key (to enrol it)\n"
            "  keygen FILE           write a new random key file (mode 0600)\n"
            "  put DIR KEY           store standard input (or --file F) sealed under KEY\n"
            "  get DIR KEY           write the value under KEY to standard output\n"
            "\n"
            "the organisation:\n"
            "  org create DIR [--name NAME]      new organisation; prints its key\n"
            "  org join DIR ORGKEY               make this node a node of ORGKEY\n"
            "  org show DIR [--json]             the organisation key and its roster\n"
            "  roster add DIR KEY --name NAME --roles R[,R...] [--from MS] [--until MS]\n"
            "  roster revoke DIR KEY [--at MS]   (default: now)\n"
            "    roles: care-manager prescriber bh-specialist outreach patient family admin\n"
            "\n"
            "care plans:\n"
            "  plan new DIR [--title T]                     prints the new plan id\n"
            "  plan list DIR [--json]                       plans and their change counts\n"
            "  plan add DIR PLAN ENTITY [FIELD=VALUE...]    prints the new entity id\n"
            "  plan set DIR PLAN ENTITY[:EID] FIELD=VALUE...  (FIELD= clears)\n"
            "  plan remove DIR PLAN ENTITY:EID\n"
            "  plan show DIR PLAN [--json]                  the merged plan\n"
            "  conflicts DIR PLAN [--json]                  fields in conflict, every value\n"
            "\n"
            "bundles (changes carried by hand, sealed to one node):\n"
            "  bundle export DIR --to NODEKEY FILE [PLAN...]   (all plans by default)\n"
            "  bundle import DIR FILE [--json]\n"
            "\n"
            "sync over the network (docs/service.md):\n"
            "  serve DIR [--listen HOST:PORT] [--interval S] [--log-format text|json]\n"
            "            [--log-level error|warn|info|debug]   the sync service (default\n"
            "            127.0.0.1:7433, every 30 s); runs until SIGINT or SIGTERM\n"
            "  peer add DIR NODEKEY HOST:PORT [--name NAME]     a node the service dials\n"
            "  peer list DIR [--json]\n"
            "  peer remove DIR NODEKEY\n"
            "  sync DIR HOST:PORT [--json]   one session with a running service\n"
            "  sync DIR PEERDIR [--json]     one session with a replica on this machine\n"
            "\n"
            "secrets (init and every command that opens a store):\n"
            "  --key-file F         unlock with a key file (or CAIRN_KEY_FILE)\n"
            "  --passphrase-file F  read the passphrase from F (or CAIRN_PASSPHRASE)\n"
            "  otherwise the passphrase is asked for on the terminal, without echo\n"
            "\n"
            "init options:\n"
            "  --kdf interactive|moderate|sensitive   Argon2id cost (default moderate)\n"
            "  --max-size-mib N                       maximum store size (default 32768)\n"
            "\n"
            "exit status: 0 ok, 2 usage, 3 sync did not complete (run again), 4 unreachable,\n"
            "5 refused, 10+N for error code -N\n"
            "(see docs/cli.md)\n");
}

enum {
    OPT_KEY_FILE = 256,
    OPT_PASS_FILE,
    OPT_KDF,
    OPT_MAX_SIZE,
    OPT_JSON,
    OPT_FILE,
    OPT_NAME,
    OPT_ROLES,
    OPT_FROM,
    OPT_UNTIL,
    OPT_AT,
    OPT_TITLE,
    OPT_TO,
    OPT_LISTEN,
    OPT_INTERVAL,
    OPT_LOG_FORMAT,
    OPT_LOG_LEVEL,
};

static const struct option long_opts[] = {
    {"key-file", required_argument, NULL, OPT_KEY_FILE},
    {"passphrase-file", required_argument, NULL, OPT_PASS_FILE},
    {"kdf", required_argument, NULL, OPT_KDF},
    {"max-size-mib", required_argument, NULL, OPT_MAX_SIZE},
    {"json", no_argument, NULL, OPT_JSON},
    {"file", required_argument, NULL, OPT_FILE},
    {"name", required_argument, NULL, OPT_NAME},
    {"roles", required_argument, NULL, OPT_ROLES},
    {"from", required_argument, NULL, OPT_FROM},
    {"until", required_argument, NULL, OPT_UNTIL},
    {"at", required_argument, NULL, OPT_AT},
    {"title", required_argument, NULL, OPT_TITLE},
    {"to", required_argument, NULL, OPT_TO},
    {"listen", required_argument, NULL, OPT_LISTEN},
    {"interval", required_argument, NULL, OPT_INTERVAL},
    {"log-format", required_argument, NULL, OPT_LOG_FORMAT},
    {"log-level", required_argument, NULL, OPT_LOG_LEVEL},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

static int parse_kdf(const char *s, cli_args_t *a)
{
    if (strcmp(s, "interactive") == 0)
        a->init.kdf_cost = CAIRN_KDF_INTERACTIVE;
    else if (strcmp(s, "moderate") == 0)
        a->init.kdf_cost = CAIRN_KDF_MODERATE;
    else if (strcmp(s, "sensitive") == 0)
        a->init.kdf_cost = CAIRN_KDF_SENSITIVE;
    else
        return cli_usage_error("--kdf takes interactive, moderate or sensitive");
    return 0;
}

/* A decimal number in [0, max], digits only (no sign, no spaces); 0 or -1. */
static int parse_u64(const char *s, uint64_t max, uint64_t *out)
{
    char *end;
    if (*s < '0' || *s > '9')
        return -1;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || *end || v > max)
        return -1;
    *out = v;
    return 0;
}

static int parse_max_size(const char *s, cli_args_t *a)
{
    uint64_t mib;
    if (parse_u64(s, 1ull << 24, &mib) != 0 || mib < 1)
        return cli_usage_error("--max-size-mib takes a number from 1 to 16777216");
    a->init.map_size = (size_t)mib << 20;
    return 0;
}

static int parse_time(const char *s, const char *opt, uint64_t *out)
{
    if (parse_u64(s, 1ull << 47, out) != 0)
        return cli_usage_error("%s takes a time in Unix milliseconds, 0 to 2^47", opt);
    return 0;
}

static int parse_log_level(const char *s, cli_args_t *a)
{
    static const char *const names[] = {"error", "warn", "info", "debug"};
    for (int i = 0; i < 4; i++)
        if (strcmp(s, names[i]) == 0) {
            a->log_level = i;
            return 0;
        }
    return cli_usage_error("--log-level takes error, warn, info or debug");
}

/* The service's options; 0, or EXIT_USAGE after a message. */
static int parse_service_opt(int c, const char *arg, cli_args_t *a)
{
    switch (c) {
    case OPT_LISTEN:
        a->listen = arg;
        return 0;
    case OPT_INTERVAL:
        if (parse_u64(arg, 86400, &a->interval_s) != 0 || a->interval_s < 1)
            return cli_usage_error("--interval takes a number of seconds from 1 to 86400");
        return 0;
    case OPT_LOG_FORMAT:
        if (strcmp(arg, "text") != 0 && strcmp(arg, "json") != 0)
            return cli_usage_error("--log-format takes text or json");
        a->log_json = strcmp(arg, "json") == 0;
        return 0;
    case OPT_LOG_LEVEL:
        return parse_log_level(arg, a);
    default:
        return EXIT_USAGE;
    }
}

/* Options that take an argument; 0, or EXIT_USAGE after a message. */
static int parse_opt(int c, const char *arg, cli_args_t *a)
{
    switch (c) {
    case OPT_KEY_FILE:
        a->secret.key_file = arg;
        return 0;
    case OPT_PASS_FILE:
        a->secret.passphrase_file = arg;
        return 0;
    case OPT_KDF:
        return parse_kdf(arg, a);
    case OPT_MAX_SIZE:
        return parse_max_size(arg, a);
    case OPT_FILE:
        a->file = arg;
        return 0;
    case OPT_NAME:
        a->name = arg;
        return 0;
    case OPT_TITLE:
        a->title = arg;
        return 0;
    case OPT_TO:
        a->to = arg;
        return 0;
    case OPT_ROLES:
        if (cli_parse_roles(arg, &a->roles) != 0)
            return cli_usage_error("--roles takes a comma-separated list of: care-manager, "
                                   "prescriber, bh-specialist, outreach, patient, family, admin");
        return 0;
    case OPT_FROM:
        return parse_time(arg, "--from", &a->from);
    case OPT_UNTIL:
        return parse_time(arg, "--until", &a->until);
    case OPT_AT:
        return parse_time(arg, "--at", &a->at);
    case OPT_LISTEN:
    case OPT_INTERVAL:
    case OPT_LOG_FORMAT:
    case OPT_LOG_LEVEL:
        return parse_service_opt(c, arg, a);
    default:
        return EXIT_USAGE;
    }
}

/* Parse options; what remains, in order, are the positional arguments. */
static int parse(int argc, char **argv, cli_args_t *a)
{
    int c;
    while ((c = getopt_long(argc, argv, "h", long_opts, NULL)) != -1) {
        if (c == 'h') {
            usage(stdout);
            exit(0);
        }
        if (c == OPT_JSON)
            a->json = 1;
        else if (parse_opt(c, optarg, a) != 0)
            return -1;
    }
    a->pos = argv + optind;
    a->npos = argc - optind;
    return 0;
}

static int cmd_init(cli_args_t *a)
{
    if (cli_need_args(a, 1, "init DIR [--key-file F | --passphrase-file F] [--kdf COST]"))
        return EXIT_USAGE;
    cairn_err_t err = cli_secret_for_init(&a->secret);
    if (err != CAIRN_OK) {
        cli_secret_free(&a->secret);
        return cli_exit_code(err);
    }
    int key_file = a->secret.unlock.kind == CAIRN_UNLOCK_KEY_FILE;
    err = cairn_store_init(a->pos[0], &a->secret.unlock, &a->init);
    cli_secret_free(&a->secret);
    if (err != CAIRN_OK)
        return cli_fail(a->pos[0], err);

    printf("initialised node in %s (%s)\n", a->pos[0],
           key_file ? "key file" : "passphrase");
    return 0;
}

static void human_size(char *out, size_t n, uint64_t bytes)
{
    const char *units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    int u = 0;
    double v = (double)bytes;
    while (v >= 1024 && u < 4) {
        v /= 1024;
        u++;
    }
    snprintf(out, n, u ? "%.1f %s" : "%.0f %s", v, units[u]);
}

/* What status shows beyond cairn_store_info(): the organisation and plans. */
typedef struct status_extra {
    cli_org_t org;
    uint64_t plans, pending;
} status_extra_t;

static int count_plan(void *ctx, const uint8_t plan[CAIRN_PLAN_ID_BYTES], uint64_t nchanges)
{
    (void)nchanges;
    status_extra_t *x = ctx;
    if (!cli_is_roster(&x->org, plan))
        x->plans++;
    return 0;
}

static cairn_err_t status_extra(cairn_store_t *store, status_extra_t *x)
{
    memset(x, 0, sizeof *x);
    cairn_err_t err = cli_org_read(store, &x->org);
    if (err == CAIRN_OK)
        err = cairn_plan_list(store, count_plan, x);
    return err == CAIRN_OK ? cairn_pending_count(store, &x->pending) : err;
}

static int print_status_json(const cairn_store_info_t *info, const status_extra_t *x,
                             const char *node, const char *pk, json_t *peers)
{
    char org[CLI_HEX(32)];
    cli_hex(org, x->org.key, 32);
    json_t *o = json_pack(
        "{s:s, s:s, s:o, s:I, s:s, s:I, s:I, s:I, s:I, s:I}", "node_id", node, "public_key", pk,
        "organisation", x->org.has ? json_string(org) : json_null(), "format_version",
        (json_int_t)info->format_version, "unlock",
        info->unlock_kind == CAIRN_UNLOCK_KEY_FILE ? "key-file" : "passphrase", "records",
        (json_int_t)info->records, "plans", (json_int_t)x->plans, "pending", (json_int_t)x->pending,
        "used_bytes", (json_int_t)info->used_bytes, "map_size", (json_int_t)info->map_size);
    if (o != NULL)
        json_object_set_new(o, "peers", peers != NULL ? peers : json_array());
    else
        json_decref(peers);
    return cli_print_json(o, "status");
}

static void print_status(const cairn_store_info_t *info, const status_extra_t *x, const char *node,
                         const char *pk)
{
    char used[32], max[32], org[CLI_HEX(32)];
    human_size(used, sizeof used, info->used_bytes);
    human_size(max, sizeof max, info->map_size);
    cli_hex(org, x->org.key, 32);
    printf("node        %s\n", node);
    printf("public key  %s\n", pk);
    printf("org         %s\n", x->org.has ? org : "none");
    printf("format      %u\n", (unsigned)info->format_version);
    printf("unlock      %s\n",
           info->unlock_kind == CAIRN_UNLOCK_KEY_FILE ? "key file" : "passphrase (Argon2id)");
    printf("records     %llu\n", (unsigned long long)info->records);
    printf("plans       %llu%s\n", (unsigned long long)x->plans,
           x->org.has ? " (and the roster)" : "");
    printf("pending     %llu\n", (unsigned long long)x->pending);
    printf("size        %s used of %s\n", used, max);
}

static int cmd_status(cli_args_t *a)
{
    if (cli_need_args(a, 1, "status DIR [--json]"))
        return EXIT_USAGE;
    cairn_store_t *store;
    int rc = cli_open_store(a, &store);
    if (rc != 0)
        return rc;
    cairn_store_info_t info;
    status_extra_t x;
    void *peers = NULL;
    cairn_err_t err = cairn_store_info(store, &info);
    if (err == CAIRN_OK)
        err = status_extra(store, &x);
    if (err == CAIRN_OK)
        err = cli_peer_status_read(store, &peers);
    cairn_store_close(store);
    if (err != CAIRN_OK)
        return cli_fail(a->pos[0], err);

    char node[CLI_HEX(CAIRN_NODE_ID_BYTES)], pk[CLI_HEX(CAIRN_PUBLIC_KEY_BYTES)];
    cli_hex(node, info.node_id, sizeof info.node_id);
    cli_hex(pk, info.public_key, sizeof info.public_key);
    if (a->json) {
        rc = print_status_json(&info, &x, node, pk, cli_peer_status_json(peers));
    } else {
        print_status(&info, &x, node, pk);
        cli_peer_status_print(peers);
    }
    cli_peer_status_free(peers);
    return rc;
}

/* Read all of f into buf, refusing more than CAIRN_RECORD_VALUE_MAX bytes. */
static cairn_err_t slurp(FILE *f, cairn_buf_t *buf)
{
    buf->len = 0;
    for (;;) {
        cairn_err_t err = cairn_buf_reserve(buf, buf->len + 65536);
        if (err != CAIRN_OK)
            return err;
        size_t n = fread(buf->data + buf->len, 1, 65536, f);
        buf->len += n;
        if (buf->len > CAIRN_RECORD_VALUE_MAX)
            return CAIRN_ETOOBIG;
        if (n < 65536)
            return ferror(f) ? CAIRN_EIO : CAIRN_OK;
    }
}

static int cmd_put(cli_args_t *a)
{
    if (cli_need_args(a, 2, "put DIR KEY [--file F]"))
        return EXIT_USAGE;
    FILE *in = stdin;
    if (a->file != NULL && (in = fopen(a->file, "rb")) == NULL) {
        fprintf(stderr, "cairn: cannot open %s: %s\n", a->file, strerror(errno));
        return EXIT_USAGE;
    }
    cairn_buf_t val = CAIRN_BUF_INIT;
    cairn_err_t err = slurp(in, &val);
    if (in != stdin)
        fclose(in);
    if (err != CAIRN_OK) {
        cairn_buf_free(&val);
        return cli_fail("reading the value", err);
    }
    cairn_store_t *store;
    int rc = cli_open_store(a, &store);
    if (rc != 0) {
        cairn_buf_free(&val);
        return rc;
    }
    cairn_txn_t *txn;
    err = cairn_txn_begin(store, 1, &txn);
    if (err == CAIRN_OK) {
        err = cairn_record_put(txn, a->pos[1], strlen(a->pos[1]), val.data, val.len);
        if (err == CAIRN_OK)
            err = cairn_txn_commit(txn);
        else
            cairn_txn_abort(txn);
    }
    cairn_store_close(store);
    if (err != CAIRN_OK) {
        cairn_buf_free(&val);
        return cli_fail("put", err);
    }
    printf("stored %zu bytes\n", val.len);
    cairn_buf_free(&val);
    return 0;
}

static int cmd_get(cli_args_t *a)
{
    if (cli_need_args(a, 2, "get DIR KEY"))
        return EXIT_USAGE;
    cairn_store_t *store;
    int rc = cli_open_store(a, &store);
    if (rc != 0)
        return rc;
    cairn_buf_t val = CAIRN_BUF_INIT;
    cairn_txn_t *txn;
    cairn_err_t err = cairn_txn_begin(store, 0, &txn);
    if (err == CAIRN_OK) {
        err = cairn_record_get(txn, a->pos[1], strlen(a->pos[1]), &val);
        cairn_txn_abort(txn);
    }
    cairn_store_close(store);
    if (err == CAIRN_OK && fwrite(val.data, 1, val.len, stdout) != val.len)
        err = CAIRN_EIO;
    cairn_buf_free(&val);
    return err == CAIRN_OK ? 0 : cli_fail("get", err);
}

static int cmd_keygen(cli_args_t *a)
{
    if (cli_need_args(a, 1, "keygen FILE"))
        return EXIT_USAGE;
    cairn_err_t err = cairn_key_file_create(a->pos[0]);
    if (err != CAIRN_OK)
        return cli_fail(a->pos[0], err);
    printf("wrote a new key file to %s; keep a copy somewhere safe\n", a->pos[0]);
    return 0;
}

/* Commands: a group ("org") with a subcommand ("create"), or a single word. */
typedef struct command {
    const char *group, *sub;
    int (*run)(cli_args_t *);
} command_t;

static const command_t commands[] = {
    {"init", NULL, cmd_init},
    {"status", NULL, cmd_status},
    {"id", NULL, cmd_id},
    {"keygen", NULL, cmd_keygen},
    {"put", NULL, cmd_put},
    {"get", NULL, cmd_get},
    {"org", "create", cmd_org_create},
    {"org", "join", cmd_org_join},
    {"org", "show", cmd_org_show},
    {"roster", "add", cmd_roster_add},
    {"roster", "revoke", cmd_roster_revoke},
    {"plan", "new", cmd_plan_new},
    {"plan", "list", cmd_plan_list},
    {"plan", "add", cmd_plan_add},
    {"plan", "set", cmd_plan_set},
    {"plan", "remove", cmd_plan_remove},
    {"plan", "show", cmd_plan_show},
    {"conflicts", NULL, cmd_conflicts},
    {"bundle", "export", cmd_bundle_export},
    {"bundle", "import", cmd_bundle_import},
    {"sync", NULL, cmd_sync},
    {"serve", NULL, cmd_serve},
    {"peer", "add", cmd_peer_add},
    {"peer", "list", cmd_peer_list},
    {"peer", "remove", cmd_peer_remove},
};

#define NCOMMANDS (sizeof commands / sizeof commands[0])

/* The command argv names, or NULL after explaining why there is none. */
static const command_t *find_command(int argc, char **argv)
{
    int group_known = 0;
    for (size_t i = 0; i < NCOMMANDS; i++) {
        if (strcmp(argv[1], commands[i].group) != 0)
            continue;
        group_known = 1;
        if (commands[i].sub == NULL || (argc > 2 && strcmp(argv[2], commands[i].sub) == 0))
            return &commands[i];
    }
    if (!group_known) {
        fprintf(stderr, "cairn: unknown command '%s' (try cairn help)\n", argv[1]);
        return NULL;
    }
    fprintf(stderr, "cairn: %s takes one of:", argv[1]);
    for (size_t i = 0; i < NCOMMANDS; i++)
        if (strcmp(argv[1], commands[i].group) == 0)
            fprintf(stderr, " %s", commands[i].sub);
    fprintf(stderr, " (try cairn help)\n");
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "help") == 0 || strcmp(argv[1], "--help") == 0 ||
        strcmp(argv[1], "-h") == 0) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? EXIT_USAGE : 0;
    }
    if (strcmp(argv[1], "--version") == 0) {
        printf("cairn %s (store format %u)\n", CAIRN_VERSION_STRING, CAIRN_FORMAT_VERSION);
        return 0;
    }
    if (argc > 2 && (strcmp(argv[2], "-h") == 0 || strcmp(argv[2], "--help") == 0)) {
        usage(stdout); /* "cairn plan --help" */
        return 0;
    }
    const command_t *cmd = find_command(argc, argv);
    if (cmd == NULL)
        return EXIT_USAGE;
    if (sodium_init() < 0) /* for guarded passphrase memory */
        return cli_fail("starting", CAIRN_ECRYPTO);
    int skip = cmd->sub != NULL ? 2 : 1; /* getopt skips its argv[0]: the (sub)command */
    static char prog[] = "cairn";
    argv[skip] = prog; /* getopt's own messages start with its argv[0] */
    cli_args_t a;
    memset(&a, 0, sizeof a);
    a.init.kdf_cost = CAIRN_KDF_MODERATE;
    a.until = a.at = CLI_NO_TIME;
    a.log_level = 2; /* info */
    if (parse(argc - skip, argv + skip, &a) != 0)
        return EXIT_USAGE;
    int rc = cmd->run(&a);
    /* Output that could not be written (a full disk, a closed pipe) is an error too. */
    if (fflush(stdout) != 0 || ferror(stdout)) {
        int failed = cli_fail("standard output", CAIRN_EIO);
        return rc != 0 ? rc : failed;
    }
    return rc;
}

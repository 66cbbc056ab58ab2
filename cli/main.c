/*
 * main.c - the cairn command line.
 *
 * Parses arguments, calls libcairn, prints. No storage or merge logic lives
 * here. Each cairn_err_t maps to its own exit status (10 + the negated code)
 * so scripts can tell a wrong passphrase from a locked store; 2 is a usage
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

#include "unlock.h"

#define EXIT_USAGE 2

static int exit_code(cairn_err_t err)
{
    return err == CAIRN_OK ? 0 : 10 - (int)err;
}

static int fail(const char *what, cairn_err_t err)
{
    fprintf(stderr, "cairn: %s: %s (%s)\n", what, cairn_strerror(err), cairn_err_name(err));
    return exit_code(err);
}

static void usage(FILE *f)
{
    fprintf(f,
            "usage: cairn <command> [options]\n"
            "\n"
            "commands:\n"
            "  init DIR          create a node: identity, data key, encrypted store\n"
            "  status DIR        show node id, format version and counts (--json)\n"
            "  put DIR KEY       store standard input (or --file F) sealed under KEY\n"
            "  get DIR KEY       write the value under KEY to standard output\n"
            "  keygen FILE       write a new random key file (mode 0600)\n"
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
            "exit status: 0 ok, 2 usage, 10+N for error code -N (see docs/cli.md)\n");
}

enum { OPT_KEY_FILE = 256, OPT_PASS_FILE, OPT_KDF, OPT_MAX_SIZE, OPT_JSON, OPT_FILE };

static const struct option long_opts[] = {
    {"key-file", required_argument, NULL, OPT_KEY_FILE},
    {"passphrase-file", required_argument, NULL, OPT_PASS_FILE},
    {"kdf", required_argument, NULL, OPT_KDF},
    {"max-size-mib", required_argument, NULL, OPT_MAX_SIZE},
    {"json", no_argument, NULL, OPT_JSON},
    {"file", required_argument, NULL, OPT_FILE},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

typedef struct cli_args {
    cli_secret_t secret;
    cairn_init_opts_t init;
    int json;
    const char *file;
    int npos;
    char *pos[4];
} cli_args_t;

/* Parse options and up to four positional arguments after the command. */
static int parse(int argc, char **argv, cli_args_t *a)
{
    int c;
    while ((c = getopt_long(argc, argv, "h", long_opts, NULL)) != -1) {
        switch (c) {
        case OPT_KEY_FILE:
            a->secret.key_file = optarg;
            break;
        case OPT_PASS_FILE:
            a->secret.passphrase_file = optarg;
            break;
        case OPT_KDF:
            if (strcmp(optarg, "interactive") == 0)
                a->init.kdf_cost = CAIRN_KDF_INTERACTIVE;
            else if (strcmp(optarg, "moderate") == 0)
                a->init.kdf_cost = CAIRN_KDF_MODERATE;
            else if (strcmp(optarg, "sensitive") == 0)
                a->init.kdf_cost = CAIRN_KDF_SENSITIVE;
            else {
                fprintf(stderr, "cairn: --kdf takes interactive, moderate or sensitive\n");
                return -1;
            }
            break;
        case OPT_MAX_SIZE: {
            char *end;
            errno = 0;
            unsigned long long mib = strtoull(optarg, &end, 10);
            if (errno || *end || mib < 1 || mib > (1ull << 24)) {
                fprintf(stderr, "cairn: --max-size-mib takes a number from 1 to 16777216\n");
                return -1;
            }
            a->init.map_size = (size_t)mib << 20;
            break;
        }
        case OPT_JSON:
            a->json = 1;
            break;
        case OPT_FILE:
            a->file = optarg;
            break;
        case 'h':
            usage(stdout);
            exit(0);
        default:
            return -1;
        }
    }
    for (; optind < argc; optind++) {
        if (a->npos == 4) {
            fprintf(stderr, "cairn: too many arguments\n");
            return -1;
        }
        a->pos[a->npos++] = argv[optind];
    }
    return 0;
}

static int need_args(const cli_args_t *a, int n, const char *synopsis)
{
    if (a->npos == n)
        return 0;
    fprintf(stderr, "usage: cairn %s\n", synopsis);
    return -1;
}

static void hex(char *out, const uint8_t *b, size_t n)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[b[i] >> 4];
        out[2 * i + 1] = digits[b[i] & 15];
    }
    out[2 * n] = '\0';
}

/* Open the store named by the first positional argument. */
static int open_store(cli_args_t *a, cairn_store_t **store)
{
    const char *dir = a->pos[0];
    cairn_err_t err = cli_secret_for_open(&a->secret, dir);
    if (err == CAIRN_OK)
        err = cairn_store_open(dir, &a->secret.unlock, store);
    cli_secret_free(&a->secret);
    if (err == CAIRN_ENOPASS)
        return exit_code(err); /* already explained */
    return err == CAIRN_OK ? 0 : fail(dir, err);
}

static int cmd_init(cli_args_t *a)
{
    if (need_args(a, 1, "init DIR [--key-file F | --passphrase-file F] [--kdf COST]"))
        return EXIT_USAGE;
    cairn_err_t err = cli_secret_for_init(&a->secret);
    if (err != CAIRN_OK) {
        cli_secret_free(&a->secret);
        return exit_code(err);
    }
    int key_file = a->secret.unlock.kind == CAIRN_UNLOCK_KEY_FILE;
    err = cairn_store_init(a->pos[0], &a->secret.unlock, &a->init);
    cli_secret_free(&a->secret);
    if (err != CAIRN_OK)
        return fail(a->pos[0], err);

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

static int print_status_json(const cairn_store_info_t *info, const char *node, const char *pk)
{
    json_t *o = json_pack("{s:s, s:s, s:I, s:s, s:I, s:I, s:I}", "node_id", node, "public_key",
                          pk, "format_version", (json_int_t)info->format_version, "unlock",
                          info->unlock_kind == CAIRN_UNLOCK_KEY_FILE ? "key-file" : "passphrase",
                          "records", (json_int_t)info->records, "used_bytes",
                          (json_int_t)info->used_bytes, "map_size", (json_int_t)info->map_size);
    if (o == NULL)
        return fail("status", CAIRN_ENOMEM);
    int rc = json_dumpf(o, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    json_decref(o);
    putchar('\n');
    return rc == 0 ? 0 : fail("status", CAIRN_EIO);
}

static int cmd_status(cli_args_t *a)
{
    if (need_args(a, 1, "status DIR [--json]"))
        return EXIT_USAGE;
    cairn_store_t *store;
    int rc = open_store(a, &store);
    if (rc != 0)
        return rc;
    cairn_store_info_t info;
    cairn_err_t err = cairn_store_info(store, &info);
    cairn_store_close(store);
    if (err != CAIRN_OK)
        return fail(a->pos[0], err);

    char node[2 * CAIRN_NODE_ID_BYTES + 1], pk[2 * CAIRN_PUBLIC_KEY_BYTES + 1];
    hex(node, info.node_id, sizeof info.node_id);
    hex(pk, info.public_key, sizeof info.public_key);
    if (a->json)
        return print_status_json(&info, node, pk);
    char used[32], max[32];
    human_size(used, sizeof used, info.used_bytes);
    human_size(max, sizeof max, info.map_size);
    printf("node        %s\n", node);
    printf("public key  %s\n", pk);
    printf("format      %u\n", (unsigned)info.format_version);
    printf("unlock      %s\n", info.unlock_kind == CAIRN_UNLOCK_KEY_FILE
                                   ? "key file"
                                   : "passphrase (Argon2id)");
    printf("records     %llu\n", (unsigned long long)info.records);
    printf("size        %s used of %s\n", used, max);
    return 0;
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
    if (need_args(a, 2, "put DIR KEY [--file F]"))
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
        return fail("reading the value", err);
    }
    cairn_store_t *store;
    int rc = open_store(a, &store);
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
        return fail("put", err);
    }
    printf("stored %zu bytes\n", val.len);
    cairn_buf_free(&val);
    return 0;
}

static int cmd_get(cli_args_t *a)
{
    if (need_args(a, 2, "get DIR KEY"))
        return EXIT_USAGE;
    cairn_store_t *store;
    int rc = open_store(a, &store);
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
    return err == CAIRN_OK ? 0 : fail("get", err);
}

static int cmd_keygen(cli_args_t *a)
{
    if (need_args(a, 1, "keygen FILE"))
        return EXIT_USAGE;
    cairn_err_t err = cairn_key_file_create(a->pos[0]);
    if (err != CAIRN_OK)
        return fail(a->pos[0], err);
    printf("wrote a new key file to %s; keep a copy somewhere safe\n", a->pos[0]);
    return 0;
}

int main(int argc, char **argv)
{
    static const struct {
        const char *name;
        int (*run)(cli_args_t *);
    } commands[] = {
        {"init", cmd_init}, {"status", cmd_status}, {"put", cmd_put},
        {"get", cmd_get},   {"keygen", cmd_keygen},
    };
    if (argc < 2 || strcmp(argv[1], "help") == 0 || strcmp(argv[1], "--help") == 0 ||
        strcmp(argv[1], "-h") == 0) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? EXIT_USAGE : 0;
    }
    if (strcmp(argv[1], "--version") == 0) {
        printf("cairn %s (store format %u)\n", CAIRN_VERSION_STRING, CAIRN_FORMAT_VERSION);
        return 0;
    }
    if (sodium_init() < 0) /* for guarded passphrase memory */
        return fail("starting", CAIRN_ECRYPTO);
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++) {
        if (strcmp(argv[1], commands[i].name) == 0) {
            cli_args_t a;
            memset(&a, 0, sizeof a);
            a.init.kdf_cost = CAIRN_KDF_MODERATE;
            if (parse(argc - 1, argv + 1, &a) != 0)
                return EXIT_USAGE;
            return commands[i].run(&a);
        }
    }
    fprintf(stderr, "cairn: unknown command '%s' (try cairn help)\n", argv[1]);
    return EXIT_USAGE;
}

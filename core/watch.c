/*
 * watch.c - a cheap way to notice that the store changed, from any process.
 *
 * LMDB numbers its write transactions; the number of the last committed one
 * lives in the shared lock file, so reading it sees the commits of every
 * process that has the store open (the sync service and the CLI beside it).
 * Reading it takes no lock and opens no transaction: a service polls it on
 * a short timer to learn that a local edit is waiting to be sent.
 */
#include <lmdb.h>

#include "kv.h"
#include "store_int.h"

cairn_err_t cairn_store_commit_seq(cairn_store_t *store, uint64_t *seq)
{
    if (store == NULL || seq == NULL)
        return CAIRN_EINVAL;
    MDB_envinfo info;
    int rc = mdb_env_info(store->kv.env, &info);
    if (rc != MDB_SUCCESS)
        return cairn__err_from_mdb(rc);
    *seq = (uint64_t)info.me_last_txnid;
    return CAIRN_OK;
}

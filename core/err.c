/*
 * err.c - names and sentences for cairn_err_t, generated from the one table
 * of cairn/error.h (CAIRN_ERRNO_MAP), as libuv does with UV_ERRNO_MAP.
 */
#include "cairn/error.h"

#include <stddef.h>

const char *cairn_strerror(cairn_err_t err)
{
    switch (err) {
#define CAIRN_ERR_MSG_(name, value, msg)                                                           \
    case CAIRN_##name:                                                                             \
        return msg;
        CAIRN_ERRNO_MAP(CAIRN_ERR_MSG_)
#undef CAIRN_ERR_MSG_
    }
    return "unknown error";
}

const char *cairn_err_name(cairn_err_t err)
{
    switch (err) {
#define CAIRN_ERR_NAME_(name, value, msg)                                                          \
    case CAIRN_##name:                                                                             \
        return "CAIRN_" #name;
        CAIRN_ERRNO_MAP(CAIRN_ERR_NAME_)
#undef CAIRN_ERR_NAME_
    }
    return "CAIRN_EUNKNOWN";
}

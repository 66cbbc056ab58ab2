/*
 * log.h - one line per event, as text or JSON (private to service/).
 *
 * Every field is a name and either a string the service made itself (a
 * reason name, a key prefix, an address) or a number: no caller passes
 * patient content or a secret, and strings are escaped anyway. A line is
 * formatted whole and written with one fwrite, so lines never interleave.
 * Used on the loop thread only.
 */
#ifndef CAIRN_SERVICE_LOG_H
#define CAIRN_SERVICE_LOG_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "cairn/service.h"

typedef struct cairn__svc_log {
    FILE *f;
    cairn_log_format_t format;
    cairn_log_level_t level;
} svc_log_t;

typedef struct svc_field {
    const char *key;
    const char *s; /* a string field, or NULL for a number */
    uint64_t u;
} svc_field_t;

#define SVC_S(k, v) ((svc_field_t){(k), (v), 0})
#define SVC_U(k, v) ((svc_field_t){(k), NULL, (uint64_t)(v)})

/* Log event at level with n fields, if the level is enabled. */
void cairn__svc_log(const svc_log_t *log, cairn_log_level_t level, const char *event,
                    const svc_field_t *fields, size_t n);

/* The first 4 bytes of key as 8 hex digits and a NUL: how logs name a node. */
void cairn__svc_key_prefix(char out[9], const uint8_t *key);

#endif

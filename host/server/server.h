/* `hive-host serve`: an OpenAI-compatible HTTP server over the scheduler
 * (docs/SERVER.md). The server listens (answering /health with 503) before the
 * model is loaded; hive_server_set_ready hands it the session and scheduler. */
#ifndef HIVE_SERVER_SERVER_H
#define HIVE_SERVER_SERVER_H

#include <stddef.h>
#include <stdint.h>

#include "config/config.h"
#include "experts/catalog.h"
#include "sched/scheduler.h"
#include "session/session.h"

typedef struct hive_server hive_server;

typedef struct hive_server_opts {
    const char *host;        /* numeric IPv4 or IPv6 address to bind */
    uint16_t port;           /* 0: any free port (see hive_server_port) */
    const char *api_key;     /* NULL or "": no authentication */
    size_t max_body;         /* bytes */
    uint32_t max_connections;
} hive_server_opts;

hive_status hive_server_start(const hive_server_opts *o, hive_server **out, hive_error **err);
uint16_t hive_server_port(const hive_server *s);
/* From now on requests are served. cfg: server defaults (sampling, chat);
 * model_name: the id of the base model in requests and /v1/models. */
void hive_server_set_ready(hive_server *s, hive_session *ss, hive_sched *sched, const hive_catalog *cat,
                           const hive_config *cfg, const char *model_name);
/* New requests get 503 from now on (shutdown has begun). */
void hive_server_close(hive_server *s);
/* Requests received whose response has not been sent completely. */
int hive_server_inflight(const hive_server *s);
/* Stops listening and waits for connection threads; frees. */
void hive_server_stop(hive_server *s);
/* The server-wide speculation flags (--draft, --draft-max, --draft-model,
 * --draft-weights): serve runs lookup or nothing, and not on a model whose
 * state cannot roll back (e: the loaded engine; NULL before loading). 0, or
 * -1 with the reason in msg: a user's explicit ask is refused, never dropped. */
int hive_server_spec_check_config(const hive_config *cfg, const hive_engine *e, char *msg, size_t cap);

#endif

/* Routing from the prompt: picks experts for a prompt from their manifests'
 * routing.keywords and description (`--expert auto`, `model: "auto"`).
 * docs/EXPERTS.md ("Routing") states the scoring; in short:
 *
 *   words     maximal runs of ASCII letters/digits (and bytes >= 0x80),
 *             compared lowercased; a prompt word counts once however often
 *             it appears.
 *   weight    keyword word 1, description word 0.25 (descriptions say more
 *             than the task); x 0.25 for a common English word ("name",
 *             "city": little topic signal); / df, the number of experts
 *             whose keywords (or descriptions) hold that word, so a shared
 *             word is shared evidence. A keyword of k words gives each word
 *             1/k. Description words of < 3 letters or on the stop list,
 *             and those that are also the expert's keywords, are skipped.
 *   score     raw = sum of the weights of the expert's words found in the
 *             prompt; score = raw / (raw + 1), in [0, 1): one rare keyword
 *             gives 0.5, two 0.67.
 *   pick      scores >= threshold, best first, ties by name (bytewise), at
 *             most max; none passing = the base model.
 *
 * Tables are built once (hive_router_new); hive_router_route only reads
 * them, so one router serves parallel requests. */
#ifndef HIVE_EXPERTS_ROUTER_H
#define HIVE_EXPERTS_ROUTER_H

#include <stddef.h>

#include "experts/catalog.h"
#include "util/error.h"

typedef struct hive_router hive_router;

/* One candidate: what the router reads of its manifest. */
typedef struct hive_route_candidate {
    const char *name;
    const char *description;       /* may be NULL */
    const char *const *keywords;   /* routing.keywords */
    size_t n_keywords;
} hive_route_candidate;

typedef struct hive_route_pick {
    size_t index;                  /* into the candidates (catalog order) */
    double score;
} hive_route_pick;

#define HIVE_ROUTE_THRESHOLD_DEFAULT 0.45
#define HIVE_ROUTE_MAX_DEFAULT 1

/* Copies what it needs; the candidates may go away afterwards. */
hive_status hive_router_new(const hive_route_candidate *c, size_t n, hive_router **out, hive_error **err);
/* Every catalog entry is a candidate, index = catalog index. */
hive_status hive_router_from_catalog(const hive_catalog *cat, hive_router **out, hive_error **err);
void hive_router_free(hive_router *r);
size_t hive_router_size(const hive_router *r);
const char *hive_router_name(const hive_router *r, size_t index);

/* The experts for prompt: up to max picks, written to out (room for max),
 * best first; returns how many (0 = the base model). */
size_t hive_router_route(const hive_router *r, const char *prompt, double threshold, size_t max, hive_route_pick *out);
/* One candidate's score for prompt (tests, --verbose). */
double hive_router_score(const hive_router *r, const char *prompt, size_t index);

#endif

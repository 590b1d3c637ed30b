/* Prompt router (see router.h for the scoring). */
#include "experts/router.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <uthash.h>

#define WORD_MAX 63            /* longer words are never keywords: skipped */
#define W_KEYWORD 1.0
#define W_DESCRIPTION 0.25
#define W_COMMON 0.25          /* factor for a common English word */

enum { KIND_KW, KIND_DESC };

typedef struct posting {
    uint32_t expert;
    uint8_t kind;
    double w;                  /* share while building, final weight after */
} posting;

typedef struct word_entry {
    char *word;
    posting *p;
    size_t n, cap;
    UT_hash_handle hh;
} word_entry;

struct hive_router {
    word_entry *words;         /* uthash by word */
    char **names;
    size_t n;
};

/* Function words: never description evidence (sorted, for bsearch). */
static const char *const stop_words[] = {
    "about", "all", "also", "and", "any", "are", "but", "can", "does", "each", "every", "for", "from", "given",
    "has", "have", "her", "his", "how", "into", "its", "not", "one", "only", "our", "out", "per", "she", "than",
    "that", "the", "their", "them", "then", "there", "these", "they", "this", "those", "two", "use", "used",
    "using", "was", "were", "what", "when", "where", "which", "who", "will", "with", "you", "your",
};

/* Frequent English words: they carry little topic signal, so a keyword like
 * "name" or "city" counts a quarter of "schema" (sorted, for bsearch). */
static const char *const common_words[] = {
    "a", "able", "about", "after", "again", "age", "all", "also", "an", "and", "answer", "answers", "any", "are",
    "as", "ask", "at", "back", "bad", "be", "because", "big", "but", "by", "call", "can", "case", "city", "come",
    "could", "day", "do", "does", "down", "each", "early", "even", "example", "fact", "few", "find", "first", "for",
    "from", "get", "give", "go", "good", "great", "group", "hand", "have", "he", "help", "her", "here", "high",
    "him", "his", "home", "how", "i", "if", "in", "into", "is", "it", "its", "just", "know", "large", "last",
    "life", "like", "line", "little", "live", "long", "look", "make", "man", "many", "me", "more", "most", "my",
    "name", "need", "new", "next", "no", "not", "now", "number", "of", "old", "on", "one", "only", "or", "other",
    "our", "out", "over", "own", "part", "people", "person", "place", "please", "problem", "put", "question",
    "right", "same", "say", "see", "she", "short", "show", "small", "so", "some", "take", "tell", "text", "than",
    "that", "the", "their", "them", "then", "there", "these", "they", "thing", "think", "this", "time", "to",
    "two", "up", "us", "use", "want", "way", "we", "week", "well", "what", "when", "which", "who", "will", "with",
    "woman", "word", "work", "world", "would", "write", "year", "you", "young", "your",
};

static int cmp_str(const void *a, const void *b) { return strcmp((const char *)a, *(const char *const *)b); }

static int in_list(const char *w, const char *const *list, size_t n) {
    return bsearch(w, list, n, sizeof *list, cmp_str) != NULL;
}

static int is_word_byte(unsigned char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c >= 0x80;
}

/* The next word of *s, lowercased into buf (WORD_MAX + 1 bytes); 0 at the end.
 * Over-long words are skipped. */
static int next_word(const char **s, char *buf) {
    const unsigned char *p = (const unsigned char *)*s;
    for (;;) {
        while (*p && !is_word_byte(*p)) p++;
        if (!*p) {
            *s = (const char *)p;
            return 0;
        }
        size_t n = 0;
        while (*p && is_word_byte(*p)) {
            if (n < WORD_MAX + 1) buf[n] = (char)((*p >= 'A' && *p <= 'Z') ? *p + 32 : *p);
            n++;
            p++;
        }
        if (n <= WORD_MAX) {
            buf[n] = 0;
            *s = (const char *)p;
            return 1;
        }
    }
}

static int count_words(const char *s) {
    char buf[WORD_MAX + 1];
    int n = 0;
    while (next_word(&s, buf)) n++;
    return n;
}

/* Adds share to (word, expert, kind); a repeat keeps the larger share. */
static int add_posting(hive_router *r, const char *word, uint32_t expert, int kind, double share) {
    word_entry *e;
    HASH_FIND_STR(r->words, word, e);
    if (!e) {
        if (!(e = calloc(1, sizeof *e)) || !(e->word = strdup(word))) {
            free(e);
            return -1;
        }
        HASH_ADD_KEYPTR(hh, r->words, e->word, strlen(e->word), e);
    }
    for (size_t i = e->n; i-- > 0 && e->p[i].expert == expert;)
        if (e->p[i].kind == kind) {
            if (share > e->p[i].w) e->p[i].w = share;
            return 0;
        }
    if (e->n == e->cap) {
        size_t cap = e->cap ? e->cap * 2 : 2;
        posting *p = realloc(e->p, cap * sizeof *p);
        if (!p) return -1;
        e->p = p;
        e->cap = cap;
    }
    e->p[e->n++] = (posting){expert, (uint8_t)kind, share};
    return 0;
}

/* 1 when word is one of expert's keyword words. */
static int has_kw(const hive_router *r, const char *word, uint32_t expert) {
    word_entry *e;
    HASH_FIND_STR(r->words, word, e);
    if (!e) return 0;
    for (size_t i = 0; i < e->n; i++)
        if (e->p[i].expert == expert && e->p[i].kind == KIND_KW) return 1;
    return 0;
}

void hive_router_free(hive_router *r) {
    if (!r) return;
    word_entry *e, *t;
    HASH_ITER(hh, r->words, e, t) {
        HASH_DEL(r->words, e);
        free(e->word);
        free(e->p);
        free(e);
    }
    for (size_t i = 0; i < r->n; i++) free(r->names[i]);
    free(r->names);
    free(r);
}

hive_status hive_router_new(const hive_route_candidate *c, size_t n, hive_router **out, hive_error **err) {
    *out = NULL;
    hive_router *r = calloc(1, sizeof *r);
    if (!r || (n && !(r->names = calloc(n, sizeof *r->names)))) {
        free(r);
        return hive_fail(err, HIVE_E_NOMEM, "out of memory");
    }
    r->n = n;
    char buf[WORD_MAX + 1];
    for (size_t x = 0; x < n; x++) {
        if (!(r->names[x] = strdup(c[x].name ? c[x].name : ""))) goto oom;
        for (size_t k = 0; k < c[x].n_keywords; k++) {
            const char *s = c[x].keywords[k];
            int words = s ? count_words(s) : 0;
            while (words && next_word(&s, buf))
                if (add_posting(r, buf, (uint32_t)x, KIND_KW, 1.0 / words)) goto oom;
        }
        /* keywords first, so description words that are keywords are skipped */
        const char *s = c[x].description ? c[x].description : "";
        while (next_word(&s, buf)) {
            if (strlen(buf) < 3 || in_list(buf, stop_words, sizeof stop_words / sizeof *stop_words) ||
                has_kw(r, buf, (uint32_t)x))
                continue;
            if (add_posting(r, buf, (uint32_t)x, KIND_DESC, 1.0)) goto oom;
        }
    }
    /* final weights: base x common factor / document frequency of the kind */
    word_entry *e, *t;
    HASH_ITER(hh, r->words, e, t) {
        size_t df[2] = {0, 0};
        for (size_t i = 0; i < e->n; i++) df[e->p[i].kind]++;
        double common = in_list(e->word, common_words, sizeof common_words / sizeof *common_words) ? W_COMMON : 1.0;
        for (size_t i = 0; i < e->n; i++) {
            posting *p = &e->p[i];
            p->w *= (p->kind == KIND_KW ? W_KEYWORD : W_DESCRIPTION) * common / (double)df[p->kind];
        }
    }
    *out = r;
    return HIVE_OK;
oom:
    hive_router_free(r);
    return hive_fail(err, HIVE_E_NOMEM, "out of memory");
}

hive_status hive_router_from_catalog(const hive_catalog *cat, hive_router **out, hive_error **err) {
    hive_catalog_resolve_all(cat); /* routing reads every manifest; unreadable ones stay without words */
    hive_route_candidate *c = calloc(cat->n ? cat->n : 1, sizeof *c);
    if (!c) return hive_fail(err, HIVE_E_NOMEM, "out of memory");
    for (size_t i = 0; i < cat->n; i++)
        c[i] = (hive_route_candidate){cat->v[i].name, cat->v[i].description,
                                      (const char *const *)cat->v[i].keywords.v, cat->v[i].keywords.n};
    hive_status st = hive_router_new(c, cat->n, out, err);
    free(c);
    return st;
}

size_t hive_router_size(const hive_router *r) { return r ? r->n : 0; }

const char *hive_router_name(const hive_router *r, size_t index) { return index < r->n ? r->names[index] : NULL; }

static int cmp_word(const void *a, const void *b) { return strcmp((const char *)a, (const char *)b); }

/* raw[x] for every candidate; 0 on success. */
static int raw_scores(const hive_router *r, const char *prompt, double *raw) {
    size_t cap = 64, n = 0;
    char(*w)[WORD_MAX + 1] = malloc(cap * sizeof *w);
    if (!w) return -1;
    const char *s = prompt ? prompt : "";
    while (next_word(&s, w[n])) {
        if (++n == cap) {
            char(*nw)[WORD_MAX + 1] = realloc(w, 2 * cap * sizeof *w);
            if (!nw) {
                free(w);
                return -1;
            }
            w = nw;
            cap *= 2;
        }
    }
    /* each distinct prompt word once */
    if (n) qsort(w, n, sizeof *w, cmp_word);
    for (size_t i = 0; i < n; i++) {
        if (i && !strcmp(w[i], w[i - 1])) continue;
        word_entry *e;
        HASH_FIND_STR(r->words, w[i], e);
        if (e)
            for (size_t k = 0; k < e->n; k++) raw[e->p[k].expert] += e->p[k].w;
    }
    free(w);
    return 0;
}

double hive_router_score(const hive_router *r, const char *prompt, size_t index) {
    if (!r || index >= r->n) return 0;
    double *raw = calloc(r->n, sizeof *raw);
    double v = 0;
    if (raw && !raw_scores(r, prompt, raw)) v = raw[index] / (raw[index] + 1);
    free(raw);
    return v;
}

typedef struct {
    const hive_router *r;
    hive_route_pick p;
} ranked;

static int by_rank(const void *a, const void *b) {
    const ranked *x = a, *y = b;
    if (x->p.score != y->p.score) return x->p.score > y->p.score ? -1 : 1;
    int c = strcmp(x->r->names[x->p.index], y->r->names[y->p.index]);
    if (c) return c;
    return x->p.index < y->p.index ? -1 : x->p.index > y->p.index;
}

size_t hive_router_route(const hive_router *r, const char *prompt, double threshold, size_t max, hive_route_pick *out) {
    if (!r || !r->n || !max) return 0;
    double *raw = calloc(r->n, sizeof *raw);
    ranked *pass = raw ? malloc(r->n * sizeof *pass) : NULL;
    size_t n = 0;
    if (pass && !raw_scores(r, prompt, raw))
        for (size_t x = 0; x < r->n; x++) {
            double score = raw[x] / (raw[x] + 1);
            if (raw[x] > 0 && score >= threshold) pass[n++] = (ranked){r, {x, score}};
        }
    if (n) qsort(pass, n, sizeof *pass, by_rank);
    if (n > max) n = max;
    for (size_t i = 0; i < n; i++) out[i] = pass[i].p;
    free(pass);
    free(raw);
    return n;
}

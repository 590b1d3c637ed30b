/* ChatML prompt rendering that reproduces what transformers'
 * apply_chat_template gives with the model's own template, for the ChatML
 * families (SmolLM2, Qwen2/2.5, Qwen3). Rather than run Jinja, we read from the
 * template text which of their few behaviours it has. */
#include <stdlib.h>
#include <string.h>

#include "tokenizer/byte_level.h"
#include "tokenizer/tokenizer.h"
#include "util/error.h"

typedef struct chat_style {
    char *default_system; /* inserted when the first message is not a system one */
    int qwen3_thinking;   /* Qwen3: <think> handling and enable_thinking */
    int tool_responses;   /* Qwen: "tool" messages folded into a user turn */
} chat_style;

/* A literal default system prompt: "<|im_start|>system\n" + text + "<|im_end|>"
 * inside one Jinja string (no quote, brace or '+' in between). SmolLM2 and
 * Qwen2.5 have one; Qwen3 does not. */
static int find_default_system(const char *tpl, char **out) {
    static const char head[] = "<|im_start|>system";
    *out = NULL;
    for (const char *p = strstr(tpl, head); p; p = strstr(p + 1, head)) {
        const char *q = p + sizeof head - 1;
        if (*q == '\n') q += 1;
        else if (q[0] == '\\' && q[1] == 'n') q += 2;
        else continue;
        const char *end = strstr(q, "<|im_end|>");
        if (!end || end == q || strcspn(q, "'\"{}+") < (size_t)(end - q)) continue;
        char *s = malloc((size_t)(end - q) + 1);
        if (!s) return -1;
        size_t n = 0;
        for (const char *c = q; c < end; c++) { /* Jinja string escapes */
            if (c[0] == '\\' && c + 1 < end) {
                c++;
                s[n++] = *c == 'n' ? '\n' : *c == 't' ? '\t' : *c;
            } else {
                s[n++] = *c;
            }
        }
        s[n] = 0;
        *out = s;
        return 0;
    }
    return 0;
}

typedef struct out_buf {
    hive_buf b;
    int oom;
} out_buf;

static void put(out_buf *o, const char *s, size_t n) {
    if (!o->oom && hive_buf_append(&o->b, s, n)) o->oom = 1;
}
static void puts_(out_buf *o, const char *s) { put(o, s, strlen(s)); }

static void turn(out_buf *o, const char *role, const char *content) {
    puts_(o, "<|im_start|>");
    puts_(o, role);
    puts_(o, "\n");
    puts_(o, content);
    puts_(o, "<|im_end|>\n");
}

static int starts_with(const char *s, const char *p) { return !strncmp(s, p, strlen(p)); }
static int ends_with(const char *s, const char *p) {
    size_t n = strlen(s), m = strlen(p);
    return n >= m && !memcmp(s + n - m, p, m);
}

/* Python's str.strip-family on a span, for '\n' only. */
static void strip_nl(const char **s, const char **e, int left, int right) {
    while (left && *s < *e && **s == '\n') (*s)++;
    while (right && *e > *s && (*e)[-1] == '\n') (*e)--;
}

/* Qwen3's assistant turn: reasoning inside <think>...</think> is kept only for
 * turns after the last user query, and dropped from earlier ones. */
static void qwen3_assistant(out_buf *o, const char *content, int after_last_query, int is_last) {
    const char *cs = content, *ce = content + strlen(content);
    const char *rs = content, *re = content; /* reasoning: empty */
    const char *close = strstr(content, "</think>");
    if (close) {
        /* content.split('</think>')[0].rstrip('\n').split('<think>')[-1].lstrip('\n') */
        rs = content;
        re = close;
        strip_nl(&rs, &re, 0, 1);
        for (const char *p = rs; (p = strstr(p, "<think>")) && p < re; p++) rs = p + 7;
        if (rs > re) rs = re;
        strip_nl(&rs, &re, 1, 0);
        /* content.split('</think>')[-1].lstrip('\n') */
        const char *last = close;
        for (const char *p = close; (p = strstr(p + 1, "</think>"));) last = p;
        cs = last + 8;
        strip_nl(&cs, &ce, 1, 0);
    }
    puts_(o, "<|im_start|>assistant\n");
    if (after_last_query && (is_last || re > rs)) {
        strip_nl(&rs, &re, 1, 1);
        puts_(o, "<think>\n");
        put(o, rs, (size_t)(re - rs));
        puts_(o, "\n</think>\n\n");
        strip_nl(&cs, &ce, 1, 0);
    }
    put(o, cs, (size_t)(ce - cs));
    puts_(o, "<|im_end|>\n");
}

static int is_tool_reply(const hive_chat_msg *m) {
    return !strcmp(m->role, "user") && starts_with(m->content, "<tool_response>") &&
           ends_with(m->content, "</tool_response>");
}

hive_status hive_chat_render(const hive_chat_msg *msgs, size_t n, int add_generation_prompt, int enable_thinking,
                             const char *chat_template, char **out, hive_error **err) {
    if (!out || (n && !msgs)) return hive_fail(err, HIVE_E_INVALID, "chat: bad arguments");
    for (size_t i = 0; i < n; i++)
        if (!msgs[i].role || !msgs[i].content) return hive_fail(err, HIVE_E_INVALID, "chat: message %zu is empty", i);
    chat_style st = {0};
    if (chat_template) {
        if (!strstr(chat_template, "<|im_start|>"))
            return hive_fail(err, HIVE_E_UNSUPPORTED, "chat: the model's template is not ChatML");
        if (find_default_system(chat_template, &st.default_system))
            return hive_fail(err, HIVE_E_NOMEM, "out of memory");
        st.qwen3_thinking = strstr(chat_template, "enable_thinking") != NULL;
        st.tool_responses = strstr(chat_template, "<tool_response>") != NULL;
    }
    /* Qwen3: the last user message that is a real query, not a tool result. */
    size_t last_query = n ? n - 1 : 0;
    for (size_t i = n; i-- > 0;)
        if (!strcmp(msgs[i].role, "user") && !is_tool_reply(&msgs[i])) {
            last_query = i;
            break;
        }
    out_buf o = {0};
    if (n && st.default_system && strcmp(msgs[0].role, "system")) turn(&o, "system", st.default_system);
    for (size_t i = 0; i < n; i++) {
        const hive_chat_msg *m = &msgs[i];
        if (st.tool_responses && !strcmp(m->role, "tool")) {
            if (i == 0 || strcmp(msgs[i - 1].role, "tool")) puts_(&o, "<|im_start|>user");
            puts_(&o, "\n<tool_response>\n");
            puts_(&o, m->content);
            puts_(&o, "\n</tool_response>");
            if (i + 1 == n || strcmp(msgs[i + 1].role, "tool")) puts_(&o, "<|im_end|>\n");
        } else if (st.qwen3_thinking && !strcmp(m->role, "assistant")) {
            qwen3_assistant(&o, m->content, i > last_query, i + 1 == n);
        } else {
            turn(&o, m->role, m->content);
        }
    }
    if (add_generation_prompt) {
        puts_(&o, "<|im_start|>assistant\n");
        if (st.qwen3_thinking && enable_thinking == 0) puts_(&o, "<think>\n\n</think>\n\n");
    }
    put(&o, "", 0);
    free(st.default_system);
    if (o.oom) {
        free(o.b.data);
        return hive_fail(err, HIVE_E_NOMEM, "out of memory");
    }
    *out = o.b.data;
    return HIVE_OK;
}

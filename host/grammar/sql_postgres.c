/* A practical PostgreSQL subset as GBNF: SELECT (DISTINCT, joins, WHERE,
 * GROUP BY, HAVING, ORDER BY, LIMIT/OFFSET, UNION/INTERSECT/EXCEPT,
 * subqueries, CASE, common functions), INSERT, UPDATE, DELETE.
 * Keywords are upper case and identifiers lower case, and an identifier is
 * never a word PostgreSQL reserves, so every sentence parses in PostgreSQL. */
#include <stdlib.h>
#include <string.h>

#include "grammar/json_gbnf.h"

static const char *const k_reserved[] = {
    /* reserved and type/function-name keywords (cannot be a column or table name) */
    "all", "analyse", "analyze", "and", "any", "array", "as", "asc", "asymmetric", "both", "case", "cast", "check",
    "collate", "column", "constraint", "create", "current_catalog", "current_date", "current_role", "current_time",
    "current_timestamp", "current_user", "default", "deferrable", "desc", "distinct", "do", "else", "end", "except",
    "false", "fetch", "for", "foreign", "from", "grant", "group", "having", "in", "initially", "intersect", "into",
    "lateral", "leading", "limit", "localtime", "localtimestamp", "not", "null", "offset", "on", "only", "or",
    "order", "placing", "primary", "references", "returning", "select", "session_user", "some", "symmetric", "table",
    "then", "to", "trailing", "true", "union", "unique", "user", "using", "variadic", "when", "where", "window",
    "with", "authorization", "binary", "collation", "concurrently", "cross", "current_schema", "freeze", "full",
    "ilike", "inner", "is", "isnull", "join", "left", "like", "natural", "notnull", "outer", "overlaps", "right",
    "similar", "tablesample", "verbose",
    /* column-name keywords that misparse in some positions (a bare alias, a table) */
    "between", "bigint", "bit", "boolean", "char", "character", "coalesce", "dec", "decimal", "exists", "extract",
    "float", "greatest", "grouping", "inout", "int", "integer", "interval", "least", "national", "nchar", "none",
    "normalize", "nullif", "numeric", "out", "overlay", "position", "precision", "real", "row", "setof", "smallint",
    "substring", "time", "timestamp", "treat", "trim", "values", "varchar", "xmlattributes", "xmlconcat",
    "xmlelement", "xmlexists", "xmlforest", "xmlnamespaces", "xmlparse", "xmlpi", "xmlroot", "xmlserialize",
    "xmltable", "json", "json_array", "json_object", "merge_action", "system_user", "offset",
};

static const char k_sql[] =
    "root ::= stmt \";\"?\n"
    "stmt ::= select | insert | update | delete\n"
    "select ::= select-core (sp set-op sp select-core)* order-by? limit?\n"
    "set-op ::= \"UNION\" (sp \"ALL\")? | \"INTERSECT\" | \"EXCEPT\"\n"
    "select-core ::= \"SELECT\" (sp \"DISTINCT\")? sp select-list (sp \"FROM\" sp from-list)?"
    " (sp \"WHERE\" sp expr)? (sp \"GROUP\" sp \"BY\" sp expr-list)? (sp \"HAVING\" sp expr)?\n"
    "select-list ::= select-item (\",\" sp select-item)*\n"
    "select-item ::= \"*\" | ident \".*\" | expr (sp \"AS\" sp ident)?\n"
    "from-list ::= table-ref (\",\" sp table-ref)*\n"
    "table-ref ::= table-primary (sp join)*\n"
    "table-primary ::= ident (sp \"AS\" sp ident | sp ident)? | \"(\" select \")\" sp \"AS\" sp ident\n"
    "join ::= join-kind sp table-primary sp \"ON\" sp expr | \"CROSS JOIN\" sp table-primary\n"
    "join-kind ::= \"JOIN\" | \"INNER JOIN\" | (\"LEFT\" | \"RIGHT\" | \"FULL\") (\" OUTER\")? \" JOIN\"\n"
    "order-by ::= sp \"ORDER BY\" sp order-item (\",\" sp order-item)*\n"
    "order-item ::= expr (sp (\"ASC\" | \"DESC\"))?\n"
    "limit ::= sp \"LIMIT\" sp int (sp \"OFFSET\" sp int)?\n"
    "expr ::= and-expr (sp \"OR\" sp and-expr)*\n"
    "and-expr ::= not-expr (sp \"AND\" sp not-expr)*\n"
    "not-expr ::= (\"NOT\" sp)? predicate\n"
    "predicate ::= sum predicate-tail?\n"
    "predicate-tail ::= osp compare osp sum | sp \"IS\" sp (\"NOT\" sp)? \"NULL\""
    " | sp (\"NOT\" sp)? \"IN\" sp \"(\" (select | expr-list) \")\""
    " | sp (\"NOT\" sp)? \"BETWEEN\" sp sum sp \"AND\" sp sum"
    " | sp (\"NOT\" sp)? (\"LIKE\" | \"ILIKE\") sp sum\n"
    "compare ::= \"=\" | \"<>\" | \"!=\" | \"<\" | \"<=\" | \">\" | \">=\"\n"
    "sum ::= term (osp (\"+\" | \"-\" | \"||\") osp term)*\n"
    "term ::= factor (osp (\"*\" | \"/\" | \"%\") osp factor)*\n"
    "factor ::= \"-\"? primary\n"
    "primary ::= literal | column | call | \"(\" expr \")\" | \"(\" select \")\""
    " | \"EXISTS\" sp \"(\" select \")\" | case\n"
    "column ::= ident (\".\" ident)?\n"
    "call ::= \"COUNT(*)\" | (\"COUNT\" | \"SUM\" | \"AVG\" | \"MIN\" | \"MAX\") \"(\" (\"DISTINCT\" sp)? expr \")\""
    " | (\"LOWER\" | \"UPPER\" | \"LENGTH\" | \"ABS\" | \"ROUND\" | \"COALESCE\") \"(\" expr-list \")\" | \"NOW()\"\n"
    "case ::= \"CASE\" (sp \"WHEN\" sp expr sp \"THEN\" sp expr)+ (sp \"ELSE\" sp expr)? sp \"END\"\n"
    "literal ::= number | string | \"NULL\" | \"TRUE\" | \"FALSE\"\n"
    "string ::= \"'\" ([^'\\x00] | \"''\")* \"'\"\n"
    "number ::= int (\".\" [0-9]+)?\n"
    "int ::= [0-9] | [1-9] [0-9]{1,17}\n"
    "expr-list ::= expr (\",\" sp expr)*\n"
    "insert ::= \"INSERT INTO\" sp ident (sp \"(\" ident-list \")\")? sp (\"VALUES\" sp row (\",\" sp row)* | select)\n"
    "row ::= \"(\" expr-list \")\"\n"
    "update ::= \"UPDATE\" sp ident sp \"SET\" sp assign (\",\" sp assign)* (sp \"WHERE\" sp expr)?\n"
    "assign ::= ident osp \"=\" osp expr\n"
    "delete ::= \"DELETE FROM\" sp ident (sp \"WHERE\" sp expr)?\n"
    "ident-list ::= ident (\",\" sp ident)*\n"
    "sp ::= \" \"\n"
    "osp ::= \" \"?\n";

void hg_sql_postgres(hg_text *t) {
    hg_text_puts(t, k_sql);
    hg_not_words(t, "ident", k_reserved, sizeof k_reserved / sizeof k_reserved[0], "abcdefghijklmnopqrstuvwxyz_",
                 "abcdefghijklmnopqrstuvwxyz_0123456789");
}

/* ---- words except some: a trie of the excluded words, one rule per node ---- */

typedef struct word_trie {
    struct word_trie *child[128];
    int is_word;
    unsigned id;
} word_trie;

static void trie_free(word_trie *n) {
    if (!n) return;
    for (int i = 0; i < 128; i++) trie_free(n->child[i]);
    free(n);
}

static void emit_node(hg_text *t, const char *name, const word_trie *n, int depth, const char *first, const char *rest) {
    const char *allowed = depth ? rest : first;
    hg_text_printf(t, "%s-w%u ::= ", name, n->id);
    int alts = 0;
    if (depth && !n->is_word) hg_text_puts(t, "\"\""), alts++;
    char others[129];
    size_t n_others = 0;
    for (const char *c = allowed; *c; c++) {
        if (n->child[(unsigned char)*c]) {
            hg_text_printf(t, "%s\"%c\" %s-w%u", alts++ ? " | " : "", *c, name, n->child[(unsigned char)*c]->id);
        } else {
            others[n_others++] = *c;
        }
    }
    if (n_others) {
        others[n_others] = 0;
        hg_text_printf(t, "%s[%s] %s-rest", alts++ ? " | " : "", others, name);
    }
    if (!alts) hg_text_puts(t, "\"\""); /* cannot happen with non-empty character lists */
    hg_text_puts(t, "\n");
    for (int i = 0; i < 128; i++)
        if (n->child[i]) emit_node(t, name, n->child[i], depth + 1, first, rest);
}

void hg_not_words(hg_text *t, const char *name, const char *const *words, size_t n, const char *first,
                  const char *rest) {
    word_trie *root = calloc(1, sizeof *root);
    unsigned ids = 1;
    int oom = !root;
    for (size_t i = 0; i < n && !oom; i++) {
        word_trie *node = root;
        for (const char *c = words[i]; *c && !oom; c++) {
            unsigned char k = (unsigned char)*c & 127;
            if (!node->child[k]) {
                if (!(node->child[k] = calloc(1, sizeof *node))) {
                    oom = 1;
                    break;
                }
                node->child[k]->id = ids++;
            }
            node = node->child[k];
        }
        if (!oom) node->is_word = 1;
    }
    if (oom) {
        t->oom = 1;
        trie_free(root);
        return;
    }
    root->id = 0;
    hg_text_printf(t, "%s ::= %s-w0\n%s-rest ::= [%s]*\n", name, name, name, rest);
    emit_node(t, name, root, 0, first, rest);
    trie_free(root);
}

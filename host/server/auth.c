/* API key check. Both sides are hashed first so the comparison takes the
 * same time whatever the key's length or how much of it matches. */
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <string.h>

#include "server/server_impl.h"

static int sha256(const char *s, size_t n, unsigned char out[32]) {
    unsigned int len = 0;
    return EVP_Digest(s, n, out, &len, EVP_sha256(), NULL) == 1 && len == 32;
}

int hive_auth_ok(const hive_server *s, struct MHD_Connection *c) {
    if (!s->api_key) return 1;
    const char *h = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization");
    if (!h || strncasecmp(h, "Bearer ", 7) != 0) return 0;
    const char *given = h + 7;
    unsigned char a[32], b[32];
    if (!sha256(given, strlen(given), a) || !sha256(s->api_key, strlen(s->api_key), b)) return 0;
    return CRYPTO_memcmp(a, b, sizeof a) == 0;
}

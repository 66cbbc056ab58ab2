/*
 * test_seal.c - sealing: round trip, tampering, moved ciphertext, nonces.
 */
#include <sodium.h>

#include "../core/seal.h"
#include "test.h"

static uint8_t key[CAIRN_DATA_KEY_BYTES];

static void round_trip(void)
{
    cairn_sealer_t s;
    CHECK_OK(cairn__sealer_init(&s, key));
    const uint8_t pt[] = "PHQ-9 total 14";
    uint8_t ct[sizeof pt + CAIRN_SEAL_OVERHEAD], back[sizeof pt];
    cairn__seal(&s, (const uint8_t *)"ad", 2, pt, sizeof pt, ct);
    CHECK_OK(cairn__unseal(&s, (const uint8_t *)"ad", 2, ct, sizeof ct, back));
    CHECK(memcmp(back, pt, sizeof pt) == 0);
    /* The plaintext does not appear in the ciphertext. */
    CHECK(memmem(ct, sizeof ct, "PHQ", 3) == NULL);
    cairn__sealer_wipe(&s);
    CHECK(s.key == NULL);
}

static void every_flipped_bit_fails(void)
{
    cairn_sealer_t s;
    CHECK_OK(cairn__sealer_init(&s, key));
    const uint8_t pt[] = "lithium 600 mg";
    uint8_t ct[sizeof pt + CAIRN_SEAL_OVERHEAD], back[sizeof pt];
    cairn__seal(&s, (const uint8_t *)"k", 1, pt, sizeof pt, ct);
    for (size_t i = 0; i < sizeof ct; i++) {
        for (int bit = 0; bit < 8; bit++) {
            ct[i] ^= (uint8_t)(1 << bit);
            CHECK_ERR(cairn__unseal(&s, (const uint8_t *)"k", 1, ct, sizeof ct, back),
                      CAIRN_ECORRUPT);
            ct[i] ^= (uint8_t)(1 << bit);
        }
    }
    CHECK_OK(cairn__unseal(&s, (const uint8_t *)"k", 1, ct, sizeof ct, back));
    cairn__sealer_wipe(&s);
}

static void wrong_ad_or_key_or_length_fails(void)
{
    cairn_sealer_t s, other;
    uint8_t key2[CAIRN_DATA_KEY_BYTES];
    randombytes_buf(key2, sizeof key2);
    CHECK_OK(cairn__sealer_init(&s, key));
    CHECK_OK(cairn__sealer_init(&other, key2));
    const uint8_t pt[] = "x";
    uint8_t ct[sizeof pt + CAIRN_SEAL_OVERHEAD], back[sizeof pt];
    cairn__seal(&s, (const uint8_t *)"records\0a", 9, pt, sizeof pt, ct);
    CHECK_ERR(cairn__unseal(&s, (const uint8_t *)"records\0b", 9, ct, sizeof ct, back),
              CAIRN_ECORRUPT);
    CHECK_ERR(cairn__unseal(&other, (const uint8_t *)"records\0a", 9, ct, sizeof ct, back),
              CAIRN_ECORRUPT);
    CHECK_ERR(cairn__unseal(&s, (const uint8_t *)"records\0a", 9, ct, sizeof ct - 1, back),
              CAIRN_ECORRUPT);
    CHECK_ERR(cairn__unseal(&s, NULL, 0, ct, CAIRN_SEAL_OVERHEAD - 1, back), CAIRN_ECORRUPT);
    cairn__sealer_wipe(&s);
    cairn__sealer_wipe(&other);
}

static void nonces_never_repeat(void)
{
    cairn_sealer_t a, b;
    CHECK_OK(cairn__sealer_init(&a, key));
    CHECK_OK(cairn__sealer_init(&b, key));
    uint8_t c1[CAIRN_SEAL_OVERHEAD], c2[CAIRN_SEAL_OVERHEAD], c3[CAIRN_SEAL_OVERHEAD];
    cairn__seal(&a, NULL, 0, NULL, 0, c1);
    cairn__seal(&a, NULL, 0, NULL, 0, c2);
    cairn__seal(&b, NULL, 0, NULL, 0, c3); /* same key, another sealer: another prefix */
    CHECK(memcmp(c1, c2, CAIRN_SEAL_NONCE_BYTES) != 0);
    CHECK(memcmp(c1, c3, CAIRN_SEAL_NONCE_BYTES) != 0);
    cairn__sealer_wipe(&a);
    cairn__sealer_wipe(&b);
}

int main(void)
{
    CHECK(sodium_init() >= 0);
    randombytes_buf(key, sizeof key);
    RUN(round_trip);
    RUN(every_flipped_bit_fails);
    RUN(wrong_ad_or_key_or_length_fails);
    RUN(nonces_never_repeat);
    return 0;
}

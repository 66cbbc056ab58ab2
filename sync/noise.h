/*
 * noise.h - the sync handshake and transport cipher: Noise XX, sans I/O.
 *
 * Two rostered nodes that reach each other run this handshake first. It is
 * the XX pattern of the Noise Protocol Framework (noiseprotocol.org, rev 34):
 *
 *     -> e
 *     <- e, ee, s, es
 *     -> s, se
 *
 * with the primitives of Noise_XX_25519_ChaChaPoly_BLAKE2b, the protocol
 * name hashed into the handshake: DH is X25519 (crypto_scalarmult; the
 * static key's through the caller's function, below); the
 * cipher is ChaCha20-Poly1305 IETF with the nonce 4 zero bytes || 64-bit
 * little-endian counter; HASH is BLAKE2b-512 (HASHLEN 64, BLOCKLEN 128); HKDF
 * is built on HMAC-BLAKE2b (RFC 2104) as in section 4.3 of the spec, and
 * cipher keys are the first 32 bytes of its 64-byte outputs.
 *
 * The one deviation from standard Noise: a node's identity is its Ed25519
 * signing key, the key the organisation's roster binds to a name and roles.
 * So the `s` tokens carry the Ed25519 PUBLIC key (32 bytes, encrypted as usual
 * by EncryptAndHash), and each side converts for the DH: its own secret with
 * crypto_sign_ed25519_sk_to_curve25519 (inside cairn_store_identity_dh), the
 * peer's public key with
 * crypto_sign_ed25519_pk_to_curve25519 (a key that does not convert fails the
 * handshake). The key a node learns is therefore the very key it looks up in
 * the roster, with no second key to bind to the identity and no binding
 * signature to check. The cost is one key pair used for both Ed25519
 * signatures and X25519 DH, through the birational map libsodium's
 * conversion functions provide; that reuse has no known attack but is a
 * departure from key separation a reviewer should know about. Because the
 * `s` fields differ, this does not interoperate with standard Noise_XX peers
 * (it is not meant to; the prologue names cairn's variant).
 *
 * Prologue: the caller's bytes (cairn passes "cairn sync v1\0" || the
 * organisation's root public key). Both sides mix it into h, so nodes of
 * different organisations (or versions) fail at the first encrypted payload:
 * the initiator reading message 2 gets CAIRN_EBADKEY.
 *
 * Payloads: every handshake message carries one. Message 1's is sent in
 * clear (but mixed into h), messages 2 and 3 are encrypted; all three are
 * covered by h, so a tampered version list fails the handshake (downgrade
 * protection). Message 2's payload is sent before the responder knows who
 * the initiator is, and message 1's is public: neither may hold secrets.
 *
 * Who is the peer: the initiator learns the responder's key from message 2,
 * the responder the initiator's from message 3. The caller checks that key
 * against the roster (cairn__noise_remote_key) before sending anything more;
 * XX reveals the responder's identity to an active attacker who initiates.
 *
 * Sizes (P = payload length, all bytes):
 *     message 1 = 32 + P
 *     message 2 = 32 + (32 + 16) + (P + 16)
 *     message 3 = (32 + 16) + (P + 16)
 *     transport = plaintext + 16
 * Handshake messages are at most 65535 bytes; transport messages at most a
 * caller-chosen maximum (default and ceiling 1 MiB + 16).
 *
 * After message 3 both sides Split() into two cipher states, one per
 * direction, each with its own 64-bit counter. A counter never reaches
 * 2^64 - 1 (reserved by Noise): the connection must be closed first. Any
 * decryption failure kills the session: the caller drops the connection.
 *
 * The static key is an interface, not a secret: the caller gives its public
 * key and a function that computes DH(own static secret, a peer's X25519
 * key) (cairn_noise_static_t). cairn passes the store's identity through
 * cairn_store_identity_dh(), so the long-term secret never enters the Noise
 * state or sync/ at all; only the ephemeral secret and the session's keys
 * live here.
 *
 * Ownership: cairn_noise_t is a plain struct the caller owns (it can live on
 * the stack); it holds its secrets inline, and one pointer, the static key's
 * context, which must stay valid until the handshake is done (it is
 * forgotten at Split). Copying it is possible but doubles the secrets to
 * wipe. Secrets are wiped as soon as they are no longer needed (the
 * ephemeral secret and the chaining key at Split) and entirely by
 * cairn__noise_wipe. Nothing here reads a clock,
 * opens a socket or keeps global state; randomness is drawn only for the
 * ephemeral key, and only when no seed is given.
 *
 * Errors, for every function below: CAIRN_EINVAL is API misuse (a NULL
 * argument, a buffer too small, the wrong turn, a dead session) and changes
 * nothing (cairn__noise_init excepted: it always overwrites n). Any other error
 * kills the session: its secrets are wiped, anything written to out must not
 * be sent, and every later call returns CAIRN_EINVAL.
 */
#ifndef CAIRN_SYNC_NOISE_H
#define CAIRN_SYNC_NOISE_H

#include <stddef.h>
#include <stdint.h>

#include "cairn/error.h"

#define CAIRN_NOISE_KEY_BYTES 32  /* public keys, X25519 secrets, cipher keys */
#define CAIRN_NOISE_HASH_BYTES 64 /* HASHLEN: h, ck, HMAC and HKDF outputs */
#define CAIRN_NOISE_TAG_BYTES 16  /* Poly1305 tag on each encrypted field */
#define CAIRN_NOISE_SEED_BYTES 32 /* an injected ephemeral secret */
#define CAIRN_NOISE_MAX_HANDSHAKE 65535u
#define CAIRN_NOISE_MAX_TRANSPORT ((size_t)(1u << 20) + CAIRN_NOISE_TAG_BYTES)

/* What each handshake message adds to its payload (see the sizes above). */
#define CAIRN_NOISE_MSG1_OVERHEAD 32u
#define CAIRN_NOISE_MSG2_OVERHEAD 96u
#define CAIRN_NOISE_MSG3_OVERHEAD 64u

/* One direction's cipher: Noise's CipherState. */
typedef struct cairn_noise_cipher {
    uint8_t k[CAIRN_NOISE_KEY_BYTES];
    uint64_t n;  /* next nonce */
    int has_key; /* 0: EncryptWithAd passes plaintext through (handshake only) */
} cairn_noise_cipher_t;

/*
 * DH(own static secret, peer), peer an X25519 public key, into shared (32
 * bytes). CAIRN_OK, or an error that fails the handshake: CAIRN_EBADKEY for
 * a low-order peer key (a zero result), any other for a local failure.
 */
typedef cairn_err_t (*cairn_noise_dh_fn)(const void *ctx, const uint8_t peer[CAIRN_NOISE_KEY_BYTES],
                                         uint8_t shared[CAIRN_NOISE_KEY_BYTES]);

/* The static key, as the caller gives it: what to send, and how to use it. */
typedef struct cairn_noise_static {
    uint8_t pub[CAIRN_NOISE_KEY_BYTES]; /* sent in the `s` token: Ed25519 public (cairn) */
    int x25519;           /* nonzero: pub and the peer's `s` are X25519 (standard Noise, tests) */
    cairn_noise_dh_fn dh; /* DH with the secret behind pub (its X25519 form) */
    const void *ctx;      /* dh's first argument: valid until the handshake is done */
} cairn_noise_static_t;

/* A handshake and then a transport session. Fields are private to noise.c. */
typedef struct cairn_noise {
    int state;      /* dead (0, also a zeroed or wiped struct), a message step, done */
    int initiator;  /* 1 initiator, 0 responder */
    size_t max_msg; /* largest transport message accepted or produced, tag included */
    uint8_t h[CAIRN_NOISE_HASH_BYTES];
    uint8_t ck[CAIRN_NOISE_HASH_BYTES];
    cairn_noise_cipher_t cs;     /* the handshake's cipher */
    cairn_noise_cipher_t tx, rx; /* after Split */
    cairn_noise_static_t s;      /* own static key: public half and DH, no secret */
    uint8_t e_sk[CAIRN_NOISE_KEY_BYTES];
    uint8_t e_pub[CAIRN_NOISE_KEY_BYTES];
    uint8_t re[CAIRN_NOISE_KEY_BYTES];
    uint8_t rs[CAIRN_NOISE_KEY_BYTES];    /* peer's static key as received (Ed25519) */
    uint8_t rs_dh[CAIRN_NOISE_KEY_BYTES]; /* the same, as X25519 */
} cairn_noise_t;

/*
 * Start a handshake in n (any prior content is overwritten without wiping).
 * initiator: nonzero for the side that sends message 1. key: the static
 * key (copied; key->ctx must stay valid until the handshake is done);
 * cairn's own sessions pass the store's identity (session.c). prologue:
 * prologue_len bytes both sides must agree on, read during the call (NULL
 * if prologue_len is 0). ephemeral_seed: NULL to draw the ephemeral secret
 * from randombytes, or 32 bytes used as the X25519 ephemeral secret, so a
 * simulation can be replayed byte for byte (never reuse a seed outside
 * tests: it would repeat the ephemeral key).
 * Errors: CAIRN_EINVAL (NULL argument or key->dh), CAIRN_ECRYPTO (libsodium
 * failed to initialise).
 */
cairn_err_t cairn__noise_init(cairn_noise_t *n, int initiator, const cairn_noise_static_t *key,
                              const uint8_t *prologue, size_t prologue_len,
                              const uint8_t *ephemeral_seed);

/*
 * Write the next handshake message into out (cap bytes), carrying payload
 * (plen bytes; NULL if plen is 0); *len receives the message's size, which
 * is plen plus the overhead of that message. After message 3 the initiator's
 * transport is ready.
 * Errors: CAIRN_EINVAL (not this side's turn, the message would exceed
 * CAIRN_NOISE_MAX_HANDSHAKE or cap), CAIRN_EBADKEY (the peer's ephemeral key
 * is a low-order point: a DH gave zero).
 */
cairn_err_t cairn__noise_write(cairn_noise_t *n, const uint8_t *payload, size_t plen, uint8_t *out,
                               size_t cap, size_t *len);

/*
 * Read the peer's next handshake message (len bytes at msg); its payload is
 * written to payload (cap bytes, may be NULL if cap is 0), its size to *plen.
 * msg and payload must not overlap. After message 3 the responder's
 * transport is ready.
 * Errors: CAIRN_EINVAL (not this side's turn to read), CAIRN_EMALFORMED (too
 * short for this message, or longer than CAIRN_NOISE_MAX_HANDSHAKE),
 * CAIRN_ETOOBIG (the payload is longer than cap), CAIRN_EBADKEY
 * (authentication failed: tampering, another prologue, a static key that
 * does not convert, a low-order ephemeral key). On error payload may hold
 * garbage; it is wiped when authentication fails.
 */
CAIRN_MUST_USE cairn_err_t cairn__noise_read(cairn_noise_t *n, const uint8_t *msg, size_t len,
                                             uint8_t *payload, size_t cap, size_t *plen);

/* Nonzero once the handshake is complete and the transport is ready. */
int cairn__noise_done(const cairn_noise_t *n);

/* 1 if this side's next step is cairn__noise_write, 0 if read (or none: done or dead). */
int cairn__noise_my_turn(const cairn_noise_t *n);

/*
 * The peer's static key (Ed25519 public, CAIRN_NOISE_KEY_BYTES), or NULL
 * before the handshake has read and authenticated it or once the session is
 * dead. Points into n: valid until n is wiped or reinitialised.
 */
const uint8_t *cairn__noise_remote_key(const cairn_noise_t *n);

/*
 * The handshake hash h (CAIRN_NOISE_HASH_BYTES) once done, else NULL: equal
 * on both sides, unique to this session, for channel binding. Points into n.
 */
const uint8_t *cairn__noise_handshake_hash(const cairn_noise_t *n);

/*
 * Lower the largest transport message (tag included) this session accepts
 * and produces; the default is CAIRN_NOISE_MAX_TRANSPORT.
 * Errors: CAIRN_EINVAL (max below CAIRN_NOISE_TAG_BYTES or above the ceiling).
 */
cairn_err_t cairn__noise_set_max(cairn_noise_t *n, size_t max);

/*
 * Encrypt plain (len bytes) as the next message to the peer, into out, which
 * must hold len + CAIRN_NOISE_TAG_BYTES and not overlap plain. ad (ad_len
 * bytes, NULL if 0) is authenticated, not sent; the peer must pass the same.
 * Errors: CAIRN_EINVAL (not done, len + 16 above the maximum), CAIRN_ETOOBIG
 * (the send counter is exhausted: close the connection).
 */
cairn_err_t cairn__noise_encrypt(cairn_noise_t *n, const uint8_t *ad, size_t ad_len,
                                 const uint8_t *plain, size_t len, uint8_t *out);

/*
 * Decrypt the peer's next message (len bytes at cipher) into out, which must
 * hold len - CAIRN_NOISE_TAG_BYTES and not overlap cipher. Messages must
 * arrive in order, each once: a replayed, reordered, truncated or altered
 * message fails, and so does every later one (the session is dead).
 * Errors: CAIRN_EINVAL (not done), CAIRN_EMALFORMED (shorter than the tag or
 * above the maximum), CAIRN_EBADKEY (authentication failed; out is wiped),
 * CAIRN_ETOOBIG (the receive counter is exhausted).
 */
CAIRN_MUST_USE cairn_err_t cairn__noise_decrypt(cairn_noise_t *n, const uint8_t *ad, size_t ad_len,
                                                const uint8_t *cipher, size_t len, uint8_t *out);

/* Zero all of n. Safe on a zeroed or already wiped struct. */
void cairn__noise_wipe(cairn_noise_t *n);

/*
 * Building blocks, exposed so tests can check them against independent
 * computations and the published Noise test vectors.
 */

/*
 * Standard Noise_XX_25519_ChaChaPoly_BLAKE2b: cairn__noise_init with a static
 * key that is a raw X25519 secret held by the caller (x25519_sk, which must
 * stay valid and unchanged until the handshake is done; the Noise state
 * keeps only a pointer to it, through the same DH interface), and `s`
 * tokens that carry X25519 public keys, unconverted. For conformance tests
 * only; cairn never calls it.
 */
cairn_err_t cairn__noise_init_x25519(cairn_noise_t *n, int initiator, const uint8_t x25519_sk[32],
                                     const uint8_t *prologue, size_t prologue_len,
                                     const uint8_t *ephemeral_seed);

/* HMAC-BLAKE2b-512 (RFC 2104, block 128 bytes) of data under key, into out (64). */
void cairn__noise_hmac(uint8_t out[CAIRN_NOISE_HASH_BYTES], const uint8_t *key, size_t key_len,
                       const uint8_t *data, size_t data_len);

/*
 * Noise's HKDF(ck, ikm, 2 or 3): out1 and out2 (64 bytes each) always, out3
 * when not NULL. Outputs may alias ck.
 */
void cairn__noise_hkdf(const uint8_t ck[CAIRN_NOISE_HASH_BYTES], const uint8_t *ikm, size_t ikm_len,
                       uint8_t out1[CAIRN_NOISE_HASH_BYTES], uint8_t out2[CAIRN_NOISE_HASH_BYTES],
                       uint8_t *out3);

#endif

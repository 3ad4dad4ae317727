/* test_scheme.c — presets, custom spec strings (valid and invalid) and the
 * fair-budget accounting of doc/schemes.md. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "kvq.h"
#include "internal.h"
#include "tap.h"
#include "bad_specs.h"

/* 1 if a spec has exactly these fields (m as given, 0 = dim). */
static int spec_is(const kvq_codec_spec *s, int rot, int bits, int qjl, int m, int nc, int nb)
{
    return s->rotation == rot && s->mse_bits == bits && s->qjl == qjl && s->qjl_m == m &&
           s->norm_correct == nc && s->norm_bits == nb;
}

/* Presets follow the table of doc/schemes.md §2 and spend exactly n payload bits per coordinate. */
static void check_presets(void)
{
    int bad_table = 0, bad_budget = 0;
    static const char *const names[] = {"KV", "KQV", "QKQV"};
    for (int n = 1; n <= 8; n++)
        for (int p = 0; p < 3; p++) {
            kvq_scheme s;
            if (kvq_scheme_preset(names[p], n, &s) != 0) {
                bad_table++;
                continue;
            }
            bad_table += strcmp(s.name, names[p]) != 0 || s.bits != n;
            if (p == 0)
                bad_table += !spec_is(&s.k, KVQ_ROT_NONE, n, 0, 0, 0, 32) ||
                             !spec_is(&s.v, KVQ_ROT_NONE, n, 0, 0, 0, 32);
            if (p == 1)
                bad_table += !spec_is(&s.k, KVQ_ROT_WHT, n, 0, 0, 0, 32) ||
                             !spec_is(&s.v, KVQ_ROT_WHT, n - 1, 1, 0, 0, 32);
            if (p == 2)
                bad_table += !spec_is(&s.k, KVQ_ROT_WHT, n - 1, 1, 0, 0, 32) ||
                             !spec_is(&s.v, KVQ_ROT_WHT, n - 1, 1, 0, 0, 32);
            for (int d = 16; d <= 1024; d *= 2) {
                kvq_budget bk, bv;
                kvq_codec_budget(&s.k, d, &bk);
                kvq_codec_budget(&s.v, d, &bv);
                bad_budget += bk.payload_bits != n || bv.payload_bits != n;
            }
        }
    ok(bad_table == 0, "presets KV/KQV/QKQV at n=1..8 follow the table of doc/schemes.md §2");
    ok(bad_budget == 0, "every preset codec spends exactly n payload bits/coordinate, d=16..1024");

    kvq_scheme s;
    ok(kvq_scheme_preset("qkqv", 1, &s) == 0 && spec_is(&s.k, KVQ_ROT_WHT, 0, 1, 0, 0, 32) &&
       kvq_scheme_preset("kQv", 1, &s) == 0 && spec_is(&s.v, KVQ_ROT_WHT, 0, 1, 0, 0, 32) &&
       strcmp(s.name, "KQV") == 0,
       "case-insensitive names; n = 1 QJL codecs are MSE(0)+QJL");
    ok(kvq_scheme_preset("KVQ", 4, &s) == KVQ_ERR_BAD_SPEC &&
       kvq_scheme_preset("KV", 0, &s) == KVQ_ERR_INVALID_ARG &&
       kvq_scheme_preset("KV", 9, &s) == KVQ_ERR_INVALID_ARG &&
       kvq_scheme_preset(NULL, 4, &s) == KVQ_ERR_BAD_SPEC,
       "unknown preset name and n outside 1..8 are refused");
}

/* Budget numbers worked by hand. */
static void check_budget(void)
{
    kvq_scheme s;
    kvq_budget b;
    kvq_scheme_preset("KQV", 4, &s);
    kvq_codec_budget(&s.v, 128, &b);
    /* V: 3·128 + 128 bits = 64 bytes of codes, ν and γ at 32 bits = 8 bytes. */
    ok(b.payload_bits == 4 && b.side_bits == 64 && b.effective_bits == 4.5 &&
       b.bytes_per_token == 72, "KQV n=4 d=128 V: 4 bits + 64 side bits = 4.5 bits, 72 bytes");
    kvq_codec_budget(&s.k, 128, &b);
    ok(b.payload_bits == 4 && b.side_bits == 32 && b.effective_bits == 4.25 &&
       b.bytes_per_token == 68, "KQV n=4 d=128 K: 4.25 effective bits, 68 bytes");

    kvq_codec_spec pure = {.rotation = KVQ_ROT_WHT, .qjl = 1, .norm_bits = 16};
    kvq_codec_budget(&pure, 64, &b);
    ok(b.payload_bits == 1 && b.side_bits == 16 && b.effective_bits == 1.25 &&
       b.bytes_per_token == 10, "pure QJL d=64, 16-bit norms: gamma only, 1.25 bits, 10 bytes");

    kvq_codec_spec odd = {.rotation = KVQ_ROT_NONE, .mse_bits = 3, .qjl = 1, .qjl_m = 40,
                          .norm_correct = 1, .norm_bits = 32};
    kvq_codec_budget(&odd, 16, &b);
    /* 48 + 40 = 88 bits → 3 words = 12 bytes; side 64 bits = 8 bytes. */
    ok(fabs(b.payload_bits - 5.5) < 1e-15 && b.side_bits == 64 && b.effective_bits == 9.5 &&
       b.bytes_per_token == 20, "mse3+qjl40 at d=16: 5.5 payload bits, padding to 3 words");
}

/* Asymmetric budgets (doc/schemes.md §2.1): each tensor's codec is the
 * preset's codec at its own budget; the scheme has no single n. */
static void check_asymmetric(void)
{
    kvq_scheme s, k, v;
    int bad = 0;
    for (int p = 0; p < 3; p++)
        for (int bk = 1; bk <= 8; bk++)
            for (int bv = 1; bv <= 8; bv++) {
                const char *name = (const char *[]){"KV", "KQV", "QKQV"}[p];
                kvq__scheme_preset_kv(name, bk, bv, &s);
                kvq_scheme_preset(name, bk, &k);
                kvq_scheme_preset(name, bv, &v);
                bad += memcmp(&s.k, &k.k, sizeof s.k) != 0 || memcmp(&s.v, &v.v, sizeof s.v) != 0 ||
                       s.bits != (bk == bv ? bk : 0) || s.bits_k != bk || s.bits_v != bv;
            }
    ok(bad == 0 && kvq__scheme_preset_kv("KQV", 4, 9, &s) == KVQ_ERR_INVALID_ARG &&
       kvq__scheme_preset_kv("KQV", 0, 2, &s) == KVQ_ERR_INVALID_ARG,
       "asymmetric presets: K and V codecs of the symmetric presets at bk and bv (%d bad)", bad);
}

/* Custom specs that must parse, with the fields they must give. */
static void check_valid(void)
{
    kvq_scheme s;
    char err[128];
    int st = kvq_scheme_parse("k=wht:mse4,v=wht:mse3+qjl", 4, &s, err, sizeof err);
    ok(st == 0 && s.bits == 0 && spec_is(&s.k, KVQ_ROT_WHT, 4, 0, 0, 0, 32) &&
       spec_is(&s.v, KVQ_ROT_WHT, 3, 1, 0, 0, 32) &&
       strcmp(s.name, "k=wht:mse4,v=wht:mse3+qjl") == 0,
       "k=wht:mse4,v=wht:mse3+qjl (name '%s')", s.name);
    st = kvq_scheme_parse("v=WHT2:qjl64+nb16,K=none:mse2+nc", 0, &s, err, sizeof err);
    ok(st == 0 && spec_is(&s.k, KVQ_ROT_NONE, 2, 0, 0, 1, 32) &&
       spec_is(&s.v, KVQ_ROT_WHT2, 0, 1, 64, 0, 16),
       "either order, case-insensitive, qjl64, nb16, nc (name '%s')", s.name);
    st = kvq_scheme_parse("k=mse8,v=dense:qjl", 0, &s, err, sizeof err);
    ok(st == 0 && spec_is(&s.k, KVQ_ROT_NONE, 8, 0, 0, 0, 32) &&
       spec_is(&s.v, KVQ_ROT_DENSE, 0, 1, 0, 0, 32),
       "rotation defaults to none; qjl alone is mse0+qjl");
    st = kvq_scheme_parse("qkqv", 3, &s, err, sizeof err);
    ok(st == 0 && s.bits == 3 && strcmp(s.name, "QKQV") == 0 &&
       spec_is(&s.k, KVQ_ROT_WHT, 2, 1, 0, 0, 32), "a preset name through kvq_scheme_parse");

    char buf[64];
    kvq_codec_spec f = {.rotation = KVQ_ROT_DENSE, .mse_bits = 8, .qjl = 1, .qjl_m = 16384,
                        .norm_correct = 1, .norm_bits = 16};
    kvq_codec_spec_format(&f, buf, sizeof buf);
    ok(strcmp(buf, "dense:mse8+qjl16384+nc+nb16") == 0, "canonical codec text '%s'", buf);
}

/* Invalid specs: status, and a one-line reason naming the bad token. */
static void check_invalid(void)
{
    static const bad_spec cases[] = {
        {"", "empty"},
        {"KVQ", "KVQ"},
        {"k=wht:mse4", "v="},
        {"v=wht:mse4", "k="},
        {"k=wht:mse9,v=mse1", "mse9"},
        {"k=wht:mse,v=mse1", "mse"},
        {"k=wht:mse-1,v=mse1", "mse-1"},
        {"k=foo:mse4,v=mse1", "foo"},
        {"k=wht:mse4+bogus,v=mse1", "bogus"},
        {"k=wht:mse4,v=wht:qjl0", "qjl0"},
        {"k=wht:mse4,v=wht:qjl99999", "qjl99999"},
        {"k=wht:mse4,v=wht:mse2+mse3", "mse3"},
        {"k=wht:mse4,v=wht:nc", "stores nothing"},
        {"k=wht:mse4,k=mse2,v=mse1", "k= given twice"},
        {"k=wht:mse4,,v=mse1", "stray ','"},
        {"k=wht:mse4,x=mse1", "x=mse1"},
        {"k=,v=mse1", "empty codec"},
        {"k=wht:mse4+,v=mse1", "empty stage in 'wht:mse4+'"},
        {"k=wht:mse4,v=mse1 ", "mse1 "},
        {"k=wht:mse3+nc+eden,v=mse1", "'eden' (eden and nc"},
        {"k=wht:mse3+eden+nc,v=mse1", "'nc' (eden and nc"},
        {"k=wht:mse3+qjl+sqjl,v=mse1", "'sqjl' repeats"},
        {"k=wht:mse3+sqjl64,v=mse1", "sqjl64"},
    };
    int n = (int)(sizeof cases / sizeof cases[0]);
    ok(bad_specs_accepted(cases, (size_t)n) == 0,
       "%d malformed specs refused with a reason naming the bad token", n);

    kvq_scheme s;
    char err[80];
    ok(kvq_scheme_parse("KV", 12, &s, err, sizeof err) == KVQ_ERR_INVALID_ARG && strstr(err, "12"),
       "preset with budget 12: '%s'", err);
    char tiny[8];
    ok(kvq_scheme_parse("k=zzz:mse1,v=mse1", 4, &s, tiny, sizeof tiny) == KVQ_ERR_BAD_SPEC &&
       strlen(tiny) == 7 && kvq_scheme_parse("k=zzz:mse1,v=mse1", 4, &s, NULL, 0) == KVQ_ERR_BAD_SPEC,
       "error text is truncated safely; err may be NULL");
}

/* Parsed custom specs realize as codecs (m resolved against dim). */
static void check_realize(void)
{
    kvq_scheme s;
    kvq_codec *c = NULL;
    int st = kvq_scheme_parse("k=wht:mse2+qjl+nb16,v=none:mse1", 0, &s, NULL, 0);
    if (st == 0)
        st = kvq_codec_create(&c, &s.k, 128, 1, 0, 0);
    ok(st == 0 && kvq__codec_qjl_m(c) == 128 && kvq__codec_words(c) == 12 &&
       kvq_codec_spec_get(c)->norm_bits == 16, "parsed codec realizes: m = d = 128, 12 words");
    kvq_codec_destroy(c);
}

/* The grammar is the stage table's: every stage kind's canonical token parses
 * back to the same spec, and the messages list every kind's forms. */
static void check_stage_tokens(void)
{
    static const kvq_codec_spec specs[] = {
        {.rotation = KVQ_ROT_NONE, .qjl = 1, .norm_bits = 32},
        {.rotation = KVQ_ROT_WHT, .mse_bits = 4, .norm_bits = 32},
        {.rotation = KVQ_ROT_WHT2, .mse_bits = 2, .qjl = 1, .qjl_m = 40, .norm_bits = 32},
        {.rotation = KVQ_ROT_DENSE, .mse_bits = 8, .norm_correct = 1, .norm_bits = 32},
        {.rotation = KVQ_ROT_WHT, .mse_bits = 1, .qjl = 1, .norm_correct = 1, .norm_bits = 16},
        {.rotation = KVQ_ROT_NONE, .mse_bits = 3, .qjl = 1, .qjl_m = 16384, .norm_correct = 1,
         .norm_bits = 16},
        {.rotation = KVQ_ROT_WHT, .mse_bits = 3, .norm_bits = 32, .eden = 1},
        {.rotation = KVQ_ROT_WHT, .mse_bits = 2, .qjl = 1, .norm_bits = 16, .eden = 1, .sqjl = 1},
        {.rotation = KVQ_ROT_WHT, .mse_bits = 2, .norm_bits = 16, .out_channels = 4, .out_bits = 6},
    };
    int bad = 0;
    for (size_t i = 0; i < sizeof specs / sizeof specs[0]; i++) {
        char text[64], again[32];
        kvq_scheme s;
        kvq_codec_spec_format(&specs[i], again, sizeof again);
        snprintf(text, sizeof text, "k=%s,v=mse1", again);
        int good = kvq_scheme_parse(text, 0, &s, NULL, 0) == 0 &&
                   memcmp(&s.k, &specs[i], sizeof s.k) == 0;
        if (!good)
            diag("'%s' does not parse back", text);
        bad += !good;
    }
    ok(bad == 0, "every stage's canonical token parses back to the same spec");

    kvq_scheme s;
    char err[160];
    kvq_scheme_parse("k=wht:mse4+zz,v=mse1", 4, &s, err, sizeof err);
    ok(strstr(err, "(expected mse<b>, qjl, qjl<m>, sqjl, ") &&
       strstr(err, "q8_0, q4_0, q4_1, fp8e4m3, fp8e5m2, fp16, ") &&
       strstr(err, "nc, eden, nb16, nb32 or out<c>@<b2>)"),
       "unknown stage: the message lists every stage's forms ('%s')", err);
    kvq_scheme_parse("k=nb16,v=mse1", 4, &s, err, sizeof err);
    ok(strstr(err, "(add mse<b>, qjl or q8_0)") != NULL,
       "a codec without a storing stage names the stages that store ('%s')", err);

    /* mse2 (2 bits, ν) + qjl (m = 64: 1 bit, γ) + nc (free) + nb16 (16-bit ν and γ) at d = 64 */
    kvq_codec_spec all = {.rotation = KVQ_ROT_WHT, .mse_bits = 2, .qjl = 1, .norm_correct = 1,
                          .norm_bits = 16};
    kvq_budget b;
    kvq_codec_budget(&all, 64, &b);
    ok(b.payload_bits == 3 && b.side_bits == 32 && b.effective_bits == 3.5 &&
       b.bytes_per_token == 28, "the budget sums the stages' costs: %g + %g/64 bits, %g bytes",
       b.payload_bits, b.side_bits, b.bytes_per_token);
}

int main(void)
{
    plan(4 + 1 + 4 + 5 + 3 + 1 + 4);
    check_presets();
    check_asymmetric();
    check_budget();
    check_valid();
    check_invalid();
    check_realize();
    check_stage_tokens();
    return exit_status();
}

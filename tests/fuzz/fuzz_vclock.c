/* Fuzz target: libcoord's vector clocks. The input is a little program run
 * on four clocks: each op byte is followed by its operands (clock indexes,
 * node names from a small alphabet with some invalid ones, counters from
 * small to past VCLOCK_COUNTER_MAX). After every op the target checks the
 * clocks' representation (sorted, counters in (0, MAX], at most the cap)
 * and the op's algebra against a naive model: tick is strictly after,
 * merge is the least upper bound, compare is antisymmetric and agrees with
 * the element-wise definition, and a refused op leaves its clock as it
 * was. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "fuzz.h"
#include "vclock.h"

#define NCLOCKS 4

typedef struct reader {
    const uint8_t *p;
    size_t n;
} reader;

static uint8_t next_byte(reader *r)
{
    if (!r->n)
        return 0;
    r->n--;
    return *r->p++;
}

static const char *const fixed_names[] = {
    "a",
    "b",
    "c",
    "Downtown",
    "coordinator",
    "LAFD-1",
    "z.9_",
    /* 64 characters: the longest valid id. */
    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
};

static const char *const bad_names[] = {
    "",
    "bad id",
    "caf\xc3\xa9",
    "a/b",
    /* 65 characters */
    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
    "\x01",
    "x\x7f",
    "-",
};

/* A node name: mostly valid (enough distinct ones to reach the cap), some
 * invalid. buf receives generated names. "-" is valid ([A-Za-z0-9._-]). */
static const char *pick_node(reader *r, char *buf, size_t bufsz)
{
    unsigned b = next_byte(r) % 96;
    if (b < 8)
        return fixed_names[b];
    if (b < 88) {
        snprintf(buf, bufsz, "n%02u", b - 8);
        return buf;
    }
    return bad_names[b - 88];
}

static uint64_t pick_counter(reader *r)
{
    uint8_t k = next_byte(r);
    switch (k % 6) {
    case 0:
    case 1:
    case 2:
        return k / 6 % 8; /* small, 0 included */
    case 3:
        return VCLOCK_COUNTER_MAX - k / 6 % 3;
    case 4:
        return VCLOCK_COUNTER_MAX + 1 + k / 6 % 2;
    default: {
        uint64_t v = 0;
        for (int i = 0; i < 8; i++)
            v = v << 8 | next_byte(r);
        return v;
    }
    }
}

static bool node_ok(const char *s)
{
    size_t n = strlen(s);
    if (n < 1 || n > COORD_ID_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-'))
            return false;
    }
    return true;
}

static void check_repr(const vclock *vc, int which)
{
    FUZZ_CHECK(vc->n <= VCLOCK_MAX_ENTRIES, "clock %d has %zu entries", which, vc->n);
    for (size_t i = 0; i < vc->n; i++) {
        FUZZ_CHECK(node_ok(vc->e[i].node), "clock %d entry %zu has a bad node", which, i);
        FUZZ_CHECK(vc->e[i].counter > 0 && vc->e[i].counter <= VCLOCK_COUNTER_MAX,
                   "clock %d entry %zu counter %" PRIu64, which, i, vc->e[i].counter);
        if (i)
            FUZZ_CHECK(strcmp(vc->e[i - 1].node, vc->e[i].node) < 0, "clock %d not sorted at %zu",
                       which, i);
    }
}

static bool same(const vclock *a, const vclock *b)
{
    if (a->n != b->n)
        return false;
    for (size_t i = 0; i < a->n; i++)
        if (strcmp(a->e[i].node, b->e[i].node) != 0 || a->e[i].counter != b->e[i].counter)
            return false;
    return true;
}

/* The definition, by lookups over the union of nodes. */
static vc_order naive_compare(const vclock *a, const vclock *b)
{
    bool a_big = false, b_big = false;
    for (size_t i = 0; i < a->n; i++) {
        uint64_t x = a->e[i].counter, y = vclock_get(b, a->e[i].node);
        a_big |= x > y;
        b_big |= y > x;
    }
    for (size_t i = 0; i < b->n; i++) {
        uint64_t x = vclock_get(a, b->e[i].node), y = b->e[i].counter;
        a_big |= x > y;
        b_big |= y > x;
    }
    return a_big && b_big ? VC_CONCURRENT : a_big ? VC_AFTER : b_big ? VC_BEFORE : VC_EQUAL;
}

static size_t union_size(const vclock *a, const vclock *b)
{
    size_t n = a->n;
    for (size_t i = 0; i < b->n; i++)
        if (vclock_get(a, b->e[i].node) == 0)
            n++;
    return n;
}

static vc_order flip(vc_order o)
{
    return o == VC_BEFORE ? VC_AFTER : o == VC_AFTER ? VC_BEFORE : o;
}

static void op_tick(vclock *c, const char *node)
{
    vclock old;
    vclock_copy(&old, c);
    uint64_t before = vclock_get(c, node);
    int rc = vclock_tick(c, node);
    if (rc == 0) {
        FUZZ_CHECK(node_ok(node), "tick accepted a bad node");
        FUZZ_CHECK(vclock_get(c, node) == before + 1, "tick: %" PRIu64 " -> %" PRIu64, before,
                   vclock_get(c, node));
        FUZZ_CHECK(vclock_compare(c, &old) == VC_AFTER, "tick not strictly after");
        FUZZ_CHECK(vclock_compare(&old, c) == VC_BEFORE, "old not before tick");
        FUZZ_CHECK(c->n == old.n + (before == 0), "tick changed %zu -> %zu entries", old.n, c->n);
    } else {
        FUZZ_CHECK(same(c, &old), "refused tick changed the clock");
        FUZZ_CHECK(!node_ok(node) || before >= VCLOCK_COUNTER_MAX ||
                       (before == 0 && old.n == VCLOCK_MAX_ENTRIES),
                   "tick of %s refused (rc %d, counter %" PRIu64 ", %zu entries)", node, rc, before,
                   old.n);
    }
}

static void op_set(vclock *c, const char *node, uint64_t v)
{
    vclock old;
    vclock_copy(&old, c);
    uint64_t before = vclock_get(c, node);
    int rc = vclock_set(c, node, v);
    if (rc == 0) {
        FUZZ_CHECK(node_ok(node) && v <= VCLOCK_COUNTER_MAX, "set accepted bad input");
        FUZZ_CHECK(vclock_get(c, node) == v, "set did not stick");
        size_t expect = old.n + (before == 0 && v > 0) - (before > 0 && v == 0);
        FUZZ_CHECK(c->n == expect, "set: %zu entries, expected %zu", c->n, expect);
        for (size_t i = 0; i < old.n; i++)
            if (strcmp(old.e[i].node, node) != 0)
                FUZZ_CHECK(vclock_get(c, old.e[i].node) == old.e[i].counter,
                           "set changed another entry");
    } else {
        FUZZ_CHECK(same(c, &old), "refused set changed the clock");
        FUZZ_CHECK(!node_ok(node) || v > VCLOCK_COUNTER_MAX ||
                       (before == 0 && v > 0 && old.n == VCLOCK_MAX_ENTRIES),
                   "set refused (rc %d)", rc);
    }
}

static void op_merge(vclock *dst, const vclock *src)
{
    vclock old;
    vclock_copy(&old, dst);
    size_t un = union_size(dst, src);
    int rc = vclock_merge(dst, src);
    if (rc == 0) {
        FUZZ_CHECK(un <= VCLOCK_MAX_ENTRIES, "merge exceeded the cap");
        FUZZ_CHECK(dst->n == un, "merge has %zu entries, union %zu", dst->n, un);
        vc_order o1 = vclock_compare(dst, &old), o2 = vclock_compare(dst, src);
        FUZZ_CHECK(o1 == VC_AFTER || o1 == VC_EQUAL, "merge below dst (%s)", vc_order_str(o1));
        FUZZ_CHECK(o2 == VC_AFTER || o2 == VC_EQUAL, "merge below src (%s)", vc_order_str(o2));
        /* Least: each entry is the max of the two, nothing more. */
        for (size_t i = 0; i < dst->n; i++) {
            uint64_t x = vclock_get(&old, dst->e[i].node), y = vclock_get(src, dst->e[i].node);
            FUZZ_CHECK(dst->e[i].counter == (x > y ? x : y), "merge entry %s not the max",
                       dst->e[i].node);
        }
    } else {
        FUZZ_CHECK(same(dst, &old), "refused merge changed dst");
        FUZZ_CHECK(un > VCLOCK_MAX_ENTRIES, "merge of %zu refused (rc %d)", un, rc);
    }
}

static void op_compare(const vclock *a, const vclock *b)
{
    vc_order ab = vclock_compare(a, b), ba = vclock_compare(b, a);
    FUZZ_CHECK(ba == flip(ab), "compare not antisymmetric: %s / %s", vc_order_str(ab),
               vc_order_str(ba));
    FUZZ_CHECK(ab == naive_compare(a, b), "compare %s, definition %s", vc_order_str(ab),
               vc_order_str(naive_compare(a, b)));
    FUZZ_CHECK((ab == VC_EQUAL) == same(a, b), "equal iff identical");
    FUZZ_CHECK(vclock_compare(a, a) == VC_EQUAL, "not reflexive");
    FUZZ_CHECK(vclock_compare(a, NULL) == (a->n ? VC_AFTER : VC_EQUAL), "compare with NULL");
}

/* a <= b and b <= c imply a <= c. */
static void op_transitive(const vclock *a, const vclock *b, const vclock *c)
{
    vc_order ab = vclock_compare(a, b), bc = vclock_compare(b, c), ac = vclock_compare(a, c);
    bool le_ab = ab == VC_BEFORE || ab == VC_EQUAL, le_bc = bc == VC_BEFORE || bc == VC_EQUAL;
    if (le_ab && le_bc)
        FUZZ_CHECK(ac == VC_BEFORE || ac == VC_EQUAL, "not transitive: %s %s %s", vc_order_str(ab),
                   vc_order_str(bc), vc_order_str(ac));
    if (ab == VC_BEFORE && le_bc)
        FUZZ_CHECK(ac == VC_BEFORE, "strict order not transitive");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    vclock c[NCLOCKS];
    reader r = {data, size};
    char buf[16];

    for (int i = 0; i < NCLOCKS; i++)
        vclock_init(&c[i]);
    while (r.n) {
        uint8_t op = next_byte(&r);
        vclock *x = &c[next_byte(&r) % NCLOCKS];
        switch (op % 8) {
        case 0:
        case 1: /* tick is the common event */
            op_tick(x, pick_node(&r, buf, sizeof(buf)));
            break;
        case 2: {
            const char *node = pick_node(&r, buf, sizeof(buf));
            op_set(x, node, pick_counter(&r));
            break;
        }
        case 3:
            op_merge(x, &c[next_byte(&r) % NCLOCKS]);
            break;
        case 4:
            op_compare(x, &c[next_byte(&r) % NCLOCKS]);
            break;
        case 5: {
            const vclock *y = &c[next_byte(&r) % NCLOCKS];
            vclock_copy(x, y);
            FUZZ_CHECK(same(x, y) && vclock_compare(x, y) == VC_EQUAL, "copy differs");
            break;
        }
        case 6: {
            /* Fill up with fresh nodes: reaches the cap in a few ops. */
            unsigned k = next_byte(&r) % 80;
            for (unsigned i = 0; i < 16; i++) {
                snprintf(buf, sizeof(buf), "n%02u", (k + i) % 80);
                op_tick(x, buf);
            }
            break;
        }
        default:
            op_transitive(x, &c[next_byte(&r) % NCLOCKS], &c[next_byte(&r) % NCLOCKS]);
            if (op & 0x80)
                vclock_init(x);
            break;
        }
        /* Every op writes x only. */
        check_repr(x, (int)(x - c));
    }
    return 0;
}

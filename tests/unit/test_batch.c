/* Group commit's bookkeeping (services/broker/batch.c) without SQLite: the
 * batch numbers, settling, failed batches, the committer's election, and
 * its wait for the writers already queued. The "store" is a counter, the
 * domain mutex a plain one. */
#include <pthread.h>
#include <sched.h>

#include "batch.h"
#include "unit.h"

/* A district standing in for the broker: its mutex and a store that counts
 * commits and can be told to fail them. */
struct fake {
    pthread_mutex_t mu;
    batches g;
    int commits_called;
    bool fail_next;
};

static void fake_init(struct fake *f)
{
    pthread_mutex_init(&f->mu, NULL);
    ck_assert_int_eq(batch_init(&f->g), 0);
    f->commits_called = 0;
    f->fail_next = false;
}

static void fake_release(struct fake *f)
{
    batch_destroy(&f->g);
    pthread_mutex_destroy(&f->mu);
}

static void fake_commit(void *arg)
{
    struct fake *f = arg;

    pthread_mutex_lock(&f->mu);
    f->commits_called++;
    batch_settle(&f->g, !f->fail_next);
    f->fail_next = false;
    pthread_mutex_unlock(&f->mu);
}

/* One change staged, as txn.c does; caller holds the domain mutex. */
static uint64_t stage_locked(struct fake *f)
{
    bool fresh;
    uint64_t n = batch_open(&f->g, &fresh);

    batch_member(&f->g);
    return n;
}

static uint64_t stage(struct fake *f)
{
    uint64_t n;

    pthread_mutex_lock(&f->mu);
    n = stage_locked(f);
    pthread_mutex_unlock(&f->mu);
    return n;
}

START_TEST(test_changes_share_the_open_batch)
{
    struct fake f;
    uint64_t commits, changes;
    bool fresh;

    fake_init(&f);
    ck_assert_uint_eq(batch_pending(&f.g), 0);
    ck_assert_uint_eq(batch_open(&f.g, &fresh), 1);
    ck_assert(fresh);
    batch_member(&f.g);
    ck_assert_uint_eq(batch_open(&f.g, &fresh), 1);
    ck_assert(!fresh);
    batch_member(&f.g);
    ck_assert_uint_eq(batch_pending(&f.g), 1);
    ck_assert_uint_eq(batch_settle(&f.g, true), 1);
    ck_assert(!batch_is_open(&f.g));
    ck_assert_uint_eq(batch_pending(&f.g), 1); /* committed: waited for at once */
    ck_assert_uint_eq(batch_settle(&f.g, true), 0); /* nothing open */
    /* Settled already: no commit is called. */
    ck_assert(batch_wait(&f.g, 1, fake_commit, &f));
    ck_assert_int_eq(f.commits_called, 0);
    ck_assert(batch_wait(&f.g, 0, fake_commit, &f));
    batch_counts(&f.g, &commits, &changes);
    ck_assert_uint_eq(commits, 1);
    ck_assert_uint_eq(changes, 2);
    ck_assert_uint_eq(stage(&f), 2);
    fake_release(&f);
}
END_TEST

START_TEST(test_a_failed_batch_fails_only_its_changes)
{
    struct fake f;
    uint64_t commits, changes;

    fake_init(&f);
    uint64_t a = stage(&f);
    f.fail_next = true;
    ck_assert(!batch_wait(&f.g, a, fake_commit, &f));
    ck_assert_uint_eq(batch_pending(&f.g), 0); /* rolled back: nothing to wait for */
    uint64_t b = stage(&f);
    ck_assert_uint_gt(b, a);
    ck_assert(batch_wait(&f.g, b, fake_commit, &f));
    /* Asked again later, each batch keeps its own outcome. */
    ck_assert(!batch_wait(&f.g, a, fake_commit, &f));
    ck_assert(batch_wait(&f.g, b, fake_commit, &f));
    ck_assert_int_eq(f.commits_called, 2);
    batch_counts(&f.g, &commits, &changes);
    ck_assert_uint_eq(commits, 1);
    ck_assert_uint_eq(changes, 1);
    fake_release(&f);
}
END_TEST

/* --durability full: a batch closed, its fsync outside the mutex. */
START_TEST(test_a_later_success_covers_a_syncing_batch)
{
    struct fake f;
    uint64_t members, a, b, c;

    fake_init(&f);
    a = stage(&f);
    pthread_mutex_lock(&f.mu);
    ck_assert_uint_eq(batch_close(&f.g, &members), a);
    ck_assert_uint_eq(members, 1);
    ck_assert_uint_eq(batch_pending(&f.g), a); /* read while it syncs: wait for it */
    pthread_mutex_unlock(&f.mu);
    b = stage(&f);
    pthread_mutex_lock(&f.mu);
    batch_settle(&f.g, false);
    pthread_mutex_unlock(&f.mu);
    ck_assert(!batch_wait(&f.g, b, fake_commit, &f));
    pthread_mutex_lock(&f.g.mu);
    ck_assert_uint_lt(f.g.durable, a); /* b's failure says nothing of a */
    pthread_mutex_unlock(&f.g.mu);
    c = stage(&f);
    pthread_mutex_lock(&f.mu);
    batch_settle(&f.g, true); /* its fsync covered a's commit too */
    pthread_mutex_unlock(&f.mu);
    ck_assert(batch_wait(&f.g, a, fake_commit, &f));
    batch_done(&f.g, a, members, true); /* a's own fsync, late */
    ck_assert(batch_wait(&f.g, a, fake_commit, &f));
    ck_assert(batch_wait(&f.g, c, fake_commit, &f));
    ck_assert(!batch_wait(&f.g, b, fake_commit, &f));
    ck_assert_int_eq(f.commits_called, 0);
    fake_release(&f);
}
END_TEST

#define WRITERS 16

static void *writer(void *arg)
{
    struct fake *f = arg;
    uint64_t n = stage(f);

    return batch_wait(&f->g, n, fake_commit, f) ? arg : NULL;
}

START_TEST(test_concurrent_writers_all_durable)
{
    struct fake f;
    pthread_t t[WRITERS];
    uint64_t commits, changes;

    fake_init(&f);
    for (int round = 0; round < 50; round++) {
        for (int i = 0; i < WRITERS; i++)
            ck_assert_int_eq(pthread_create(&t[i], NULL, writer, &f), 0);
        for (int i = 0; i < WRITERS; i++) {
            void *ok;

            pthread_join(t[i], &ok);
            ck_assert_ptr_eq(ok, &f);
        }
    }
    batch_counts(&f.g, &commits, &changes);
    ck_assert_uint_eq(changes, 50 * WRITERS);
    ck_assert_uint_eq(commits, (uint64_t)f.commits_called);
    ck_assert_uint_le(commits, changes);
    ck_assert(!batch_is_open(&f.g));
    fake_release(&f);
}
END_TEST

struct lead {
    struct fake *f;
    uint64_t n;
    bool ok;
};

static void *leader(void *arg)
{
    struct lead *l = arg;

    l->ok = batch_wait(&l->f->g, l->n, fake_commit, l->f);
    return NULL;
}

START_TEST(test_committer_waits_for_queued_writers)
{
    struct fake f;
    struct lead l;
    pthread_t t;
    bool leading = false;

    fake_init(&f);
    l.f = &f;
    l.n = stage(&f);
    batch_arrive(&f.g); /* a writer queued for the domain mutex */
    ck_assert_int_eq(pthread_create(&t, NULL, leader, &l), 0);
    /* The committer holds the group's mutex from taking the lead until it
     * sleeps for the queued writer: seen leading, it has not committed. */
    while (!leading) {
        pthread_mutex_lock(&f.g.mu);
        leading = f.g.leading;
        pthread_mutex_unlock(&f.g.mu);
        if (!leading)
            sched_yield();
    }
    /* The queued writer gets the mutex, says so, and stages: into the
     * committer's batch, which it then commits for both. */
    pthread_mutex_lock(&f.mu);
    ck_assert_int_eq(f.commits_called, 0);
    batch_passed(&f.g);
    ck_assert_uint_eq(stage_locked(&f), l.n);
    pthread_mutex_unlock(&f.mu);
    pthread_join(t, NULL);
    ck_assert(l.ok);
    ck_assert_int_eq(f.commits_called, 1);
    uint64_t commits, changes;
    batch_counts(&f.g, &commits, &changes);
    ck_assert_uint_eq(commits, 1);
    ck_assert_uint_eq(changes, 2);
    fake_release(&f);
}
END_TEST

Suite *unit_suite(void)
{
    Suite *s = suite_create("batch");
    TCase *tc = unit_tcase("batch");

    tcase_add_test(tc, test_changes_share_the_open_batch);
    tcase_add_test(tc, test_a_failed_batch_fails_only_its_changes);
    tcase_add_test(tc, test_a_later_success_covers_a_syncing_batch);
    tcase_add_test(tc, test_concurrent_writers_all_durable);
    tcase_add_test(tc, test_committer_waits_for_queued_writers);
    suite_add_tcase(s, tc);
    return s;
}

/* test_store_mem.c - the memory store's epochs (daemon/store_mem.c): the
 * date a tag gets when it becomes current, with the store's own clock and
 * with a backend that tells the dates; the state file's two parts. Each
 * table row is one store driven through a few operations; after each, the
 * URL's published date must be exactly the row's. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "fresh.h"
#include "store.h"

#define ABSENT (-1) /* want_lm: the URL is not in the store */

typedef enum { OBSERVE, PIN, PURGE, LEARN_TAG, LEARN_PIN } op_kind_t;

typedef struct op {
    op_kind_t kind;
    const char *url, *tag;
    int64_t now;     /* OBSERVE, PIN: the clock; LEARN_*: the date learned */
    int of_op;       /* LEARN_*: the change numbered as after ops[of_op] */
    int64_t want_lm; /* published date of url afterwards, or ABSENT */
} op_t;

typedef struct row {
    const char *name;
    bool has_backend; /* dates come from nm_store_learn_date */
    op_t ops[8];
} row_t;

static const row_t rows[] = {
    {"new_tag_is_dated_one_second_after_now",
     false,
     {{OBSERVE, "h/a", "\"A\"", 100, 0, 101}}},
    {"same_tag_keeps_its_date",
     false,
     {{OBSERVE, "h/a", "\"A\"", 100, 0, 101},
      {OBSERVE, "h/a", "\"A\"", 500, 0, 101}}},
    {"a_b_a_in_one_second_gets_three_dates",
     false,
     {{OBSERVE, "h/a", "\"A\"", 100, 0, 101},
      {OBSERVE, "h/a", "\"B\"", 100, 0, 102},
      {OBSERVE, "h/a", "\"A\"", 100, 0, 103}}},
    {"rollback_later_is_dated_by_the_clock",
     false,
     {{OBSERVE, "h/a", "\"A\"", 100, 0, 101},
      {OBSERVE, "h/a", "\"B\"", 200, 0, 201},
      {OBSERVE, "h/a", "\"A\"", 300, 0, 301}}},
    {"clock_going_back_never_lowers_a_date",
     false,
     {{OBSERVE, "h/a", "\"A\"", 300, 0, 301},
      {OBSERVE, "h/a", "\"B\"", 100, 0, 302}}},
    {"urls_have_their_own_marks",
     false,
     {{OBSERVE, "h/a", "\"A\"", 100, 0, 101},
      {OBSERVE, "h/a", "\"B\"", 100, 0, 102},
      {OBSERVE, "h/b", "\"A\"", 100, 0, 101}}},
    {"purge_keeps_the_high_water_mark",
     false,
     {{OBSERVE, "h/a", "\"A\"", 100, 0, 101},
      {OBSERVE, "h/a", "\"B\"", 100, 0, 102},
      {PURGE, "h/a", NULL, 0, 0, ABSENT},
      {OBSERVE, "h/a", "\"B\"", 100, 0, 103}}},
    {"pin_is_a_new_epoch_and_stays_published",
     false,
     {{OBSERVE, "h/a", "\"A\"", 100, 0, 101},
      {PIN, "h/a", "\"P\"", 100, 0, 102},
      {OBSERVE, "h/a", "\"B\"", 100, 0, 102},
      {PIN, "h/a", "\"A\"", 100, 0, 104}}},
    {"pin_on_the_published_tag_keeps_its_date",
     false,
     {{OBSERVE, "h/a", "\"A\"", 100, 0, 101},
      {PIN, "h/a", "\"A\"", 400, 0, 101},
      {PIN, "h/a", "\"A\"", 500, 0, 101}}},
    {"purge_of_a_pin_makes_the_next_tag_a_new_epoch",
     false,
     {{OBSERVE, "h/a", "\"A\"", 100, 0, 101},
      {PIN, "h/a", "\"P\"", 100, 0, 102},
      {PURGE, "h/a", NULL, 0, 0, ABSENT},
      {OBSERVE, "h/a", "\"A\"", 100, 0, 103}}},
    {"backend_store_invents_no_date",
     true,
     {{OBSERVE, "h/a", "\"A\"", 100, 0, 0},
      {LEARN_TAG, "h/a", NULL, 777, 0, 777},
      {OBSERVE, "h/a", "\"A\"", 900, 0, 777}}},
    {"backend_reply_to_an_older_change_is_ignored",
     true,
     {{OBSERVE, "h/a", "\"A\"", 100, 0, 0},
      {OBSERVE, "h/a", "\"B\"", 100, 0, 0},
      {OBSERVE, "h/a", "\"A\"", 100, 0, 0},
      {LEARN_TAG, "h/a", NULL, 701, 0, 0},
      {LEARN_TAG, "h/a", NULL, 702, 1, 0},
      {LEARN_TAG, "h/a", NULL, 703, 2, 703}}},
    {"backend_pin_date_is_learned_apart_from_the_tag",
     true,
     {{OBSERVE, "h/a", "\"A\"", 100, 0, 0},
      {LEARN_TAG, "h/a", NULL, 701, 0, 701},
      {PIN, "h/a", "\"P\"", 100, 0, 0},
      {LEARN_TAG, "h/a", NULL, 799, 0, 0},
      {LEARN_PIN, "h/a", NULL, 702, 2, 702}}},
    {"backend_reply_after_purge_is_ignored",
     true,
     {{OBSERVE, "h/a", "\"A\"", 100, 0, 0},
      {PURGE, "h/a", NULL, 0, 0, ABSENT},
      {OBSERVE, "h/a", "\"A\"", 100, 0, 0},
      {LEARN_TAG, "h/a", NULL, 701, 0, 0},
      {LEARN_TAG, "h/a", NULL, 702, 2, 702}}},
};

static nm_store_t *new_store(bool has_backend)
{
    nm_store_t *st = nm_store_new(NULL, NULL);
    assert_non_null(st);
    if (has_backend) {
        nm_store_backend_t be = {0}; /* hooks unset: nothing to write to */
        nm_store_set_backend(st, &be);
    }
    return st;
}

static void run_op(nm_store_t *st, const op_t *op, const uint64_t *tag_seqs,
                   const uint64_t *pin_seqs)
{
    switch (op->kind) {
    case OBSERVE:
        assert_true(nm_store_observe(st, op->url, op->tag, op->now) >= 0);
        break;
    case PIN:
        assert_true(nm_store_pin(st, op->url, op->tag, op->now) >= 0);
        break;
    case PURGE:
        assert_int_equal(nm_store_purge(st, op->url), 1);
        break;
    case LEARN_TAG:
        nm_store_learn_date(st, op->url, false, tag_seqs[op->of_op], op->now);
        break;
    case LEARN_PIN:
        nm_store_learn_date(st, op->url, true, pin_seqs[op->of_op], op->now);
        break;
    }
}

static void epochs_follow_the_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        const row_t *row = &rows[i];
        nm_store_t *st = new_store(row->has_backend);
        uint64_t tag_seqs[8] = {0}, pin_seqs[8] = {0};
        for (int k = 0; k < 8 && row->ops[k].url; k++) {
            print_message("row %s, op %d\n", row->name, k);
            const op_t *op = &row->ops[k];
            run_op(st, op, tag_seqs, pin_seqs);
            const nm_store_rec_t *r = nm_store_get(st, op->url);
            tag_seqs[k] = r ? r->tag_seq : 0;
            pin_seqs[k] = r ? r->pin_seq : 0;
            if (op->want_lm == ABSENT) {
                assert_null(r);
                continue;
            }
            assert_non_null(r);
            assert_int_equal(nm_store_published_lm(r), op->want_lm);
        }
        nm_store_free(st);
    }
}

/* A store with URL h/a (tag A, then B: dates 101, 102), h/p pinned to P
 * (101: a URL of its own) and /off disabled, all at clock 100. */
static nm_store_t *filled_store(void)
{
    nm_store_t *st = new_store(false);
    assert_int_equal(nm_store_observe(st, "h/a", "\"A\"", 100), 1);
    assert_int_equal(nm_store_observe(st, "h/a", "\"B\"", 100), 1);
    assert_int_equal(nm_store_pin(st, "h/p", "\"P\"", 100), 1);
    assert_int_equal(nm_store_set_disabled(st, "/off", true), 1);
    return st;
}

static void state_path(char *out, size_t cap)
{
    snprintf(out, cap, "/tmp/nm-test-store-%d", (int)getpid());
}

static void state_all_keeps_records_and_their_dates(void **state)
{
    (void)state;
    char path[64];
    state_path(path, sizeof(path));
    nm_store_t *st = filled_store();
    assert_int_equal(nm_store_save(st, path, NM_STORE_SAVE_ALL), 0);
    nm_store_free(st);

    st = new_store(false);
    assert_int_equal(nm_store_load(st, path, 100), 2); /* h/a, pin of h/p */
    const nm_store_rec_t *r = nm_store_get(st, "h/a");
    assert_non_null(r);
    assert_string_equal(r->tag, "\"B\"");
    assert_int_equal(r->lm_unix, 102);
    /* A pin's date is not kept: it starts a new epoch above the floor. The
     * saved store had given 102, but at 100 no date after 101 can have been
     * published, so the floor is 101 (a floor far ahead would keep every
     * URL without a date until the clock caught up). */
    r = nm_store_get(st, "h/p");
    assert_non_null(r);
    assert_string_equal(r->pin_tag, "\"P\"");
    assert_int_equal(nm_store_published_lm(r), 102);
    assert_true(nm_store_is_disabled(st, "/off"));
    /* Back to A: later than both dates h/a had. */
    assert_int_equal(nm_store_observe(st, "h/a", "\"A\"", 100), 1);
    assert_int_equal(nm_store_get(st, "h/a")->lm_unix, 103);
    nm_store_free(st);
    unlink(path);
}

static void state_policy_drops_records_but_keeps_pins_and_prefixes(void **state)
{
    (void)state;
    char path[64];
    state_path(path, sizeof(path));
    nm_store_t *st = filled_store();
    assert_int_equal(nm_store_save(st, path, NM_STORE_SAVE_POLICY), 0);
    nm_store_free(st);

    st = new_store(false);
    assert_int_equal(nm_store_load(st, path, 100), 1);
    assert_null(nm_store_get(st, "h/a"));
    assert_true(nm_store_is_disabled(st, "/off"));
    assert_int_equal(nm_store_published_lm(nm_store_get(st, "h/p")), 102);
    /* h/a comes back as a new epoch, above every date that can have been
     * published by the time of the load (101). */
    assert_int_equal(nm_store_observe(st, "h/a", "\"A\"", 100), 1);
    assert_int_equal(nm_store_get(st, "h/a")->lm_unix, 102);
    nm_store_free(st);
    unlink(path);
}

static void state_load_starts_above_the_clock_of_the_load(void **state)
{
    (void)state;
    char path[64];
    state_path(path, sizeof(path));
    nm_store_t *st = new_store(false);
    assert_int_equal(nm_store_save(st, path, NM_STORE_SAVE_POLICY), 0);
    nm_store_free(st);
    /* The process that wrote it may have dated something 501 at 500. */
    st = new_store(false);
    assert_int_equal(nm_store_load(st, path, 500), 0);
    assert_int_equal(nm_store_observe(st, "h/a", "\"A\"", 500), 1);
    assert_int_equal(nm_store_get(st, "h/a")->lm_unix, 502);
    nm_store_free(st);
    unlink(path);
}

static void state_of_the_first_format_gives_policy_only(void **state)
{
    (void)state;
    char path[64];
    state_path(path, sizeof(path));
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs("# notmodd state v1\n"
          "h/a\t\"A\"\t100\t-\t0\n"
          "h/p\t\"T\"\t90\t\"P\"\t95\n"
          "disabled\t/off\n",
          f);
    fclose(f);
    nm_store_t *st = new_store(false);
    assert_int_equal(nm_store_load(st, path, 300), 1);
    assert_null(nm_store_get(st, "h/a"));
    const nm_store_rec_t *r = nm_store_get(st, "h/p");
    assert_non_null(r);
    assert_null(r->tag);
    assert_string_equal(r->pin_tag, "\"P\"");
    assert_int_equal(r->pin_lm_unix, 302);
    assert_true(nm_store_is_disabled(st, "/off"));
    nm_store_free(st);
    unlink(path);
}

/* What the snapshot writer and the backend are told. */
typedef struct seen {
    int prefix_changes, backend_calls;
    bool last_is_set;
    int64_t last_fresh_s;
} seen_t;

static void on_change(void *arg, nm_store_kind_t kind, const char *key)
{
    (void)key;
    seen_t *s = arg;
    s->prefix_changes += kind == NM_STORE_CHANGED_PREFIX;
}

static void on_fresh(void *self, const char *prefix, bool is_set,
                     int64_t fresh_s)
{
    (void)prefix;
    seen_t *s = self;
    s->backend_calls++;
    s->last_is_set = is_set;
    s->last_fresh_s = fresh_s;
}

static void fresh_rules_are_set_changed_and_removed(void **state)
{
    (void)state;
    seen_t seen = {0};
    nm_store_t *st = nm_store_new(on_change, &seen);
    nm_store_backend_t be = {.self = &seen, .fresh_changed = on_fresh};
    nm_store_set_backend(st, &be);
    int64_t v = -7;
    assert_false(nm_store_get_fresh(st, "/s", &v));
    assert_int_equal(nm_store_set_fresh(st, "/s", true, 300), 1);
    assert_int_equal(nm_store_set_fresh(st, "/s", true, 300), 0);
    assert_int_equal(nm_store_set_fresh(st, "/s", true, NM_FRESH_ORIGIN), 1);
    assert_true(nm_store_get_fresh(st, "/s", &v));
    assert_int_equal(v, NM_FRESH_ORIGIN);
    assert_int_equal(nm_store_set_fresh(st, "h/s/live", true, 0), 1);
    assert_true(nm_store_get_fresh(st, "h/s/live", &v));
    assert_int_equal(v, 0); /* "never" is a rule of its own */
    assert_int_equal(nm_store_fresh_count(st), 2);
    assert_int_equal(nm_store_set_fresh(st, "/s", false, 0), 1);
    assert_int_equal(nm_store_set_fresh(st, "/s", false, 0), 0);
    assert_false(nm_store_get_fresh(st, "/s", NULL));
    assert_int_equal(nm_store_fresh_count(st), 1);
    /* Four changes: each reached the snapshot and the backend once. */
    assert_int_equal(seen.prefix_changes, 4);
    assert_int_equal(seen.backend_calls, 4);
    assert_false(seen.last_is_set);
    nm_store_free(st);
}

static void
fresh_rules_learned_from_the_fleet_replace_the_local_ones(void **state)
{
    (void)state;
    seen_t seen = {0};
    nm_store_t *st = nm_store_new(on_change, &seen);
    nm_store_backend_t be = {.self = &seen, .fresh_changed = on_fresh};
    nm_store_set_backend(st, &be);
    nm_store_set_fresh(st, "/gone", true, 60);
    nm_store_set_fresh(st, "/kept", true, 60);
    nm_store_set_fresh(st, "/changed", true, 60);
    int calls = seen.backend_calls, changes = seen.prefix_changes;
    const char *prefixes[] = {"/kept", "/changed", "/new"};
    int64_t values[] = {60, NM_FRESH_ORIGIN, 0};
    nm_store_learn_fresh(st, prefixes, values, 3);
    int64_t v;
    assert_false(nm_store_get_fresh(st, "/gone", &v));
    assert_true(nm_store_get_fresh(st, "/kept", &v) && v == 60);
    assert_true(nm_store_get_fresh(st, "/changed", &v) && v == NM_FRESH_ORIGIN);
    assert_true(nm_store_get_fresh(st, "/new", &v) && v == 0);
    /* Learning writes nothing back, and publishes the three changes. */
    assert_int_equal(seen.backend_calls, calls);
    assert_int_equal(seen.prefix_changes, changes + 3);
    nm_store_learn_fresh(st, NULL, NULL, 0); /* the fleet has none */
    assert_int_equal(nm_store_fresh_count(st), 0);
    nm_store_free(st);
}

static void state_keeps_fresh_rules(void **state)
{
    (void)state;
    char path[64];
    state_path(path, sizeof(path));
    nm_store_t *st = new_store(false);
    nm_store_set_fresh(st, "/static", true, 300);
    nm_store_set_fresh(st, "h/api", true, NM_FRESH_ORIGIN);
    nm_store_set_fresh(st, "/static/live", true, 0);
    assert_int_equal(nm_store_save(st, path, NM_STORE_SAVE_POLICY), 0);
    nm_store_free(st);
    st = new_store(false);
    assert_int_equal(nm_store_load(st, path, 100), 0);
    int64_t v;
    assert_int_equal(nm_store_fresh_count(st), 3);
    assert_true(nm_store_get_fresh(st, "/static", &v) && v == 300);
    assert_true(nm_store_get_fresh(st, "h/api", &v) && v == NM_FRESH_ORIGIN);
    assert_true(nm_store_get_fresh(st, "/static/live", &v) && v == 0);
    nm_store_free(st);
    /* A setting that does not parse is a bad file, as any bad line. */
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs("# notmodd state v2\nfresh\t/a\tsoon\n", f);
    fclose(f);
    st = new_store(false);
    assert_true(nm_store_load(st, path, 100) < 0);
    nm_store_free(st);
    unlink(path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(epochs_follow_the_table),
        cmocka_unit_test(state_all_keeps_records_and_their_dates),
        cmocka_unit_test(
            state_policy_drops_records_but_keeps_pins_and_prefixes),
        cmocka_unit_test(state_load_starts_above_the_clock_of_the_load),
        cmocka_unit_test(state_of_the_first_format_gives_policy_only),
        cmocka_unit_test(fresh_rules_are_set_changed_and_removed),
        cmocka_unit_test(
            fresh_rules_learned_from_the_fleet_replace_the_local_ones),
        cmocka_unit_test(state_keeps_fresh_rules),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

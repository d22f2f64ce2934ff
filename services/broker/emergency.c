/* The emergency level: its apply rules and its persistence (see
 * emergency.h). */
#include "emergency.h"

#include <stdio.h>
#include <stdlib.h>

bool emergency_active(const broker *b)
{
    return b->emergency >= SEV_HIGH;
}

uint64_t emergency_sync_interval(const broker *b)
{
    return emergency_active(b) ? b->cfg.emergency_sync_interval_ms : b->cfg.sync_interval_ms;
}

/* Takes level as declared at set_ms; an event only when the level moved. */
static bool adopt(broker *b, txn *t, severity level, uint64_t set_ms, const char *source)
{
    bool changed = level != b->emergency;
    char ms[32];

    if (!changed && set_ms == b->emergency_set_ms)
        return false;
    b->emergency = level;
    b->emergency_set_ms = set_ms;
    snprintf(ms, sizeof(ms), "%llu", (unsigned long long)set_ms);
    txn_put_meta(t, "emergency", severity_str(level));
    txn_put_meta(t, "emergency_set_ms", ms);
    if (changed) {
        txn_event(t, "emergency_level", NULL, NULL, 0, "city emergency level %s (from %s)",
                  severity_str(level), source);
        txn_signal_peers(t);
    }
    return changed;
}

/* The broker's side of libcoord's level_adopt. */
static level_view seen(const broker *b)
{
    level_view v = {b->emergency_set_ms, b->emergency_heard_ms, coord_now_wall_ms()};
    return v;
}

bool emergency_from_coordinator(broker *b, txn *t, severity level, uint64_t set_ms, bool pushed)
{
    level_view v = seen(b);

    b->emergency_heard_ms = v.now_ms;
    if (pushed && !set_ms)
        set_ms = v.now_ms;
    if (!level_adopt(pushed ? LEVEL_PUSH : LEVEL_REPLY, set_ms, &v))
        return false;
    return adopt(b, t, level, set_ms, "coordinator");
}

bool emergency_apply(broker *b, txn *t, severity level, uint64_t set_ms, const char *source)
{
    level_view v = seen(b);

    if (!level_adopt(LEVEL_RELAY, set_ms, &v))
        return false;
    return adopt(b, t, level, set_ms, source);
}

void emergency_reschedule_peers(broker *b, uint64_t now_mono)
{
    uint64_t due = now_mono + emergency_sync_interval(b);

    for (size_t i = 0; i < b->peers.n; i++)
        if (b->peers.v[i].next_due_mono_ms > due)
            b->peers.v[i].next_due_mono_ms = due;
}

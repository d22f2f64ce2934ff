/* The emergency level: its apply rule and its persistence (see
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

bool emergency_apply(broker *b, txn *t, severity level, uint64_t set_ms, const char *source)
{
    char ms[32];

    if (set_ms && (set_ms <= b->emergency_set_ms || level == b->emergency))
        return false;
    b->emergency = level;
    b->emergency_set_ms = set_ms ? set_ms : coord_now_wall_ms();
    snprintf(ms, sizeof(ms), "%llu", (unsigned long long)b->emergency_set_ms);
    txn_put_meta(t, "emergency", severity_str(level));
    txn_put_meta(t, "emergency_set_ms", ms);
    txn_event(t, "emergency_level", NULL, NULL, 0, "city emergency level %s (from %s)",
              severity_str(level), source);
    txn_signal_peers(t);
    return true;
}

void emergency_reschedule_peers(broker *b, uint64_t now_mono)
{
    uint64_t due = now_mono + emergency_sync_interval(b);

    for (size_t i = 0; i < b->peers.n; i++)
        if (b->peers.v[i].next_due_mono_ms > due)
            b->peers.v[i].next_due_mono_ms = due;
}

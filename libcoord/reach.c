/* The reachability rule (reach.h). */
#include "reach.h"

uint64_t reach_backoff_ms(uint32_t n)
{
    uint64_t ms = REACH_BACKOFF_MIN_MS;

    for (uint32_t i = 1; i < n && ms < REACH_BACKOFF_MAX_MS; i++)
        ms *= 2;
    return ms < REACH_BACKOFF_MAX_MS ? ms : REACH_BACKOFF_MAX_MS;
}

void reach_failed(reach *r, uint64_t now)
{
    if (r->failures < UINT32_MAX)
        r->failures++;
    r->retry_at = now + reach_backoff_ms(r->failures);
}

void reach_answered(reach *r)
{
    r->failures = 0;
    r->retry_at = 0;
}

bool reach_unreachable(const reach *r)
{
    return r->failures >= REACH_UNREACHABLE_AFTER;
}

bool reach_may_assign(const reach *r, uint64_t now)
{
    return r->failures == 0 || (!reach_unreachable(r) && now >= r->retry_at);
}

bool reach_probe_due(const reach *r, uint64_t now)
{
    return r->failures && now >= r->retry_at;
}

long reach_timeout_ms(const reach *r, long normal_ms, long short_ms)
{
    return r->failures ? short_ms : normal_ms;
}

/* Receive and tick rules of the broker's clock (see clock.h). */
#include "clock.h"

#include "json_fields.h"

/* At the cap the clock stays as it was. */
static void receive(broker *b, const vclock *in)
{
    size_t refused = 0;

    if (vclock_receive(&b->clock, in, b->cfg.id, &refused) == 0)
        b->m.clock_entries_refused += refused;
}

void clock_receive(broker *b, const vclock *in)
{
    vclock f;

    if (!in)
        return;
    vclock_init(&f);
    for (size_t i = 0; i < in->n; i++)
        if (peertab_is_clock_node(&b->peers, b->cfg.id, in->e[i].node))
            (void)vclock_set(&f, in->e[i].node, in->e[i].counter);
    receive(b, &f);
}

void clock_receive_json(broker *b, const json_t *vc)
{
    vclock in;
    field_error fe;

    if (vc && vclock_from_json(vc, &in, &fe) == 0)
        clock_receive(b, &in);
}

void clock_receive_all(broker *b, const vclock *in)
{
    if (in)
        receive(b, in);
}

int clock_tick(broker *b)
{
    return vclock_tick(&b->clock, b->cfg.id);
}

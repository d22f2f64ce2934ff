/* Receive and tick rules of the broker's clock (see clock.h). */
#include "clock.h"

#include "json_fields.h"

void clock_receive(broker *b, const vclock *in)
{
    vclock f;

    if (!in)
        return;
    vclock_init(&f);
    for (size_t i = 0; i < in->n; i++)
        if (peertab_is_clock_node(&b->peers, b->cfg.id, in->e[i].node))
            (void)vclock_set(&f, in->e[i].node, in->e[i].counter);
    (void)vclock_merge(&b->clock, &f); /* at the cap the clock stays as it was */
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
    (void)vclock_merge(&b->clock, in); /* untouched when the union is over the cap */
}

int clock_tick(broker *b)
{
    return vclock_tick(&b->clock, b->cfg.id);
}

/* ergrid's dispatch, mutual-aid claim, heartbeat and arbiter protocol, for spin.
 *
 * One file, two protocols: `spin -DTODAY` is today's code (main at 006100e:
 * services/broker/{assign,claims,sync,handlers_units,handlers_results}.c,
 * libcoord/arbiter.c, services/executor/{executor,report,broker_link}.c);
 * without -DTODAY it is the fixed protocol (rules F1..F6 in README.md) that
 * the code is to implement next. -DSCEN_A/A2/B/C/D/E pick the topology,
 * faults and premise of one liveness violation of today's code; without one,
 * every part and every fault kind is on. check.sh runs them all.
 * Every "file.c:line" below and in the MSC lines is at commit 006100e, the
 * code before the broker's rebuild (issue 8); README.md maps each to where
 * that code is on main now (same behaviour, other files).
 *
 * What is modelled, and how it is abstracted:
 * - Processes. Owner broker O (district of job J1): its dispatcher (one
 *   dispatch at a time, own unit first, then mutual aid), its notifier (the
 *   queued revocations and releases), its pull of H's metadata. Home broker H
 *   (mutual aid): the claim handler (a server that itself calls the
 *   terminal), its own dispatcher for its job J2, its notifier. Terminals T1
 *   (home O) and T2 (home H), capacity 1 each; a terminal's process also runs
 *   its home broker's failure detector for it. One crew per terminal, which
 *   reports once (or never) and retries until it gets a decision. J1 can be
 *   served by T1 or T2, J2 by T2 only. A handler runs atomically, as it does
 *   under the broker (or executor) lock; calls are made unlocked, as in the
 *   code, so everything else interleaves while one is in flight.
 * - Messages. An assignment, a claim and the claim's own call to the
 *   terminal are request -> handler -> reply, each leg delayed arbitrarily
 *   (any interleaving); so is a pull (snapshot at H, applied at O later).
 *   A revocation or release is taken from its queue, then lands. Heartbeats
 *   and crew reports land with their reply in one step; their delay is a
 *   fault. A fault makes a call return an error to its caller (timeout,
 *   connection error, lost reply) while the request may still land: an
 *   assignment, claim, heartbeat or report becomes an orphan that lands
 *   later, or never, its reply lost; a revocation, release or drop notice
 *   lands at once or never (with unique attempt numbers they are
 *   idempotent). Pulls are incremental: a unit's record is sent only when it
 *   changed since the last good pull, as it is at that moment, not its
 *   history (so "lost and back between two pulls" is missed).
 * - Faults: at most FAULTS per run (a failed call, heartbeat, report or
 *   pull, a unit's stall or death, an operator's DELETE at a terminal), of
 *   the kinds in FMASK. After the last one the network is reliable, so "once
 *   faults stop" is every run's suffix.
 * - Unit death and return: a terminal goes silent (SIGSTOP or kill -9; its
 *   assignments are on disk either way) and later comes back: it cannot stay
 *   dead for ever. While it is silent its home broker may declare it lost, the
 *   failure detector's timeout being a nondeterministic "declared lost after
 *   silence". Brokers do not crash (their state is durable).
 * - Clocks: only the entries that a check compares. Today: a broker ticks
 *   when it sends an assignment, the terminal keeps the clock it took, and
 *   the arbiter compares the report's owner entry with the attempt's. Fixed:
 *   an attempt is sent once (asserted), so that test always passes and the
 *   owner entry is dropped; the home broker ticks when it settles an
 *   attempt or claim, and F2 compares that with the heartbeat's seen.
 *   Clocks and unit-copy versions are shifted down to 0 (normc1, normv):
 *   only their order matters.
 * - Timing: a job waiting while a unit is free is retried by the drain
 *   eventually (the retry timer of item 3 is assumed). A unit that refused an
 *   assignment (409 at capacity) is not picked again until a heartbeat of it
 *   has reached its home broker: the code retries every 200 ms against a 1 s
 *   heartbeat, and those extra refusals change nothing.
 * - Bounds: attempt numbers 1..MA-1 per job, clock entries up to CLKMAX,
 *   queues of QM messages, versions below 255. The fixed protocol asserts
 *   that it stays within them; today's clock saturates (its refusal loops
 *   do not end).
 * - Not modelled: capacity above 1, more than one job per broker, broker
 *   crash and restart, cancellation, emergency preemption, standby brokers.
 */

/* ---- scenario presets: today's liveness violations, one each ---- */
#ifdef SCEN_A /* (a) borrowed unit dies while the claim's 201 is in flight */
#define STUCK STUCK_A
#define HAVE_T1 0
#define HAVE_J2 0
#define FAULTS 1
#define FMASK FK_DOWN2
#define RETURN_AFTER_SEEN_LOST 1 /* lost for longer than one sync interval */
/* it stalls while H has committed the claim and O still waits for the 201 */
#define DOWN_PREMISE (sj[T2] == J1 && !sp[T2] && ast[A(J1, sa[T2])] == AS_PEND)
#endif
#ifdef SCEN_A2 /* (a) lost and back within one sync interval */
#define STUCK STUCK_A
#define HAVE_T1 0
#define HAVE_J2 0
#define FAULTS 1
#define FMASK FK_DOWN2
#define PULL_NOT_WHILE_LOST 1
#define DOWN_PREMISE (sj[T2] == J1 && !sp[T2]) /* it stalls while lent */
#endif
#ifdef SCEN_B /* (b) stalled terminal: same attempt number, new clock */
#define STUCK STUCK_B
#define HAVE_T2 0
#define HAVE_J2 0
#define FAULTS 1
#define FMASK FK_OD
#endif
#ifdef SCEN_C /* (c) home broker drops a lent unit's claim, both brokers hold it */
#define STUCK STUCK_C
#define HAVE_T1 0
#define FAULTS 1
#define FMASK FK_DOWN2
#define PULL_NOT_WHILE_LOST 1
#define DOWN_PREMISE (sj[T2] == J1 && !sp[T2] && ast[A(J1, sa[T2])] == AS_PEND)
#endif
#ifdef SCEN_D /* (d) attempt number 1 reused by mutual aid, phantom attempt */
#define STUCK STUCK_D
#define HAVE_J2 0
#define FAULTS 1
#define FMASK FK_OD
#endif
#ifdef SCEN_E /* (e), found by this model: a claim's stale answer overwrites a newer pulled copy */
#define STUCK STUCK_E
#define HAVE_T1 0
#define HAVE_J2 0
#define FAULTS 1
#define FMASK FK_DOWN2
#define DOWN_PREMISE (sj[T2] == NONE) /* it stalls while it holds nothing */
#endif

/* The rules of the fixed protocol (README.md). -DNO_<rule> takes one out,
 * to show what it is needed for (check.sh --ablate). -DWITH_F3 and
 * -DWITH_RETRY add two fast paths that the protocol does not need. */
#ifdef NO_F1
#define F1 0 /* keep an attempt whose outcome is unknown (else: dropped, number reused) */
#else
#define F1 1
#endif
#ifdef NO_REVQ
#define REVQ 0 /* send a revocation (a release) when a call's outcome is unknown */
#else
#define REVQ 1
#endif
#ifdef NO_F2A
#define F2A 0 /* heartbeat: revoke what the terminal lists and its home broker does not hold */
#else
#define F2A 1
#endif
#ifdef NO_F2B
#define F2B 0 /* heartbeat: drop what the broker holds and the terminal, having seen it, does not */
#else
#define F2B 1
#endif
#ifdef NO_F3B
#define F3B 0 /* the owner releases a claim its copy lists and it does not hold */
#else
#define F3B 1
#endif
#ifdef NO_F3C
#define F3C 0 /* the owner drops a borrowed attempt that a newer copy does not list */
#else
#define F3C 1
#endif
#ifdef NO_F6
#define F6 0 /* a unit copy replaces only an older one */
#else
#define F6 1
#endif
#ifdef WITH_F3
#define F3 1 /* the home broker tells the owner when it drops a claim */
#else
#define F3 0
#endif
#ifdef WITH_RETRY
#define RETRY 1 /* revocations, releases, drop notices retried until answered */
#else
#define RETRY 0
#endif

/* fault kinds (FMASK bits) */
#define FK_OD     1   /* O's dispatch calls: assignment to T1, claim at H */
#define FK_HC     2   /* H's claim handler calling T2 */
#define FK_HD     4   /* H's own dispatch calling T2 */
#define FK_NOTIFY 8   /* revocations, releases, drop notices */
#define FK_HB     16  /* heartbeats */
#define FK_REPORT 32  /* crew reports */
#define FK_PULL   64  /* O's pull of H */
#define FK_DOWN1  128 /* T1 stalls or dies (and comes back) */
#define FK_DOWN2  256 /* T2 stalls or dies (and comes back) */
#define FK_DELETE 512 /* an operator revokes an assignment at a terminal (DELETE) */

#ifndef HAVE_T1
#define HAVE_T1 1
#endif
#ifndef HAVE_T2
#define HAVE_T2 1
#endif
#ifndef HAVE_J2
#define HAVE_J2 1
#endif
#ifndef FAULTS
#define FAULTS 2
#endif
#ifndef FMASK
#define FMASK 1023
#endif
#ifndef DOWN_PREMISE
#define DOWN_PREMISE true
#endif
#ifndef RETURN_AFTER_SEEN_LOST
#define RETURN_AFTER_SEEN_LOST 0
#endif
#ifndef PULL_NOT_WHILE_LOST
#define PULL_NOT_WHILE_LOST 0
#endif

#define CAN_F(k) (faults > 0 && (FMASK & (k)) != 0)
/* a premise that only steers today's model down one path */
#ifdef TODAY
#define TODAY_ONLY(x) (x)
#else
#define TODAY_ONLY(x) 0
#endif

/* ids: broker O owns unit T1 and job J1, broker H owns T2 and J2, so a
 * unit's home broker and a job's owner have the same index as the unit or
 * job itself. NONE is a valid index, so no expression can go out of range. */
#define O 0
#define H 1
#define T1 0
#define T2 1
#define J1 0
#define J2 1
#define NONE 2

#define MA 5      /* attempt numbers 1..4 */
#define CLKMAX 15
#define QM 4

#define A(j, n) ((j) * MA + (n))
#define TJ(t, j) ((t) * 3 + (j))

/* attempt states at the owner (model.h attempt_state) */
#define AS_NONE 0
#define AS_PEND 1
#define AS_ACT  2
#define AS_REV  3 /* revoked; in the fixed protocol also "abandoned" */
#define AS_FIN  4
/* assignment states at the terminal (executor.h asg_state) */
#define TS_NONE 0
#define TS_ACT  1
#define TS_REV  2
#define TS_REP  3
/* job states */
#define JQ 0
#define JA 1
#define JC 2
/* call slots */
#define IDLE  0
#define REQ   1
#define TAKEN 2
#define REP   3
/* replies, and a unit's status as its home broker shows it (mtype names
 * print in the traces) */
mtype = { error, created_201, same_200, refused_409, bad_gateway_502,
          accepted_201, retry_200, rejected_409, forbidden_403, bad_attempt_403,
          causality_409, available, busy, unit_lost };
#define C_ERR error /* the caller saw an error: the request may have landed */
#define C_201 created_201
#define C_200 same_200
#define C_409 refused_409 /* at capacity, stale attempt, unit not free */
#define C_502 bad_gateway_502
#define R_ACC accepted_201
#define R_RETRY retry_200 /* exact retry of the winner */
#define R_REJ rejected_409 /* result_rejected: a decision */
#define R_FORB forbidden_403 /* never held an attempt of the job */
#define R_BAD bad_attempt_403 /* did not hold this attempt, or it is pending */
#define R_CAUS causality_409
#define US_AV available
#define US_BUSY busy
#define US_LOST unit_lost
/* queued messages */
#define Q_REVOKE  1 /* broker -> its own unit's terminal */
#define Q_RELFIN  2 /* owner -> home: release, reason finished */
#define Q_RELREV  3 /* owner -> home: release, reason revoked */
#define Q_DROPPED 4 /* home -> owner: I dropped your claim (fixed, WITH_F3 only) */

#define K_ASSIGN 1
#define K_CLAIM  2

byte faults = FAULTS;

/* ---- brokers ---- */
byte clk[2];                 /* own entry of each broker's vector clock */
/* home broker's record of each unit (capacity 1: one held slot) */
bool lost[3];
byte sj[3], sa[3], sc[3];    /* held job, attempt; fixed: settle clock (F2) */
bool sp[3];                  /* pending: the call to the terminal is in flight */
bool refused[3];             /* timing abstraction, see the header */
/* owner's record of each job */
byte js[3];
byte ast[3 * MA], aun[3 * MA], ack[3 * MA]; /* attempt state, unit, owner entry of its clock */
byte wu[3], wa[3], nacc[3];  /* accepted result (unit, attempt), acceptances */
bool borrowed;               /* J1 is on a borrowed unit (sync.c b->borrowed) */
#ifndef TODAY
bool adrop[3 * MA];          /* WITH_F3: the home broker told us it dropped this claim */
#else
byte nn[3], nnj[6], nna[6];  /* one-shot notices per unit (model.c unit_add_notice) */
#endif
/* O's synced copy of T2 */
mtype cps;                   /* status */
#ifndef TODAY
byte uver;                   /* F6: version of T2's record at H */
byte cpv;                    /* F6: version of O's copy */
byte bav;                    /* F3C: version of the answer that made J1's claim active */
byte cpj, cpa;               /* F3C: the claim O's copy of T2 lists (job, attempt) */
byte vm;                     /* scratch for normv */
#endif
bool dirty;                  /* T2's record changed at H since O's last good pull */
bool o_saw_lost;             /* ghost, SCEN_A: O applied a pull showing T2 lost */
/* notification queues, per broker */
byte qk[2 * QM], qj[2 * QM], qn[2 * QM], ql[2];

/* ---- terminals ---- */
bool up[3];
byte tat[9], tst[9], tck[9]; /* per (terminal, job): attempt, state, owner entry of its clock */
byte seen[3];                /* F2: max home entry of the heartbeat replies' clocks */
bool crew_on[3], crew_dec[3];

/* ---- calls in flight ---- */
byte od_st, od_k, od_n, od_c;
mtype od_code, od_us; /* O dispatcher -> T1 (assign) or H (claim) */
byte od_uv;                  /* F6: the version of the unit copy in the claim's answer */
byte od_cj, od_ca;           /* F3C: the claim that unit copy lists */
byte oc_st, oc_n, oc_c;      /* an orphaned claim, may still reach H */
byte hc_st;                  /* H claim handler -> T2 */
bool hc_rep;                 /* O still waits for the claim's answer */
byte hd_st, hd_n, hd_c;
mtype hd_code; /* H dispatcher -> T2 (J2) */
byte oa_st[3], oa_j[3], oa_n[3], oa_co[3], oa_ch[3]; /* orphaned assignment per terminal */
byte nt_st[2];               /* notifier call per broker */
byte hb_j[3], hb_n[3], hb_s[3]; /* heartbeat body (scratch): what it holds, seen */
byte hr_k[3], hr_j[6], hr_n[6]; /* heartbeat reply: the revoked list */
byte ho_st[3], ho_j[3], ho_n[3], ho_s[3]; /* orphaned heartbeat */
byte ro_st[3], ro_j[3], ro_n[3], ro_c[3]; /* orphaned report */
byte pl_st, pl_j, pl_a, pl_v;
mtype pl_s; /* O's pull of H: the snapshot in flight */

/* ---- helpers ---- */

#ifdef TODAY
#define OWNER_CLOCK(x) (x)
#else
/* Fixed, an attempt is sent once (asserted in t_assign), so the terminal's
 * clock for it is its assignment's and the causality test always passes:
 * the owner's entry is not kept, which keeps the state space small. */
#define OWNER_CLOCK(x) 0
#endif

inline tick(t_b, t_out)
{
    if
    :: clk[t_b] < CLKMAX -> clk[t_b]++
    :: else ->
#ifndef TODAY
        assert(false) /* raise CLKMAX */
#else
        skip
#endif
    fi;
    t_out = clk[t_b]
}

/* A definite refusal leaves its clock value unobserved (no one stored it),
 * so the model takes the tick back: refusal loops then do not grow clocks. */
inline untick(ut_b, ut_c)
{
#ifdef TODAY
    if
    :: clk[ut_b] == ut_c -> clk[ut_b]--
    :: else -> skip
    fi
#else
    skip
#endif
}

/* The unit's record changed at its home broker: a peer's next pull gets it.
 * The fixed protocol also counts its version (F6). */
#ifndef TODAY
/* F2: the slot keeps the home broker's clock at the settle, the event
 * after which the terminal had surely taken the assignment */
#define SETTLE_CLOCK(b, u) tick(b, sc[u])
#else
#define SETTLE_CLOCK(b, u) skip
#endif

/* model.c:186 unit_release_attempt: the held slot is free again */
inline free_slot(fs_u)
{
    sj[fs_u] = NONE;
    sp[fs_u] = false;
    sc[fs_u] = 0
}

inline touch(t_u)
{
    if
    :: t_u == T2 ->
        dirty = true;
#ifndef TODAY
        assert(uver < 255);
        uver++
#else
        skip
#endif
    :: else -> skip
    fi
}

#define USTATUS(u) (lost[u] -> US_LOST : (sj[u] != NONE -> US_BUSY : US_AV))

inline qpush(q_b, q_k, q_j, q_n)
{
    i = 0;
    dup = false;
    do
    :: i < ql[q_b] ->
        if
        :: qk[q_b * QM + i] == q_k && qj[q_b * QM + i] == q_j && qn[q_b * QM + i] == q_n -> dup = true
        :: else -> skip
        fi;
        i++
    :: else -> break
    od;
    if
    :: !dup ->
        assert(ql[q_b] < QM);
        qk[q_b * QM + ql[q_b]] = q_k;
        qj[q_b * QM + ql[q_b]] = q_j;
        qn[q_b * QM + ql[q_b]] = q_n;
        ql[q_b]++
    :: else -> skip
    fi;
    i = 0
}

inline qpop(q_b, q_k, q_j, q_n)
{
    q_k = qk[q_b * QM];
    q_j = qj[q_b * QM];
    q_n = qn[q_b * QM];
    i = 1;
    do
    :: i < ql[q_b] ->
        qk[q_b * QM + i - 1] = qk[q_b * QM + i];
        qj[q_b * QM + i - 1] = qj[q_b * QM + i];
        qn[q_b * QM + i - 1] = qn[q_b * QM + i];
        i++
    :: else -> break
    od;
    ql[q_b]--;
    qk[q_b * QM + ql[q_b]] = 0;
    qj[q_b * QM + ql[q_b]] = 0;
    qn[q_b * QM + ql[q_b]] = 0;
    i = 0
}

#ifdef TODAY
inline add_notice(an_u, an_j, an_n)
{
    if
    :: nn[an_u] == 2 ->
        nnj[an_u * 2] = nnj[an_u * 2 + 1];
        nna[an_u * 2] = nna[an_u * 2 + 1];
        nn[an_u] = 1
    :: else -> skip
    fi;
    nnj[an_u * 2 + nn[an_u]] = an_j;
    nna[an_u * 2 + nn[an_u]] = an_n;
    nn[an_u]++
}
#endif

/* The first free attempt number: attempts are kept contiguously, so this is
 * max+1 (assign.c:129 next_attempt_no). Today a dropped attempt frees its
 * number again; in the fixed protocol only a definite refusal drops one. */
inline next_att(na_j, na_n)
{
    na_n = 1;
    do
    :: na_n < MA - 1 && ast[A(na_j, na_n)] != AS_NONE -> na_n++
    :: else -> break
    od;
#ifndef TODAY
    assert(ast[A(na_j, na_n)] == AS_NONE) /* raise MA */
#endif
}
#define ROOM(j) (ast[A(j, MA - 1)] == AS_NONE)

/* assign.c:153 reserve_attempt: a PENDING attempt and a new clock. */
inline reserve(r_b, r_j, r_u, r_n, r_c)
{
    next_att(r_j, r_n);
#ifdef TODAY
    tick(r_b, r_c);
#else
    r_c = 0; /* no clock is compared for it (see OWNER_CLOCK, F2) */
#endif
    ast[A(r_j, r_n)] = AS_PEND;
    aun[A(r_j, r_n)] = r_u;
    ack[A(r_j, r_n)] = OWNER_CLOCK(r_c);
#ifndef TODAY
    adrop[A(r_j, r_n)] = false;
#endif
}

/* executor.c:187 exec_assign at terminal t: (j, n) with the owner's clock
 * entry co and the home broker's entry ch. */
inline t_assign(ta_t, ta_j, ta_n, ta_co, ta_ch, ta_code)
{
    if
    :: tst[TJ(ta_t, ta_j)] != TS_NONE && tat[TJ(ta_t, ta_j)] == ta_n ->
        ta_code = C_200; /* executor.c:193: same attempt again, keeps the clock it has */
#ifndef TODAY
        assert(false) /* F1: no attempt is ever sent twice */
#else
        skip
#endif
    :: tst[TJ(ta_t, ta_j)] != TS_NONE && tat[TJ(ta_t, ta_j)] > ta_n ->
        ta_code = C_409 /* executor.c:199: holds a newer attempt */
    :: else ->
        if
        :: tst[TJ(ta_t, 1 - ta_j)] == TS_ACT ->
            ta_code = C_409 /* executor.c:206: at capacity */
        :: else ->
            tat[TJ(ta_t, ta_j)] = ta_n;
            tst[TJ(ta_t, ta_j)] = TS_ACT;
            tck[TJ(ta_t, ta_j)] = OWNER_CLOCK(ta_co);
            ta_code = C_201
        fi
    fi
}

/* executor.c:256 exec_revoke and :319 exec_apply_revoked. */
inline t_revoke(tr_t, tr_j, tr_n)
{
    if
    :: tst[TJ(tr_t, tr_j)] == TS_ACT && tat[TJ(tr_t, tr_j)] <= tr_n -> tst[TJ(tr_t, tr_j)] = TS_REV
    :: else -> skip
    fi
}

inline orphan_assign(orph_t, orph_j, orph_n, orph_co, orph_ch)
{
    if
    :: oa_st[orph_t] == IDLE ->
        oa_st[orph_t] = REQ;
        oa_j[orph_t] = orph_j;
        oa_n[orph_t] = orph_n;
        oa_co[orph_t] = orph_co;
        oa_ch[orph_t] = orph_ch
    :: else -> skip /* a second one in flight: this one is lost */
    fi
}

/* handlers_results.c:157-214: an accepted result at j's owner; every other
 * holder is told to stop. */
inline accept_result(ar_j, ar_t, ar_n)
{
    wu[ar_j] = ar_t;
    wa[ar_j] = ar_n;
    nacc[ar_j]++;
    js[ar_j] = JC;
    if
    :: ar_j == J1 -> borrowed = false
    :: else -> skip
    fi;
    m = 1;
    do
    :: m < MA ->
        if
        :: ast[A(ar_j, m)] != AS_NONE && aun[A(ar_j, m)] != ar_j ->
            /* a borrowed unit (J1 on T2): its home broker holds the claim */
            if
            :: ast[A(ar_j, m)] == AS_ACT && m == ar_n -> qpush(ar_j, Q_RELFIN, ar_j, m)
            :: ast[A(ar_j, m)] == AS_ACT && m != ar_n -> qpush(ar_j, Q_RELREV, ar_j, m)
            :: else -> skip
            fi;
            if
            :: m == ar_n -> ast[A(ar_j, m)] = AS_FIN
            :: m != ar_n && ast[A(ar_j, m)] == AS_ACT -> ast[A(ar_j, m)] = AS_REV
            :: else -> skip
            fi
        :: ast[A(ar_j, m)] != AS_NONE && aun[A(ar_j, m)] == ar_j ->
            if
            :: m == ar_n ->
                if
                :: ast[A(ar_j, m)] == AS_ACT && sj[ar_j] == ar_j ->
                    free_slot(ar_j);
                    touch(ar_j)
                :: else -> skip
                fi;
                ast[A(ar_j, m)] = AS_FIN
            :: m != ar_n && ast[A(ar_j, m)] == AS_ACT ->
                ast[A(ar_j, m)] = AS_REV;
                if
                :: sj[ar_j] == ar_j ->
                    free_slot(ar_j);
                    touch(ar_j)
                :: else -> skip
                fi;
#ifdef TODAY
                add_notice(ar_j, ar_j, m);
#endif
                qpush(ar_j, Q_REVOKE, ar_j, m)
            :: else -> skip
            fi
        :: else -> skip
        fi;
        m++
    :: else -> break
    od;
    m = 0
}

/* libcoord/arbiter.c:10 arbiter_decide at j's owner, for a report of
 * terminal t on attempt n carrying owner clock entry c. */
inline arbiter(a_j, a_t, a_n, a_c, a_code)
{
    m = 1;
    held = false;
    do
    :: m < MA ->
        if
        :: ast[A(a_j, m)] != AS_NONE && aun[A(a_j, m)] == a_t -> held = true
        :: else -> skip
        fi;
        m++
    :: else -> break
    od;
    m = 0;
    if
    :: !held -> a_code = R_FORB /* arbiter.c:29: checked before the winner */
    :: held && wa[a_j] != 0 && wu[a_j] == a_t && wa[a_j] == a_n -> a_code = R_RETRY
    :: held && wa[a_j] != 0 && !(wu[a_j] == a_t && wa[a_j] == a_n) -> a_code = R_REJ
    :: held && wa[a_j] == 0 && (aun[A(a_j, a_n)] != a_t || ast[A(a_j, a_n)] == AS_NONE || ast[A(a_j, a_n)] == AS_PEND) ->
        a_code = R_BAD /* arbiter.c:39 */
    :: held && wa[a_j] == 0 && aun[A(a_j, a_n)] == a_t && ast[A(a_j, a_n)] != AS_NONE && ast[A(a_j, a_n)] != AS_PEND &&
       a_c < ack[A(a_j, a_n)] ->
        a_code = R_CAUS /* arbiter.c:44 */
    :: held && wa[a_j] == 0 && aun[A(a_j, a_n)] == a_t && ast[A(a_j, a_n)] != AS_NONE && ast[A(a_j, a_n)] != AS_PEND &&
       a_c >= ack[A(a_j, a_n)] ->
        a_code = R_ACC; /* arbiter.c:49: revoked attempts too (FCFS); fixed, F5: an abandoned attempt is a revoked one */
        accept_result(a_j, a_t, a_n)
    fi
}

/* assign.c:459 broker_revoke_unit_jobs, when the home broker declares unit
 * t lost. */
inline revoke_unit_jobs(ruj_t)
{
    if
    :: sj[ruj_t] != NONE && sp[ruj_t] -> skip /* assign.c:464: the dispatch in flight settles it */
    :: sj[ruj_t] != NONE && !sp[ruj_t] && sj[ruj_t] != ruj_t ->
        /* assign.c:468: a claim, lent to another district */
#ifdef TODAY
        printf("MSC: H: T2 lost: claim (J%d,%d) dropped; only T2 hears of it, as a one-shot notice  [assign.c:471-475]\n", sj[ruj_t] + 1, sa[ruj_t]);
        add_notice(ruj_t, sj[ruj_t], sa[ruj_t]);
#else
        printf("MSC: H: T2 lost: claim (J%d,%d) dropped; the owner sees it in T2's next copy  [F3C]\n", sj[ruj_t] + 1, sa[ruj_t]);
        if
        :: F3 -> qpush(H, Q_DROPPED, sj[ruj_t], sa[ruj_t])
        :: else -> skip
        fi;
#endif
        free_slot(ruj_t)
    :: sj[ruj_t] != NONE && !sp[ruj_t] && sj[ruj_t] == ruj_t ->
        if
        :: ast[A(ruj_t, sa[ruj_t])] == AS_ACT ->
            ast[A(ruj_t, sa[ruj_t])] = AS_REV;
            if
            :: js[ruj_t] == JA -> js[ruj_t] = JQ
            :: else -> skip
            fi;
#ifdef TODAY
            add_notice(ruj_t, ruj_t, sa[ruj_t]);
#endif
            printf("MSC: %c: T%d lost: own attempt (J%d,%d) revoked, job queued  [assign.c:480-489]\n", (ruj_t == O -> 'O' : 'H'), ruj_t + 1, ruj_t + 1, sa[ruj_t])
        :: else -> skip
        fi;
        free_slot(ruj_t)
    :: else -> skip
    fi;
    touch(ruj_t)
}

inline add_rev(ar_t, ar_j, ar_n, ar_wr)
{
    if
    :: ar_wr && hr_k[ar_t] < 2 && (hr_k[ar_t] == 0 || hr_j[ar_t * 2] != ar_j) ->
        hr_j[ar_t * 2 + hr_k[ar_t]] = ar_j;
        hr_n[ar_t * 2 + hr_k[ar_t]] = ar_n;
        hr_k[ar_t]++
    :: else -> skip
    fi
}

/* handlers_units.c:252 h_unit_heartbeat at t's home broker, for a body that
 * lists (lj, ln) (lj NONE: nothing active) and, fixed, seen entry ls. wr:
 * the reply goes back (false for an orphaned heartbeat: its reply is lost). */
inline hb_land(hl_t, hl_lj, hl_ln, hl_ls, hl_wr)
{
    refused[hl_t] = false;
    if
    :: lost[hl_t] ->
        lost[hl_t] = false;
        touch(hl_t);
        printf("MSC: %c: heartbeat from T%d: back from lost  [handlers_units.c:296]\n", (hl_t == O -> 'O' : 'H'), hl_t + 1)
    :: else -> skip
    fi;
    if
    :: hl_wr -> hr_k[hl_t] = 0
    :: else -> skip
    fi;
#ifdef TODAY
    /* handlers_units.c:305-308: the notices, once, even if the reply is lost */
    i = 0;
    do
    :: i < nn[hl_t] ->
        add_rev(hl_t, nnj[hl_t * 2 + i], nna[hl_t * 2 + i], hl_wr);
        i++
    :: else -> break
    od;
    i = 0;
    nn[hl_t] = 0;
    /* :309-325: a listed own job whose attempt with that number on this
     * unit was revoked; a mutual-aid job is skipped (:312) */
    if
    :: hl_lj != NONE && hl_lj == hl_t && aun[A(hl_lj, hl_ln)] == hl_t && (ast[A(hl_lj, hl_ln)] == AS_REV || ast[A(hl_lj, hl_ln)] == AS_FIN) ->
        add_rev(hl_t, hl_lj, hl_ln, hl_wr)
    :: hl_lj != NONE && hl_lj == hl_t && aun[A(hl_lj, hl_ln)] != hl_t ->
        printf("MSC: %c: heartbeat of T%d lists (J%d,%d); attempt %d of J%d is not on T%d, so nothing is revoked  [handlers_units.c:315]\n", (hl_t == O -> 'O' : 'H'), hl_t + 1, hl_lj + 1, hl_ln, hl_ln, hl_lj + 1, hl_t + 1)
    :: else -> skip
    fi
#else
    /* F2, first way: what the terminal lists and the home broker does not
     * record as active or pending on this unit is revoked */
    if
    :: F2A && hl_lj != NONE && hl_lj == hl_t && !(aun[A(hl_lj, hl_ln)] == hl_t && (ast[A(hl_lj, hl_ln)] == AS_PEND || ast[A(hl_lj, hl_ln)] == AS_ACT)) ->
        add_rev(hl_t, hl_lj, hl_ln, hl_wr)
    :: F2A && hl_lj != NONE && hl_lj != hl_t && !(sj[hl_t] == hl_lj && sa[hl_t] == hl_ln) ->
        add_rev(hl_t, hl_lj, hl_ln, hl_wr)
    :: else -> skip
    fi;
    /* F2, second way: what the home broker records active on the unit and
     * the terminal no longer lists although it had received it */
    if
    :: F2B && sj[hl_t] != NONE && !sp[hl_t] && !(hl_lj == sj[hl_t] && hl_ln == sa[hl_t]) && sc[hl_t] <= hl_ls ->
        if
        :: sj[hl_t] == hl_t ->
            assert(ast[A(hl_t, sa[hl_t])] == AS_ACT);
            ast[A(hl_t, sa[hl_t])] = AS_REV;
            if
            :: js[hl_t] == JA -> js[hl_t] = JQ
            :: else -> skip
            fi;
            printf("MSC: %c: heartbeat of T%d (seen %d) no longer lists (J%d,%d): revoked, job queued  [F2]\n", (hl_t == O -> 'O' : 'H'), hl_t + 1, hl_ls, hl_t + 1, sa[hl_t])
        :: else ->
            printf("MSC: H: heartbeat of T2 (seen %d) no longer lists claim (J%d,%d): dropped  [F2, F3C]\n", hl_ls, sj[hl_t] + 1, sa[hl_t]);
            if
            :: F3 -> qpush(H, Q_DROPPED, sj[hl_t], sa[hl_t])
            :: else -> skip
            fi
        fi;
        free_slot(hl_t);
        touch(hl_t)
    :: else -> skip
    fi
#endif
}

/* A report of terminal t lands at its job's owner. */
inline report_land(rl_t, rl_j, rl_n, rl_c, rl_code)
{
    arbiter(rl_j, rl_t, rl_n, rl_c, rl_code);
    printf("MSC: %c: report of T%d for (J%d,%d) clock %d -> %e  [handlers_results.c:150, arbiter.c]\n", (rl_j == O -> 'O' : 'H'), rl_t + 1, rl_j + 1, rl_n, rl_c, rl_code)
}

/* Clearing a slot once its call is over keeps states that differ only in
 * stale fields from being counted twice. */
inline clear_od()
{
    od_st = IDLE;
    od_k = 0;
    od_n = 0;
    od_c = 0;
    od_code = 0;
    od_us = 0;
    od_uv = 0;
    od_cj = 0;
    od_ca = 0
}

inline clear_hb(chb_t)
{
    hb_j[chb_t] = 0;
    hb_n[chb_t] = 0;
    hb_s[chb_t] = 0;
    hr_k[chb_t] = 0;
    hr_j[chb_t * 2] = 0;
    hr_n[chb_t * 2] = 0;
    hr_j[chb_t * 2 + 1] = 0;
    hr_n[chb_t * 2 + 1] = 0
}

#ifndef TODAY
/* F6 versions are only ever compared: shift them down so that the oldest
 * one still in use is 0 (states differing by an offset are one state). */
inline normv()
{
    if
    :: !borrowed -> bav = 0
    :: else -> skip
    fi;
    vm = cpv;
    if
    :: borrowed && bav < vm -> vm = bav
    :: else -> skip
    fi;
    if
    :: pl_st == REP && pl_v < vm -> vm = pl_v
    :: else -> skip
    fi;
    if
    :: od_st == REP && od_k == K_CLAIM && od_uv < vm -> vm = od_uv
    :: else -> skip
    fi;
    uver = uver - vm;
    cpv = cpv - vm;
    if
    :: borrowed -> bav = bav - vm
    :: else -> skip
    fi;
    if
    :: pl_st == REP -> pl_v = pl_v - vm
    :: else -> skip
    fi;
    if
    :: od_st == REP && od_k == K_CLAIM -> od_uv = od_uv - vm
    :: else -> skip
    fi;
    vm = 0
}
#else
inline normv()
{
    skip
}
#endif

#ifndef TODAY
/* F2 clocks, too, are only compared: per broker, shift its entry down so
 * the oldest value still in use (the terminal's seen, the held slot's
 * settle clock, a delayed heartbeat's seen) is 0. No local variable holds
 * a clock in the fixed protocol, so this is safe at the end of any step. */
inline normc1(nb)
{
    vm = seen[nb];
    if
    :: sj[nb] != NONE && !sp[nb] && sc[nb] < vm -> vm = sc[nb]
    :: else -> skip
    fi;
    if
    :: ho_st[nb] == REQ && ho_s[nb] < vm -> vm = ho_s[nb]
    :: else -> skip
    fi;
    clk[nb] = clk[nb] - vm;
    seen[nb] = seen[nb] - vm;
    if
    :: sj[nb] != NONE && !sp[nb] -> sc[nb] = sc[nb] - vm
    :: else -> sc[nb] = 0
    fi;
    if
    :: ho_st[nb] == REQ -> ho_s[nb] = ho_s[nb] - vm
    :: else -> skip
    fi;
    vm = 0
}
#define NORMC normc1(O); normc1(H)
#else
#define NORMC skip
#endif

/* ---- the owner's dispatcher for J1 (assign.c:297 dispatch_loop) ---- */

#define PICK_T1 (HAVE_T1 && !(tried & 1) && !lost[T1] && sj[T1] == NONE && !refused[T1] && ROOM(J1))
#define PICK_T2 (HAVE_T2 && !(tried & 2) && cps == US_AV && !refused[T2] && ROOM(J1))

#ifndef TODAY
/* F3: a claim's settle checks whether the home broker dropped it meanwhile */
/* F3: unless the home broker told us it dropped the claim meanwhile, or
 * (F3C) our copy of the unit is newer than this answer and does not list it */
#define CLAIM_USABLE(n, uv) ((!adrop[A(J1, n)] || !F3) && !(F3C && cpv > uv && !(cpj == J1 && cpa == n)))
#else
#define CLAIM_USABLE(n, uv) true
#endif

/* assign.c:367-395: the settle, under the lock once the call returned. */
inline settle_own_o(so_n, so_c, so_code, so_ok)
{
    if
    :: (so_code == C_201 || so_code == C_200) && js[J1] == JQ && !lost[T1] && ast[A(J1, so_n)] == AS_PEND ->
        sp[T1] = false;
        ast[A(J1, so_n)] = AS_ACT;
        js[J1] = JA;
        so_ok = true;
        SETTLE_CLOCK(O, T1);
        printf("MSC: O: J1 attempt %d ACTIVE on T1 with clock O:%d  [assign.c:372-374 confirm_attempt]\n", so_n, ack[A(J1, so_n)])
    :: else ->
        if
        :: sj[T1] == J1 -> free_slot(T1)
        :: else -> skip
        fi;
#ifdef TODAY
        ast[A(J1, so_n)] = AS_NONE;
        printf("MSC: O: attempt (J1,%d) dropped (%e); number %d is free again, no revocation unless it answered  [assign.c:382 drop_attempt]\n", so_n, so_code, so_n);
        if
        :: so_code == C_201 || so_code == C_200 -> qpush(O, Q_REVOKE, J1, so_n)
        :: so_code == C_409 ->
            refused[T1] = true;
            untick(O, so_c)
        :: else -> skip
        fi
#else
        if
        :: so_code == C_409 ->
            ast[A(J1, so_n)] = AS_NONE;
            refused[T1] = true;
            untick(O, so_c);
            printf("MSC: O: T1 refused (J1,%d): nobody holds it, the attempt leaves no trace  [F1]\n", so_n)
        :: so_code != C_409 && F1 ->
            ast[A(J1, so_n)] = AS_REV;
            printf("MSC: O: attempt (J1,%d) abandoned (%e): kept as revoked  [F1]\n", so_n, so_code)
        :: so_code != C_409 && !F1 -> ast[A(J1, so_n)] = AS_NONE
        fi;
        if
        :: so_code == C_201 || so_code == C_200 || (so_code == C_ERR && REVQ) -> qpush(O, Q_REVOKE, J1, so_n)
        :: else -> skip
        fi
#endif
    fi
}

/* assign.c:262-295: the claim's answer, then its settle, under the lock. */
inline settle_claim_o(sc_n, sc_c, sc_code, sc_us, sc_uv, sc_cj, sc_ca, sc_ok)
{
    /* assign.c:266-276: the home broker's answer is taken as the freshest
     * copy; fixed, only when it is newer (F6) */
    if
#ifdef TODAY
    :: sc_code == C_201 || sc_code == C_200 || sc_code == C_409 -> cps = sc_us
#else
    :: (sc_code == C_201 || sc_code == C_200 || sc_code == C_409) && (sc_uv > cpv || !F6) ->
        cps = sc_us;
        cpv = sc_uv;
        cpj = sc_cj;
        cpa = sc_ca
#endif
    :: else -> skip
    fi;
    if
    :: (sc_code == C_201 || sc_code == C_200) && js[J1] == JQ && ast[A(J1, sc_n)] == AS_PEND && CLAIM_USABLE(sc_n, sc_uv) ->
        borrowed = true;
#ifndef TODAY
        bav = sc_uv;
#endif
        ast[A(J1, sc_n)] = AS_ACT;
        js[J1] = JA;
        sc_ok = true;
        printf("MSC: O: claim answered %e: J1 attempt %d ACTIVE on borrowed T2  [assign.c:280-284 confirm_attempt]\n", sc_code, sc_n)
    :: else ->
#ifdef TODAY
        ast[A(J1, sc_n)] = AS_NONE;
        printf("MSC: O: claim (J1,%d) failed (%e): attempt dropped, number %d free again; O's copy of T2 now says %e  [assign.c:266-276, :286]\n", sc_n, sc_code, sc_n, cps);
        if
        :: sc_code == C_201 || sc_code == C_200 -> qpush(O, Q_RELREV, J1, sc_n)
        :: sc_code == C_409 -> untick(O, sc_c)
        :: else -> skip
        fi
#else
        if
        :: sc_code == C_409 ->
            ast[A(J1, sc_n)] = AS_NONE;
            untick(O, sc_c);
            printf("MSC: O: claim (J1,%d) refused: no trace  [F1]\n", sc_n)
        :: sc_code != C_409 && F1 ->
            ast[A(J1, sc_n)] = AS_REV;
            printf("MSC: O: claim (J1,%d) abandoned (%e, drop heard %d): kept as revoked  [F1, F3]\n", sc_n, sc_code, adrop[A(J1, sc_n)])
        :: sc_code != C_409 && !F1 -> ast[A(J1, sc_n)] = AS_NONE
        fi;
        if
        :: !adrop[A(J1, sc_n)] && (sc_code == C_201 || sc_code == C_200 || (sc_code != C_409 && REVQ)) ->
            qpush(O, Q_RELREV, J1, sc_n)
        :: else -> skip
        fi
#endif
    fi;
    normv()
}

proctype ODisp()
{
    byte n, c, tried, i, m, ca;
    mtype code, us;
    bool dup, ok;
    /* A round tries each unit once (tried), own unit first; it ends
     * assigned, or when no unit is left to try. */
end_od:
    do
    :: atomic {
            js[J1] == JQ && PICK_T1 ->
            tried = tried | 1;
            reserve(O, J1, T1, n, c);
            sj[T1] = J1;
            sa[T1] = n;
            sp[T1] = true;
            od_k = K_ASSIGN;
            od_n = n;
            od_c = c;
            od_st = REQ;
            printf("MSC: O -> T1: assign (J1,%d) clock O:%d  [assign.c:345 reserve_attempt, :361 POST /v1/assignments]\n", n, c)
        }
            do
            :: atomic {
                od_st == REQ && up[T1] ->
                t_assign(T1, J1, od_n, od_c, od_c, code);
                od_code = code;
                od_st = REP;
                printf("MSC: T1: assignment (J1,%d) clock O:%d -> %e; T1 holds (J1,%d) clock O:%d  [executor.c:187]\n", od_n, od_c, code, tat[TJ(T1, J1)], tck[TJ(T1, J1)]);
                code = 0
            }
            :: atomic {
                od_st == REP ->
                code = od_code;
                clear_od();
                settle_own_o(n, c, code, ok);
                n = 0;
                c = 0;
                code = 0;
                NORMC;
                break
            }
            :: atomic {
                CAN_F(FK_OD) && od_st != IDLE ->
                faults--;
                if
                :: od_st == REQ ->
                    orphan_assign(T1, J1, od_n, od_c, od_c);
                    printf("MSC: O: assignment (J1,%d) to T1 times out; the request is still in flight  [assign.c:361, timeout 2 s]\n", od_n)
                :: else ->
                    printf("MSC: O: assignment (J1,%d) to T1 times out after it landed  [assign.c:361]\n", od_n)
                fi;
                clear_od();
                settle_own_o(n, c, C_ERR, ok);
                n = 0;
                c = 0;
                NORMC;
                break
            }
            od;
            if
            :: ok ->
                ok = false;
                tried = 0
            :: else -> skip
            fi
    :: atomic {
            js[J1] == JQ && !PICK_T1 && PICK_T2 ->
            tried = tried | 2;
            reserve(O, J1, T2, n, c);
            od_k = K_CLAIM;
            od_n = n;
            od_c = OWNER_CLOCK(c);
            od_st = REQ;
            printf("MSC: O -> H: claim T2 for (J1,%d) clock O:%d  [assign.c:250 reserve_attempt, :258 POST claim]\n", n, c)
        }
            do
            :: atomic {
                od_st == REP ->
                code = od_code;
                us = od_us;
                m = od_uv;
                i = od_cj;
                ca = od_ca;
                clear_od();
                settle_claim_o(n, c, code, us, m, i, ca, ok);
                i = 0;
                ca = 0;
                n = 0;
                c = 0;
                code = 0;
                us = 0;
                m = 0;
                break
            }
            :: atomic {
                CAN_F(FK_OD) && od_st != IDLE ->
                faults--;
                if
                :: od_st == REQ ->
                    if
                    :: oc_st == IDLE ->
                        oc_st = REQ;
                        oc_n = od_n;
                        oc_c = od_c
                    :: else -> skip
                    fi
                :: od_st == TAKEN -> hc_rep = false
                :: else -> skip
                fi;
                printf("MSC: O: claim (J1,%d) times out  [assign.c:258]\n", od_n);
                clear_od();
                settle_claim_o(n, c, C_ERR, 0, 0, NONE, 0, ok);
                n = 0;
                c = 0;
                break
            }
            od;
            if
            :: ok ->
                ok = false;
                tried = 0
            :: else -> skip
            fi
    :: atomic {
        tried != 0 && !(js[J1] == JQ && (PICK_T1 || PICK_T2)) ->
        tried = 0 /* the round is over */
    }
    od
}

/* ---- the home broker's claim handler (claims.c:58 h_unit_claim) ---- */

/* claims.c:163-192: the settle, under the lock once the terminal answered. */
inline settle_claim_h(sh_n, sh_ch, sh_code)
{
    if
    :: (sh_code == C_201 || sh_code == C_200) && sj[T2] == J1 && sa[T2] == sh_n && !lost[T2] ->
        sp[T2] = false;
        touch(T2);
        sh_code = C_201;
        SETTLE_CLOCK(H, T2);
        printf("MSC: H: claim (J1,%d) on T2 committed; 201 to O  [claims.c:166-180]\n", sh_n)
    :: else ->
        if
        :: sj[T2] == J1 && sa[T2] == sh_n ->
            free_slot(T2);
            touch(T2)
        :: else -> skip
        fi;
        if
        :: sh_code == C_201 || sh_code == C_200 -> qpush(H, Q_REVOKE, J1, sh_n)
#ifndef TODAY
        :: sh_code == C_ERR && REVQ -> qpush(H, Q_REVOKE, J1, sh_n) /* outcome unknown */
#endif
        :: else -> skip
        fi;
        if
        :: sh_code == C_409 ->
            refused[T2] = true;
            untick(H, sh_ch)
        :: else -> sh_code = C_502
        fi;
        printf("MSC: H: claim (J1,%d) not taken: %e to O  [claims.c:183-192]\n", sh_n, sh_code)
    fi
}

/* The claim's answer to O, with the unit as it is now (claims.c:175, :114). */
inline claim_reply(cr_code)
{
    if
    :: hc_rep ->
        od_code = cr_code;
        od_us = USTATUS(T2);
#ifndef TODAY
        od_uv = uver;
        if
        :: sj[T2] == J1 && !sp[T2] ->
            od_cj = J1;
            od_ca = sa[T2]
        :: else ->
            od_cj = NONE;
            od_ca = 0
        fi;
#endif
        od_st = REP;
        hc_rep = false;
        normv()
    :: else -> skip
    fi
}

proctype HClaim()
{
    byte n, c, ch, i;
    mtype code;
    bool dup, go;
end_hc:
    do
    :: atomic {
        (od_st == REQ && od_k == K_CLAIM) || oc_st == REQ ->
        if
        :: od_st == REQ && od_k == K_CLAIM ->
            n = od_n;
            c = od_c;
            od_st = TAKEN;
            hc_rep = true
        :: oc_st == REQ ->
            n = oc_n;
            c = oc_c;
            oc_st = IDLE;
            oc_n = 0;
            oc_c = 0;
            hc_rep = false;
            printf("MSC: H: the timed-out claim (J1,%d) arrives late  [claims.c:58]\n", n)
        fi;
        go = false;
        if
        :: sj[T2] == J1 && sa[T2] == n && !sp[T2] ->
            code = C_200 /* claims.c:98: a retry of a claim that succeeded */
        :: else ->
            if
            :: sj[T2] == J1 && !sp[T2] && sa[T2] < n ->
                free_slot(T2) /* claims.c:109: a newer attempt supersedes */
            :: else -> skip
            fi;
            if
            :: sj[T2] != NONE || lost[T2] ->
                code = C_409; /* claims.c:113-131 */
                printf("MSC: H: claim (J1,%d): T2 is %e -> refused_409, with the unit as it is now  [claims.c:122-131]\n", n, USTATUS(T2))
            :: else ->
                sj[T2] = J1;
                sa[T2] = n;
                sp[T2] = true;
#ifdef TODAY
                tick(H, ch);
#else
                ch = 0;
#endif
                hc_st = REQ;
                go = true;
                printf("MSC: H -> T2: assign (J1,%d) for O, clock O:%d H:%d  [claims.c:133 unit_hold, :157 POST /v1/assignments]\n", n, c, ch)
            fi
        fi;
        if
        :: !go ->
            claim_reply(code);
            n = 0;
            c = 0;
            code = 0
        :: else -> skip
        fi;
        NORMC
    }
        if
        :: go ->
            do
            :: atomic {
                hc_st == REQ && up[T2] ->
                t_assign(T2, J1, n, c, ch, code);
                hc_st = REP;
                printf("MSC: T2: assignment (J1,%d) -> %e  [executor.c:187]\n", n, code)
            }
            :: atomic {
                hc_st == REP ->
                hc_st = IDLE;
                settle_claim_h(n, ch, code);
                claim_reply(code);
                n = 0;
                c = 0;
                ch = 0;
                code = 0;
                go = false;
                NORMC;
                break
            }
            :: atomic {
                CAN_F(FK_HC) && hc_st != IDLE ->
                faults--;
                if
                :: hc_st == REQ -> orphan_assign(T2, J1, n, c, ch)
                :: else -> skip
                fi;
                hc_st = IDLE;
                printf("MSC: H: assignment (J1,%d) to T2 times out  [claims.c:157]\n", n);
                code = C_ERR;
                settle_claim_h(n, ch, code);
                claim_reply(code);
                n = 0;
                c = 0;
                ch = 0;
                code = 0;
                go = false;
                NORMC;
                break
            }
            od
        :: else -> skip
        fi
    od
}

/* ---- the home broker's own dispatcher for J2, on T2 only ---- */

#define PICK_J2 (!lost[T2] && sj[T2] == NONE && !refused[T2] && ROOM(J2))

inline settle_own_h(sj2_n, sj2_c, sj2_code)
{
    if
    :: (sj2_code == C_201 || sj2_code == C_200) && js[J2] == JQ && !lost[T2] && ast[A(J2, sj2_n)] == AS_PEND ->
        sp[T2] = false;
        ast[A(J2, sj2_n)] = AS_ACT;
        js[J2] = JA;
        touch(T2);
        SETTLE_CLOCK(H, T2);
        printf("MSC: H: J2 attempt %d ACTIVE on T2  [assign.c:372-374]\n", sj2_n)
    :: else ->
        if
        :: sj[T2] == J2 ->
            free_slot(T2);
            touch(T2)
        :: else -> skip
        fi;
#ifdef TODAY
        ast[A(J2, sj2_n)] = AS_NONE;
        if
        :: sj2_code == C_201 || sj2_code == C_200 -> qpush(H, Q_REVOKE, J2, sj2_n)
        :: sj2_code == C_409 ->
            refused[T2] = true;
            untick(H, sj2_c)
        :: else -> skip
        fi;
#else
        if
        :: sj2_code == C_409 ->
            ast[A(J2, sj2_n)] = AS_NONE;
            refused[T2] = true;
            untick(H, sj2_c)
        :: sj2_code != C_409 && F1 -> ast[A(J2, sj2_n)] = AS_REV
        :: sj2_code != C_409 && !F1 -> ast[A(J2, sj2_n)] = AS_NONE
        fi;
        if
        :: sj2_code == C_201 || sj2_code == C_200 || (sj2_code == C_ERR && REVQ) -> qpush(H, Q_REVOKE, J2, sj2_n)
        :: else -> skip
        fi;
#endif
        printf("MSC: H: own attempt (J2,%d) failed: %e  [assign.c:380-395]\n", sj2_n, sj2_code)
    fi
}

proctype HDisp()
{
    byte n, c, i, m;
    mtype code;
    bool dup;
end_hd:
    do
    :: atomic {
        js[J2] == JQ && PICK_J2 ->
        reserve(H, J2, T2, n, c);
        sj[T2] = J2;
        sa[T2] = n;
        sp[T2] = true;
        touch(T2);
        hd_n = n;
        hd_c = c;
        hd_st = REQ;
        printf("MSC: H -> T2: assign own (J2,%d) clock H:%d  [assign.c:345, :361]\n", n, c)
    }
        do
        :: atomic {
            hd_st == REQ && up[T2] ->
            t_assign(T2, J2, hd_n, hd_c, hd_c, code);
            hd_code = code;
            hd_st = REP;
            printf("MSC: T2: assignment (J2,%d) -> %e  [executor.c:187]\n", hd_n, code);
            code = 0
        }
        :: atomic {
            hd_st == REP ->
            code = hd_code;
            hd_st = IDLE;
            hd_n = 0;
            hd_c = 0;
            hd_code = 0;
            settle_own_h(n, c, code);
            n = 0;
            c = 0;
            code = 0;
            NORMC;
            break
        }
        :: atomic {
            CAN_F(FK_HD) && hd_st != IDLE ->
            faults--;
            if
            :: hd_st == REQ -> orphan_assign(T2, J2, hd_n, hd_c, hd_c)
            :: else -> skip
            fi;
            hd_st = IDLE;
            hd_n = 0;
            hd_c = 0;
            hd_code = 0;
            settle_own_h(n, c, C_ERR);
            n = 0;
            c = 0;
            NORMC;
            break
        }
        od
    od
}

/* ---- notifiers (assign.c:614 broker_notify_main) ---- */

inline deliver(d_b, d_k, d_j, d_n)
{
    if
    :: d_k == Q_REVOKE ->
        t_revoke(d_b, d_j, d_n);
        printf("MSC: %c -> T%d: revoke (J%d,%d) delivered  [assign.c:646 DELETE]\n", (d_b == O -> 'O' : 'H'), d_b + 1, d_j + 1, d_n)
    :: d_k == Q_RELFIN || d_k == Q_RELREV ->
        /* claims.c:208 h_unit_release at H */
        if
        :: sj[T2] == d_j && sa[T2] == d_n ->
            free_slot(T2);
            touch(T2);
            if
            :: d_k == Q_RELREV -> qpush(H, Q_REVOKE, d_j, d_n)
            :: else -> skip
            fi
        :: else -> skip
        fi;
        printf("MSC: O -> H: release (J%d,%d) delivered  [assign.c:636, claims.c:227-242]\n", d_j + 1, d_n)
    :: d_k == Q_DROPPED ->
#ifndef TODAY
        /* F3 at O: the home broker dropped our claim */
        if
        :: ast[A(d_j, d_n)] == AS_ACT ->
            ast[A(d_j, d_n)] = AS_REV;
            borrowed = false;
            if
            :: js[d_j] == JA -> js[d_j] = JQ
            :: else -> skip
            fi;
            printf("MSC: H -> O: claim (J%d,%d) dropped: attempt revoked, job queued  [F3]\n", d_j + 1, d_n)
        :: ast[A(d_j, d_n)] == AS_PEND ->
            adrop[A(d_j, d_n)] = true;
            printf("MSC: H -> O: claim (J%d,%d) dropped while its answer is in flight: noted for the settle  [F3]\n", d_j + 1, d_n)
        :: else ->
            printf("MSC: H -> O: claim (J%d,%d) dropped: nothing to do  [F3]\n", d_j + 1, d_n)
        fi
#else
        assert(false)
#endif
    fi
}

#ifndef TODAY
/* F3B: O's copy of T2 lists a claim of O's that O does not hold (pending or
 * active), and no message is on its way: O releases it. The rule is
 * re-read at every pull round (and when O gives up on an attempt), so a
 * release that fails is sent again while the copy still lists the claim. */
#define STRAY_CLAIM (F3B && cpj == J1 && ast[A(J1, cpa)] != AS_PEND && ast[A(J1, cpa)] != AS_ACT && \
                     ql[O] == 0 && nt_st[O] == IDLE)
#endif

proctype Notify(byte b)
{
    byte k, j, n, i;
    bool dup;
end_n:
    do
#ifndef TODAY
    :: atomic {
        b == O && STRAY_CLAIM ->
        qpush(O, Q_RELREV, J1, cpa);
        printf("MSC: O: its copy of T2 still lists claim (J1,%d), which O gave up: release  [F3B]\n", cpa)
    }
#endif
    :: atomic {
        ql[b] > 0 && nt_st[b] == IDLE ->
        qpop(b, k, j, n);
        nt_st[b] = REQ
    }
        do
        :: atomic {
            nt_st[b] == REQ && (k != Q_REVOKE || up[b]) ->
            deliver(b, k, j, n);
            nt_st[b] = IDLE;
            k = 0;
            j = 0;
            n = 0;
            NORMC;
            break
        }
        :: atomic {
            CAN_F(FK_NOTIFY) && nt_st[b] != IDLE ->
            faults--;
            if
            :: k != Q_REVOKE || up[b] -> deliver(b, k, j, n) /* landed, reply lost */
            :: true -> skip
            fi;
            nt_st[b] = IDLE;
#ifndef TODAY
            if
            :: RETRY -> qpush(b, k, j, n) /* retried until answered */
            :: else -> skip
            fi;
#endif
            printf("MSC: %c: message %d (J%d,%d) fails  [assign.c:636-647]\n", (b == O -> 'O' : 'H'), k, j + 1, n);
            k = 0;
            j = 0;
            n = 0;
            NORMC;
            break
        }
        od
    od
}

/* ---- O's pull of H's metadata (sync.c:595 pull_peer, :479 apply_pull) ---- */

#ifndef TODAY
#define PL_NEWER (pl_v > cpv || !F6)
#else
#define PL_NEWER true
#endif

proctype Pull()
{
    byte i, n, m;
    bool dup;
end_p:
    do
    :: atomic {
        dirty && (!PULL_NOT_WHILE_LOST || !lost[T2]) ->
        dirty = false;
        pl_s = USTATUS(T2);
#ifndef TODAY
        pl_v = uver;
#endif
        if
        :: sj[T2] == J1 && !sp[T2] ->
            pl_j = J1;
            pl_a = sa[T2]
        :: else ->
            pl_j = NONE;
            pl_a = 0
        fi;
        pl_st = REP
    }
        if
#ifndef TODAY
        :: atomic {
            pl_st == REP && pl_v <= cpv && F6 ->
            printf("MSC: H -> O: pull: T2 is %e at version %d, older than O's copy (version %d): ignored  [F6]\n", pl_s, pl_v, cpv);
            pl_st = IDLE;
            pl_s = 0;
            pl_j = 0;
            pl_a = 0;
            pl_v = 0;
            normv()
        }
#endif
        :: atomic {
            pl_st == REP && PL_NEWER ->
            cps = pl_s;
#ifndef TODAY
            cpv = pl_v;
            cpj = pl_j;
            cpa = pl_a;
#endif
            if
            :: RETURN_AFTER_SEEN_LOST && pl_s == US_LOST -> o_saw_lost = true
            :: else -> skip
            fi;
            if
            :: pl_j == J1 -> printf("MSC: H -> O: pull: T2 is %e, holds claim (J1,%d)  [sync.c:509 upsert_remote]\n", pl_s, pl_a)
            :: else -> printf("MSC: H -> O: pull: T2 is %e  [sync.c:509 upsert_remote]\n", pl_s)
            fi;
#ifdef TODAY
            if
            :: pl_s == US_LOST ->
                /* sync.c:396 requeue_borrowed_on: the current attempt is the
                 * latest non-pending one (model.c:32), and only ACTIVE moves */
                n = MA - 1;
                do
                :: n > 0 && (ast[A(J1, n)] == AS_NONE || ast[A(J1, n)] == AS_PEND) -> n--
                :: else -> break
                od;
                if
                :: n > 0 && ast[A(J1, n)] == AS_ACT && aun[A(J1, n)] == T2 ->
                    ast[A(J1, n)] = AS_REV;
                    borrowed = false;
                    if
                    :: js[J1] == JA -> js[J1] = JQ
                    :: else -> skip
                    fi;
                    printf("MSC: O: borrowed T2 lost: attempt (J1,%d) revoked, J1 queued  [sync.c:407-420]\n", n)
                :: else ->
                    printf("MSC: O: T2 lost, but J1 has no ACTIVE attempt on it (latest confirmed: %d): nothing requeued  [sync.c:407 ACTIVE only]\n", n)
                fi;
                n = 0
            :: else -> skip
            fi
#else
            n = 1;
            do
            :: n < MA ->
                if
                :: pl_s == US_LOST && aun[A(J1, n)] == T2 && ast[A(J1, n)] == AS_ACT ->
                    ast[A(J1, n)] = AS_REV;
                    borrowed = false;
                    if
                    :: js[J1] == JA -> js[J1] = JQ
                    :: else -> skip
                    fi;
                    printf("MSC: O: borrowed T2 lost: attempt (J1,%d) revoked, J1 queued  [sync.c:407, with F6]\n", n)
                :: F3C && pl_s != US_LOST && aun[A(J1, n)] == T2 && ast[A(J1, n)] == AS_ACT && pl_v > bav &&
                   !(pl_j == J1 && pl_a == n) ->
                    /* F3C: a copy newer than the claim's acceptance that
                     * does not list it: the claim is gone */
                    ast[A(J1, n)] = AS_REV;
                    borrowed = false;
                    if
                    :: js[J1] == JA -> js[J1] = JQ
                    :: else -> skip
                    fi;
                    printf("MSC: O: H's copy of T2 (version %d, newer than the claim's %d) no longer lists (J1,%d): revoked, J1 queued  [F3C]\n", pl_v, bav, n)
                :: else -> skip
                fi;
                n++
            :: else -> break
            od;
            n = 0
#endif
            pl_st = IDLE;
            pl_s = 0;
            pl_j = 0;
            pl_a = 0;
            pl_v = 0;
            normv()
        }
        :: atomic {
            CAN_F(FK_PULL) ->
            faults--;
            dirty = true;
            pl_st = IDLE;
            pl_s = 0;
            pl_j = 0;
            pl_a = 0;
            pl_v = 0;
            normv()
        }
        fi
    od
}

/* ---- a terminal: stalls and returns, heartbeats; its home broker's
 * failure detector (assign.c:524) runs here too ---- */

/* executor.c:305 exec_heartbeat_body: what it holds active; fixed, seen */
inline hb_body(hbb_t)
{
    if
    :: tst[TJ(hbb_t, J1)] == TS_ACT ->
        hb_j[hbb_t] = J1;
        hb_n[hbb_t] = tat[TJ(hbb_t, J1)]
    :: tst[TJ(hbb_t, J2)] == TS_ACT ->
        hb_j[hbb_t] = J2;
        hb_n[hbb_t] = tat[TJ(hbb_t, J2)]
    :: else ->
        hb_j[hbb_t] = NONE;
        hb_n[hbb_t] = 0
    fi;
    hb_s[hbb_t] = seen[hbb_t]
}

proctype Term(byte t)
{
    byte i, j, n, m;
    bool dup;
end_t:
    do
    :: atomic {
        up[t] && CAN_F((t == T1 -> FK_DOWN1 : FK_DOWN2)) && DOWN_PREMISE ->
        faults--;
        up[t] = false;
        printf("MSC: T%d stalls (SIGSTOP, or killed: its assignments are on disk)\n", t + 1)
    }
    :: atomic {
        !up[t] && (!TODAY_ONLY(RETURN_AFTER_SEEN_LOST) || o_saw_lost) ->
        up[t] = true;
        printf("MSC: T%d is back\n", t + 1)
    }
    :: atomic {
        !up[t] && !lost[t] ->
        lost[t] = true;
        printf("MSC: %c: no heartbeat from T%d for the failure timeout: lost  [assign.c:549-560]\n", (t == O -> 'O' : 'H'), t + 1);
        revoke_unit_jobs(t);
        NORMC
    }
    :: atomic {
        up[t] && CAN_F(FK_DELETE) && (tst[TJ(t, J1)] == TS_ACT || tst[TJ(t, J2)] == TS_ACT) ->
        /* handlers_assignments.c:144 h_revoke by hand (or a test hook) */
        faults--;
        if
        :: tst[TJ(t, J1)] == TS_ACT -> tst[TJ(t, J1)] = TS_REV
        :: tst[TJ(t, J2)] == TS_ACT -> tst[TJ(t, J2)] = TS_REV
        fi;
        printf("MSC: T%d: an operator revokes its assignment (DELETE)  [handlers_assignments.c:144]\n", t + 1)
    }
    :: atomic {
        up[t] ->
        /* broker_link.c:115 heartbeat_once: the body, the home broker's
         * answer, and broker_link.c:128 exec_apply_revoked */
        hb_body(t);
        hb_land(t, hb_j[t], hb_n[t], hb_s[t], true);
        i = 0;
        do
        :: i < hr_k[t] ->
            printf("MSC: %c -> T%d: heartbeat reply revokes (J%d,%d)  [broker_link.c:128]\n", (t == O -> 'O' : 'H'), t + 1, hr_j[t * 2 + i] + 1, hr_n[t * 2 + i]);
            t_revoke(t, hr_j[t * 2 + i], hr_n[t * 2 + i]);
            i++
        :: else -> break
        od;
        i = 0;
#ifndef TODAY
        /* F2: the reply carries the home broker's clock */
        if
        :: clk[t] > seen[t] -> seen[t] = clk[t]
        :: else -> skip
        fi;
#endif
        clear_hb(t);
        NORMC
    }
    :: atomic {
        up[t] && CAN_F(FK_HB) ->
        /* a heartbeat that fails: it landed and its reply was lost, or it
         * is still on its way and lands later, or never */
        faults--;
        hb_body(t);
        if
        :: hb_land(t, hb_j[t], hb_n[t], hb_s[t], false);
            printf("MSC: T%d: heartbeat lands but its reply is lost  [broker_link.c:115]\n", t + 1)
        :: ho_st[t] == IDLE ->
            ho_st[t] = REQ;
            ho_j[t] = hb_j[t];
            ho_n[t] = hb_n[t];
            ho_s[t] = hb_s[t];
            printf("MSC: T%d: heartbeat (lists J%d,%d, seen %d) delayed; T%d carries on  [broker_link.c:115]\n", t + 1, hb_j[t] + 1, hb_n[t], hb_s[t], t + 1)
        fi;
        clear_hb(t);
        NORMC
    }
    od
}

/* ---- a crew reports through its terminal (report.c:256 exec_report) ---- */

#ifdef TODAY
mtype last_rep[3];           /* ghost: the last answer a crew got, for the STUCK claims */
#define LAST_REP(t, code) last_rep[t] = code
#else
#define LAST_REP(t, code) skip
#endif

/* report.c:328-357: a decision (accepted, or rejected with the winner)
 * marks the assignment reported; 403, causality and 502 do not. */
inline crew_decision(cd_t, cd_j, cd_n, cd_code)
{
    if
    :: cd_code == R_ACC || cd_code == R_RETRY || cd_code == R_REJ ->
        assert(cd_code == R_REJ || (wu[cd_j] == cd_t && wa[cd_j] == cd_n));
        if
        :: tat[TJ(cd_t, cd_j)] == cd_n -> tst[TJ(cd_t, cd_j)] = TS_REP
        :: else -> skip
        fi;
        crew_dec[cd_t] = true;
        printf("MSC: crew of T%d: decision %e\n", cd_t + 1, cd_code)
    :: else -> skip
    fi
}

proctype Crew(byte t)
{
    byte j, n, c, i, m;
    mtype code;
    bool dup, held;
    /* Weak fairness would make every crew report sooner or later; a crew
     * that never does is a run too. */
    if
    :: true -> skip
    :: true ->
end_idle:
        false
    fi;
end_wait:
    atomic {
        up[t] && (tst[TJ(t, J1)] == TS_ACT || tst[TJ(t, J1)] == TS_REV || tst[TJ(t, J2)] == TS_ACT || tst[TJ(t, J2)] == TS_REV) ->
        if
        :: tst[TJ(t, J1)] == TS_ACT || tst[TJ(t, J1)] == TS_REV -> j = J1
        :: tst[TJ(t, J2)] == TS_ACT || tst[TJ(t, J2)] == TS_REV -> j = J2
        fi;
        crew_on[t] = true;
        printf("MSC: crew of T%d reports on J%d\n", t + 1, j + 1)
    }
end_c:
    do
    :: atomic {
        up[t] && !crew_dec[t] ->
        /* report.c:272-274: the attempt it holds and that assignment's clock */
        n = tat[TJ(t, j)];
        c = tck[TJ(t, j)];
        report_land(t, j, n, c, code);
        LAST_REP(t, code);
        crew_decision(t, j, n, code);
        n = 0;
        c = 0;
        code = 0;
        NORMC
    }
    :: atomic {
        up[t] && !crew_dec[t] && CAN_F(FK_REPORT) ->
        /* the forward fails (502 to the crew): it landed and the answer was
         * lost, or it is on its way and lands later, or never */
        faults--;
        n = tat[TJ(t, j)];
        c = tck[TJ(t, j)];
        if
        :: report_land(t, j, n, c, code)
        :: ro_st[t] == IDLE ->
            ro_st[t] = REQ;
            ro_j[t] = j;
            ro_n[t] = n;
            ro_c[t] = c
        fi;
        LAST_REP(t, C_ERR);
        n = 0;
        c = 0;
        code = 0;
        NORMC
    }
    od
}

/* ---- late messages: orphans land later, or never ---- */

proctype Net()
{
    byte t, i, m;
    mtype code;
    bool dup, held;
end_net:
    do
    :: atomic {
        oa_st[T1] == REQ && up[T1] ->
        t_assign(T1, oa_j[T1], oa_n[T1], oa_co[T1], oa_ch[T1], code);
        printf("MSC: T1: the timed-out assignment (J%d,%d) clock %d lands late -> %e; T1 holds (J%d,%d) clock %d  [executor.c:187]\n", oa_j[T1] + 1, oa_n[T1], oa_co[T1], code, oa_j[T1] + 1, tat[TJ(T1, oa_j[T1])], tck[TJ(T1, oa_j[T1])]);
        oa_st[T1] = IDLE;
        oa_j[T1] = 0;
        oa_n[T1] = 0;
        oa_co[T1] = 0;
        oa_ch[T1] = 0;
        code = 0
    }
    :: atomic {
        oa_st[T2] == REQ && up[T2] ->
        t_assign(T2, oa_j[T2], oa_n[T2], oa_co[T2], oa_ch[T2], code);
        printf("MSC: T2: the timed-out assignment (J%d,%d) lands late -> %e  [executor.c:187]\n", oa_j[T2] + 1, oa_n[T2], code);
        oa_st[T2] = IDLE;
        oa_j[T2] = 0;
        oa_n[T2] = 0;
        oa_co[T2] = 0;
        oa_ch[T2] = 0;
        code = 0
    }
    :: atomic {
        oa_st[T1] == REQ || oa_st[T2] == REQ ->
        if
        :: oa_st[T1] == REQ -> t = T1
        :: oa_st[T2] == REQ -> t = T2
        fi;
        oa_st[t] = IDLE;
        oa_j[t] = 0;
        oa_n[t] = 0;
        oa_co[t] = 0;
        oa_ch[t] = 0;
        t = 0;
        NORMC
    }
    :: atomic {
        oc_st == REQ ->
        oc_st = IDLE;
        oc_n = 0;
        oc_c = 0
    }
    :: atomic {
        ho_st[T1] == REQ || ho_st[T2] == REQ ->
        if
        :: ho_st[T1] == REQ -> t = T1
        :: ho_st[T2] == REQ -> t = T2
        fi;
        if
        :: hb_land(t, ho_j[t], ho_n[t], ho_s[t], false);
            printf("MSC: T%d's old heartbeat (lists J%d,%d, seen %d) lands late; its reply is lost\n", t + 1, ho_j[t] + 1, ho_n[t], ho_s[t])
        :: skip
        fi;
        ho_st[t] = IDLE;
        ho_j[t] = 0;
        ho_n[t] = 0;
        ho_s[t] = 0;
        t = 0;
        NORMC
    }
    :: atomic {
        ro_st[T1] == REQ || ro_st[T2] == REQ ->
        if
        :: ro_st[T1] == REQ -> t = T1
        :: ro_st[T2] == REQ -> t = T2
        fi;
        if
        :: report_land(t, ro_j[t], ro_n[t], ro_c[t], code)
        :: skip
        fi;
        ro_st[t] = IDLE;
        ro_j[t] = 0;
        ro_n[t] = 0;
        ro_c[t] = 0;
        code = 0;
        t = 0;
        NORMC
    }
    od
}

/* ---- properties ---- */

/* Safety: capacity 1 at every terminal, at most one accepted result a job. */
#define SAFE (!(tst[TJ(T1, J1)] == TS_ACT && tst[TJ(T1, J2)] == TS_ACT) && \
              !(tst[TJ(T2, J1)] == TS_ACT && tst[TJ(T2, J2)] == TS_ACT) && \
              nacc[J1] <= 1 && nacc[J2] <= 1)

active proctype Safety()
{
end_s:
    atomic {
        !SAFE -> assert(false)
    }
}

/* Convergence. Attempt (j,n) is held: the owner has it ACTIVE, the unit's
 * home broker holds it, and the terminal, up, holds it active. */
#define HELD(j, n) (ast[A(j, n)] == AS_ACT && sj[aun[A(j, n)]] == j && sa[aun[A(j, n)]] == n && \
                    !sp[aun[A(j, n)]] && up[aun[A(j, n)]] && tst[TJ(aun[A(j, n)], j)] == TS_ACT && \
                    tat[TJ(aun[A(j, n)], j)] == n)
#define JHELD(j) (HELD(j, 1) || HELD(j, 2) || HELD(j, 3) || HELD(j, 4))
/* J1 may wait only when T1 does not exist and T2 is held by J2; J2 may
 * wait only while T2 is held by J1 */
#define JOB_OK(j) (js[j] == JC || (js[j] == JA && JHELD(j)) || \
                   (js[j] == JQ && ((j == J1 && !HAVE_T1 && JHELD(J2)) || (j == J2 && JHELD(J1)))))
/* what a terminal holds active is what its brokers think it holds, and its
 * home broker holds nothing the terminal does not */
#define TACT_OK(t, j) (tst[TJ(t, j)] != TS_ACT || (js[j] == JA && HELD(j, tat[TJ(t, j)]) && aun[A(j, tat[TJ(t, j)])] == t))
#define SLOT_OK(t) (sj[t] == NONE || (sj[t] != NONE && HELD(sj[t], sa[t]) && aun[A(sj[t], sa[t])] == t))
#define CONV (JOB_OK(J1) && JOB_OK(J2) && TACT_OK(T1, J1) && TACT_OK(T1, J2) && TACT_OK(T2, J1) && \
              TACT_OK(T2, J2) && SLOT_OK(T1) && SLOT_OK(T2))

/* Today's four liveness violations, each as a state that, once reached,
 * never ends (checked as the never claim of <>[] STUCK on -DTODAY). */
#define O_THINKS_T2_HOLDS(n) (ast[A(J1, n)] == AS_ACT && aun[A(J1, n)] == T2 && \
                              !(tst[TJ(T2, J1)] == TS_ACT && tat[TJ(T2, J1)] == n))
/* (a): O records J1 active on T2, which does not hold it */
#define STUCK_A (js[J1] == JA && (O_THINKS_T2_HOLDS(1) || O_THINKS_T2_HOLDS(2) || \
                                  O_THINKS_T2_HOLDS(3) || O_THINKS_T2_HOLDS(4)))
/* (b): the crew of T1 gets causality_violation for every report */
#define STUCK_B (crew_on[T1] && !crew_dec[T1] && last_rep[T1] == R_CAUS)
/* (c): O holds T2 for J1 while H has it, and T2 works, on J2 */
#define STUCK_C (STUCK_A && sj[T2] == J2 && tst[TJ(T2, J2)] == TS_ACT)
/* (d): T1 holds a phantom attempt of J1, whose result came from elsewhere,
 * and its crew gets 403 for every report */
#define STUCK_D (tst[TJ(T1, J1)] == TS_ACT && js[J1] == JC && wu[J1] != T1 && last_rep[T1] == R_FORB)
/* (e): J1 waits while T2 is free at H, and O's copy says it is not */
#define STUCK_E (js[J1] == JQ && !lost[T2] && sj[T2] == NONE && cps != US_AV)

init
{
    atomic {
        sj[T1] = NONE;
        sj[T2] = NONE;
        sj[NONE] = NONE;
        up[T1] = HAVE_T1;
        up[T2] = HAVE_T2;
        lost[T1] = !HAVE_T1;
        lost[T2] = !HAVE_T2;
        js[J1] = JQ;
        js[J2] = (HAVE_J2 && HAVE_T2 -> JQ : JC);
        js[NONE] = JC;
        aun[A(J1, 0)] = NONE;
        aun[A(J1, 1)] = NONE;
        aun[A(J1, 2)] = NONE;
        aun[A(J1, 3)] = NONE;
        aun[A(J1, 4)] = NONE;
        aun[A(J2, 0)] = NONE;
        aun[A(J2, 1)] = NONE;
        aun[A(J2, 2)] = NONE;
        aun[A(J2, 3)] = NONE;
        aun[A(J2, 4)] = NONE;
        cps = (HAVE_T2 -> US_AV : US_LOST);
#ifndef TODAY
        cpj = NONE;
#endif
        /* spin's search tries the newest process first: dispatch leads the
         * traces, crews come last */
        if
        :: HAVE_T1 -> run Crew(T1)
        :: else -> skip
        fi;
        if
        :: HAVE_T2 -> run Crew(T2)
        :: else -> skip
        fi;
        run Net();
        if
        :: HAVE_T1 -> run Term(T1)
        :: else -> skip
        fi;
        if
        :: HAVE_T2 ->
            run Term(T2);
            run Pull();
            run Notify(H);
            run HClaim()
        :: else -> skip
        fi;
        if
        :: HAVE_J2 && HAVE_T2 -> run HDisp()
        :: else -> skip
        fi;
        run Notify(O);
        run ODisp()
    }
}

/* The claims; pan picks one with -N. Without -a, -N conv is a plain
 * search of every reachable state for the assertions (safety). */

/* conv: <>[] CONV. Once faults stop, every job is completed or held where
 * its owner thinks, and no unit holds anything its brokers do not know of.
 * Written as the never claim spin -f '!(<>[]p)' prints, since CONV is too
 * long for spin's ltl parser. */
never conv {
T0_init:
    do
    :: !(CONV) -> goto accept_S9
    :: true -> goto T0_init
    od;
accept_S9:
    do
    :: true -> goto T0_init
    od
}

/* A crew that reports through its terminal eventually gets a decision
 * (accepted, or rejected with the winner): not 403 or 409 causality for ever. */
ltl crew { [] ((crew_on[0] -> <> crew_dec[0]) && (crew_on[1] -> <> crew_dec[1])) }

#if defined(STUCK) && defined(TODAY)
/* stuck: <>[] STUCK, the scenario's own path, which today's code takes */
never stuck {
T0_init:
    do
    :: STUCK -> goto accept_S4
    :: true -> goto T0_init
    od;
accept_S4:
    do
    :: STUCK -> goto accept_S4
    od
}
#endif

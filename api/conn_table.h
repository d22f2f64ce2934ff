/* The HTTP server's book of open connections and the rules that keep a
 * flood of them from taking a service offline: how many one client address
 * may hold, how many the process can hold at all (from its fd limit), which
 * connection gives way when the table is full, and the deadline by which a
 * connection must have delivered its next request whole. Pure: no sockets,
 * no clock (time is passed in, in milliseconds), no locking (the server
 * holds one mutex around every call). */
#ifndef API_CONN_TABLE_H
#define API_CONN_TABLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A client address: IPv6, or IPv4 as an IPv4-mapped IPv6 address. */
typedef struct conn_addr {
    unsigned char b[16];
} conn_addr;

void conn_addr_from_ipv4(conn_addr *a, uint32_t ipv4_network_order);

typedef struct conn_limits {
    size_t max_total;      /* connections served at once (cut ones not counted) */
    size_t max_per_client; /* connections one client address may hold */
    int64_t read_deadline_ms;
} conn_limits;

/* What the server may hold given RLIMIT_NOFILE's soft value (0: unlimited).
 * Out of nofile it keeps 64 + nofile/8 descriptors for the process's own
 * files, SQLite, outgoing curl connections and libmicrohttpd's own; of the
 * rest, 1/8 is room for connections that were cut but are not closed yet,
 * and the remainder (at least 4, at most cap, never 0) is the connection
 * limit.
 * *slots (may be NULL) receives the table size: limit plus that room. */
size_t conn_limit_for_nofile(uint64_t nofile, size_t cap, size_t *slots);

/* A client address holding fewer live connections than this is light:
 * it may take the last free entries and, when nothing can be cut, go over
 * max_total (never over the table's size), so a client that holds next to
 * nothing is served through a flood from a few heavy addresses. */
#define CONN_LIGHT_CLIENT 4

typedef enum conn_verdict {
    CONN_ADMIT,          /* serve it */
    CONN_ADMIT_EVICTING, /* serve it; *victim_fd was cut to make room */
    CONN_REFUSE_CLIENT,  /* its address holds max_per_client connections */
    CONN_REFUSE_FULL,    /* no room: the table is full, or nothing can be cut for a heavy client */
} conn_verdict;

typedef struct conn_stats {
    size_t open;        /* connections in the table, cut ones included */
    size_t live;        /* open and not cut */
    size_t clients;     /* distinct addresses among open connections */
    size_t cut_pending; /* cut, not yet reported closed */
} conn_stats;

typedef struct conn_table conn_table;

/* A table of `slots` entries (>= limits->max_total) for descriptors below
 * max_fd. NULL on bad arguments or out of memory. */
conn_table *conn_table_new(const conn_limits *limits, size_t slots, size_t max_fd);
void conn_table_free(conn_table *t);

/* A new connection fd from a at now. On CONN_ADMIT* it is in the table,
 * waiting to be started; on CONN_ADMIT_EVICTING *victim_fd (never fd) is a
 * started connection, waiting for a request, now marked cut: the caller
 * shuts it down. Refused connections are not in the table. Half of the
 * entries beyond max_total are kept for light clients (CONN_LIGHT_CLIENT). An fd the table
 * still holds was closed without a word (libmicrohttpd drops a connection
 * it fails to set up silently): that entry is forgotten first. An fd at or
 * above max_fd is refused as CONN_REFUSE_FULL. Victim choice: among
 * started connections waiting for a request, one of the address holding
 * the most, and of those the one waiting longest. */
conn_verdict conn_table_admit(conn_table *t, int fd, const conn_addr *a, int64_t now_ms,
                              int *victim_fd);

/* libmicrohttpd started serving fd (from address a). Returns the entry's id
 * for the calls below; an fd the table no longer holds (its admission was
 * forgotten by conn_table_expire) is taken in again without limit checks.
 * -1 when it cannot be (fd out of range, table full): the connection then
 * runs untracked, under libmicrohttpd's idle timeout only. */
int conn_table_started(conn_table *t, int fd, const conn_addr *a, int64_t now_ms);
/* Admission that libmicrohttpd refused (it closed fd): forget it. */
void conn_table_forget(conn_table *t, int fd);
/* The request on id is complete (or answered): no deadline until it is idle. */
void conn_table_busy(conn_table *t, int id);
/* The reply on id is done: the next request must be whole by now + deadline. */
void conn_table_idle(conn_table *t, int id, int64_t now_ms);
/* libmicrohttpd closed id (before it closes the descriptor). */
void conn_table_closed(conn_table *t, int id);

/* Marks cut every started connection whose request is not whole by its
 * deadline at now and writes up to max of their descriptors into fds;
 * returns how many it wrote (call again while it returns max). Admissions
 * never started within a deadline are forgotten (nothing to shut down: the
 * descriptor was closed by libmicrohttpd or will be started late). */
size_t conn_table_expire(conn_table *t, int64_t now_ms, int *fds, size_t max);
/* Milliseconds from now to the earliest deadline (0 if one has passed), or
 * -1 when nothing waits. */
int64_t conn_table_next_deadline(const conn_table *t, int64_t now_ms);

void conn_table_stats(const conn_table *t, conn_stats *st);
/* Live (not cut) connections of address a. */
size_t conn_table_client_count(const conn_table *t, const conn_addr *a);

#endif

/* The media engine's per-packet path in C: pack + SRTP protect + sendto on the tick, and the socket
 * callback's demux + SRTP unprotect + header parse + RFC 3550 statistics + loss runs + payload level +
 * echo forwarding. Why: the Python engine spends ~45 us per packet operation around ~12 us of syscalls
 * and libsrtp; this file is the same logic (stream.py, receive_stats.py, sequence.py, lean.py) without
 * the interpreter in between. The receive side runs on the event loop's thread with the GIL held; the
 * clock-driven send side runs on the engine's own thread (Sender) without the GIL, so every Tx field is
 * behind the Tx's mutex, which the loop's writers (forward, RTCP protect, state changes) take too.
 *
 * libsrtp is called through the function pointers of pylibsrtp's own cffi module (no headers needed);
 * each object keeps a reference to its pylibsrtp Session so the srtp_t context outlives every call.
 * Python keeps RTCP building and parsing (1/s per stream; SRTCP is protected here, Tx.protect_rtcp) and
 * sampled decoding; DTMF events are computed in Python and queued into the Tx (queue_dtmf).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <arpa/inet.h>
#include <errno.h>
#include <stddef.h>
#include <math.h>
#include <netinet/in.h>
#include <stdint.h>
#include <string.h>
#include <linux/sockios.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

typedef int (*srtp_fn)(void *ctx, void *buf, int *len);

static srtp_fn srtp_protect_fn = NULL;
static srtp_fn srtp_unprotect_fn = NULL;
static srtp_fn srtp_unprotect_rtcp_fn = NULL;
static srtp_fn srtp_protect_rtcp_fn = NULL; /* set by configure_rtcp(): Tx.protect_rtcp */
static PyObject *srtp_error_type = NULL; /* pylibsrtp.Error */
static PyObject *rtp_packet_type = NULL; /* rtcload.media.engine.rtp.RtpPacket */

#define BUF_SIZE 2048
#define MAX_PLAIN_RTP (1500 - 144) /* pylibsrtp.SRTP_MAX_TRAILER_LEN */
#define MAX_DATAGRAM 1500
#define DBFS_FLOOR (-120.0)
#define ACTIVE_OPUS_DBFS (-20.0)
#define OPUS_SILENT_MAX_BYTES 8
#define G711_SAMPLES_PER_PACKET 160
#define MAX_DROPOUT 3000
#define MAX_MISORDER 100
#define DUPLICATE_WINDOW 256
#define LOSS_MAX_GAP 3000

static int64_t g711_square[2][256]; /* integer sample^2 for mu-law, A-law (ITU-T G.711, as lean.py) */

static double monotonic_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts); /* time.monotonic()'s clock on Linux */
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* CLOCK_REALTIME - CLOCK_MONOTONIC: converts the kernel's receive stamps (realtime) to the arrival clock.
 * Refreshed once per tick (and per new Demux), so a step of the wall clock shows for at most one period. */
static double realtime_offset = 0.0;

static void refresh_realtime_offset(void) {
    struct timespec rt, mono;
    clock_gettime(CLOCK_REALTIME, &rt);
    clock_gettime(CLOCK_MONOTONIC, &mono);
    realtime_offset = (double)(rt.tv_sec - mono.tv_sec) + (double)(rt.tv_nsec - mono.tv_nsec) * 1e-9;
}

/* When the kernel queued the datagram just read on `fd` (SIOCGSTAMPNS, the socket's stamp of the last
 * datagram handed to user space), on the monotonic clock; `*now` (read after the ioctl) when there is no
 * stamp. Why: the socket callback runs after the datagram waited in the socket's queue for the loop (behind
 * other callbacks or the tick); stamping it there counts the generator's own wait as network jitter. The
 * first ioctl on a socket enables stamping and answers ENOENT; SO_TIMESTAMPNS must NOT be set: with it, the
 * kernel delivers the stamp as a control message (dropped by uvloop's recvfrom) instead of keeping it for
 * this ioctl. Until the kernel's deferred work switches stamping on, a datagram has no stamp and the ioctl
 * answers with its own time: `*now` is read after the ioctl so that answer is never taken for a stamp from
 * the future (and counted as stale). */
static double kernel_arrival(int fd, double *now, long long *stale) {
    struct timespec ts;
    int rc = fd < 0 ? -1 : ioctl(fd, SIOCGSTAMPNS, &ts);
    *now = monotonic_now();
    if (rc < 0)
        return *now;
    double arrival = (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9 - realtime_offset;
    if (arrival > *now || arrival < *now - 1.0) { /* a wall-clock step between refreshes, or a stale stamp */
        (*stale)++;                             /* counted (Rx.stale_stamps): jitter then includes our own wait */
        return *now;
    }
    return arrival;
}

static void init_g711(void) {
    for (int code = 0; code < 256; code++) {
        int u = ~code & 0xFF;
        int exponent = (u >> 4) & 0x07, mantissa = u & 0x0F;
        int64_t mu = (((mantissa << 3) + 0x84) << exponent) - 0x84;
        g711_square[0][code] = mu * mu;
        int a = code ^ 0x55;
        exponent = (a >> 4) & 0x07;
        mantissa = a & 0x0F;
        int64_t al = exponent == 0 ? (mantissa << 4) + 8 : ((mantissa << 4) + 0x108) << (exponent - 1);
        g711_square[1][code] = al * al;
    }
}

/* ================================================================= Tx: one stream's send side */

/* A telephone-event packet queued for a future tick (RFC 4733: replaces that tick's audio). */
typedef struct {
    long long tick;
    uint32_t ts;
    int pt, marker, len;
    unsigned char payload[16];
} TxEvent;

#define GAP_EVENTS 32 /* the latest gaps over the threshold kept per stream (for the run's worst instant) */
#define PERIOD_S 0.02

/* A forwarded payload waiting for its playout deadline (echo/relay off the loop: see tx_playout_queue). */
#define PLAYOUT_RING 16 /* slots per stream by default (320 ms of 20 ms frames); Tx.playout_ring changes it */
#define PLAYOUT_RING_MAX 256
typedef struct {
    double due, arrival;
    uint32_t ts;
    int marker, len;
    unsigned char payload[MAX_PLAIN_RTP - 12];
} PlayoutSlot;

/* Gaps between consecutive sends longer than this are counted (seconds; _native.set_gap_threshold). */
static double gap_threshold = 0.030;

typedef struct {
    PyObject_HEAD
    /* Every field is read and written under `lock`: the engine's send thread (Sender) ticks the stream while
     * the loop forwards echo payloads, sends RTCP on the same SRTP session and changes the state. */
    pthread_mutex_t lock;
    int fd;
    struct sockaddr_storage addr;
    socklen_t addrlen;
    void *ctx;
    PyObject *session; /* pylibsrtp Session: keeps ctx alive */
    uint32_t ssrc;
    int pt;
    uint16_t seq;
    uint32_t ts;
    int marker;
    PyObject *frames; /* tuple of bytes, or NULL: immutable, only read (never refcounted) by the send thread */
    unsigned long long index;
    uint32_t spf;
    int sending;
    long long ticks;
    double now;
    double next_rtcp;
    int sent_since_report;
    int python_ticks; /* Python runs this stream's ticks (kept for the synchronous tick(); DTMF is in C) */
    int has_echo_offset;
    uint32_t echo_offset;
    unsigned long long packets, octets;
    unsigned long long send_errors; /* send drops: EAGAIN, ENOBUFS, unreachable (the packet is lost, counted) */
    unsigned long long oversized;   /* forwarded payloads too big for one SRTP packet: dropped, counted */
    int has_sent;
    uint32_t last_ts;
    double last_send_s;
    int err_kind; /* 0 none, 1 sendto errno, 2 libsrtp status */
    int err_code;
    int inject_errno, inject_left; /* test hook: the next sends fail with this errno (inject_send_errors) */
    int in_sender;  /* registered with a Sender (its thread ticks this stream) */
    int attention;  /* the Sender's thread wants Python to look at this stream (under the Sender's lock) */
    void *sender;   /* the Sender it is registered with (written by Python under the GIL), or NULL */
    /* forwarding with a playout schedule: payloads leave at kernel arrival + playout, from the send thread */
    double playout;  /* seconds; 0: forwarded at once from the receive callback (as before) */
    PlayoutSlot *pl; /* ring of payloads waiting for their deadline (allocated on first use), or NULL */
    int pl_head, pl_len, pl_cap;
    unsigned long long pl_queued, pl_late, pl_dropped;
    /* actual send times (CLOCK_MONOTONIC right after each sendto) */
    double sent_at;          /* the last successful sendto */
    double gap_last;         /* the last send of the current run of sends (0: none since a pause) */
    double gap_last_arrival; /* forwarded streams: the arrival of the payload last forwarded */
    double gap_max;
    unsigned long long gaps_over;
    unsigned long long gap_events;
    double gap_at[GAP_EVENTS], gap_len[GAP_EVENTS];
    double *intervals; /* optional ring of every send interval (bench), or NULL */
    Py_ssize_t intervals_cap, intervals_len;
    /* queued telephone-events */
    TxEvent *ev;
    int ev_head, ev_len, ev_cap;
    unsigned char buf[BUF_SIZE];
} TxObject;

static PyTypeObject TxType;

static int tx_fatal_errno(int e) {
    return e == EBADF || e == ENOTSOCK || e == EDESTADDRREQ || e == EFAULT || e == EINVAL || e == EPIPE || e == EAFNOSUPPORT;
}

/* The RTP fixed header (RFC 3550 5.1) of the packet in t->buf; its length. One place builds headers, so
 * header extensions (RFC 8285) go here. Called with t->lock held. */
static int tx_header(TxObject *t, int pt, uint32_t ts, int marker) {
    unsigned char *b = t->buf;
    b[0] = 0x80;
    b[1] = (unsigned char)((pt & 0x7F) | (marker ? 0x80 : 0));
    b[2] = (unsigned char)(t->seq >> 8);
    b[3] = (unsigned char)t->seq;
    b[4] = (unsigned char)(ts >> 24);
    b[5] = (unsigned char)(ts >> 16);
    b[6] = (unsigned char)(ts >> 8);
    b[7] = (unsigned char)ts;
    b[8] = (unsigned char)(t->ssrc >> 24);
    b[9] = (unsigned char)(t->ssrc >> 16);
    b[10] = (unsigned char)(t->ssrc >> 8);
    b[11] = (unsigned char)t->ssrc;
    return 12;
}

/* pack + protect + sendto + count; -1 with err_kind/err_code set when the stream cannot send any more.
 * Sets t->sent_at to the time right after a successful sendto (0 when nothing went out). Lock held; no
 * Python object is touched (the send thread calls this without the GIL). */
static int tx_send(TxObject *t, int pt, const unsigned char *payload, Py_ssize_t plen, uint32_t ts, int marker) {
    t->sent_at = 0.0;
    if (t->fd < 0) {
        t->err_kind = 1;
        t->err_code = EBADF;
        return -1;
    }
    if (plen > MAX_PLAIN_RTP - 12) {
        t->err_kind = 2;
        t->err_code = -1;
        return -1;
    }
    int header = tx_header(t, pt, ts, marker);
    memcpy(t->buf + header, payload, (size_t)plen);
    int len = header + (int)plen;
    t->seq = (uint16_t)(t->seq + 1);
    int status = srtp_protect_fn(t->ctx, t->buf, &len);
    if (status) {
        t->err_kind = 2;
        t->err_code = status;
        return -1;
    }
    ssize_t sent;
    if (t->inject_left > 0) {
        t->inject_left--;
        errno = t->inject_errno;
        sent = -1;
    } else {
        sent = sendto(t->fd, t->buf, (size_t)len, MSG_DONTWAIT, (struct sockaddr *)&t->addr, t->addrlen);
    }
    if (sent < 0) {
        if (tx_fatal_errno(errno)) {
            t->err_kind = 1;
            t->err_code = errno;
            return -1;
        }
        t->send_errors++; /* EAGAIN, ENOBUFS, unreachable: this packet is lost (a send drop), the stream goes on */
        return 0;
    }
    t->sent_at = monotonic_now();
    t->packets++;
    t->octets += (unsigned long long)plen;
    t->has_sent = 1;
    t->last_ts = ts;
    t->last_send_s = t->now;
    return 0;
}

/* One measured interval between sends: the largest, those over the threshold (with when they began), and
 * every interval when the bench asked for them. */
static void gap_note(TxObject *t, double at, double gap) {
    if (gap > t->gap_max)
        t->gap_max = gap;
    if (gap > gap_threshold) {
        int slot = (int)(t->gap_events % GAP_EVENTS);
        t->gap_at[slot] = at - gap;
        t->gap_len[slot] = gap;
        t->gap_events++;
        t->gaps_over++;
    }
    if (t->intervals != NULL && t->intervals_len < t->intervals_cap)
        t->intervals[t->intervals_len++] = gap;
}

/* A clock-driven send went out at t->sent_at: the interval since the previous one is a send gap. */
static void gap_after_tick_send(TxObject *t) {
    double at = t->sent_at;
    if (at <= 0.0)
        return;
    if (t->gap_last > 0.0)
        gap_note(t, at, at - t->gap_last);
    t->gap_last = at;
}

/* EngineStream._send: the codec's payload type, marker cleared after. */
static int tx_send_audio(TxObject *t, const unsigned char *payload, Py_ssize_t plen, uint32_t ts, int marker) {
    if (tx_send(t, t->pt, payload, plen, ts, marker || t->marker) < 0)
        return -1;
    t->marker = 0;
    t->sent_since_report = 1;
    return 0;
}

/* The queued telephone-events due at this tick (EngineStream._send_due_dtmf); 1 if any was due. */
static int tx_send_due_events(TxObject *t, int *failed) {
    int any = 0;
    while (t->ev_len > 0 && t->ev[t->ev_head].tick <= t->ticks) {
        TxEvent *e = &t->ev[t->ev_head];
        t->ev_head = (t->ev_head + 1) % t->ev_cap;
        t->ev_len--;
        any = 1;
        if (tx_send(t, e->pt, e->payload, e->len, e->ts, e->marker) < 0) {
            *failed = 1;
            return 1;
        }
        gap_after_tick_send(t);
    }
    return any;
}

/* EngineStream.on_tick without RTCP. Lock held. */
static int tx_tick(TxObject *t, long elapsed, long send) {
    t->ticks += elapsed;
    if (t->sending && t->frames != NULL) {
        Py_ssize_t n = PyTuple_GET_SIZE(t->frames);
        if (elapsed > send) {
            t->ts += (uint32_t)((elapsed - send) * (long)t->spf);
            t->index += (unsigned long long)(elapsed - send);
            t->marker = 1;
        }
        for (long k = 0; k < send; k++) {
            int failed = 0;
            if (!tx_send_due_events(t, &failed)) {
                PyObject *frame = PyTuple_GET_ITEM(t->frames, (Py_ssize_t)(t->index % (unsigned long long)n));
                if (tx_send_audio(t, (const unsigned char *)PyBytes_AS_STRING(frame), PyBytes_GET_SIZE(frame), t->ts,
                                  0) < 0)
                    return -1;
                gap_after_tick_send(t);
            } else if (failed) {
                return -1;
            }
            t->index++;
            t->ts += t->spf;
        }
    } else {
        t->ts += (uint32_t)(elapsed * (long)t->spf);
        if (!t->sending) {
            t->marker = 1;
            t->gap_last = 0.0; /* on hold: the next send starts a new run, the pause is no gap */
            t->gap_last_arrival = 0.0;
        }
    }
    return 0;
}

/* Send one forwarded payload (its timestamp already offset). Its send gap is what this side added: the
 * interval between sends less the one between arrivals. Lock held; no Python object touched. */
static int tx_forward_send(TxObject *t, const unsigned char *payload, Py_ssize_t plen, uint32_t ts, int marker,
                           double arrival) {
    if (tx_send_audio(t, payload, plen, ts, marker) < 0)
        return -1;
    double at = t->sent_at;
    if (at > 0.0) {
        if (t->gap_last > 0.0 && t->gap_last_arrival > 0.0) {
            double added = (at - t->gap_last) - (arrival - t->gap_last_arrival);
            gap_note(t, at, PERIOD_S + (added > 0.0 ? added : 0.0));
        }
        t->gap_last = at;
        t->gap_last_arrival = arrival;
    }
    return 0;
}

/* Send the queued forwards whose deadline has come (the send thread; the receive callback before a late one).
 * A stream put on hold meanwhile drops them, as it drops what arrives on hold. Lock held, no GIL needed. */
static int tx_playout_due(TxObject *t, double now) {
    while (t->pl_len > 0) {
        PlayoutSlot *p = &t->pl[t->pl_head];
        if (p->due > now)
            break;
        t->pl_head = (t->pl_head + 1) % t->pl_cap;
        t->pl_len--;
        if (!t->sending)
            continue;
        t->now = now;
        if (tx_forward_send(t, p->payload, p->len, p->ts, p->marker, p->arrival) < 0)
            return -1;
    }
    return 0;
}

static void sender_schedule(void *sender, double due, TxObject *t);

/* Queue a forward for kernel arrival + playout, so the send thread sends it with the arrivals' own spacing
 * and a loop stall shorter than the playout delay leaves no trace on the wire. One already due (the loop held
 * it longer) is a real stall: sent at once, counted late, and its send gap shows. A full ring drops its
 * oldest payload (counted). Lock held; called on the loop (GIL held). */
static int tx_playout_queue(TxObject *t, const unsigned char *payload, Py_ssize_t plen, uint32_t ts, int marker,
                            double now, double arrival) {
    double due = arrival + t->playout;
    if (due <= now) {
        t->pl_late++;
        if (tx_playout_due(t, now) < 0) /* the earlier ones first: order kept */
            return -1;
        return tx_forward_send(t, payload, plen, ts, marker, arrival);
    }
    if (t->pl == NULL) {
        int cap = t->pl_cap > 0 ? t->pl_cap : PLAYOUT_RING;
        t->pl = PyMem_RawMalloc((size_t)cap * sizeof(PlayoutSlot));
        if (t->pl == NULL) /* no memory: forwarded at once, as without a schedule */
            return tx_forward_send(t, payload, plen, ts, marker, arrival);
        t->pl_cap = cap;
        t->pl_head = t->pl_len = 0;
    }
    if (t->pl_len == t->pl_cap) { /* a burst larger than the ring: the oldest goes */
        t->pl_head = (t->pl_head + 1) % t->pl_cap;
        t->pl_len--;
        t->pl_dropped++;
    }
    PlayoutSlot *p = &t->pl[(t->pl_head + t->pl_len) % t->pl_cap];
    p->due = due;
    p->arrival = arrival;
    p->ts = ts;
    p->marker = marker;
    p->len = (int)plen;
    memcpy(p->payload, payload, (size_t)plen);
    t->pl_len++;
    t->pl_queued++;
    sender_schedule(t->sender, due, t);
    return 0;
}

/* EngineStream.forward: echo/relay a received payload, timestamp offset fixed on the first one; at once, or
 * at its kernel arrival + `playout` from the send thread (tx_playout_queue). A payload too big for one SRTP
 * packet is dropped and counted (`oversized`), never fatal to the stream. */
static int tx_forward(TxObject *t, const unsigned char *payload, Py_ssize_t plen, uint32_t ts, int marker, double now,
                      double arrival) {
    if (!t->sending)
        return 0;
    if (plen > MAX_PLAIN_RTP - 12) {
        t->oversized++;
        return 0;
    }
    t->now = now;
    if (!t->has_echo_offset) {
        t->echo_offset = t->ts - ts;
        t->has_echo_offset = 1;
        marker = 1;
    }
    if (t->playout > 0.0 && t->sender != NULL)
        return tx_playout_queue(t, payload, plen, ts + t->echo_offset, marker, now, arrival);
    return tx_forward_send(t, payload, plen, ts + t->echo_offset, marker, arrival);
}

static PyObject *tx_error_object(TxObject *t) {
    if (t->err_kind == 1)
        return PyObject_CallFunction(PyExc_OSError, "is", t->err_code, strerror(t->err_code));
    if (t->err_kind == 2) {
        if (t->err_code == -1)
            return PyObject_CallFunction(srtp_error_type, "s", "packet is too long for SRTP");
        return PyObject_CallFunction(srtp_error_type, "N", PyUnicode_FromFormat("libsrtp error %d", t->err_code));
    }
    Py_RETURN_NONE;
}

static int tx_raise_kind(int kind, int code) {
    TxObject tmp;
    tmp.err_kind = kind;
    tmp.err_code = code;
    PyObject *exc = tx_error_object(&tmp);
    if (exc == NULL)
        return -1;
    if (exc == Py_None) {
        Py_DECREF(exc);
        return 0;
    }
    PyErr_SetObject((PyObject *)Py_TYPE(exc), exc);
    Py_DECREF(exc);
    return -1;
}

static int set_address(TxObject *t, const char *host, int port, unsigned int scope_id) {
    memset(&t->addr, 0, sizeof(t->addr));
    struct sockaddr_in *v4 = (struct sockaddr_in *)&t->addr;
    struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&t->addr;
    if (inet_pton(AF_INET, host, &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons((uint16_t)port);
        t->addrlen = sizeof(*v4);
        return 0;
    }
    if (inet_pton(AF_INET6, host, &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons((uint16_t)port);
        v6->sin6_scope_id = scope_id;
        t->addrlen = sizeof(*v6);
        return 0;
    }
    PyErr_Format(PyExc_ValueError, "not a numeric IPv4/IPv6 address: %s", host);
    return -1;
}

static PyObject *Tx_new(PyTypeObject *type, PyObject *args, PyObject *kwds) {
    static char *kwlist[] = {"fd", "host", "port", "session", "context", "ssrc", "payload_type", "samples_per_frame",
                             "scope_id", NULL};
    int fd, port, pt;
    const char *host;
    PyObject *session;
    unsigned long long context;
    unsigned long ssrc, spf;
    unsigned int scope_id = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "isiOKkik|I", kwlist, &fd, &host, &port, &session, &context, &ssrc,
                                     &pt, &spf, &scope_id))
        return NULL;
    if (srtp_protect_fn == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "_native.configure() was not called");
        return NULL;
    }
    if (pt < 0 || pt > 127 || port <= 0 || port > 65535 || context == 0) {
        PyErr_SetString(PyExc_ValueError, "payload type, port or SRTP context out of range");
        return NULL;
    }
    TxObject *t = (TxObject *)type->tp_alloc(type, 0);
    if (t == NULL)
        return NULL;
    pthread_mutex_init(&t->lock, NULL);
    t->fd = -1;
    if (set_address(t, host, port, scope_id) < 0) {
        Py_DECREF(t);
        return NULL;
    }
    t->fd = fd; /* owned from here: closed in close()/dealloc */
    t->ctx = (void *)(uintptr_t)context;
    Py_INCREF(session);
    t->session = session;
    t->ssrc = (uint32_t)ssrc;
    t->pt = pt;
    t->spf = (uint32_t)spf;
    t->marker = 1;
    return (PyObject *)t;
}

static void Tx_dealloc(TxObject *t) {
    if (t->fd >= 0)
        close(t->fd);
    Py_XDECREF(t->session);
    Py_XDECREF(t->frames);
    PyMem_RawFree(t->intervals);
    PyMem_RawFree(t->ev);
    PyMem_RawFree(t->pl);
    pthread_mutex_destroy(&t->lock);
    Py_TYPE(t)->tp_free((PyObject *)t);
}

static PyObject *Tx_close(TxObject *t, PyObject *Py_UNUSED(ignored)) {
    pthread_mutex_lock(&t->lock); /* the send thread never writes to a descriptor closed (or reused) under it */
    if (t->fd >= 0) {
        close(t->fd);
        t->fd = -1;
    }
    t->sending = 0;
    pthread_mutex_unlock(&t->lock);
    Py_RETURN_NONE;
}

/* Take a mutex from a thread that holds the GIL. It waits with the GIL released, and never holds the mutex
 * while it waits for the GIL: the send thread, which needs the mutex and never the GIL, is then never held
 * up by Python (another thread's long collection, say) beyond the few instructions of a locked section. */
static void lock_with_gil(pthread_mutex_t *m) {
    /* The send thread holds a stream's lock for one packet (a few us): spin that long first, because giving
     * the GIL away lets another Python thread keep it for a whole switch interval (5 ms). */
    for (int spin = 0; spin < 2000; spin++) {
        if (pthread_mutex_trylock(m) == 0)
            return;
#if defined(__x86_64__) || defined(__i386__)
        __builtin_ia32_pause();
#endif
    }
    while (pthread_mutex_trylock(m) != 0) {
        Py_BEGIN_ALLOW_THREADS pthread_mutex_lock(m);
        pthread_mutex_unlock(m);
        Py_END_ALLOW_THREADS
    }
}

static void tx_lock(TxObject *t) { lock_with_gil(&t->lock); }

static PyObject *Tx_send_rtp(TxObject *t, PyObject *args) {
    int pt, marker;
    Py_buffer payload;
    PyObject *ts_obj;
    if (!PyArg_ParseTuple(args, "iy*Op", &pt, &payload, &ts_obj, &marker))
        return NULL;
    unsigned long long ts = PyLong_AsUnsignedLongLongMask(ts_obj);
    if (ts == (unsigned long long)-1 && PyErr_Occurred()) {
        PyBuffer_Release(&payload);
        return NULL;
    }
    if (pt < 0 || pt > 127) {
        PyBuffer_Release(&payload);
        return PyErr_Format(PyExc_ValueError, "RTP payload type %d is outside 0..127", pt);
    }
    tx_lock(t);
    int r = tx_send(t, pt, payload.buf, payload.len, (uint32_t)ts, marker);
    int kind = t->err_kind, code = t->err_code;
    if (r < 0)
        t->err_kind = 0;
    pthread_mutex_unlock(&t->lock);
    PyBuffer_Release(&payload);
    if (r < 0) {
        tx_raise_kind(kind, code);
        return NULL;
    }
    Py_RETURN_NONE;
}

static PyObject *Tx_forward(TxObject *t, PyObject *args) {
    Py_buffer payload;
    PyObject *ts_obj;
    int marker;
    double now, arrival = NAN;
    if (!PyArg_ParseTuple(args, "y*Opd|d", &payload, &ts_obj, &marker, &now, &arrival))
        return NULL;
    if (isnan(arrival))
        arrival = now;
    unsigned long long ts = PyLong_AsUnsignedLongLongMask(ts_obj);
    if (ts == (unsigned long long)-1 && PyErr_Occurred()) {
        PyBuffer_Release(&payload);
        return NULL;
    }
    tx_lock(t);
    int r = tx_forward(t, payload.buf, payload.len, (uint32_t)ts, marker, now, arrival);
    int kind = t->err_kind, code = t->err_code;
    if (r < 0)
        t->err_kind = 0;
    pthread_mutex_unlock(&t->lock);
    PyBuffer_Release(&payload);
    if (r < 0) {
        tx_raise_kind(kind, code);
        return NULL;
    }
    Py_RETURN_NONE;
}

static PyObject *Tx_take_error(TxObject *t, PyObject *Py_UNUSED(ignored)) {
    tx_lock(t);
    int kind = t->err_kind, code = t->err_code;
    t->err_kind = 0;
    pthread_mutex_unlock(&t->lock);
    TxObject tmp;
    tmp.err_kind = kind;
    tmp.err_code = code;
    return tx_error_object(&tmp);
}

/* queue_dtmf(pt, events): EngineStream.send_dtmf's schedule, computed under the lock against the ticks the
 * send thread has reached. events: sequence of (offset_ticks, timestamp_offset, payload, marker). */
static PyObject *Tx_queue_dtmf(TxObject *t, PyObject *args) {
    int pt;
    PyObject *events;
    if (!PyArg_ParseTuple(args, "iO", &pt, &events))
        return NULL;
    PyObject *seq = PySequence_Fast(events, "events must be a sequence");
    if (seq == NULL)
        return NULL;
    Py_ssize_t n = PySequence_Fast_GET_SIZE(seq);
    TxEvent *add = PyMem_RawCalloc((size_t)(n ? n : 1), sizeof(TxEvent));
    long long *offsets = PyMem_RawCalloc((size_t)(n ? n : 1), sizeof(long long));
    if (add == NULL || offsets == NULL) {
        PyMem_RawFree(add);
        PyMem_RawFree(offsets);
        Py_DECREF(seq);
        return PyErr_NoMemory();
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        long long off;
        unsigned long long tso;
        Py_buffer payload;
        int marker;
        if (!PyArg_ParseTuple(PySequence_Fast_GET_ITEM(seq, i), "LKy*p", &off, &tso, &payload, &marker))
            goto fail;
        if (payload.len > (Py_ssize_t)sizeof(add[i].payload)) {
            PyBuffer_Release(&payload);
            PyErr_SetString(PyExc_ValueError, "a telephone-event payload is at most 16 bytes");
            goto fail;
        }
        offsets[i] = off;
        add[i].ts = (uint32_t)tso;
        add[i].pt = pt;
        add[i].marker = marker;
        add[i].len = (int)payload.len;
        memcpy(add[i].payload, payload.buf, (size_t)payload.len);
        PyBuffer_Release(&payload);
    }
    Py_DECREF(seq);
    tx_lock(t);
    if (t->ev_len + n > t->ev_cap) {
        int cap = (int)(t->ev_len + n) * 2 + 16;
        TxEvent *grown = PyMem_RawCalloc((size_t)cap, sizeof(TxEvent));
        if (grown == NULL) {
            pthread_mutex_unlock(&t->lock);
            PyMem_RawFree(add);
            PyMem_RawFree(offsets);
            return PyErr_NoMemory();
        }
        for (int i = 0; i < t->ev_len; i++)
            grown[i] = t->ev[(t->ev_head + i) % t->ev_cap];
        PyMem_RawFree(t->ev);
        t->ev = grown;
        t->ev_cap = cap;
        t->ev_head = 0;
    }
    long long start = t->ticks + 1; /* the next tick sends the frame stamped t->ts */
    if (t->ev_len > 0) {
        long long last = t->ev[(t->ev_head + t->ev_len - 1) % t->ev_cap].tick;
        if (last + 3 > start)
            start = last + 3; /* after the queued digits' end packets and a gap */
    }
    uint32_t base = t->ts + (uint32_t)((start - t->ticks - 1) * (long long)t->spf);
    for (Py_ssize_t i = 0; i < n; i++) {
        add[i].tick = start + offsets[i];
        add[i].ts += base;
        t->ev[(t->ev_head + t->ev_len) % t->ev_cap] = add[i];
        t->ev_len++;
    }
    pthread_mutex_unlock(&t->lock);
    PyMem_RawFree(add);
    PyMem_RawFree(offsets);
    Py_RETURN_NONE;
fail:
    Py_DECREF(seq);
    PyMem_RawFree(add);
    PyMem_RawFree(offsets);
    return NULL;
}

/* Copies a plain RTCP packet (any buffer) into `out` for SRTCP protection in place: its length, or -1 with an
 * exception set (RTCP not configured, not a buffer, too short or too long to protect). */
static int rtcp_plain_copy(PyObject *arg, unsigned char *out) {
    Py_buffer plain;
    if (srtp_protect_rtcp_fn == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "_native.configure_rtcp() was not called");
        return -1;
    }
    if (PyObject_GetBuffer(arg, &plain, PyBUF_SIMPLE) < 0)
        return -1;
    if (plain.len > MAX_DATAGRAM - 144 || plain.len < 8) {
        PyErr_Format(srtp_error_type ? srtp_error_type : PyExc_ValueError,
                     "RTCP packet of %zd bytes cannot be protected", plain.len);
        PyBuffer_Release(&plain);
        return -1;
    }
    memcpy(out, plain.buf, (size_t)plain.len);
    int len = (int)plain.len;
    PyBuffer_Release(&plain);
    return len;
}

/* protect_rtcp(plain) -> bytes: SRTCP on this stream's own session (the one the send thread protects RTP
 * with: libsrtp sessions are not thread-safe), under the stream's lock and without Python in between. */
static PyObject *Tx_protect_rtcp(TxObject *t, PyObject *arg) {
    unsigned char out[MAX_DATAGRAM];
    int len = rtcp_plain_copy(arg, out);
    if (len < 0)
        return NULL;
    tx_lock(t);
    int status = srtp_protect_rtcp_fn(t->ctx, out, &len);
    pthread_mutex_unlock(&t->lock);
    if (status)
        return PyErr_Format(srtp_error_type ? srtp_error_type : PyExc_ValueError, "libsrtp error %d", status);
    return PyBytes_FromStringAndSize((const char *)out, len);
}

/* send_rtcp(plain) -> bool: SRTCP-protect and send on the stream's own socket to its remote address, in one
 * call under the stream's lock (what protect_rtcp + the link's sendto did, without a Python bytes object, the
 * transport's address lookup and a second trip through the loop). True when sent; False when the socket
 * buffer was full or the route refused it (an RTCP report is lost, as with a UDP send); ConnectionError once
 * the stream is closed, OSError for a socket that cannot send any more. For host/srflx pairs only: a TURN
 * relay wraps RTCP in channel data, so relayed links keep protect_rtcp + Link.send. */
/* SRTCP-protect `out` under the stream's lock (the send thread protects RTP on the same libsrtp session),
 * then sendto after the lock is released: a syscall is where the scheduler likes to preempt, and the send
 * thread must never wait for this stream's lock while the loop thread is off the CPU. The descriptor stays
 * open meanwhile: only Tx.close() closes it, and that needs the GIL this caller holds. */
static PyObject *tx_protect_send(TxObject *t, unsigned char *out, int len) {
    tx_lock(t);
    int fd = t->fd;
    if (fd < 0) {
        pthread_mutex_unlock(&t->lock);
        PyErr_SetString(PyExc_ConnectionError, "the stream is closed");
        return NULL;
    }
    int status = srtp_protect_rtcp_fn(t->ctx, out, &len);
    struct sockaddr_storage addr = t->addr;
    socklen_t addrlen = t->addrlen;
    pthread_mutex_unlock(&t->lock);
    ssize_t sent = 0;
    int err = 0;
    if (!status) {
        sent = sendto(fd, out, (size_t)len, MSG_DONTWAIT, (struct sockaddr *)&addr, addrlen);
        err = sent < 0 ? errno : 0;
    }
    if (status)
        return PyErr_Format(srtp_error_type ? srtp_error_type : PyExc_ValueError, "libsrtp error %d", status);
    if (sent < 0) {
        if (tx_fatal_errno(err)) {
            errno = err;
            return PyErr_SetFromErrno(PyExc_OSError);
        }
        Py_RETURN_FALSE;
    }
    Py_RETURN_TRUE;
}

static PyObject *Tx_send_rtcp(TxObject *t, PyObject *arg) {
    unsigned char out[MAX_DATAGRAM];
    int len = rtcp_plain_copy(arg, out);
    if (len < 0)
        return NULL;
    return tx_protect_send(t, out, len);
}

static PyObject *Tx_send_report(TxObject *t, PyObject *args); /* after the Rx type: it reads a stream's Rx */

/* send_timing() -> (gap_max_s, gaps_over, ((start_s, gap_s), ...), send_drops, oversized): one snapshot. */
static PyObject *Tx_send_timing(TxObject *t, PyObject *Py_UNUSED(ignored)) {
    double at[GAP_EVENTS], len[GAP_EVENTS];
    tx_lock(t);
    double gap_max = t->gap_max;
    unsigned long long over = t->gaps_over, events = t->gap_events, drops = t->send_errors, oversized = t->oversized;
    memcpy(at, t->gap_at, sizeof(at));
    memcpy(len, t->gap_len, sizeof(len));
    pthread_mutex_unlock(&t->lock);
    int kept = events < GAP_EVENTS ? (int)events : GAP_EVENTS;
    PyObject *list = PyTuple_New(kept);
    if (list == NULL)
        return NULL;
    for (int i = 0; i < kept; i++) {
        int slot = (int)((events - (unsigned long long)kept + (unsigned long long)i) % GAP_EVENTS);
        PyObject *item = Py_BuildValue("(dd)", at[slot], len[slot]);
        if (item == NULL) {
            Py_DECREF(list);
            return NULL;
        }
        PyTuple_SET_ITEM(list, i, item);
    }
    return Py_BuildValue("(dKNKK)", gap_max, over, list, drops, oversized);
}

/* record_intervals(capacity): keep every send interval from now on (bench); drain_intervals() -> list. */
static PyObject *Tx_record_intervals(TxObject *t, PyObject *args) {
    Py_ssize_t cap;
    if (!PyArg_ParseTuple(args, "n", &cap))
        return NULL;
    double *ring = cap > 0 ? PyMem_RawCalloc((size_t)cap, sizeof(double)) : NULL;
    if (cap > 0 && ring == NULL)
        return PyErr_NoMemory();
    tx_lock(t);
    double *old = t->intervals;
    t->intervals = ring;
    t->intervals_cap = cap > 0 ? cap : 0;
    t->intervals_len = 0;
    pthread_mutex_unlock(&t->lock);
    PyMem_RawFree(old);
    Py_RETURN_NONE;
}

static PyObject *Tx_drain_intervals(TxObject *t, PyObject *Py_UNUSED(ignored)) {
    tx_lock(t);
    Py_ssize_t n = t->intervals_len;
    double *copy = n ? PyMem_RawMalloc((size_t)n * sizeof(double)) : NULL;
    if (n && copy == NULL) {
        pthread_mutex_unlock(&t->lock);
        return PyErr_NoMemory();
    }
    if (n)
        memcpy(copy, t->intervals, (size_t)n * sizeof(double));
    t->intervals_len = 0;
    pthread_mutex_unlock(&t->lock);
    PyObject *list = PyList_New(n);
    for (Py_ssize_t i = 0; list != NULL && i < n; i++) {
        PyObject *x = PyFloat_FromDouble(copy[i]);
        if (x == NULL) {
            Py_CLEAR(list);
            break;
        }
        PyList_SET_ITEM(list, i, x);
    }
    PyMem_RawFree(copy);
    return list;
}

/* send_state() -> (has_sent, last_ts, last_send_s): what an SR extrapolates from, read at one instant. */
static PyObject *Tx_send_state(TxObject *t, PyObject *Py_UNUSED(ignored)) {
    tx_lock(t);
    int has = t->has_sent;
    uint32_t ts = t->last_ts;
    double at = t->last_send_s;
    pthread_mutex_unlock(&t->lock);
    return Py_BuildValue("(Nkd)", PyBool_FromLong(has), (unsigned long)ts, at);
}

/* inject_send_errors(count, errno): the next `count` sends fail as if sendto said `errno` (tests). */
static PyObject *Tx_inject_send_errors(TxObject *t, PyObject *args) {
    int count, code;
    if (!PyArg_ParseTuple(args, "ii", &count, &code))
        return NULL;
    tx_lock(t);
    t->inject_left = count;
    t->inject_errno = code;
    pthread_mutex_unlock(&t->lock);
    Py_RETURN_NONE;
}

static PyMethodDef Tx_methods[] = {
    {"inject_send_errors", (PyCFunction)Tx_inject_send_errors, METH_VARARGS,
     "inject_send_errors(count, errno): the next sends fail with errno (a test hook for send drops)."},
    {"send_rtp", (PyCFunction)Tx_send_rtp, METH_VARARGS, "send_rtp(pt, payload, timestamp, marker): one packet now."},
    {"forward", (PyCFunction)Tx_forward, METH_VARARGS, "forward(payload, timestamp, marker, now[, arrival]): echo/relay."},
    {"take_error", (PyCFunction)Tx_take_error, METH_NOARGS, "The exception that stopped this stream, or None."},
    {"close", (PyCFunction)Tx_close, METH_NOARGS, "Close the duplicated socket."},
    {"queue_dtmf", (PyCFunction)Tx_queue_dtmf, METH_VARARGS,
     "queue_dtmf(pt, [(offset_ticks, ts_offset, payload, marker)]): telephone-events from the next tick."},
    {"protect_rtcp", (PyCFunction)Tx_protect_rtcp, METH_O, "SRTCP-protect an RTCP packet on this stream's session."},
    {"send_rtcp", (PyCFunction)Tx_send_rtcp, METH_O,
     "SRTCP-protect and send an RTCP packet on this stream's socket; False when the socket refused it."},
    {"send_report", (PyCFunction)Tx_send_report, METH_VARARGS,
     "send_report(rx, cname, sender, bye, now, wallclock, clock_rate): EngineStream.send_rtcp in C."},
    {"send_timing", (PyCFunction)Tx_send_timing, METH_NOARGS,
     "(gap_max_s, gaps_over_threshold, ((start, gap), ...), send_drops, oversized)."},
    {"record_intervals", (PyCFunction)Tx_record_intervals, METH_VARARGS, "Keep every send interval (bench)."},
    {"drain_intervals", (PyCFunction)Tx_drain_intervals, METH_NOARGS, "The kept send intervals (s), cleared."},
    {"send_state", (PyCFunction)Tx_send_state, METH_NOARGS, "(has_sent, last_ts, last_send_s) at one instant."},
    {NULL}};

/* A setter's answer to `del obj.field`: TypeError("cannot delete <field>"). Why: a setter that returns -1 with
 * no exception set makes the interpreter raise SystemError ("error return without exception set"). */
static int cannot_delete(const char *field) {
    PyErr_Format(PyExc_TypeError, "cannot delete %s", field);
    return -1;
}

#define INT_GETSET(obj, field, type, cast)                                                                            \
    static PyObject *obj##_get_##field(type *o, void *c) { return PyLong_FromLongLong((long long)o->field); }         \
    static int obj##_set_##field(type *o, PyObject *v, void *c) {                                                    \
        if (v == NULL)                                                                                                \
            return cannot_delete(#field);                                                                             \
        unsigned long long x = PyLong_AsUnsignedLongLongMask(v);                                                      \
        if (x == (unsigned long long)-1 && PyErr_Occurred())                                                          \
            return -1;                                                                                                \
        o->field = (cast)x;                                                                                           \
        return 0;                                                                                                     \
    }
#define BOOL_GETSET(obj, field, type)                                                                                 \
    static PyObject *obj##_get_##field(type *o, void *c) { return PyBool_FromLong(o->field); }                        \
    static int obj##_set_##field(type *o, PyObject *v, void *c) {                                                    \
        if (v == NULL)                                                                                                \
            return cannot_delete(#field);                                                                             \
        int b = PyObject_IsTrue(v);                                                                                   \
        if (b < 0)                                                                                                    \
            return -1;                                                                                                \
        o->field = b;                                                                                                 \
        return 0;                                                                                                     \
    }
#define DOUBLE_GETSET(obj, field, type)                                                                               \
    static PyObject *obj##_get_##field(type *o, void *c) { return PyFloat_FromDouble(o->field); }                     \
    static int obj##_set_##field(type *o, PyObject *v, void *c) {                                                    \
        if (v == NULL)                                                                                                \
            return cannot_delete(#field);                                                                             \
        double d = PyFloat_AsDouble(v);                                                                               \
        if (d == -1.0 && PyErr_Occurred())                                                                            \
            return -1;                                                                                                \
        o->field = d;                                                                                                 \
        return 0;                                                                                                     \
    }
#define RO_INT(obj, field, type)                                                                                      \
    static PyObject *obj##_get_##field(type *o, void *c) { return PyLong_FromUnsignedLongLong((unsigned long long)o->field); }
#define GS(obj, field) {#field, (getter)obj##_get_##field, (setter)obj##_set_##field, NULL, NULL}
#define G(obj, field) {#field, (getter)obj##_get_##field, NULL, NULL, NULL}

/* Tx fields for Python, each read or written under the stream's lock (the send thread writes them too). */
enum { F_U16, F_U32, F_ULL, F_LL, F_BOOL, F_DOUBLE, F_INT };
typedef struct {
    size_t offset;
    int kind;
    const char *name;
} TxField;

#define TXF(name, kind) static TxField txf_##name = {offsetof(TxObject, name), kind, #name};
TXF(seq, F_U16)
TXF(ts, F_U32)
TXF(index, F_ULL)
TXF(ticks, F_LL)
TXF(marker, F_BOOL)
TXF(sending, F_BOOL)
TXF(sent_since_report, F_BOOL)
TXF(python_ticks, F_BOOL)
TXF(now, F_DOUBLE)
TXF(next_rtcp, F_DOUBLE)
TXF(packets, F_ULL)
TXF(octets, F_ULL)
TXF(send_errors, F_ULL)
TXF(oversized, F_ULL)
TXF(last_ts, F_U32)
TXF(ssrc, F_U32)
TXF(fd, F_INT)
TXF(has_sent, F_BOOL)
TXF(last_send_s, F_DOUBLE)
TXF(gap_max, F_DOUBLE)
TXF(gaps_over, F_ULL)

static PyObject *tx_field_get(TxObject *t, void *closure) {
    TxField *f = closure;
    char *p = (char *)t + f->offset;
    tx_lock(t);
    union {
        unsigned long long u;
        long long i;
        double d;
    } v = {0};
    switch (f->kind) {
    case F_U16: v.u = *(uint16_t *)p; break;
    case F_U32: v.u = *(uint32_t *)p; break;
    case F_ULL: v.u = *(unsigned long long *)p; break;
    case F_LL: v.i = *(long long *)p; break;
    case F_BOOL: v.i = *(int *)p != 0; break;
    case F_INT: v.i = *(int *)p; break;
    case F_DOUBLE: v.d = *(double *)p; break;
    }
    pthread_mutex_unlock(&t->lock);
    switch (f->kind) {
    case F_BOOL: return PyBool_FromLong((long)v.i);
    case F_LL:
    case F_INT: return PyLong_FromLongLong(v.i);
    case F_DOUBLE: return PyFloat_FromDouble(v.d);
    default: return PyLong_FromUnsignedLongLong(v.u);
    }
}

static int tx_field_set(TxObject *t, PyObject *value, void *closure) {
    TxField *f = closure;
    if (value == NULL) {
        PyErr_Format(PyExc_TypeError, "cannot delete %s", f->name);
        return -1;
    }
    unsigned long long u = 0;
    double d = 0.0;
    int b = 0;
    if (f->kind == F_DOUBLE) {
        d = PyFloat_AsDouble(value);
        if (d == -1.0 && PyErr_Occurred())
            return -1;
    } else if (f->kind == F_BOOL) {
        if ((b = PyObject_IsTrue(value)) < 0)
            return -1;
    } else {
        u = PyLong_AsUnsignedLongLongMask(value);
        if (u == (unsigned long long)-1 && PyErr_Occurred())
            return -1;
    }
    char *p = (char *)t + f->offset;
    tx_lock(t);
    switch (f->kind) {
    case F_U16: *(uint16_t *)p = (uint16_t)u; break;
    case F_U32: *(uint32_t *)p = (uint32_t)u; break;
    case F_ULL: *(unsigned long long *)p = u; break;
    case F_LL: *(long long *)p = (long long)u; break;
    case F_BOOL: *(int *)p = b; break;
    case F_INT: *(int *)p = (int)u; break;
    case F_DOUBLE: *(double *)p = d; break;
    }
    pthread_mutex_unlock(&t->lock);
    return 0;
}

static PyObject *tx_get_frames(TxObject *t, void *c) {
    tx_lock(t);
    PyObject *f = t->frames ? t->frames : Py_None;
    Py_INCREF(f);
    pthread_mutex_unlock(&t->lock);
    return f;
}

static int tx_set_frames(TxObject *t, PyObject *v, void *c) {
    if (v == NULL || v == Py_None) {
        v = NULL;
    } else {
        if (!PyTuple_CheckExact(v) || PyTuple_GET_SIZE(v) == 0) {
            PyErr_SetString(PyExc_TypeError, "frames must be a non-empty tuple of bytes or None");
            return -1;
        }
        for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(v); i++) {
            PyObject *f = PyTuple_GET_ITEM(v, i);
            if (!PyBytes_CheckExact(f) || PyBytes_GET_SIZE(f) > MAX_PLAIN_RTP - 12) {
                PyErr_SetString(PyExc_TypeError, "every frame must be bytes that fit one SRTP packet");
                return -1;
            }
        }
        Py_INCREF(v);
    }
    tx_lock(t);
    PyObject *old = t->frames; /* the send thread reads frames only under the lock: released after */
    t->frames = v;
    pthread_mutex_unlock(&t->lock);
    Py_XDECREF(old);
    return 0;
}

static PyObject *tx_get_echo_offset(TxObject *t, void *c) {
    tx_lock(t);
    int has = t->has_echo_offset;
    uint32_t offset = t->echo_offset;
    pthread_mutex_unlock(&t->lock);
    if (!has)
        Py_RETURN_NONE;
    return PyLong_FromUnsignedLong(offset);
}

static int tx_set_echo_offset(TxObject *t, PyObject *v, void *c) {
    if (v == NULL) {
        PyErr_SetString(PyExc_TypeError, "cannot delete echo_offset");
        return -1;
    }
    unsigned long long x = 0;
    if (v != Py_None) {
        x = PyLong_AsUnsignedLongLongMask(v);
        if (x == (unsigned long long)-1 && PyErr_Occurred())
            return -1;
    }
    tx_lock(t);
    t->has_echo_offset = v != Py_None;
    t->echo_offset = (uint32_t)x;
    pthread_mutex_unlock(&t->lock);
    return 0;
}

static PyObject *tx_get_playout(TxObject *t, void *c) {
    tx_lock(t);
    double playout = t->playout;
    pthread_mutex_unlock(&t->lock);
    return PyFloat_FromDouble(playout);
}

static int tx_set_playout(TxObject *t, PyObject *v, void *c) {
    double x = v == NULL ? -1.0 : PyFloat_AsDouble(v);
    if (x == -1.0 && PyErr_Occurred())
        return -1;
    if (!(x >= 0.0 && x <= 10.0)) {
        PyErr_SetString(PyExc_ValueError, "playout must be 0..10 seconds");
        return -1;
    }
    tx_lock(t);
    t->playout = x;
    pthread_mutex_unlock(&t->lock);
    return 0;
}

static PyObject *tx_get_playout_ring(TxObject *t, void *c) {
    tx_lock(t);
    int cap = t->pl_cap > 0 ? t->pl_cap : PLAYOUT_RING;
    pthread_mutex_unlock(&t->lock);
    return PyLong_FromLong(cap);
}

/* The ring's size in payloads; set before the first queued forward (pending payloads are dropped, counted). */
static int tx_set_playout_ring(TxObject *t, PyObject *v, void *c) {
    long x = v == NULL ? -1 : PyLong_AsLong(v);
    if (x == -1 && PyErr_Occurred())
        return -1;
    if (x < 1 || x > PLAYOUT_RING_MAX) {
        PyErr_Format(PyExc_ValueError, "playout_ring must be 1..%d", PLAYOUT_RING_MAX);
        return -1;
    }
    tx_lock(t);
    t->pl_dropped += (unsigned long long)t->pl_len;
    PyMem_RawFree(t->pl);
    t->pl = NULL;
    t->pl_head = t->pl_len = 0;
    t->pl_cap = (int)x;
    pthread_mutex_unlock(&t->lock);
    return 0;
}

/* (queued, late, dropped, pending): forwards queued for their playout deadline, sent at once because the loop
 * held them past it, dropped by a full ring, waiting now. */
static PyObject *tx_get_playout_counts(TxObject *t, void *c) {
    tx_lock(t);
    unsigned long long queued = t->pl_queued, late = t->pl_late, dropped = t->pl_dropped;
    int pending = t->pl_len;
    pthread_mutex_unlock(&t->lock);
    return Py_BuildValue("(KKKi)", queued, late, dropped, pending);
}

#define TXGS(name) {#name, (getter)tx_field_get, (setter)tx_field_set, NULL, &txf_##name}
#define TXG(name) {#name, (getter)tx_field_get, NULL, NULL, &txf_##name}
static PyGetSetDef Tx_getset[] = {TXGS(seq),
                                  TXGS(ts),
                                  TXGS(index),
                                  TXGS(ticks),
                                  TXGS(marker),
                                  TXGS(sending),
                                  TXGS(sent_since_report),
                                  TXGS(python_ticks),
                                  TXGS(now),
                                  TXGS(next_rtcp),
                                  {"frames", (getter)tx_get_frames, (setter)tx_set_frames, NULL, NULL},
                                  {"echo_offset", (getter)tx_get_echo_offset, (setter)tx_set_echo_offset, NULL, NULL},
                                  {"playout", (getter)tx_get_playout, (setter)tx_set_playout,
                                   "Forwards leave at kernel arrival + playout (s) from the send thread; 0: at once.",
                                   NULL},
                                  {"playout_ring", (getter)tx_get_playout_ring, (setter)tx_set_playout_ring,
                                   "Forwards that may wait for their playout deadline (the oldest goes when full).",
                                   NULL},
                                  {"playout_counts", (getter)tx_get_playout_counts, NULL,
                                   "(queued, late, dropped, pending) forwards of the playout schedule.", NULL},
                                  TXG(packets),
                                  TXG(octets),
                                  TXG(send_errors),
                                  TXG(oversized),
                                  TXG(last_ts),
                                  TXG(ssrc),
                                  TXG(fd),
                                  TXG(has_sent),
                                  TXG(last_send_s),
                                  TXG(gap_max),
                                  TXG(gaps_over),
                                  {NULL}};

static PyTypeObject TxType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "rtcload.media.engine._native.Tx",
    .tp_doc = "One stream's send state: header fields, frames, counters, and a dup() of the pair's socket; "
              "every field under the stream's lock (the Sender's thread sends from it).",
    .tp_basicsize = sizeof(TxObject),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_new = Tx_new,
    .tp_dealloc = (destructor)Tx_dealloc,
    .tp_methods = Tx_methods,
    .tp_getset = Tx_getset,
};

/* ================================================================= Rx: one stream's receive side */

typedef struct {
    PyObject_HEAD
    void *ctx;
    PyObject *session;
    int codec_pt, dtmf_pt;
    double clock_rate;
    /* RFC 3550 statistics (receive_stats.py) */
    int has_remote;
    uint32_t remote_ssrc;
    unsigned long generation;
    long long max_ext, base_ext, expected_carry, pending_bytes;
    long bad_seq;
    uint64_t window[4];
    double jitter, last_transit;
    int has_transit;
    long long packets, bytes, duplicates;
    double first_arrival, last_arrival, first_rtp, last_rtp;
    long long rejected; /* every RTP/RTCP-range datagram dropped here (the kinds below, and any after close) */
    long long empty;    /* zero-length datagrams dropped at the Demux */
    /* why RTP/RTCP-range datagrams were dropped (stray.py's KINDS): over 1500 bytes, failed SRTP/SRTCP
     * authentication, a replay (libsrtp replay_fail/replay_old), too short or unparseable once decrypted */
    long long oversized, unauthenticated, replayed, malformed;
    long long stale_stamps; /* kernel stamps out of range: the callback time was used instead */
    /* loss runs (sequence.py LossRunTracker) */
    int track_loss, loss_started;
    long long loss_highest;
    unsigned char *flags;
    Py_ssize_t nflags, flags_cap, max_flags;
    /* payload level (lean.py PayloadAnalyzer) */
    int analyze, g711; /* g711: -1 Opus, 0 mu-law, 1 A-law */
    double energy_floor, window_s;
    long long frames, silent_frames, samples;
    double sum_squares, first_frame_at, first_audio_at, last_audio_at;
    double *ring_t, *ring_p;
    int ring_cap, ring_head, ring_len;
    /* where things go */
    PyObject *forward; /* TxObject or NULL */
    PyObject *on_first_rtp, *on_rtcp, *on_dtmf, *on_audio;
    /* RTCP read in C (rtcp_in_c, when no on_rtcp callback is set): EngineStream._on_rtcp's state */
    int rtcp_in_c;
    int has_local_ssrc;
    uint32_t local_ssrc;    /* the stream's own SSRC: report blocks about it carry RTT and the far end's view */
    double wall_offset;     /* time.time() - time.monotonic() of the stream: arrival -> NTP for the RTT */
    uint32_t last_sr_middle32;  /* the far end's last SR (LSR for our reports), 0: none */
    double last_sr_arrival;
    long long remote_sr_packets; /* the last SR's packet count, -1: none */
    int has_block;
    uint32_t block[7];      /* ReportBlock: ssrc, fraction, cumulative (as int32), highest, jitter, lsr, dlsr */
    int has_rtt;
    double rtt;
    long long expected_prior, received_prior; /* ReportBlocks: fraction lost covers the interval since */
    unsigned char buf[BUF_SIZE];
} RxObject;

static PyTypeObject RxType;

static void stats_reset(RxObject *r) {
    r->max_ext = -1;
    r->base_ext = r->expected_carry = r->pending_bytes = 0;
    r->bad_seq = -1;
    memset(r->window, 0, sizeof(r->window));
    r->jitter = 0.0;
    r->has_transit = 0;
    r->packets = r->bytes = r->duplicates = 0;
    r->first_arrival = r->last_arrival = NAN;
    r->last_sr_middle32 = 0; /* LSR/DLSR are about the far end's SSRC: a new one has sent no SR yet */
    r->last_sr_arrival = 0.0;
    r->expected_prior = r->received_prior = 0;
    r->generation++;
}

static void window_shift(uint64_t *w, long long delta) { /* w = (w << delta) | 1, 256 bits */
    if (delta >= 256) {
        w[0] = w[1] = w[2] = w[3] = 0;
    } else {
        int words = (int)(delta / 64), bits = (int)(delta % 64);
        for (int i = 3; i >= 0; i--) {
            uint64_t v = 0;
            int src = i - words;
            if (src >= 0) {
                v = w[src] << bits;
                if (bits && src > 0)
                    v |= w[src - 1] >> (64 - bits);
            }
            w[i] = v;
        }
    }
    w[0] |= 1;
}

/* ReceiveStats.on_packet, line for line. */
static void stats_on_packet(RxObject *r, uint16_t sequence, uint32_t rtp_ts, double arrival, Py_ssize_t size, int jitter) {
    if (r->max_ext < 0) {
        r->max_ext = sequence;
        r->base_ext = sequence;
        memset(r->window, 0, sizeof(r->window));
        r->window[0] = 1;
        r->first_arrival = arrival;
    } else {
        long long max_ext = r->max_ext;
        long long delta = ((long long)sequence - max_ext) & 0xFFFF;
        if (delta == 0) {
            r->duplicates++;
            return;
        }
        if (delta < MAX_DROPOUT) {
            window_shift(r->window, delta);
            r->max_ext = max_ext + delta;
            r->bad_seq = -1;
        } else if (delta > 65536 - MAX_MISORDER) {
            long long back = 65536 - delta;
            if (back < DUPLICATE_WINDOW) {
                uint64_t bit = (uint64_t)1 << (back % 64);
                if (r->window[back / 64] & bit) {
                    r->duplicates++;
                    return;
                }
                r->window[back / 64] |= bit;
            }
            long long ext = max_ext - back;
            if (ext < r->base_ext)
                r->base_ext = ext;
        } else if ((long)sequence == r->bad_seq) { /* _restart */
            r->expected_carry += r->max_ext - r->base_ext + 1;
            r->max_ext = sequence > 0 ? sequence : 65536;
            r->base_ext = r->max_ext - 1;
            memset(r->window, 0, sizeof(r->window));
            r->window[0] = 3;
            r->bad_seq = -1;
            r->packets++;
            r->bytes += r->pending_bytes;
            r->pending_bytes = 0;
            r->has_transit = 0;
        } else {
            r->bad_seq = (sequence + 1) & 0xFFFF;
            r->pending_bytes = size;
            return;
        }
    }
    r->packets++;
    r->bytes += size;
    r->last_arrival = arrival;
    if (!jitter)
        return;
    double transit = arrival * r->clock_rate - (double)rtp_ts;
    if (r->has_transit) {
        double d = transit - r->last_transit;
        if (d > 2147483648.0)
            d -= 4294967296.0;
        else if (d < -2147483648.0)
            d += 4294967296.0;
        if (d < 0)
            d = -d;
        r->jitter += (d - r->jitter) * 0.0625;
    }
    r->last_transit = transit;
    r->has_transit = 1;
}

static int loss_append(RxObject *r, unsigned char lost, long long count) {
    Py_ssize_t need = r->nflags + (Py_ssize_t)count;
    if (need > r->flags_cap && r->flags_cap < r->max_flags + 2 * LOSS_MAX_GAP + 2) { /* grow as the tracker's list */
        Py_ssize_t cap = r->flags_cap * 2 > need ? r->flags_cap * 2 : need + 1024;
        if (cap > r->max_flags + 2 * LOSS_MAX_GAP + 2)
            cap = r->max_flags + 2 * LOSS_MAX_GAP + 2;
        unsigned char *flags = PyMem_Realloc(r->flags, (size_t)cap);
        if (flags == NULL)
            return -1; /* out of memory: this packet's flags are not recorded */
        r->flags = flags;
        r->flags_cap = cap;
    }
    if (need > r->max_flags + LOSS_MAX_GAP + 1) { /* never drained: keep the newest max_flags, as the tracker */
        Py_ssize_t drop = r->nflags - r->max_flags;
        if (drop > 0) {
            memmove(r->flags, r->flags + drop, (size_t)(r->nflags - drop));
            r->nflags -= drop;
        }
    }
    if (r->nflags + (Py_ssize_t)count > r->flags_cap)
        return -1;
    memset(r->flags + r->nflags, lost, (size_t)count);
    r->nflags += (Py_ssize_t)count;
    return 0;
}

/* LossRunTracker.on_packet, line for line (flags: 1 = lost). */
static void loss_on_packet(RxObject *r, uint16_t sequence) {
    if (!r->loss_started) {
        r->loss_started = 1;
        r->loss_highest = sequence;
        loss_append(r, 0, 1);
        return;
    }
    long long cycle_base = r->loss_highest & ~0xFFFFLL;
    long long candidate = cycle_base | sequence;
    if (candidate - r->loss_highest > 0x8000)
        candidate -= 0x10000;
    else if (r->loss_highest - candidate > 0x8000)
        candidate += 0x10000;
    long long gap = candidate - r->loss_highest;
    if (gap <= 0)
        return;
    if (gap > LOSS_MAX_GAP) {
        r->loss_highest = candidate;
        loss_append(r, 0, 1);
        return;
    }
    if (gap > 1)
        loss_append(r, 1, gap - 1);
    loss_append(r, 0, 1);
    r->loss_highest = candidate;
    if (r->nflags > r->max_flags) {
        Py_ssize_t drop = r->nflags - r->max_flags;
        memmove(r->flags, r->flags + drop, (size_t)(r->nflags - drop));
        r->nflags -= drop;
    }
}

/* PayloadAnalyzer.add_payload from the payload alone: exact G.711 level, Opus silent/audible by size. */
static void analyze_payload(RxObject *r, const unsigned char *p, Py_ssize_t n, double now) {
    double level, power;
    if (r->g711 >= 0) {
        if (n == 0) {
            level = DBFS_FLOOR;
        } else {
            int64_t sum = 0;
            const int64_t *table = g711_square[r->g711];
            for (Py_ssize_t i = 0; i < n; i++)
                sum += table[p[i]];
            double mean = ((double)sum / 1073741824.0) / (double)n; /* exact, as numpy's mean of the squares */
            level = mean > 0 ? 10.0 * log10(mean) : DBFS_FLOOR;
            if (level < DBFS_FLOOR)
                level = DBFS_FLOOR;
        }
    } else {
        level = n > OPUS_SILENT_MAX_BYTES ? ACTIVE_OPUS_DBFS : DBFS_FLOOR;
    }
    power = level > DBFS_FLOOR ? pow(10.0, level / 10.0) : 0.0;
    r->frames++;
    if (isnan(r->first_frame_at))
        r->first_frame_at = now;
    if (level >= r->energy_floor) {
        r->last_audio_at = now;
        if (isnan(r->first_audio_at))
            r->first_audio_at = now;
    } else {
        r->silent_frames++;
    }
    r->sum_squares += power * G711_SAMPLES_PER_PACKET;
    r->samples += G711_SAMPLES_PER_PACKET;
    if (r->ring_len == r->ring_cap) { /* > ring_cap packets inside one window: drop the oldest */
        r->ring_head = (r->ring_head + 1) % r->ring_cap;
        r->ring_len--;
    }
    int tail = (r->ring_head + r->ring_len) % r->ring_cap;
    r->ring_t[tail] = now;
    r->ring_p[tail] = power;
    r->ring_len++;
    double cutoff = now - r->window_s;
    while (r->ring_len && r->ring_t[r->ring_head] < cutoff) {
        r->ring_head = (r->ring_head + 1) % r->ring_cap;
        r->ring_len--;
    }
}

static PyObject *make_packet(int pt, int marker, uint16_t seq, uint32_t ts, uint32_t ssrc, const unsigned char *p,
                             Py_ssize_t n) {
    return PyObject_CallFunction(rtp_packet_type, "iOIkky#", pt, marker ? Py_True : Py_False, (unsigned int)seq,
                                 (unsigned long)ts, (unsigned long)ssrc, (const char *)p, n);
}

static int call_packet_callback(PyObject *callback, int pt, int marker, uint16_t seq, uint32_t ts, uint32_t ssrc,
                                const unsigned char *p, Py_ssize_t n, double arrival) {
    PyObject *packet = make_packet(pt, marker, seq, ts, ssrc, p, n);
    if (packet == NULL)
        return -1;
    PyObject *res = PyObject_CallFunction(callback, "Nd", packet, arrival);
    if (res == NULL)
        return -1;
    Py_DECREF(res);
    return 0;
}

/* One datagram dropped: counted in the total and under its kind. */
static int rx_reject(RxObject *r, long long *kind) {
    r->rejected++;
    (*kind)++;
    return 0;
}

/* libsrtp's srtp_err_status_replay_fail (9) and _replay_old (10), checked against libsrtp 2.x's srtp.h (the
 * pylibsrtp pin in pyproject.toml); every other failure is an unauthenticated (forged, garbled) packet. */
#define SRTP_REPLAY_FAIL 9
#define SRTP_REPLAY_OLD 10
static long long *srtp_failure_kind(RxObject *r, int status) {
    return status == SRTP_REPLAY_FAIL || status == SRTP_REPLAY_OLD ? &r->replayed : &r->unauthenticated;
}

/* EngineStream.on_datagram: -1 only when a Python callback raised (uvloop logs it, as it would today). */
#define RTT_ALPHA 0.85 /* stream.py RTT_ALPHA: aiortc's RTCRtpSender smoothing */
#define NTP_EPOCH_OFFSET 2208988800.0

static uint32_t be32(const unsigned char *p) {
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

/* rtcp.ntp_from_unix(t) with the same double arithmetic. */
static uint64_t ntp64_of(double t) {
    double v = (t + NTP_EPOCH_OFFSET) * 4294967296.0;
    if (v >= 18446744073709551616.0)
        v = fmod(v, 18446744073709551616.0);
    if (v < 0)
        v = 0;
    return (uint64_t)v;
}

/* rtcp.ntp_middle32(rtcp.ntp_from_unix(t)). */
static uint32_t ntp_middle32_of(double t) { return (uint32_t)((ntp64_of(t) >> 16) & 0xFFFFFFFFu); }

/* rtcp.parse_rtcp's checks: 0 when the compound is well formed, -1 when parse_rtcp would raise ValueError. */
static int rtcp_valid(const unsigned char *d, Py_ssize_t size) {
    if (size < 4)
        return -1;
    Py_ssize_t offset = 0;
    while (offset < size) {
        if (size - offset < 4)
            return -1;
        int first = d[offset], type = d[offset + 1];
        Py_ssize_t length = 4 * ((Py_ssize_t)((d[offset + 2] << 8) | d[offset + 3]) + 1);
        Py_ssize_t end = offset + length;
        int count = first & 0x1F;
        if (first >> 6 != 2 || end > size || ((first & 0x20) && end != size))
            return -1;
        if (type == 200) {
            if (length < 28 + 24 * count)
                return -1;
        } else if (type == 201) {
            if (length < 8 + 24 * count)
                return -1;
        } else if (type < 192 || type > 223) {
            return -1;
        }
        offset = end;
    }
    return 0;
}

/* EngineStream._on_blocks: the far end's report about our stream, and the RTT it gives. */
static void rtcp_blocks(RxObject *r, const unsigned char *p, int count, double arrival) {
    for (int i = 0; i < count; i++, p += 24) {
        uint32_t ssrc = be32(p);
        if (!r->has_local_ssrc || ssrc != r->local_ssrc)
            continue;
        uint32_t lost_word = be32(p + 4), lsr = be32(p + 16), dlsr = be32(p + 20);
        r->block[0] = ssrc;
        r->block[1] = lost_word >> 24;
        r->block[2] = lost_word & 0xFFFFFF;
        r->block[3] = be32(p + 8);
        r->block[4] = be32(p + 12);
        r->block[5] = lsr;
        r->block[6] = dlsr;
        r->has_block = 1;
        if (lsr == 0 || dlsr == 0) /* rtt_seconds: no SR echoed; _on_blocks: a zero DLSR is not used */
            continue;
        uint32_t rtt = ntp_middle32_of(arrival + r->wall_offset) - lsr - dlsr;
        if (rtt & 0x80000000u) /* negative: clocks or a stale/forged block, not a round trip */
            continue;
        double seconds = rtt / 65536.0;
        r->rtt = r->has_rtt ? RTT_ALPHA * r->rtt + (1 - RTT_ALPHA) * seconds : seconds;
        r->has_rtt = 1;
    }
}

/* EngineStream._on_rtcp in C: 0, or -1 when the compound is malformed (nothing is changed then). */
static int rtcp_read(RxObject *r, const unsigned char *d, Py_ssize_t size, double arrival) {
    if (rtcp_valid(d, size) < 0)
        return -1;
    Py_ssize_t offset = 0;
    while (offset < size) {
        const unsigned char *p = d + offset;
        int type = p[1], count = p[0] & 0x1F;
        if (type == 200) {
            uint32_t ssrc = be32(p + 4);
            if (!r->has_remote || ssrc == r->remote_ssrc) {
                uint64_t ntp = ((uint64_t)be32(p + 8) << 32) | be32(p + 12);
                r->last_sr_middle32 = (uint32_t)((ntp >> 16) & 0xFFFFFFFFu);
                r->last_sr_arrival = arrival;
                r->remote_sr_packets = be32(p + 20);
            }
            rtcp_blocks(r, p + 28, count, arrival);
        } else if (type == 201) {
            rtcp_blocks(r, p + 8, count, arrival);
        }
        offset += 4 * ((Py_ssize_t)((p[2] << 8) | p[3]) + 1);
    }
    return 0;
}

static unsigned char *put32(unsigned char *p, uint32_t v) {
    p[0] = (unsigned char)(v >> 24);
    p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8);
    p[3] = (unsigned char)v;
    return p + 4;
}

/* send_report(rx, cname, sender, bye, now, wallclock, clock_rate) -> bool: EngineStream.send_rtcp for a
 * host/srflx pair in one call. The report block about the far end (ReportBlocks.report_block: fraction
 * lost since the last report, LSR/DLSR) comes from `rx` (the loop's, under the GIL); an SR when `sender`
 * and the stream has sent (SendStats.sr_fields: the last packet's timestamp advanced by the time since,
 * read with the counters at one instant under the lock), else an RR; then SDES CNAME[, BYE]; protected
 * and sent as send_rtcp(). rtcp.py builds the same bytes (tests/test_media_engine_native.py). */
static PyObject *Tx_send_report(TxObject *t, PyObject *args) {
    PyObject *rxo;
    const char *cname;
    Py_ssize_t cname_len;
    int sender, bye, clock_rate;
    double now, wallclock;
    if (!PyArg_ParseTuple(args, "O!y#ppddi", &RxType, &rxo, &cname, &cname_len, &sender, &bye, &now, &wallclock,
                          &clock_rate))
        return NULL;
    if (srtp_protect_rtcp_fn == NULL)
        return PyErr_Format(PyExc_RuntimeError, "_native.configure_rtcp() was not called");
    if (cname_len < 1 || cname_len > 255)
        return PyErr_Format(PyExc_ValueError, "CNAME must be 1..255 bytes of UTF-8, got %zd", cname_len);
    RxObject *r = (RxObject *)rxo;
    unsigned char block[24];
    int blocks = 0;
    if (r->has_remote) { /* ReportBlocks.report_block */
        long long expected = r->max_ext < 0 ? 0 : r->expected_carry + r->max_ext - r->base_ext + 1;
        long long received = r->packets;
        long long expected_interval = expected - r->expected_prior;
        long long lost_interval = expected_interval - (received - r->received_prior);
        r->expected_prior = expected;
        r->received_prior = received;
        long long fraction = expected_interval > 0 && lost_interval > 0 ? (lost_interval << 8) / expected_interval : 0;
        if (fraction > 255)
            fraction = 255;
        long long dlsr = 0;
        if (r->last_sr_middle32) {
            double d = floor((now - r->last_sr_arrival) * 65536.0);
            dlsr = d > 0 ? (long long)d : 0;
        }
        long long lost = expected - received;
        lost = lost < -0x800000 ? -0x800000 : lost > 0x7FFFFF ? 0x7FFFFF : lost;
        long long jitter = (long long)r->jitter;
        unsigned char *p = put32(block, r->remote_ssrc);
        p = put32(p, ((uint32_t)fraction << 24) | ((uint32_t)lost & 0xFFFFFF));
        p = put32(p, (uint32_t)(r->max_ext < 0 ? 0 : r->max_ext));
        p = put32(p, (uint32_t)(jitter < 0 ? 0 : jitter));
        p = put32(p, r->last_sr_middle32);
        put32(p, (uint32_t)dlsr);
        blocks = 1;
    }
    unsigned char out[MAX_DATAGRAM];
    unsigned char *p = out;
    tx_lock(t);
    int has_sent = t->has_sent;
    uint32_t last_ts = t->last_ts;
    double last_send_s = t->last_send_s;
    unsigned long long packets = t->packets, octets = t->octets;
    uint32_t ssrc = t->ssrc;
    pthread_mutex_unlock(&t->lock);
    if (sender && has_sent) { /* rtcp.build_sr with SendStats.sr_fields */
        double elapsed = now - last_send_s;
        if (!(elapsed > 0.0))
            elapsed = 0.0;
        uint64_t ntp = ntp64_of(wallclock);
        uint32_t ts = (uint32_t)((uint64_t)last_ts + (uint64_t)(long long)(elapsed * clock_rate));
        p[0] = (unsigned char)(0x80 | blocks);
        p[1] = 200;
        p[2] = 0;
        p[3] = (unsigned char)(6 + 6 * blocks);
        p = put32(p + 4, ssrc);
        p = put32(p, (uint32_t)(ntp >> 32));
        p = put32(p, (uint32_t)ntp);
        p = put32(p, ts);
        p = put32(p, (uint32_t)packets);
        p = put32(p, (uint32_t)octets);
    } else { /* rtcp.build_rr */
        p[0] = (unsigned char)(0x80 | blocks);
        p[1] = 201;
        p[2] = 0;
        p[3] = (unsigned char)(1 + 6 * blocks);
        p = put32(p + 4, ssrc);
    }
    if (blocks) {
        memcpy(p, block, sizeof(block));
        p += sizeof(block);
    }
    /* rtcp.build_sdes_cname: one chunk, CNAME item, a null octet, padded to 32 bits */
    Py_ssize_t chunk = 4 + 2 + cname_len;
    chunk += 4 - chunk % 4;
    p[0] = 0x81;
    p[1] = 202;
    p[2] = (unsigned char)((chunk / 4) >> 8);
    p[3] = (unsigned char)(chunk / 4);
    unsigned char *c = put32(p + 4, ssrc);
    memset(c, 0, (size_t)chunk - 4);
    c[0] = 1; /* CNAME */
    c[1] = (unsigned char)cname_len;
    memcpy(c + 2, cname, (size_t)cname_len);
    p += 4 + chunk;
    if (bye) { /* rtcp.build_bye */
        p[0] = 0x81;
        p[1] = 203;
        p[2] = 0;
        p[3] = 1;
        p = put32(p + 4, ssrc);
    }
    return tx_protect_send(t, out, (int)(p - out));
}

static int rx_datagram(RxObject *r, const unsigned char *data, Py_ssize_t size, double arrival, double now) {
    if (r->ctx == NULL) { /* the call ended: late datagrams are no one's concern */
        r->rejected++;
        return 0;
    }
    if (size > MAX_DATAGRAM)
        return rx_reject(r, &r->oversized);
    if (size < 12) /* shorter than an RTP header or an SRTCP packet's header + index */
        return rx_reject(r, &r->malformed);
    unsigned char *b = r->buf;
    memcpy(b, data, (size_t)size);
    int len = (int)size;
    if (data[1] > 191 && data[1] < 224) {
        int status = srtp_unprotect_rtcp_fn(r->ctx, b, &len);
        if (status)
            return rx_reject(r, srtp_failure_kind(r, status));
        if (r->on_rtcp == NULL) {
            if (!r->rtcp_in_c) {
                r->rejected++;
            } else if (rtcp_read(r, b, len, arrival) < 0) {
                r->rejected++;
                r->malformed++;
            }
            return 0;
        }
        PyObject *res = PyObject_CallFunction(r->on_rtcp, "y#d", (const char *)b, (Py_ssize_t)len, arrival);
        if (res == NULL)
            return -1;
        if (res == Py_False) {
            r->rejected++;
            r->malformed++;
        }
        Py_DECREF(res);
        return 0;
    }
    int status = srtp_unprotect_fn(r->ctx, b, &len);
    if (status)
        return rx_reject(r, srtp_failure_kind(r, status));
    /* parse_rtp */
    if (len < 12 || (b[0] >> 6) != 2 || (b[1] >= 192 && b[1] <= 223))
        return rx_reject(r, &r->malformed);
    int offset = 12 + 4 * (b[0] & 0x0F);
    if (offset > len)
        return rx_reject(r, &r->malformed);
    if (b[0] & 0x10) {
        if (len < offset + 4)
            return rx_reject(r, &r->malformed);
        offset += 4 + 4 * ((b[offset + 2] << 8) | b[offset + 3]);
    }
    int end = len;
    if (b[0] & 0x20) {
        int padding = b[len - 1];
        if (padding == 0)
            return rx_reject(r, &r->malformed);
        end -= padding;
    }
    if (offset > end)
        return rx_reject(r, &r->malformed);
    int pt = b[1] & 0x7F, marker = b[1] > 127;
    uint16_t seq = (uint16_t)((b[2] << 8) | b[3]);
    uint32_t ts = ((uint32_t)b[4] << 24) | ((uint32_t)b[5] << 16) | ((uint32_t)b[6] << 8) | b[7];
    uint32_t ssrc = ((uint32_t)b[8] << 24) | ((uint32_t)b[9] << 16) | ((uint32_t)b[10] << 8) | b[11];
    const unsigned char *payload = b + offset;
    Py_ssize_t plen = end - offset;
    if (!r->has_remote || ssrc != r->remote_ssrc) {
        if (r->has_remote) /* a new stream (far end restarted): statistics start over */
            stats_reset(r);
        r->remote_ssrc = ssrc;
        r->has_remote = 1;
    }
    int audio = pt == r->codec_pt;
    stats_on_packet(r, seq, ts, arrival, plen, audio);
    r->last_rtp = arrival;
    if (isnan(r->first_rtp)) {
        r->first_rtp = arrival;
        if (r->on_first_rtp != NULL) {
            PyObject *res = PyObject_CallNoArgs(r->on_first_rtp);
            if (res == NULL)
                return -1;
            Py_DECREF(res);
        }
    }
    if (r->track_loss)
        loss_on_packet(r, seq);
    if (audio) {
        if (r->forward != NULL) { /* errors: the send thread's next tick hands the stream to Python */
            TxObject *target = (TxObject *)r->forward;
            tx_lock(target);
            tx_forward(target, payload, plen, ts, marker, now, arrival);
            pthread_mutex_unlock(&target->lock);
        }
        if (r->analyze)
            analyze_payload(r, payload, plen, arrival);
        if (r->on_audio != NULL)
            return call_packet_callback(r->on_audio, pt, marker, seq, ts, ssrc, payload, plen, arrival);
    } else if (pt == r->dtmf_pt && r->on_dtmf != NULL) {
        return call_packet_callback(r->on_dtmf, pt, marker, seq, ts, ssrc, payload, plen, arrival);
    }
    return 0;
}

static PyObject *Rx_new(PyTypeObject *type, PyObject *args, PyObject *kwds) {
    static char *kwlist[] = {"session", "context", "payload_type", "clock_rate", NULL};
    PyObject *session;
    unsigned long long context;
    int pt, clock_rate;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "OKii", kwlist, &session, &context, &pt, &clock_rate))
        return NULL;
    if (srtp_unprotect_fn == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "_native.configure() was not called");
        return NULL;
    }
    if (clock_rate <= 0 || context == 0) {
        PyErr_SetString(PyExc_ValueError, "clock rate and SRTP context must be positive");
        return NULL;
    }
    RxObject *r = (RxObject *)type->tp_alloc(type, 0);
    if (r == NULL)
        return NULL;
    Py_INCREF(session);
    r->session = session;
    r->ctx = (void *)(uintptr_t)context;
    r->codec_pt = pt;
    r->dtmf_pt = -1;
    r->remote_sr_packets = -1;
    r->clock_rate = (double)clock_rate;
    r->generation = 0;
    stats_reset(r);
    r->first_rtp = r->last_rtp = NAN;
    r->first_frame_at = r->first_audio_at = r->last_audio_at = NAN;
    r->g711 = -1;
    r->energy_floor = -50.0;
    r->window_s = 0.5;
    r->max_flags = 20000;
    return (PyObject *)r;
}

static int Rx_traverse(RxObject *r, visitproc visit, void *arg) {
    Py_VISIT(r->session);
    Py_VISIT(r->forward);
    Py_VISIT(r->on_first_rtp);
    Py_VISIT(r->on_rtcp);
    Py_VISIT(r->on_dtmf);
    Py_VISIT(r->on_audio);
    return 0;
}

static int Rx_clear(RxObject *r) {
    Py_CLEAR(r->forward);
    Py_CLEAR(r->on_first_rtp);
    Py_CLEAR(r->on_rtcp);
    Py_CLEAR(r->on_dtmf);
    Py_CLEAR(r->on_audio);
    return 0;
}

static void Rx_dealloc(RxObject *r) {
    PyObject_GC_UnTrack(r);
    Rx_clear(r);
    Py_CLEAR(r->session);
    PyMem_Free(r->flags);
    PyMem_Free(r->ring_t);
    PyMem_Free(r->ring_p);
    Py_TYPE(r)->tp_free((PyObject *)r);
}

static PyObject *Rx_datagram(RxObject *r, PyObject *args) {
    Py_buffer data;
    double arrival;
    if (!PyArg_ParseTuple(args, "y*d", &data, &arrival))
        return NULL;
    int res = rx_datagram(r, data.buf, data.len, arrival, arrival);
    PyBuffer_Release(&data);
    if (res < 0)
        return NULL;
    Py_RETURN_NONE;
}

static PyObject *Rx_track_loss(RxObject *r, PyObject *args) {
    Py_ssize_t max_flags;
    if (!PyArg_ParseTuple(args, "n", &max_flags))
        return NULL;
    if (max_flags < 1)
        return PyErr_Format(PyExc_ValueError, "max_flags must be positive");
    if (r->flags == NULL) {
        r->flags = PyMem_Malloc(1024);
        if (r->flags == NULL)
            return PyErr_NoMemory();
        r->flags_cap = 1024;
    }
    r->max_flags = max_flags;
    r->track_loss = 1;
    Py_RETURN_NONE;
}

static PyObject *Rx_drain_loss(RxObject *r, PyObject *Py_UNUSED(ignored)) {
    PyObject *list = PyList_New(r->nflags);
    if (list == NULL)
        return NULL;
    for (Py_ssize_t i = 0; i < r->nflags; i++) {
        PyObject *b = r->flags[i] ? Py_True : Py_False;
        Py_INCREF(b);
        PyList_SET_ITEM(list, i, b);
    }
    r->nflags = 0;
    return list;
}

static PyObject *Rx_analyze(RxObject *r, PyObject *args) {
    const char *codec;
    double floor, window_s;
    if (!PyArg_ParseTuple(args, "sdd", &codec, &floor, &window_s))
        return NULL;
    int cap = 512; /* 10 s of 50 packets/s: a 0.5 s window holds 25 */
    double *t = PyMem_Realloc(r->ring_t, sizeof(double) * cap), *p;
    if (t == NULL)
        return PyErr_NoMemory();
    r->ring_t = t;
    p = PyMem_Realloc(r->ring_p, sizeof(double) * cap);
    if (p == NULL)
        return PyErr_NoMemory();
    r->ring_p = p;
    r->ring_cap = cap;
    r->ring_head = r->ring_len = 0;
    r->g711 = strcmp(codec, "pcmu") == 0 ? 0 : strcmp(codec, "pcma") == 0 ? 1 : -1;
    r->energy_floor = floor;
    r->window_s = window_s;
    r->analyze = 1;
    Py_RETURN_NONE;
}

static PyObject *Rx_window_power(RxObject *r, PyObject *Py_UNUSED(ignored)) {
    if (r->ring_len == 0)
        Py_RETURN_NONE;
    double sum = 0.0;
    for (int i = 0; i < r->ring_len; i++)
        sum += r->ring_p[(r->ring_head + i) % r->ring_cap];
    return PyFloat_FromDouble(sum / r->ring_len);
}

static PyMethodDef Rx_methods[] = {
    {"datagram", (PyCFunction)Rx_datagram, METH_VARARGS, "datagram(data, arrival): one RTP/RTCP datagram."},
    {"track_loss", (PyCFunction)Rx_track_loss, METH_VARARGS, "track_loss(max_flags): record loss runs."},
    {"drain_loss", (PyCFunction)Rx_drain_loss, METH_NOARGS, "Lost/received flags since the last drain."},
    {"analyze", (PyCFunction)Rx_analyze, METH_VARARGS, "analyze(codec, energy_floor_dbfs, window_s)."},
    {"window_power", (PyCFunction)Rx_window_power, METH_NOARGS, "Mean linear power over the window, or None."},
    {NULL}};

#define OPT_TIME(field)                                                                                               \
    static PyObject *rx_get_##field(RxObject *r, void *c) {                                                          \
        if (isnan(r->field))                                                                                          \
            Py_RETURN_NONE;                                                                                           \
        return PyFloat_FromDouble(r->field);                                                                          \
    }
OPT_TIME(first_rtp)
OPT_TIME(last_rtp)
OPT_TIME(first_arrival)
OPT_TIME(last_arrival)
OPT_TIME(first_frame_at)
OPT_TIME(first_audio_at)
OPT_TIME(last_audio_at)
RO_INT(rx, packets, RxObject)
RO_INT(rx, bytes, RxObject)
RO_INT(rx, duplicates, RxObject)
RO_INT(rx, empty, RxObject)
RO_INT(rx, oversized, RxObject)
RO_INT(rx, unauthenticated, RxObject)
RO_INT(rx, replayed, RxObject)
RO_INT(rx, malformed, RxObject)
RO_INT(rx, stale_stamps, RxObject)
RO_INT(rx, rejected, RxObject)
RO_INT(rx, generation, RxObject)
RO_INT(rx, frames, RxObject)
RO_INT(rx, silent_frames, RxObject)
RO_INT(rx, samples, RxObject)

static PyObject *rx_get_max_ext(RxObject *r, void *c) { return PyLong_FromLongLong(r->max_ext); }
static PyObject *rx_get_expected(RxObject *r, void *c) {
    return PyLong_FromLongLong(r->max_ext < 0 ? 0 : r->expected_carry + r->max_ext - r->base_ext + 1);
}
static PyObject *rx_get_jitter(RxObject *r, void *c) { return PyFloat_FromDouble(r->jitter); }
static PyObject *rx_get_sum_squares(RxObject *r, void *c) { return PyFloat_FromDouble(r->sum_squares); }
static PyObject *rx_get_remote_ssrc(RxObject *r, void *c) {
    if (!r->has_remote)
        Py_RETURN_NONE;
    return PyLong_FromUnsignedLong(r->remote_ssrc);
}

static int rx_set_rejected(RxObject *r, PyObject *v, void *c) {
    if (v == NULL)
        return cannot_delete("rejected");
    long long x = PyLong_AsLongLong(v);
    if (x == -1 && PyErr_Occurred())
        return -1;
    r->rejected = x;
    return 0;
}

static int rx_set_dtmf_pt(RxObject *r, PyObject *v, void *c) {
    if (v == NULL || v == Py_None) {
        r->dtmf_pt = -1;
        return 0;
    }
    long x = PyLong_AsLong(v);
    if (x == -1 && PyErr_Occurred())
        return -1;
    r->dtmf_pt = (int)x;
    return 0;
}
static PyObject *rx_get_dtmf_pt(RxObject *r, void *c) {
    if (r->dtmf_pt < 0)
        Py_RETURN_NONE;
    return PyLong_FromLong(r->dtmf_pt);
}

#define CALLBACK_GETSET(field)                                                                                        \
    static PyObject *rx_get_##field(RxObject *r, void *c) {                                                          \
        PyObject *f = r->field ? r->field : Py_None;                                                                  \
        Py_INCREF(f);                                                                                                 \
        return f;                                                                                                     \
    }                                                                                                                 \
    static int rx_set_##field(RxObject *r, PyObject *v, void *c) {                                                   \
        if (v != NULL && v != Py_None && !PyCallable_Check(v)) {                                                      \
            PyErr_SetString(PyExc_TypeError, #field " must be callable or None");                                     \
            return -1;                                                                                                \
        }                                                                                                             \
        PyObject *n = (v == NULL || v == Py_None) ? NULL : v;                                                         \
        Py_XINCREF(n);                                                                                                \
        Py_XSETREF(r->field, n);                                                                                      \
        return 0;                                                                                                     \
    }
CALLBACK_GETSET(on_first_rtp)
CALLBACK_GETSET(on_rtcp)
CALLBACK_GETSET(on_dtmf)
CALLBACK_GETSET(on_audio)

static PyObject *rx_get_forward(RxObject *r, void *c) {
    PyObject *f = r->forward ? r->forward : Py_None;
    Py_INCREF(f);
    return f;
}
static int rx_set_forward(RxObject *r, PyObject *v, void *c) {
    if (v != NULL && v != Py_None && !PyObject_TypeCheck(v, &TxType)) {
        PyErr_SetString(PyExc_TypeError, "forward must be a Tx or None");
        return -1;
    }
    PyObject *n = (v == NULL || v == Py_None) ? NULL : v;
    Py_XINCREF(n);
    Py_XSETREF(r->forward, n);
    return 0;
}
static PyObject *rx_get_closed(RxObject *r, void *c) { return PyBool_FromLong(r->ctx == NULL); }
static int rx_set_closed(RxObject *r, PyObject *v, void *c) {
    if (v == NULL)
        return cannot_delete("closed");
    int closed = PyObject_IsTrue(v);
    if (closed < 0)
        return -1; /* bool(v) raised: the error goes to the caller, the stream stays as it was */
    if (closed)
        r->ctx = NULL; /* no unprotect after the call ended (a closed stream is never reopened) */
    return 0;
}

/* The RTCP state rtcp_read keeps (closure: which field); None where nothing was received yet. */
enum { RTCP_IN_C, LOCAL_SSRC, WALL_OFFSET, LAST_SR_MIDDLE32, LAST_SR_ARRIVAL, REMOTE_SR_PACKETS, REMOTE_BLOCK, RTT,
       EXPECTED_PRIOR, RECEIVED_PRIOR };

static PyObject *rx_rtcp_get(RxObject *r, void *c) {
    switch ((int)(intptr_t)c) {
    case RTCP_IN_C:
        return PyBool_FromLong(r->rtcp_in_c);
    case LOCAL_SSRC:
        if (!r->has_local_ssrc)
            Py_RETURN_NONE;
        return PyLong_FromUnsignedLong(r->local_ssrc);
    case WALL_OFFSET:
        return PyFloat_FromDouble(r->wall_offset);
    case LAST_SR_MIDDLE32:
        return PyLong_FromUnsignedLong(r->last_sr_middle32);
    case LAST_SR_ARRIVAL:
        return PyFloat_FromDouble(r->last_sr_arrival);
    case REMOTE_SR_PACKETS:
        if (r->remote_sr_packets < 0)
            Py_RETURN_NONE;
        return PyLong_FromLongLong(r->remote_sr_packets);
    case REMOTE_BLOCK: {
        if (!r->has_block)
            Py_RETURN_NONE;
        long cumulative = (long)r->block[2];
        if (cumulative & 0x800000)
            cumulative -= 0x1000000;
        return Py_BuildValue("(kklkkkk)", (unsigned long)r->block[0], (unsigned long)r->block[1], cumulative,
                             (unsigned long)r->block[3], (unsigned long)r->block[4], (unsigned long)r->block[5],
                             (unsigned long)r->block[6]);
    }
    case RTT:
        if (!r->has_rtt)
            Py_RETURN_NONE;
        return PyFloat_FromDouble(r->rtt);
    case EXPECTED_PRIOR:
        return PyLong_FromLongLong(r->expected_prior);
    case RECEIVED_PRIOR:
        return PyLong_FromLongLong(r->received_prior);
    }
    Py_RETURN_NONE;
}

static int rx_rtcp_set(RxObject *r, PyObject *v, void *c) {
    if (v == NULL)
        return cannot_delete("RTCP state");
    int field = (int)(intptr_t)c;
    if (v == Py_None && (field == LOCAL_SSRC || field == REMOTE_SR_PACKETS || field == REMOTE_BLOCK || field == RTT)) {
        if (field == LOCAL_SSRC)
            r->has_local_ssrc = 0;
        else if (field == REMOTE_SR_PACKETS)
            r->remote_sr_packets = -1;
        else if (field == REMOTE_BLOCK)
            r->has_block = 0;
        else
            r->has_rtt = 0;
        return 0;
    }
    if (field == REMOTE_BLOCK) {
        unsigned long ssrc, fraction, highest, jitter, lsr, dlsr;
        long cumulative;
        if (!PyArg_ParseTuple(v, "kklkkkk;remote_block must be a ReportBlock or None", &ssrc, &fraction, &cumulative,
                              &highest, &jitter, &lsr, &dlsr))
            return -1;
        uint32_t b[7] = {(uint32_t)ssrc, (uint32_t)fraction, (uint32_t)cumulative & 0xFFFFFF, (uint32_t)highest,
                         (uint32_t)jitter, (uint32_t)lsr, (uint32_t)dlsr};
        memcpy(r->block, b, sizeof(b));
        r->has_block = 1;
        return 0;
    }
    if (field == RTCP_IN_C) {
        int on = PyObject_IsTrue(v);
        if (on < 0)
            return -1;
        r->rtcp_in_c = on;
        return 0;
    }
    if (field == WALL_OFFSET || field == LAST_SR_ARRIVAL || field == RTT) {
        double d = PyFloat_AsDouble(v);
        if (d == -1.0 && PyErr_Occurred())
            return -1;
        if (field == WALL_OFFSET)
            r->wall_offset = d;
        else if (field == LAST_SR_ARRIVAL)
            r->last_sr_arrival = d;
        else {
            r->rtt = d;
            r->has_rtt = 1;
        }
        return 0;
    }
    long long n = PyLong_AsLongLong(v);
    if (n == -1 && PyErr_Occurred())
        return -1;
    if (field == LOCAL_SSRC) {
        r->local_ssrc = (uint32_t)n;
        r->has_local_ssrc = 1;
    } else if (field == LAST_SR_MIDDLE32) {
        r->last_sr_middle32 = (uint32_t)n;
    } else if (field == EXPECTED_PRIOR) {
        r->expected_prior = n;
    } else if (field == RECEIVED_PRIOR) {
        r->received_prior = n;
    } else {
        r->remote_sr_packets = n < 0 ? -1 : n;
    }
    return 0;
}

#define RTCP_GS(name, field) {name, (getter)rx_rtcp_get, (setter)rx_rtcp_set, NULL, (void *)(intptr_t)(field)}

static PyGetSetDef Rx_getset[] = {G(rx, first_rtp),
                                  G(rx, last_rtp),
                                  G(rx, first_arrival),
                                  G(rx, last_arrival),
                                  G(rx, first_frame_at),
                                  G(rx, first_audio_at),
                                  G(rx, last_audio_at),
                                  G(rx, packets),
                                  G(rx, bytes),
                                  G(rx, duplicates),
                                  G(rx, empty),
                                  G(rx, oversized),
                                  G(rx, unauthenticated),
                                  G(rx, replayed),
                                  G(rx, malformed),
                                  G(rx, stale_stamps),
                                  GS(rx, rejected),
                                  G(rx, generation),
                                  G(rx, frames),
                                  G(rx, silent_frames),
                                  G(rx, samples),
                                  G(rx, max_ext),
                                  G(rx, expected),
                                  G(rx, jitter),
                                  G(rx, sum_squares),
                                  G(rx, remote_ssrc),
                                  GS(rx, dtmf_pt),
                                  GS(rx, on_first_rtp),
                                  GS(rx, on_rtcp),
                                  GS(rx, on_dtmf),
                                  GS(rx, on_audio),
                                  GS(rx, forward),
                                  GS(rx, closed),
                                  RTCP_GS("rtcp_in_c", RTCP_IN_C),
                                  RTCP_GS("local_ssrc", LOCAL_SSRC),
                                  RTCP_GS("wall_offset", WALL_OFFSET),
                                  RTCP_GS("last_sr_middle32", LAST_SR_MIDDLE32),
                                  RTCP_GS("last_sr_arrival", LAST_SR_ARRIVAL),
                                  RTCP_GS("remote_sr_packets", REMOTE_SR_PACKETS),
                                  RTCP_GS("remote_block", REMOTE_BLOCK),
                                  RTCP_GS("rtt", RTT),
                                  RTCP_GS("expected_prior", EXPECTED_PRIOR),
                                  RTCP_GS("received_prior", RECEIVED_PRIOR),
                                  {NULL}};

static PyTypeObject RxType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "rtcload.media.engine._native.Rx",
    .tp_doc = "One stream's receive state: SRTP context, RFC 3550 statistics, loss runs, payload level.",
    .tp_basicsize = sizeof(RxObject),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .tp_new = Rx_new,
    .tp_dealloc = (destructor)Rx_dealloc,
    .tp_traverse = (traverseproc)Rx_traverse,
    .tp_clear = (inquiry)Rx_clear,
    .tp_methods = Rx_methods,
    .tp_getset = Rx_getset,
};

/* ================================================================= TickGate: the tick, preempting callbacks */

/* The engine clock's next deadline and its fire function. Why: uvloop runs its timers only between batches
 * of I/O callbacks (one per datagram, ~50,000 a second per process at 500 calls), so under load the 20 ms
 * tick waits behind a whole batch. Every Demux checks the gate after its datagram and fires the tick itself
 * once the deadline has passed: the tick is then late by at most one datagram's work. */
typedef struct {
    PyObject_HEAD
    double deadline; /* monotonic seconds; +inf when no tick is due (clock stopped, or firing) */
    PyObject *fire;  /* the clock's callable, or NULL */
    unsigned long long fired;
} TickGateObject;

static PyObject *TickGate_new(PyTypeObject *type, PyObject *args, PyObject *kwds) {
    if (!PyArg_ParseTuple(args, ""))
        return NULL;
    TickGateObject *g = (TickGateObject *)type->tp_alloc(type, 0);
    if (g != NULL)
        g->deadline = INFINITY;
    return (PyObject *)g;
}
static int TickGate_traverse(TickGateObject *g, visitproc visit, void *arg) {
    Py_VISIT(g->fire);
    return 0;
}
static int TickGate_clear(TickGateObject *g) {
    Py_CLEAR(g->fire);
    return 0;
}
static void TickGate_dealloc(TickGateObject *g) {
    PyObject_GC_UnTrack(g);
    TickGate_clear(g);
    Py_TYPE(g)->tp_free((PyObject *)g);
}

/* The tick is due: fire it once (the deadline is cleared first, the clock sets the next one). */
static int gate_check(TickGateObject *g, double now) {
    if (g->fire == NULL || now < g->deadline)
        return 0;
    g->deadline = INFINITY;
    g->fired++;
    PyObject *fire = g->fire;
    Py_INCREF(fire);
    PyObject *res = PyObject_CallNoArgs(fire);
    Py_DECREF(fire);
    if (res == NULL)
        return -1;
    Py_DECREF(res);
    return 0;
}

static PyObject *gate_get_deadline(TickGateObject *g, void *c) { return PyFloat_FromDouble(g->deadline); }
static int gate_set_deadline(TickGateObject *g, PyObject *v, void *c) {
    if (v == NULL)
        return cannot_delete("deadline");
    double x = PyFloat_AsDouble(v);
    if (x == -1.0 && PyErr_Occurred())
        return -1;
    g->deadline = x;
    return 0;
}
static PyObject *gate_get_fire(TickGateObject *g, void *c) {
    PyObject *f = g->fire ? g->fire : Py_None;
    Py_INCREF(f);
    return f;
}
static int gate_set_fire(TickGateObject *g, PyObject *v, void *c) {
    if (v != NULL && v != Py_None && !PyCallable_Check(v)) {
        PyErr_SetString(PyExc_TypeError, "fire must be callable or None");
        return -1;
    }
    PyObject *n = (v == NULL || v == Py_None) ? NULL : v;
    Py_XINCREF(n);
    Py_XSETREF(g->fire, n);
    return 0;
}
static PyObject *gate_get_fired(TickGateObject *g, void *c) { return PyLong_FromUnsignedLongLong(g->fired); }
static PyObject *TickGate_check(TickGateObject *g, PyObject *Py_UNUSED(ignored)) {
    if (gate_check(g, monotonic_now()) < 0)
        return NULL;
    Py_RETURN_NONE;
}

static PyGetSetDef TickGate_getset[] = {
    {"deadline", (getter)gate_get_deadline, (setter)gate_set_deadline, "The next tick's deadline (monotonic s).", NULL},
    {"fire", (getter)gate_get_fire, (setter)gate_set_fire, "Called when a datagram is handled past the deadline.", NULL},
    {"fired", (getter)gate_get_fired, NULL, "How many ticks the socket callbacks fired.", NULL},
    {NULL}};

static PyMethodDef TickGate_methods[] = {
    {"check", (PyCFunction)TickGate_check, METH_NOARGS, "What every Demux does after a datagram: fire() if due."},
    {NULL}};

static PyTypeObject TickGateType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "rtcload.media.engine._native.TickGate",
    .tp_doc = "TickGate(): the engine clock's next deadline and fire function, checked by every Demux.",
    .tp_basicsize = sizeof(TickGateObject),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .tp_new = TickGate_new,
    .tp_dealloc = (destructor)TickGate_dealloc,
    .tp_traverse = (traverseproc)TickGate_traverse,
    .tp_clear = (inquiry)TickGate_clear,
    .tp_methods = TickGate_methods,
    .tp_getset = TickGate_getset,
};

/* ================================================================= Demux: the protocol's datagram_received */

typedef struct {
    PyObject_HEAD
    PyObject *rx;
    PyObject *original;
    PyObject *gate; /* TickGate or NULL */
    int fd;         /* the protocol's socket (not owned), or -1: no kernel stamps */
    vectorcallfunc vectorcall;
} DemuxObject;

static PyObject *Demux_vectorcall(PyObject *self, PyObject *const *args, size_t nargsf, PyObject *kwnames) {
    DemuxObject *d = (DemuxObject *)self;
    Py_ssize_t n = PyVectorcall_NARGS(nargsf);
    if (n >= 1 && kwnames == NULL && PyBytes_CheckExact(args[0])) {
        Py_ssize_t size = PyBytes_GET_SIZE(args[0]);
        const unsigned char *p = (const unsigned char *)PyBytes_AS_STRING(args[0]);
        if (size == 0) { /* zero-length: aiortc's DTLS loop would die on it; drop and count */
            ((RxObject *)d->rx)->empty++;
            Py_RETURN_NONE;
        }
        if (p[0] > 127 && p[0] < 192) { /* RFC 7983: RTP/RTCP */
            double now;
            RxObject *rx = (RxObject *)d->rx;
            double arrival = kernel_arrival(d->fd, &now, &rx->stale_stamps);
            if (rx_datagram(rx, p, size, arrival, now) < 0)
                return NULL;
            if (d->gate != NULL && gate_check((TickGateObject *)d->gate, now) < 0)
                return NULL;
            Py_RETURN_NONE;
        }
    }
    return PyObject_Vectorcall(d->original, args, nargsf, kwnames); /* STUN, DTLS: aiortc's path */
}

static PyObject *Demux_new(PyTypeObject *type, PyObject *args, PyObject *kwds) {
    static char *kwlist[] = {"rx", "original", "fd", "gate", NULL};
    PyObject *rx, *original, *gate = Py_None;
    int fd = -1;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "O!O|iO", kwlist, &RxType, &rx, &original, &fd, &gate))
        return NULL;
    if (gate != Py_None && !PyObject_TypeCheck(gate, &TickGateType)) {
        PyErr_SetString(PyExc_TypeError, "gate must be a TickGate or None");
        return NULL;
    }
    DemuxObject *d = (DemuxObject *)type->tp_alloc(type, 0);
    if (d == NULL)
        return NULL;
    Py_INCREF(rx);
    Py_INCREF(original);
    d->rx = rx;
    d->original = original;
    d->gate = gate == Py_None ? NULL : Py_NewRef(gate);
    d->fd = fd;
    if (fd >= 0) { /* enables the socket's stamps (answers ENOENT: nothing read yet) */
        struct timespec ts;
        (void)ioctl(fd, SIOCGSTAMPNS, &ts);
        refresh_realtime_offset();
    }
    d->vectorcall = Demux_vectorcall;
    return (PyObject *)d;
}

static int Demux_traverse(DemuxObject *d, visitproc visit, void *arg) {
    Py_VISIT(d->rx);
    Py_VISIT(d->original);
    Py_VISIT(d->gate);
    return 0;
}
static int Demux_clear(DemuxObject *d) {
    Py_CLEAR(d->rx);
    Py_CLEAR(d->original);
    Py_CLEAR(d->gate);
    return 0;
}
static void Demux_dealloc(DemuxObject *d) {
    PyObject_GC_UnTrack(d);
    Demux_clear(d);
    Py_TYPE(d)->tp_free((PyObject *)d);
}

static PyTypeObject DemuxType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "rtcload.media.engine._native.Demux",
    .tp_doc = "Demux(rx, original, fd=-1, gate=None)(data, addr): RTP/RTCP to rx in C (stamped by the kernel "
              "when fd is the socket; then gate.check()), anything else to original(data, addr).",
    .tp_basicsize = sizeof(DemuxObject),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC | Py_TPFLAGS_HAVE_VECTORCALL,
    .tp_vectorcall_offset = offsetof(DemuxObject, vectorcall),
    .tp_call = PyVectorcall_Call,
    .tp_new = Demux_new,
    .tp_dealloc = (destructor)Demux_dealloc,
    .tp_traverse = (traverseproc)Demux_traverse,
    .tp_clear = (inquiry)Demux_clear,
};

/* ================================================================= Sender: the send thread of one engine */

/* One engine's media clock on a native thread. Why: the loop's timer (EngineClock) shares its thread with
 * socket callbacks, call setup and teardown and the garbage collector; any of them held every stream's
 * packet (gaps up to ~200 ms on the wire under churn). This thread keeps absolute deadlines
 * (origin + k * period, clock_nanosleep TIMER_ABSTIME on CLOCK_MONOTONIC) and runs pack + protect + sendto
 * for every registered Tx with the GIL released and no Python object touched: the frames tuple is immutable
 * and only read under the stream's lock, which Python's writers take too. What needs Python (RTCP due, a
 * stream that failed) is flagged on the Tx; the loop's own tick collects the flags with drain(), late if it
 * must. sendmmsg does not pay here: every stream has its own socket (a dup of its ICE pair's), and one
 * socket gets one packet per tick except after a stall. */
#define LATE_RING 8192

typedef struct {
    TxObject *tx;
    unsigned long long seq; /* the tick that may still hold it (the thread's tick_seq at removal) */
} Removed;

typedef struct {
    double due;
    TxObject *tx; /* a registered stream (an entry goes with its stream's removal) */
} PlayoutDue;

typedef struct {
    PyObject_HEAD
    /* `lock` guards the registry, the clock, the lateness ring and the attention list; the thread holds it
     * only to take a snapshot of the registry before a tick and to post the tick's news after it, so
     * Python (add, remove, drain) never waits for a whole tick. A Tx removed while a tick may still use it
     * (it is in that tick's snapshot) is released later, once that tick is over (`removed`). */
    pthread_mutex_t lock;
    pthread_cond_t wake;
    pthread_t thread;
    int started, stop, idle;
    int want_realtime, realtime; /* asked for SCHED_FIFO; got it (root or CAP_SYS_NICE) */
    pid_t pid;                   /* the process the thread runs in */
    TxObject **txs;              /* strong references, taken and released by Python (GIL) */
    Py_ssize_t n, cap;
    TxObject **snap; /* the thread's copy of txs for the tick in progress (no references of its own) */
    Py_ssize_t snap_cap;
    TxObject **need; /* the thread's: streams of this tick that need Python */
    Py_ssize_t need_cap;
    int in_tick;
    unsigned long long tick_seq;
    Removed *removed; /* references to release once tick_seq has moved past (or no tick runs) */
    Py_ssize_t n_removed, removed_cap;
    TxObject **att; /* streams the thread handed to Python (each once: Tx.attention) */
    Py_ssize_t n_att, att_cap;
    double period;
    long max_catch_up;
    double origin;
    long long clock_ticks;
    double late[LATE_RING];
    int late_len;
    unsigned long long late_dropped, ticks, stalls;
    double late_max;
    /* forwards waiting for their playout deadline: a min-heap on `due`, one entry per queued payload */
    PlayoutDue *heap;
    Py_ssize_t heap_len, heap_cap;
    TxObject **due; /* the thread's: streams with a payload due now */
    Py_ssize_t due_cap;
    double sleep_until; /* the thread's wake-up while it waits (0: awake): an earlier deadline wakes it */
} SenderObject;

static void heap_push(SenderObject *s, double due, TxObject *t) {
    Py_ssize_t i = s->heap_len++;
    while (i > 0) {
        Py_ssize_t parent = (i - 1) / 2;
        if (s->heap[parent].due <= due)
            break;
        s->heap[i] = s->heap[parent];
        i = parent;
    }
    s->heap[i].due = due;
    s->heap[i].tx = t;
}

static void heap_sift_down(SenderObject *s, Py_ssize_t i) {
    PlayoutDue item = s->heap[i];
    for (;;) {
        Py_ssize_t child = 2 * i + 1;
        if (child >= s->heap_len)
            break;
        if (child + 1 < s->heap_len && s->heap[child + 1].due < s->heap[child].due)
            child++;
        if (s->heap[child].due >= item.due)
            break;
        s->heap[i] = s->heap[child];
        i = child;
    }
    s->heap[i] = item;
}

static TxObject *heap_pop(SenderObject *s) {
    TxObject *t = s->heap[0].tx;
    s->heap[0] = s->heap[--s->heap_len];
    if (s->heap_len > 0)
        heap_sift_down(s, 0);
    return t;
}

/* A removed stream's entries leave the heap (no tick or playout may touch it after its release). Lock held. */
static void heap_forget(SenderObject *s, TxObject *t) {
    Py_ssize_t kept = 0;
    for (Py_ssize_t i = 0; i < s->heap_len; i++)
        if (s->heap[i].tx != t)
            s->heap[kept++] = s->heap[i];
    if (kept == s->heap_len)
        return;
    s->heap_len = kept;
    for (Py_ssize_t i = kept / 2; i-- > 0;)
        heap_sift_down(s, i);
}

/* Grow *array (of `size`-byte items) to hold `need`; 0 on success. Lock held; plain malloc (no GIL). */
static int grow(void **array, Py_ssize_t *cap, Py_ssize_t need, size_t size) {
    if (need <= *cap)
        return 0;
    Py_ssize_t want = *cap ? *cap : 64;
    while (want < need)
        want *= 2;
    void *grown = realloc(*array, (size_t)want * size);
    if (grown == NULL)
        return -1;
    *array = grown;
    *cap = want;
    return 0;
}

/* Playout wake-ups fall on a grid of this step (s): one wake sends every forward due in the step, so the
 * thread wakes at most 1,000 times a second instead of once per packet (40,000/s at 800 calls cost the
 * emulator ~14 % of a core and lengthened its loop's stalls). A packet leaves at most one step after its
 * deadline; a stream's arrivals keep their phase against the grid (both ends tick every 20 ms), so its
 * departure spacing moves by far less than the step. */
#define PLAYOUT_STEP 0.001

static double playout_wake(double due) { return ceil(due / PLAYOUT_STEP) * PLAYOUT_STEP; }

static struct timespec timespec_of(double t) {
    struct timespec at;
    at.tv_sec = (time_t)t;
    at.tv_nsec = (long)((t - (double)at.tv_sec) * 1e9);
    if (at.tv_nsec >= 1000000000L) {
        at.tv_sec++;
        at.tv_nsec -= 1000000000L;
    }
    return at;
}

/* tx_playout_queue's note to the send thread: `t` has a payload due at `due` (the stream's lock is held;
 * the thread never waits for a stream's lock while it holds the Sender's). Wakes the thread when it sleeps
 * past that deadline. */
static void sender_schedule(void *sender, double due, TxObject *t) {
    SenderObject *s = sender;
    lock_with_gil(&s->lock);
    if (grow((void **)&s->heap, &s->heap_cap, s->heap_len + 1, sizeof(PlayoutDue)) == 0) {
        heap_push(s, due, t);
        if (s->sleep_until > 0.0 && playout_wake(due) < s->sleep_until)
            pthread_cond_signal(&s->wake);
    }
    pthread_mutex_unlock(&s->lock);
}

/* The thread's playout: send every queued forward due by `now`, outside the Sender's lock (a removal meanwhile
 * waits for this pass as for a tick: in_tick). Failures wait for the next tick, which hands the stream to
 * Python (err_kind). Called and returns with the Sender's lock held. */
static void sender_playout(SenderObject *s, double now) {
    Py_ssize_t k = 0;
    while (s->heap_len > 0 && s->heap[0].due <= now) {
        if (grow((void **)&s->due, &s->due_cap, k + 1, sizeof(TxObject *)) < 0) {
            s->heap_len = 0; /* out of memory: the queued payloads go with the next late forward */
            break;
        }
        s->due[k++] = heap_pop(s);
    }
    if (k == 0)
        return;
    s->in_tick = 1;
    s->tick_seq++;
    pthread_mutex_unlock(&s->lock);
    for (Py_ssize_t i = 0; i < k; i++) {
        TxObject *t = s->due[i];
        if (i > 0 && t == s->due[i - 1])
            continue;
        pthread_mutex_lock(&t->lock);
        if (!t->err_kind)
            (void)tx_playout_due(t, now);
        pthread_mutex_unlock(&t->lock);
    }
    pthread_mutex_lock(&s->lock);
    s->in_tick = 0;
}

static void *sender_main(void *arg) {
    SenderObject *s = arg;
    sigset_t all; /* signals are Python's main thread's business */
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, NULL);
    int realtime = 0;
    if (s->want_realtime) { /* a short burst every 20 ms: ahead of ordinary processes when the machine is busy */
        struct sched_param param = {.sched_priority = 1};
        realtime = pthread_setschedparam(pthread_self(), SCHED_FIFO, &param) == 0;
    }
    int slow_ticks = 0; /* consecutive ticks whose work took over half a period */
    pthread_mutex_lock(&s->lock);
    s->realtime = realtime;
    while (!s->stop) {
        if (s->n == 0) {
            s->idle = 1;
            pthread_cond_wait(&s->wake, &s->lock);
            continue;
        }
        if (s->idle) { /* the first stream after a pause: a new origin, the first tick now */
            s->idle = 0;
            s->origin = monotonic_now();
            s->clock_ticks = 0;
        }
        double deadline = s->origin + (double)s->clock_ticks * s->period;
        double wake = deadline;
        if (s->heap_len > 0 && playout_wake(s->heap[0].due) < deadline)
            wake = playout_wake(s->heap[0].due);
        struct timespec at = timespec_of(wake);
        /* an absolute deadline on CLOCK_MONOTONIC (the condition's clock), as clock_nanosleep TIMER_ABSTIME;
         * the condition lets an earlier playout deadline, an add or a stop wake it */
        s->sleep_until = wake;
        pthread_cond_timedwait(&s->wake, &s->lock, &at);
        s->sleep_until = 0.0;
        if (s->stop || s->n == 0 || s->idle)
            continue;
        if (s->heap_len > 0 && s->heap[0].due <= monotonic_now())
            sender_playout(s, monotonic_now());
        if (s->stop || s->n == 0 || s->idle || monotonic_now() < deadline)
            continue; /* woken for a playout deadline (or early): the tick's deadline is still ahead */
        double now = monotonic_now();
        double late = now - deadline;
        long elapsed = 1;
        if (late >= s->period) { /* whole periods missed: those frames are due now as well (bounded) */
            long missed = (long)(late / s->period);
            elapsed += missed;
            s->clock_ticks += missed;
            s->stalls++;
        }
        s->clock_ticks++;
        if (late < 0.0)
            late = 0.0;
        if (late > s->late_max)
            s->late_max = late;
        if (s->late_len < LATE_RING)
            s->late[s->late_len++] = late;
        else
            s->late_dropped++;
        s->ticks++;
        if (grow((void **)&s->snap, &s->snap_cap, s->n, sizeof(TxObject *)) < 0 ||
            grow((void **)&s->need, &s->need_cap, s->n, sizeof(TxObject *)) < 0)
            continue; /* out of memory: this tick is skipped (the next one is a stall, and counted) */
        Py_ssize_t n = s->n, needs = 0;
        memcpy(s->snap, s->txs, (size_t)n * sizeof(TxObject *));
        s->in_tick = 1;
        s->tick_seq++;
        pthread_mutex_unlock(&s->lock);
        long send = elapsed < s->max_catch_up ? elapsed : s->max_catch_up;
        for (Py_ssize_t i = 0; i < n; i++) { /* every Tx in the snapshot outlives this tick (see removed) */
            TxObject *t = s->snap[i];
            int python;
            pthread_mutex_lock(&t->lock);
            if (t->python_ticks || t->err_kind) {
                python = 1;
            } else {
                t->now = now;
                python = tx_tick(t, elapsed, send) < 0 || now >= t->next_rtcp;
            }
            pthread_mutex_unlock(&t->lock);
            if (python)
                s->need[needs++] = t;
        }
        slow_ticks = monotonic_now() - now > 0.5 * s->period ? slow_ticks + 1 : 0;
        if (realtime && slow_ticks >= 5) {
            /* ticks that take half a period would make a real-time thread hog a core: back to ordinary */
            struct sched_param param = {.sched_priority = 0};
            if (pthread_setschedparam(pthread_self(), SCHED_OTHER, &param) == 0)
                realtime = 0;
        }
        pthread_mutex_lock(&s->lock);
        s->realtime = realtime;
        s->in_tick = 0;
        for (Py_ssize_t i = 0; i < needs; i++) { /* still registered ones only: a removed Tx is Python's already */
            TxObject *t = s->need[i];
            if (t->in_sender && !t->attention &&
                grow((void **)&s->att, &s->att_cap, s->n_att + 1, sizeof(TxObject *)) == 0) {
                t->attention = 1;
                s->att[s->n_att++] = t;
            }
        }
    }
    pthread_mutex_unlock(&s->lock);
    return NULL;
}

/* Take the Sender's lock from Python (never waiting for the GIL while holding it). */
static void sender_lock(SenderObject *s) {
    lock_with_gil(&s->lock);
    if (s->pid != getpid()) { /* a fork()ed child: the thread stayed in the parent; start one here */
        s->pid = getpid();
        s->started = 0;
        s->stop = 0;
        s->idle = 1;
        s->in_tick = 0;
    }
}

/* The removed Txs no tick can hold any more, taken out of `removed` (lock held); the caller releases them
 * after unlocking. Returns how many were put in `out` (at most `room`). */
static Py_ssize_t sender_reap(SenderObject *s, TxObject **out, Py_ssize_t room) {
    Py_ssize_t kept = 0, reaped = 0;
    for (Py_ssize_t i = 0; i < s->n_removed; i++) {
        Removed r = s->removed[i];
        if ((!s->in_tick || s->tick_seq > r.seq) && reaped < room)
            out[reaped++] = r.tx;
        else
            s->removed[kept++] = r;
    }
    s->n_removed = kept;
    return reaped;
}

#define REAP_BATCH 64

static void sender_release(TxObject **reaped, Py_ssize_t n) {
    for (Py_ssize_t i = 0; i < n; i++)
        Py_DECREF(reaped[i]);
}

static PyObject *Sender_new(PyTypeObject *type, PyObject *args, PyObject *kwds) {
    static char *kwlist[] = {"period", "max_catch_up", "realtime", NULL};
    double period = PERIOD_S;
    long max_catch_up = 5;
    int realtime = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "|dlp", kwlist, &period, &max_catch_up, &realtime))
        return NULL;
    if (!(period > 0.0) || max_catch_up < 1)
        return PyErr_Format(PyExc_ValueError, "period must be > 0 and max_catch_up >= 1");
    SenderObject *s = (SenderObject *)type->tp_alloc(type, 0);
    if (s == NULL)
        return NULL;
    pthread_mutex_init(&s->lock, NULL);
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC); /* timed waits on the send clock's own clock */
    pthread_cond_init(&s->wake, &attr);
    pthread_condattr_destroy(&attr);
    s->period = period;
    s->max_catch_up = max_catch_up;
    s->want_realtime = realtime;
    s->idle = 1;
    s->pid = getpid();
    return (PyObject *)s;
}

static void sender_join(SenderObject *s) {
    sender_lock(s);
    if (!s->started) {
        pthread_mutex_unlock(&s->lock);
        return;
    }
    s->stop = 1;
    pthread_cond_signal(&s->wake);
    pthread_mutex_unlock(&s->lock);
    Py_BEGIN_ALLOW_THREADS pthread_join(s->thread, NULL);
    Py_END_ALLOW_THREADS s->started = 0;
    s->stop = 0;
    s->idle = 1;
    s->in_tick = 0;
}

static PyObject *Sender_add(SenderObject *s, PyObject *arg) {
    if (!PyObject_TypeCheck(arg, &TxType))
        return PyErr_Format(PyExc_TypeError, "Sender.add() takes a Tx");
    TxObject *t = (TxObject *)arg;
    TxObject *reaped[REAP_BATCH];
    sender_lock(s);
    Py_ssize_t n_reaped = sender_reap(s, reaped, REAP_BATCH);
    if (t->in_sender) {
        pthread_mutex_unlock(&s->lock);
        sender_release(reaped, n_reaped);
        return PyErr_Format(PyExc_ValueError, "this Tx is already registered with a Sender");
    }
    if (grow((void **)&s->txs, &s->cap, s->n + 1, sizeof(TxObject *)) < 0) {
        pthread_mutex_unlock(&s->lock);
        sender_release(reaped, n_reaped);
        return PyErr_NoMemory();
    }
    Py_INCREF(t);
    s->txs[s->n++] = t;
    t->in_sender = 1;
    t->sender = s;
    t->attention = 0;
    int start = !s->started;
    if (start)
        s->started = 1;
    /* only an idle thread (no stream, waiting without a deadline) needs waking; a ticking one takes the new
     * stream at its next tick, and waking it here (a SCHED_FIFO thread preempts the caller) cost each
     * setup a context switch or two for nothing */
    if (s->idle)
        pthread_cond_signal(&s->wake);
    pthread_mutex_unlock(&s->lock);
    sender_release(reaped, n_reaped);
    if (start) {
        int rc = pthread_create(&s->thread, NULL, sender_main, s);
        if (rc != 0) {
            s->started = 0;
            errno = rc;
            return PyErr_SetFromErrno(PyExc_OSError);
        }
    }
    Py_RETURN_NONE;
}

static PyObject *Sender_remove(SenderObject *s, PyObject *arg) {
    if (!PyObject_TypeCheck(arg, &TxType))
        return PyErr_Format(PyExc_TypeError, "Sender.remove() takes a Tx");
    TxObject *found = NULL, *reaped[REAP_BATCH];
    int later = 0;
    sender_lock(s);
    Py_ssize_t n_reaped = sender_reap(s, reaped, REAP_BATCH);
    for (Py_ssize_t i = 0; i < s->n; i++) {
        if (s->txs[i] == (TxObject *)arg) {
            found = s->txs[i];
            memmove(&s->txs[i], &s->txs[i + 1], (size_t)(s->n - i - 1) * sizeof(TxObject *));
            s->n--;
            break;
        }
    }
    if (found != NULL) {
        found->in_sender = 0;
        found->sender = NULL; /* later forwards go at once (its queued ones are dropped with it) */
        heap_forget(s, found);
        if (found->attention) { /* no longer Python's to collect from here */
            found->attention = 0;
            for (Py_ssize_t i = 0; i < s->n_att; i++) {
                if (s->att[i] == found) {
                    memmove(&s->att[i], &s->att[i + 1], (size_t)(s->n_att - i - 1) * sizeof(TxObject *));
                    s->n_att--;
                    break;
                }
            }
        }
        /* the tick in progress may still use it: its reference goes when that tick is over */
        if (s->in_tick && grow((void **)&s->removed, &s->removed_cap, s->n_removed + 1, sizeof(Removed)) == 0) {
            s->removed[s->n_removed].tx = found;
            s->removed[s->n_removed].seq = s->tick_seq;
            s->n_removed++;
            later = 1;
        } else if (s->in_tick) { /* no memory to defer it: wait for the tick (rare; GIL not held) */
            while (s->in_tick) {
                pthread_mutex_unlock(&s->lock);
                Py_BEGIN_ALLOW_THREADS sched_yield();
                Py_END_ALLOW_THREADS lock_with_gil(&s->lock);
            }
        }
    }
    pthread_mutex_unlock(&s->lock);
    sender_release(reaped, n_reaped);
    if (found != NULL && !later)
        Py_DECREF(found);
    return PyBool_FromLong(found != NULL);
}

/* drain() -> (txs needing Python, lateness samples (s)): what the loop's tick does with the thread's news. */
static PyObject *Sender_drain(SenderObject *s, PyObject *Py_UNUSED(ignored)) {
    refresh_realtime_offset(); /* the receive stamps' clock conversion, refreshed on the loop's thread */
    PyObject *attention = NULL, *late = NULL;
    TxObject *reaped[REAP_BATCH];
    static double copy[LATE_RING]; /* the loop's thread only (drain holds the GIL) */
    sender_lock(s);
    Py_ssize_t n_reaped = sender_reap(s, reaped, REAP_BATCH);
    attention = PyList_New(s->n_att);
    if (attention != NULL) {
        for (Py_ssize_t i = 0; i < s->n_att; i++) {
            TxObject *t = s->att[i];
            t->attention = 0;
            Py_INCREF(t);
            PyList_SET_ITEM(attention, i, (PyObject *)t);
        }
        s->n_att = 0;
    }
    int n_late = s->late_len;
    memcpy(copy, s->late, (size_t)n_late * sizeof(double));
    s->late_len = 0;
    pthread_mutex_unlock(&s->lock);
    sender_release(reaped, n_reaped);
    if (attention == NULL)
        return NULL;
    late = PyList_New(n_late);
    if (late == NULL) {
        Py_DECREF(attention);
        return NULL;
    }
    for (int i = 0; i < n_late; i++) {
        PyObject *x = PyFloat_FromDouble(copy[i]);
        if (x == NULL) {
            Py_DECREF(attention);
            Py_DECREF(late);
            return NULL;
        }
        PyList_SET_ITEM(late, i, x);
    }
    return Py_BuildValue("(NN)", attention, late);
}

static PyObject *Sender_stop(SenderObject *s, PyObject *Py_UNUSED(ignored)) {
    sender_join(s);
    Py_RETURN_NONE;
}

static void Sender_dealloc(SenderObject *s) {
    sender_join(s); /* no tick runs after this: every reference can go */
    for (Py_ssize_t i = 0; i < s->n; i++) {
        s->txs[i]->in_sender = 0;
        s->txs[i]->sender = NULL;
        s->txs[i]->attention = 0;
        Py_DECREF(s->txs[i]);
    }
    for (Py_ssize_t i = 0; i < s->n_removed; i++)
        Py_DECREF(s->removed[i].tx);
    free(s->txs);
    free(s->snap);
    free(s->need);
    free(s->removed);
    free(s->att);
    free(s->heap);
    free(s->due);
    pthread_cond_destroy(&s->wake);
    pthread_mutex_destroy(&s->lock);
    Py_TYPE(s)->tp_free((PyObject *)s);
}

static PyObject *sender_counter(SenderObject *s, void *which) {
    sender_lock(s);
    unsigned long long ticks = s->ticks, stalls = s->stalls, dropped = s->late_dropped;
    double late_max = s->late_max;
    Py_ssize_t n = s->n;
    int running = s->started, realtime = s->realtime;
    pthread_mutex_unlock(&s->lock);
    switch ((int)(intptr_t)which) {
    case 0: return PyLong_FromUnsignedLongLong(ticks);
    case 1: return PyLong_FromUnsignedLongLong(stalls);
    case 2: return PyFloat_FromDouble(late_max);
    case 3: return PyLong_FromSsize_t(n);
    case 4: return PyBool_FromLong(running);
    case 6: return PyBool_FromLong(realtime);
    default: return PyLong_FromUnsignedLongLong(dropped);
    }
}

static PyGetSetDef Sender_getset[] = {
    {"ticks", (getter)sender_counter, NULL, "Ticks the thread ran.", (void *)0},
    {"stalls", (getter)sender_counter, NULL, "Ticks that found whole periods missed.", (void *)1},
    {"late_max", (getter)sender_counter, NULL, "The latest tick's lateness (s).", (void *)2},
    {"streams", (getter)sender_counter, NULL, "Registered streams.", (void *)3},
    {"running", (getter)sender_counter, NULL, "The thread exists.", (void *)4},
    {"late_dropped", (getter)sender_counter, NULL, "Lateness samples not drained in time.", (void *)5},
    {"realtime", (getter)sender_counter, NULL, "The thread runs SCHED_FIFO (asked and permitted).", (void *)6},
    {NULL}};

static PyMethodDef Sender_methods[] = {
    {"add", (PyCFunction)Sender_add, METH_O, "add(tx): the thread sends this stream's frames from its next tick."},
    {"remove", (PyCFunction)Sender_remove, METH_O, "remove(tx) -> bool: no tick touches it after this returns."},
    {"drain", (PyCFunction)Sender_drain, METH_NOARGS, "drain() -> ([tx needing Python], [tick lateness s])."},
    {"stop", (PyCFunction)Sender_stop, METH_NOARGS, "Join the thread (restarted by the next add())."},
    {NULL}};

static PyTypeObject SenderType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "rtcload.media.engine._native.Sender",
    .tp_doc = "Sender(period=0.02, max_catch_up=5, realtime=False): one engine's send thread (absolute deadlines, "
              "no GIL; SCHED_FIFO priority 1 when realtime and permitted).",
    .tp_basicsize = sizeof(SenderObject),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_new = Sender_new,
    .tp_dealloc = (destructor)Sender_dealloc,
    .tp_methods = Sender_methods,
    .tp_getset = Sender_getset,
};

/* ================================================================= module functions */

/* tick(txs, elapsed, send, now) -> list of indices needing Python (error, RTCP due, DTMF) or None. */
static PyObject *native_tick(PyObject *self, PyObject *args) {
    PyObject *txs;
    long elapsed, send;
    double now;
    if (!PyArg_ParseTuple(args, "O!lld", &PyTuple_Type, &txs, &elapsed, &send, &now))
        return NULL;
    refresh_realtime_offset();
    PyObject *attention = NULL;
    Py_ssize_t n = PyTuple_GET_SIZE(txs);
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *item = PyTuple_GET_ITEM(txs, i);
        if (!PyObject_TypeCheck(item, &TxType)) {
            Py_XDECREF(attention);
            PyErr_SetString(PyExc_TypeError, "tick() takes a tuple of Tx");
            return NULL;
        }
        TxObject *t = (TxObject *)item;
        int needs = 0;
        tx_lock(t);
        if (t->python_ticks || t->err_kind) {
            needs = 1;
        } else {
            t->now = now;
            needs = tx_tick(t, elapsed, send) < 0 || now >= t->next_rtcp;
        }
        pthread_mutex_unlock(&t->lock);
        if (needs) {
            if (attention == NULL && (attention = PyList_New(0)) == NULL)
                return NULL;
            PyObject *index = PyLong_FromSsize_t(i);
            if (index == NULL || PyList_Append(attention, index) < 0) {
                Py_XDECREF(index);
                Py_DECREF(attention);
                return NULL;
            }
            Py_DECREF(index);
        }
    }
    if (attention == NULL)
        Py_RETURN_NONE;
    return attention;
}

static PyObject *native_configure(PyObject *self, PyObject *args) {
    unsigned long long protect, unprotect, unprotect_rtcp;
    PyObject *error_type, *packet_type;
    if (!PyArg_ParseTuple(args, "KKKOO", &protect, &unprotect, &unprotect_rtcp, &error_type, &packet_type))
        return NULL;
    if (!protect || !unprotect || !unprotect_rtcp)
        return PyErr_Format(PyExc_ValueError, "libsrtp function pointers must not be NULL");
    srtp_protect_fn = (srtp_fn)(uintptr_t)protect;
    srtp_unprotect_fn = (srtp_fn)(uintptr_t)unprotect;
    srtp_unprotect_rtcp_fn = (srtp_fn)(uintptr_t)unprotect_rtcp;
    Py_INCREF(error_type);
    Py_XSETREF(srtp_error_type, error_type);
    Py_INCREF(packet_type);
    Py_XSETREF(rtp_packet_type, packet_type);
    Py_RETURN_NONE;
}

static PyObject *native_parse_rtp(PyObject *self, PyObject *args) {
    /* The receive parser alone (no SRTP): for the property test against rtp.parse_rtp. */
    Py_buffer data;
    if (!PyArg_ParseTuple(args, "y*", &data))
        return NULL;
    const unsigned char *b = data.buf;
    int len = (int)data.len, ok = 1;
    int offset = 12;
    if (data.len > MAX_DATAGRAM || len < 12 || (b[0] >> 6) != 2 || (b[1] >= 192 && b[1] <= 223))
        ok = 0;
    if (ok) {
        offset = 12 + 4 * (b[0] & 0x0F);
        if (offset > len)
            ok = 0;
    }
    if (ok && (b[0] & 0x10)) {
        if (len < offset + 4)
            ok = 0;
        else
            offset += 4 + 4 * ((b[offset + 2] << 8) | b[offset + 3]);
    }
    int end = len;
    if (ok && (b[0] & 0x20)) {
        if (b[len - 1] == 0)
            ok = 0;
        else
            end -= b[len - 1];
    }
    if (ok && offset > end)
        ok = 0;
    PyObject *res;
    if (!ok) {
        res = Py_None;
        Py_INCREF(res);
    } else {
        res = make_packet(b[1] & 0x7F, b[1] > 127, (uint16_t)((b[2] << 8) | b[3]),
                          ((uint32_t)b[4] << 24) | ((uint32_t)b[5] << 16) | ((uint32_t)b[6] << 8) | b[7],
                          ((uint32_t)b[8] << 24) | ((uint32_t)b[9] << 16) | ((uint32_t)b[10] << 8) | b[11], b + offset,
                          end - offset);
    }
    PyBuffer_Release(&data);
    return res;
}

static PyObject *native_configure_rtcp(PyObject *self, PyObject *args) {
    unsigned long long protect_rtcp;
    if (!PyArg_ParseTuple(args, "K", &protect_rtcp))
        return NULL;
    if (!protect_rtcp)
        return PyErr_Format(PyExc_ValueError, "libsrtp function pointers must not be NULL");
    srtp_protect_rtcp_fn = (srtp_fn)(uintptr_t)protect_rtcp;
    Py_RETURN_NONE;
}

static PyObject *native_set_gap_threshold(PyObject *self, PyObject *args) {
    double threshold;
    if (!PyArg_ParseTuple(args, "d", &threshold))
        return NULL;
    if (!(threshold > 0.0))
        return PyErr_Format(PyExc_ValueError, "the send gap threshold must be > 0 s");
    gap_threshold = threshold; /* read by the send thread: a double store, set before streams start */
    Py_RETURN_NONE;
}

static PyObject *native_monotonic(PyObject *self, PyObject *Py_UNUSED(ignored)) {
    return PyFloat_FromDouble(monotonic_now());
}

static PyMethodDef native_methods[] = {
    {"tick", native_tick, METH_VARARGS, "tick(txs, elapsed, send, now): every stream's frame(s) of this tick."},
    {"configure", native_configure, METH_VARARGS,
     "configure(protect, unprotect, unprotect_rtcp, error_type, packet_type): libsrtp entry points."},
    {"parse_rtp", native_parse_rtp, METH_VARARGS, "parse_rtp(data) -> RtpPacket or None (the receive parser)."},
    {"configure_rtcp", native_configure_rtcp, METH_VARARGS,
     "configure_rtcp(protect_rtcp): libsrtp's srtp_protect_rtcp, for Tx.protect_rtcp (same signature as protect)."},
    {"set_gap_threshold", native_set_gap_threshold, METH_VARARGS,
     "set_gap_threshold(seconds): send intervals longer than this are counted as gaps (default 0.030)."},
    {"monotonic", native_monotonic, METH_NOARGS, "The arrival clock (CLOCK_MONOTONIC, as time.monotonic())."},
    {NULL}};

static struct PyModuleDef native_module = {PyModuleDef_HEAD_INIT, "_native",
                                           "The media engine's per-packet path in C (see _native.c).", -1,
                                           native_methods};

PyMODINIT_FUNC PyInit__native(void) {
    init_g711();
    refresh_realtime_offset();
    if (PyType_Ready(&TxType) < 0 || PyType_Ready(&RxType) < 0 || PyType_Ready(&DemuxType) < 0 ||
        PyType_Ready(&TickGateType) < 0 || PyType_Ready(&SenderType) < 0)
        return NULL;
    PyObject *m = PyModule_Create(&native_module);
    if (m == NULL)
        return NULL;
    if (PyModule_AddObjectRef(m, "Tx", (PyObject *)&TxType) < 0 || PyModule_AddObjectRef(m, "Rx", (PyObject *)&RxType) < 0 ||
        PyModule_AddObjectRef(m, "Demux", (PyObject *)&DemuxType) < 0 ||
        PyModule_AddObjectRef(m, "TickGate", (PyObject *)&TickGateType) < 0 ||
        PyModule_AddObjectRef(m, "Sender", (PyObject *)&SenderType) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}

/*
 * floor-uring: the least a WebSocket echo server on io_uring has to do.
 *
 * Per thread: one SO_REUSEPORT listener and one ring (single issuer,
 * deferred task work where the kernel has it). One multishot accept takes
 * every connection; each connection has one multishot receive that picks
 * its buffers from a ring of provided buffers, so an idle connection owns
 * no receive buffer. Each completion's bytes are unmasked straight into the
 * connection's output and the buffer goes back to the ring at once.
 *
 * A loop turn reaps every completion, then prepares one send per
 * connection that has output and none in flight; the next
 * io_uring_submit_and_wait both submits those sends and waits, so a turn
 * is one system call. Output that arrives while a send is in flight waits
 * in a second buffer; past OUT_HIGH bytes the receive is cancelled until
 * the sends catch up, which bounds what a connection can hold.
 */
#define _GNU_SOURCE
#include "ws.h"

#include <errno.h>
#include <liburing.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#define ENTRIES 4096
#define NBUF 1024          /* provided buffers per thread (a power of 2) */
#define BUFSZ (16 * 1024)  /* bytes per provided buffer */
#define BGID 1
#define OUT_CAP (BUFSZ + WS_OUT_SLACK + WS_RESPONSE_MAX) /* a pooled out buffer */
#define OUT_HIGH (1 << 20) /* stop receiving past this much unsent output */
#define POOL_N 256         /* out buffers per thread set aside at start */

/* Completions are told apart by the low bits of user_data; connections
 * come from malloc, so those bits of their address are zero. */
enum { T_IGNORE = 0, T_RECV = 1, T_SEND = 2, T_ACCEPT = 3 };

struct buf {
	uint8_t *p;
	size_t len, cap, off;
};

struct conn {
	int fd;
	uint8_t upgraded;
	uint8_t closing;   /* a Close was echoed: close once it is sent */
	uint8_t dead;      /* drop everything and close */
	uint8_t recv_armed;/* a multishot receive is outstanding */
	uint8_t sending;   /* a send of fl is outstanding */
	uint8_t paused;    /* receive cancelled for backpressure */
	uint8_t cancelled; /* a cancel of the receive was issued */
	uint8_t dirty;     /* on the loop's list for the end of the turn */
	struct ws_state ws;
	struct buf acc;    /* output gathered this turn */
	struct buf fl;     /* output in flight */
	char *hs;
	size_t hslen;
	struct conn *next; /* dirty list */
};

struct loop {
	struct io_uring ring;
	struct io_uring_buf_ring *br;
	uint8_t *bufs;
	int lfd;
	int readd;         /* buffers given back this turn, not yet published */
	int accept_paused; /* out of descriptors: accept is armed again on a close */
	struct conn *dirty;
	/* Out buffers come from a region mapped and touched at start, like
	 * the provided buffers: memory is a fixed cost of the thread, so the
	 * idle scenario's RSS growth per connection is what a connection
	 * holds, not the first touch of shared buffers. Past POOL_N busy
	 * buffers, malloc. */
	uint8_t *region;
	uint8_t *pool[POOL_N];
	int npool;
};

static struct io_uring_sqe *sqe_get(struct loop *l)
{
	struct io_uring_sqe *s = io_uring_get_sqe(&l->ring);
	if (!s) {
		/* The queue is full: submit early (rare with ENTRIES entries). */
		io_uring_submit(&l->ring);
		s = io_uring_get_sqe(&l->ring);
	}
	return s;
}

static void arm_accept(struct loop *l)
{
	struct io_uring_sqe *s = sqe_get(l);
	if (!s)
		return;
	io_uring_prep_multishot_accept(s, l->lfd, NULL, NULL, SOCK_CLOEXEC);
	io_uring_sqe_set_data64(s, T_ACCEPT);
}

static void arm_recv(struct loop *l, struct conn *c)
{
	struct io_uring_sqe *s = sqe_get(l);
	if (!s) {
		c->dead = 1;
		return;
	}
	io_uring_prep_recv_multishot(s, c->fd, NULL, 0, 0);
	s->flags |= IOSQE_BUFFER_SELECT;
	s->buf_group = BGID;
	io_uring_sqe_set_data64(s, (uint64_t)(uintptr_t)c | T_RECV);
	c->recv_armed = 1;
	c->cancelled = 0;
}

static void mark(struct loop *l, struct conn *c)
{
	if (!c->dirty) {
		c->dirty = 1;
		c->next = l->dirty;
		l->dirty = c;
	}
}

static int in_region(struct loop *l, const uint8_t *p)
{
	return p >= l->region && p < l->region + (size_t)POOL_N * OUT_CAP;
}

static void buf_release(struct loop *l, struct buf *b)
{
	if (b->p && in_region(l, b->p))
		l->pool[l->npool++] = b->p; /* always room: one slot per region buffer */
	else
		free(b->p);
	b->p = NULL;
	b->len = b->cap = b->off = 0;
}

/* buf_room makes room for n more bytes; 0 on success. */
static int buf_room(struct loop *l, struct buf *b, size_t n)
{
	if (b->len + n <= b->cap)
		return 0;
	if (!b->p && n <= OUT_CAP) {
		b->p = l->npool ? l->pool[--l->npool] : malloc(OUT_CAP);
		b->cap = b->p ? OUT_CAP : 0;
		return b->p ? 0 : -1;
	}
	size_t cap = b->cap ? b->cap : OUT_CAP;
	while (cap < b->len + n)
		cap *= 2;
	uint8_t *p = malloc(cap);
	if (!p)
		return -1;
	if (b->len)
		memcpy(p, b->p, b->len);
	size_t len = b->len;
	buf_release(l, b);
	b->p = p;
	b->len = len;
	b->cap = cap;
	return 0;
}

/* on_data turns received bytes into output on acc. */
static void on_data(struct loop *l, struct conn *c, const uint8_t *in, size_t n)
{
	if (c->dead || c->closing)
		return; /* after a Close or an error, input is ignored */
	if (!c->upgraded) {
		size_t room = WS_HANDSHAKE_MAX - c->hslen, take = n < room ? n : room;
		if (!c->hs && !(c->hs = malloc(WS_HANDSHAKE_MAX))) {
			c->dead = 1;
			return;
		}
		memcpy(c->hs + c->hslen, in, take);
		c->hslen += take;
		char resp[WS_RESPONSE_MAX];
		size_t rl;
		int h = ws_handshake(c->hs, c->hslen, resp, &rl);
		if (h < 0) {
			/* Best effort 400, then close: a blocking-free send is enough. */
			ssize_t w = send(c->fd, ws_bad_request, strlen(ws_bad_request), MSG_DONTWAIT | MSG_NOSIGNAL);
			(void)w;
			c->dead = 1;
			return;
		}
		if (h == 0)
			return;
		size_t used = (size_t)h - (c->hslen - take);
		in += used;
		n -= used;
		free(c->hs);
		c->hs = NULL;
		c->upgraded = 1;
		if (buf_room(l, &c->acc, rl) < 0) {
			c->dead = 1;
			return;
		}
		memcpy(c->acc.p + c->acc.len, resp, rl);
		c->acc.len += rl;
	}
	if (n == 0)
		return;
	if (buf_room(l, &c->acc, n + WS_OUT_SLACK) < 0) {
		c->dead = 1;
		return;
	}
	size_t wn = 0;
	int st = ws_echo(&c->ws, in, n, c->acc.p + c->acc.len, &wn);
	if (st == WS_ERROR) {
		c->dead = 1;
		return;
	}
	c->acc.len += wn;
	if (st == WS_CLOSE)
		c->closing = 1;
}

static void on_recv(struct loop *l, struct conn *c, struct io_uring_cqe *cqe)
{
	if (cqe->flags & IORING_CQE_F_BUFFER) {
		unsigned bid = cqe->flags >> IORING_CQE_BUFFER_SHIFT;
		uint8_t *p = l->bufs + (size_t)bid * BUFSZ;
		if (cqe->res > 0)
			on_data(l, c, p, (size_t)cqe->res);
		/* The bytes are copied out: the buffer is free for anyone. */
		io_uring_buf_ring_add(l->br, p, BUFSZ, (unsigned short)bid, io_uring_buf_ring_mask(NBUF), l->readd++);
	}
	if (cqe->res == 0 && !c->closing)
		c->dead = 1; /* the peer's FIN without a Close: nothing to finish */
	else if (cqe->res < 0 && cqe->res != -ENOBUFS && cqe->res != -ECANCELED)
		c->dead = 1;
	if (!(cqe->flags & IORING_CQE_F_MORE)) {
		c->recv_armed = 0;
		/* Out of provided buffers (ENOBUFS) ends a multishot receive; it
		 * is armed again unless the connection is stopping or paused. */
		if (!c->dead && !c->closing && !c->paused)
			arm_recv(l, c);
	}
	mark(l, c);
}

static void on_send(struct loop *l, struct conn *c, int res)
{
	c->sending = 0;
	if (res < 0) {
		c->dead = 1;
	} else {
		c->fl.off += (size_t)res;
		if (c->fl.off < c->fl.len && !c->dead) {
			/* A short send: the rest goes out before anything newer. */
			struct io_uring_sqe *s = sqe_get(l);
			if (s) {
				io_uring_prep_send(s, c->fd, c->fl.p + c->fl.off, c->fl.len - c->fl.off, MSG_NOSIGNAL);
				io_uring_sqe_set_data64(s, (uint64_t)(uintptr_t)c | T_SEND);
				c->sending = 1;
				return;
			}
			c->dead = 1;
		}
		buf_release(l, &c->fl);
	}
	mark(l, c);
}

static void on_accept(struct loop *l, struct io_uring_cqe *cqe)
{
	if (!(cqe->flags & IORING_CQE_F_MORE)) {
		/* Out of descriptors, arming again would fail again at once:
		 * wait for a connection to close. */
		if (cqe->res == -EMFILE || cqe->res == -ENFILE)
			l->accept_paused = 1;
		else
			arm_accept(l);
	}
	if (cqe->res < 0)
		return;
	int fd = cqe->res, one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	struct conn *c = calloc(1, sizeof *c);
	if (!c) {
		close(fd);
		return;
	}
	c->fd = fd;
	arm_recv(l, c);
	if (c->dead) {
		close(fd);
		free(c);
	}
}

/* settle runs once per turn for each connection something happened to:
 * start its send, or take it apart when it is finished. */
static void settle(struct loop *l, struct conn *c)
{
	if (c->dead) {
		buf_release(l, &c->acc);
		if (!c->cancelled) {
			/* Wake whatever is outstanding: the receive ends with 0 or
			 * ECANCELED, a send stuck on a full socket fails. */
			shutdown(c->fd, SHUT_RDWR);
		}
	}
	if (!c->dead && !c->sending && c->acc.len > 0) {
		struct io_uring_sqe *s = sqe_get(l);
		if (!s) {
			/* No room even after a submit: give up on the connection,
			 * and settle it again so the dead path runs. */
			c->dead = 1;
			mark(l, c);
			return;
		} else {
			c->fl = c->acc;
			c->acc = (struct buf){0};
			io_uring_prep_send(s, c->fd, c->fl.p, c->fl.len, MSG_NOSIGNAL);
			io_uring_sqe_set_data64(s, (uint64_t)(uintptr_t)c | T_SEND);
			c->sending = 1;
		}
	}
	size_t unsent = c->acc.len + (c->fl.len - c->fl.off);
	if (!c->dead && !c->closing) {
		if (!c->paused && unsent > OUT_HIGH && c->recv_armed) {
			c->paused = 1;
		} else if (c->paused && unsent <= OUT_HIGH / 2) {
			c->paused = 0;
			if (!c->recv_armed)
				arm_recv(l, c);
			if (c->dead) {
				mark(l, c); /* arming failed: settle again as dead */
				return;
			}
		}
	}
	int finished = c->dead || (c->closing && !c->sending && c->acc.len == 0);
	if ((finished || c->paused) && c->recv_armed && !c->cancelled) {
		struct io_uring_sqe *s = sqe_get(l);
		if (s) {
			io_uring_prep_cancel64(s, (uint64_t)(uintptr_t)c | T_RECV, 0);
			io_uring_sqe_set_data64(s, T_IGNORE);
			c->cancelled = 1;
		}
	}
	if (finished && !c->recv_armed && !c->sending) {
		close(c->fd);
		buf_release(l, &c->acc);
		buf_release(l, &c->fl);
		free(c->hs);
		free(c);
		if (l->accept_paused) {
			l->accept_paused = 0;
			arm_accept(l);
		}
	}
}

static void *run(void *arg)
{
	struct loop *l = arg;
	for (;;) {
		int r = io_uring_submit_and_wait(&l->ring, 1);
		if (r < 0 && r != -EINTR && r != -EAGAIN && r != -EBUSY) {
			fprintf(stderr, "floor-uring: submit_and_wait: %s\n", strerror(-r));
			exit(1);
		}
		unsigned head, seen = 0;
		struct io_uring_cqe *cqe;
		io_uring_for_each_cqe(&l->ring, head, cqe)
		{
			seen++;
			uint64_t ud = io_uring_cqe_get_data64(cqe);
			struct conn *c = (struct conn *)(uintptr_t)(ud & ~(uint64_t)7);
			switch (ud & 7) {
			case T_ACCEPT:
				on_accept(l, cqe);
				break;
			case T_RECV:
				on_recv(l, c, cqe);
				break;
			case T_SEND:
				on_send(l, c, cqe->res);
				break;
			}
		}
		io_uring_cq_advance(&l->ring, seen);
		if (l->readd) {
			io_uring_buf_ring_advance(l->br, l->readd);
			l->readd = 0;
		}
		/* settle may free a connection: take each off the list first. */
		while (l->dirty) {
			struct conn *c = l->dirty;
			l->dirty = c->next;
			c->dirty = 0;
			settle(l, c);
		}
	}
	return NULL;
}

static int setup_ring(struct loop *l)
{
	struct io_uring_params p;
	/* The newest setup first: one issuer and task work run only when the
	 * loop waits (fewer interruptions); older kernels refuse the flags. */
	unsigned flagsets[] = {
		IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN,
		IORING_SETUP_COOP_TASKRUN,
		0,
	};
	int r = -EINVAL;
	for (unsigned i = 0; i < sizeof flagsets / sizeof flagsets[0]; i++) {
		memset(&p, 0, sizeof p);
		p.flags = flagsets[i] | IORING_SETUP_CQSIZE;
		p.cq_entries = ENTRIES * 4;
		r = io_uring_queue_init_params(ENTRIES, &l->ring, &p);
		if (r == 0)
			break;
	}
	if (r < 0) {
		fprintf(stderr, "floor-uring: io_uring unavailable: %s\n", strerror(-r));
		return -1;
	}
	/* Fault in the rings' pages now (one read a page): the kernel's
	 * shared memory counts in RSS as it is first used, and that first use
	 * is a fixed cost of the thread, not of its first connections. */
	volatile const uint8_t *sq = (const uint8_t *)l->ring.sq.sqes, *cq = (const uint8_t *)l->ring.cq.cqes;
	for (size_t off = 0; off < (size_t)*l->ring.sq.kring_entries * sizeof(struct io_uring_sqe); off += 4096)
		(void)sq[off];
	for (size_t off = 0; off < (size_t)*l->ring.cq.kring_entries * sizeof(struct io_uring_cqe); off += 4096)
		(void)cq[off];
	size_t rsz = NBUF * sizeof(struct io_uring_buf);
	int mf = MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE;
	l->br = mmap(NULL, rsz, PROT_READ | PROT_WRITE, mf, -1, 0);
	l->bufs = mmap(NULL, (size_t)NBUF * BUFSZ, PROT_READ | PROT_WRITE, mf, -1, 0);
	l->region = mmap(NULL, (size_t)POOL_N * OUT_CAP, PROT_READ | PROT_WRITE, mf, -1, 0);
	if (l->br == MAP_FAILED || l->bufs == MAP_FAILED || l->region == MAP_FAILED) {
		fprintf(stderr, "floor-uring: out of memory\n");
		return -1;
	}
	struct io_uring_buf_reg reg = {.ring_addr = (unsigned long)l->br, .ring_entries = NBUF, .bgid = BGID};
	if ((r = io_uring_register_buf_ring(&l->ring, &reg, 0)) < 0) {
		fprintf(stderr, "floor-uring: provided buffer ring unavailable: %s\n", strerror(-r));
		return -1;
	}
	io_uring_buf_ring_init(l->br);
	for (int i = 0; i < NBUF; i++)
		io_uring_buf_ring_add(l->br, l->bufs + (size_t)i * BUFSZ, BUFSZ, (unsigned short)i,
				      io_uring_buf_ring_mask(NBUF), i);
	io_uring_buf_ring_advance(l->br, NBUF);
	for (int i = 0; i < POOL_N; i++)
		l->pool[l->npool++] = l->region + (size_t)i * OUT_CAP;
	arm_accept(l);
	return 0;
}

/* A ring belongs to the thread that made it (single issuer), so each
 * thread sets up its own and says when it is ready. */
struct start {
	struct loop *l;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int state; /* 0 starting, 1 ready, -1 failed */
};

static void *thread_main(void *arg)
{
	struct start *st = arg;
	struct loop *l = st->l;
	int ok = setup_ring(l) == 0;
	pthread_mutex_lock(&st->mu);
	st->state = ok ? 1 : -1;
	pthread_cond_signal(&st->cv);
	pthread_mutex_unlock(&st->mu);
	if (!ok)
		return NULL;
	return run(l);
}

int main(int argc, char **argv)
{
	struct ws_args a;
	ws_parse_args(argc, argv, &a);
	signal(SIGPIPE, SIG_IGN);
	int port = a.port;
	struct loop **loops = calloc((size_t)a.threads, sizeof *loops);
	if (!loops)
		return 1;
	for (int t = 0; t < a.threads; t++) {
		int lfd = ws_listen(port, 0);
		if (lfd < 0) {
			perror("floor-uring: listen");
			return 1;
		}
		port = ws_local_port(lfd);
		if (!(loops[t] = calloc(1, sizeof *loops[t])))
			return 1;
		loops[t]->lfd = lfd;
	}
	for (int t = 1; t < a.threads; t++) {
		struct start st = {.l = loops[t], .mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};
		pthread_t th;
		if (pthread_create(&th, NULL, thread_main, &st) != 0)
			return 1;
		pthread_mutex_lock(&st.mu);
		while (st.state == 0)
			pthread_cond_wait(&st.cv, &st.mu);
		pthread_mutex_unlock(&st.mu);
		if (st.state < 0)
			return 1;
	}
	if (setup_ring(loops[0]) < 0)
		return 1;
	printf("listening on 127.0.0.1:%d\n", port);
	fflush(stdout);
	run(loops[0]);
	return 0;
}

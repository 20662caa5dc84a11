/*
 * floor-epoll: the least a WebSocket echo server on epoll has to do, the
 * reference the compare tables measure every server against.
 *
 * Per thread: one SO_REUSEPORT listener and one level-triggered epoll set.
 * A readable connection gets exactly one read() into the thread's buffer;
 * all answers to that read are gathered in the thread's output buffer and
 * leave in one write(). Level triggering is what makes one read enough: if
 * more is queued, the next epoll_wait reports the socket again, so there is
 * no extra read just to see EAGAIN.
 *
 * When a write is short the rest is kept on the connection and it stops
 * being read (EPOLLOUT only) until the rest is gone: memory per connection
 * is bounded by one read's answers, and a client that does not read stops
 * being served rather than growing the server.
 */
#define _GNU_SOURCE
#include "ws.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#define RBUF (64 * 1024)
#define MAXEV 256

struct conn {
	int fd;
	uint8_t upgraded; /* the handshake is done */
	uint8_t closing;  /* close once pending output is gone */
	struct ws_state ws;
	char *hs;         /* handshake bytes so far (only until upgraded) */
	size_t hslen;
	uint8_t *pend;    /* output a short write left (only while it lasts) */
	size_t plen, poff;
};

struct loop {
	int ep, lfd;
	int accept_paused; /* out of file descriptors: listener disarmed */
	uint8_t rbuf[RBUF];
	uint8_t wbuf[RBUF + WS_OUT_SLACK + WS_RESPONSE_MAX];
};

/* The listener's epoll data: a tag no connection pointer can equal. */
static char listener_tag;

static void conn_close(struct loop *l, struct conn *c)
{
	close(c->fd); /* also drops it from the epoll set */
	free(c->hs);
	free(c->pend);
	free(c);
	if (l->accept_paused) {
		/* A descriptor is free again: take connections again. */
		struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &listener_tag};
		if (epoll_ctl(l->ep, EPOLL_CTL_MOD, l->lfd, &ev) == 0)
			l->accept_paused = 0;
	}
}

static void accept_all(struct loop *l)
{
	for (;;) {
		int fd = accept4(l->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
				/* Level triggering would report the pending connection
				 * forever: stop listening until a connection closes. */
				struct epoll_event ev = {.events = 0, .data.ptr = &listener_tag};
				if (epoll_ctl(l->ep, EPOLL_CTL_MOD, l->lfd, &ev) == 0)
					l->accept_paused = 1;
			}
			return; /* EAGAIN, or a connection that died in the queue */
		}
		int one = 1;
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
		struct conn *c = calloc(1, sizeof *c);
		if (!c) {
			close(fd);
			continue;
		}
		c->fd = fd;
		struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
		if (epoll_ctl(l->ep, EPOLL_CTL_ADD, fd, &ev) < 0) {
			close(fd);
			free(c);
		}
	}
}

/* flush writes the pending output; 1 when all of it is gone, 0 when the
 * socket is full, -1 on a write error. */
static int flush(struct conn *c)
{
	while (c->poff < c->plen) {
		ssize_t w = write(c->fd, c->pend + c->poff, c->plen - c->poff);
		if (w < 0)
			return errno == EAGAIN ? 0 : -1;
		c->poff += (size_t)w;
	}
	free(c->pend);
	c->pend = NULL;
	c->plen = c->poff = 0;
	return 1;
}

/* on_readable does the one read, the transform and the one write. It
 * returns -1 when the connection must be closed now. */
static int on_readable(struct loop *l, struct conn *c)
{
	ssize_t r = read(c->fd, l->rbuf, RBUF);
	if (r == 0)
		return -1;
	if (r < 0)
		return errno == EAGAIN || errno == EINTR ? 0 : -1;
	const uint8_t *in = l->rbuf;
	size_t n = (size_t)r, out = 0;
	if (!c->upgraded) {
		/* The request is copied aside until it is complete; it may come
		 * in pieces, and frames may follow it in the same read. */
		size_t room = WS_HANDSHAKE_MAX - c->hslen, take = n < room ? n : room;
		if (!c->hs && !(c->hs = malloc(WS_HANDSHAKE_MAX)))
			return -1;
		memcpy(c->hs + c->hslen, in, take);
		c->hslen += take;
		size_t rl;
		int h = ws_handshake(c->hs, c->hslen, (char *)l->wbuf, &rl);
		if (h < 0) {
			/* Best effort: a client that sent garbage gets a 400. */
			ssize_t w = write(c->fd, ws_bad_request, strlen(ws_bad_request));
			(void)w;
			return -1;
		}
		if (h == 0)
			return 0;
		/* Bytes of this read past the request header are frames. */
		size_t used = (size_t)h - (c->hslen - take);
		in += used;
		n -= used;
		free(c->hs);
		c->hs = NULL;
		c->upgraded = 1;
		out = rl;
	}
	size_t wn = 0;
	int st = ws_echo(&c->ws, in, n, l->wbuf + out, &wn);
	if (st == WS_ERROR)
		return -1;
	out += wn;
	if (st == WS_CLOSE)
		c->closing = 1;
	if (out > 0) {
		ssize_t w = write(c->fd, l->wbuf, out);
		if (w < 0) {
			if (errno != EAGAIN)
				return -1;
			w = 0;
		}
		if ((size_t)w < out) {
			c->plen = out - (size_t)w;
			c->poff = 0;
			if (!(c->pend = malloc(c->plen)))
				return -1;
			memcpy(c->pend, l->wbuf + w, c->plen);
			struct epoll_event ev = {.events = EPOLLOUT, .data.ptr = c};
			if (epoll_ctl(l->ep, EPOLL_CTL_MOD, c->fd, &ev) < 0)
				return -1;
			return 0;
		}
	}
	return c->closing ? -1 : 0;
}

static void on_writable(struct loop *l, struct conn *c)
{
	int f = flush(c);
	if (f < 0 || (f > 0 && c->closing)) {
		conn_close(l, c);
		return;
	}
	if (f > 0) {
		struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
		if (epoll_ctl(l->ep, EPOLL_CTL_MOD, c->fd, &ev) < 0)
			conn_close(l, c);
	}
}

static void *run(void *arg)
{
	struct loop *l = arg;
	struct epoll_event evs[MAXEV];
	for (;;) {
		int n = epoll_wait(l->ep, evs, MAXEV, -1);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			perror("floor-epoll: epoll_wait");
			exit(1);
		}
		for (int i = 0; i < n; i++) {
			if (evs[i].data.ptr == &listener_tag) {
				accept_all(l);
				continue;
			}
			struct conn *c = evs[i].data.ptr;
			uint32_t e = evs[i].events;
			if (c->pend) {
				/* Waiting for room: errors show up as a failed write. */
				on_writable(l, c);
			} else if (e & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
				if (on_readable(l, c) < 0)
					conn_close(l, c);
			}
		}
	}
	return NULL;
}

static struct loop *new_loop(int lfd)
{
	struct loop *l = calloc(1, sizeof *l);
	if (!l)
		return NULL;
	l->lfd = lfd;
	/* Touch the buffers now: they are the thread's fixed cost, and the
	 * idle scenario should not count their first use against the first
	 * connections. */
	memset(l->rbuf, 0, sizeof l->rbuf);
	memset(l->wbuf, 0, sizeof l->wbuf);
	l->ep = epoll_create1(EPOLL_CLOEXEC);
	struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &listener_tag};
	if (l->ep < 0 || epoll_ctl(l->ep, EPOLL_CTL_ADD, lfd, &ev) < 0) {
		free(l);
		return NULL;
	}
	return l;
}

int main(int argc, char **argv)
{
	struct ws_args a;
	ws_parse_args(argc, argv, &a);
	signal(SIGPIPE, SIG_IGN); /* a peer gone mid-write is a write error, not death */
	struct loop **loops = calloc((size_t)a.threads, sizeof *loops);
	int port = a.port;
	for (int t = 0; t < a.threads; t++) {
		/* With port 0 the first listener picks the port the rest share. */
		int lfd = ws_listen(port, 1);
		if (lfd < 0) {
			perror("floor-epoll: listen");
			return 1;
		}
		port = ws_local_port(lfd);
		if (!loops || !(loops[t] = new_loop(lfd))) {
			perror("floor-epoll: epoll");
			return 1;
		}
	}
	printf("listening on 127.0.0.1:%d\n", port);
	fflush(stdout);
	for (int t = 1; t < a.threads; t++) {
		pthread_t th;
		if (pthread_create(&th, NULL, run, loops[t]) != 0) {
			perror("floor-epoll: pthread_create");
			return 1;
		}
	}
	run(loops[0]);
	return 0;
}

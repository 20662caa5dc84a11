/*
 * ws.c: handshake, frame transducer and command line for the floor
 * servers. See ws.h for the contract; RFC 6455 sections are cited where a
 * rule comes from.
 */
#define _GNU_SOURCE
#include "ws.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* ---- SHA-1 (FIPS 180-4), only ever fed a key and the GUID ---- */

static uint32_t rol(uint32_t x, int n) { return (x << n) | (x >> (32 - n)); }

static void sha1_block(uint32_t h[5], const uint8_t *p)
{
	uint32_t w[80];
	for (int i = 0; i < 16; i++)
		w[i] = (uint32_t)p[4 * i] << 24 | (uint32_t)p[4 * i + 1] << 16 |
		       (uint32_t)p[4 * i + 2] << 8 | p[4 * i + 3];
	for (int i = 16; i < 80; i++)
		w[i] = rol(w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16], 1);
	uint32_t a = h[0], b = h[1], c = h[2], d = h[3], e = h[4];
	for (int i = 0; i < 80; i++) {
		uint32_t f, k;
		if (i < 20) {
			f = (b & c) | (~b & d);
			k = 0x5A827999;
		} else if (i < 40) {
			f = b ^ c ^ d;
			k = 0x6ED9EBA1;
		} else if (i < 60) {
			f = (b & c) | (b & d) | (c & d);
			k = 0x8F1BBCDC;
		} else {
			f = b ^ c ^ d;
			k = 0xCA62C1D6;
		}
		uint32_t t = rol(a, 5) + f + e + k + w[i];
		e = d;
		d = c;
		c = rol(b, 30);
		b = a;
		a = t;
	}
	h[0] += a;
	h[1] += b;
	h[2] += c;
	h[3] += d;
	h[4] += e;
}

void ws_sha1(const uint8_t *data, size_t n, uint8_t digest[20])
{
	uint32_t h[5] = {0x67452301, 0xEFCDAB89, 0x98BADCFE, 0x10325476, 0xC3D2E1F0};
	size_t i = 0;
	for (; i + 64 <= n; i += 64)
		sha1_block(h, data + i);
	/* The tail, the 0x80 marker and the 64-bit bit length fill one or two
	 * last blocks. */
	uint8_t last[128] = {0};
	size_t r = n - i;
	memcpy(last, data + i, r);
	last[r] = 0x80;
	size_t total = r + 1 + 8 <= 64 ? 64 : 128;
	uint64_t bits = (uint64_t)n * 8;
	for (int j = 0; j < 8; j++)
		last[total - 1 - j] = (uint8_t)(bits >> (8 * j));
	sha1_block(h, last);
	if (total == 128)
		sha1_block(h, last + 64);
	for (int j = 0; j < 5; j++) {
		digest[4 * j] = (uint8_t)(h[j] >> 24);
		digest[4 * j + 1] = (uint8_t)(h[j] >> 16);
		digest[4 * j + 2] = (uint8_t)(h[j] >> 8);
		digest[4 * j + 3] = (uint8_t)h[j];
	}
}

size_t ws_base64(const uint8_t *in, size_t n, char *out)
{
	static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	size_t o = 0;
	for (size_t i = 0; i < n; i += 3) {
		uint32_t v = (uint32_t)in[i] << 16;
		if (i + 1 < n)
			v |= (uint32_t)in[i + 1] << 8;
		if (i + 2 < n)
			v |= in[i + 2];
		out[o++] = tab[v >> 18 & 63];
		out[o++] = tab[v >> 12 & 63];
		out[o++] = i + 1 < n ? tab[v >> 6 & 63] : '=';
		out[o++] = i + 2 < n ? tab[v & 63] : '=';
	}
	out[o] = 0;
	return o;
}

/* ---- opening handshake (RFC 6455 §4.2.1, §4.2.2) ---- */

static const char guid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

const char ws_bad_request[] = "HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n";

static int lower(int c) { return c >= 'A' && c <= 'Z' ? c + 32 : c; }

static int ieq(const char *a, size_t n, const char *b)
{
	if (strlen(b) != n)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (lower((unsigned char)a[i]) != b[i])
			return 0;
	return 1;
}

/* has_token: does the comma-separated list v hold tok (lower case)? */
static int has_token(const char *v, size_t n, const char *tok)
{
	size_t i = 0;
	while (i <= n) {
		size_t j = i;
		while (j < n && v[j] != ',')
			j++;
		size_t a = i, b = j;
		while (a < b && (v[a] == ' ' || v[a] == '\t'))
			a++;
		while (b > a && (v[b - 1] == ' ' || v[b - 1] == '\t'))
			b--;
		if (ieq(v + a, b - a, tok))
			return 1;
		i = j + 1;
	}
	return 0;
}

static int b64char(int c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' || c == '/';
}

int ws_handshake(const char *req, size_t n, char *resp, size_t *resplen)
{
	const char *end = memmem(req, n, "\r\n\r\n", 4);
	if (!end)
		return n >= WS_HANDSHAKE_MAX ? -1 : 0;
	size_t hlen = (size_t)(end - req) + 4;
	if (hlen > WS_HANDSHAKE_MAX)
		return -1;
	const char *p = req, *stop = end + 2; /* each line ends in \r\n */
	const char *eol = memmem(p, (size_t)(stop - p), "\r\n", 2);
	size_t ll = (size_t)(eol - p);
	if (ll < 14 || memcmp(p, "GET ", 4) != 0 || memcmp(eol - 9, " HTTP/1.1", 9) != 0)
		return -1;
	int upgrade = 0, connection = 0, version = 0, keys = 0;
	const char *key = NULL;
	for (p = eol + 2; p < stop; p = eol + 2) {
		eol = memmem(p, (size_t)(stop - p), "\r\n", 2);
		if (!eol)
			return -1;
		const char *colon = memchr(p, ':', (size_t)(eol - p));
		/* No obs-fold (a line starting with white space), no nameless line. */
		if (!colon || colon == p || *p == ' ' || *p == '\t')
			return -1;
		const char *v = colon + 1, *ve = eol;
		while (v < ve && (*v == ' ' || *v == '\t'))
			v++;
		while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t'))
			ve--;
		size_t nl = (size_t)(colon - p), vl = (size_t)(ve - v);
		if (ieq(p, nl, "upgrade"))
			upgrade |= has_token(v, vl, "websocket");
		else if (ieq(p, nl, "connection"))
			connection |= has_token(v, vl, "upgrade");
		else if (ieq(p, nl, "sec-websocket-version"))
			version = vl == 2 && v[0] == '1' && v[1] == '3';
		else if (ieq(p, nl, "sec-websocket-key")) {
			keys++;
			/* The key is 16 bytes in base64: 22 characters and "==". */
			if (vl != 24 || v[22] != '=' || v[23] != '=')
				return -1;
			for (int i = 0; i < 22; i++)
				if (!b64char((unsigned char)v[i]))
					return -1;
			key = v;
		}
	}
	if (!upgrade || !connection || !version || keys != 1)
		return -1;
	uint8_t buf[24 + sizeof guid - 1], digest[20];
	memcpy(buf, key, 24);
	memcpy(buf + 24, guid, sizeof guid - 1);
	ws_sha1(buf, sizeof buf, digest);
	char accept[32];
	ws_base64(digest, 20, accept);
	int r = snprintf(resp, WS_RESPONSE_MAX,
			 "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
			 "Sec-WebSocket-Accept: %s\r\n\r\n",
			 accept);
	*resplen = (size_t)r;
	return (int)hlen;
}

/* ---- frames (RFC 6455 §5) ---- */

/* unmask XORs m bytes with the key starting at mask position off. The key
 * is spread over 8 bytes so the loop works a word at a time; memcpy keeps
 * it free of alignment and aliasing assumptions. */
static void unmask(uint8_t *dst, const uint8_t *src, size_t m, const uint8_t key[4], unsigned off)
{
	uint8_t kb[8];
	for (int j = 0; j < 8; j++)
		kb[j] = key[(off + j) & 3];
	uint64_t k;
	memcpy(&k, kb, 8);
	size_t j = 0;
	for (; j + 8 <= m; j += 8) {
		uint64_t v;
		memcpy(&v, src + j, 8);
		v ^= k;
		memcpy(dst + j, &v, 8);
	}
	for (; j < m; j++)
		dst[j] = src[j] ^ kb[j & 7];
}

int ws_echo(struct ws_state *s, const uint8_t *in, size_t n, uint8_t *out, size_t *outlen)
{
	size_t i = 0, o = 0;
	while (i < n) {
		if (s->left == 0) {
			/* A header: two bytes say how long the rest is. */
			while (s->hlen < 2 && i < n)
				s->hdr[s->hlen++] = in[i++];
			if (s->hlen < 2)
				break;
			uint8_t b0 = s->hdr[0], b1 = s->hdr[1];
			/* No extension was negotiated: RSV must be 0 (§5.2); a client
			 * must mask (§5.1). */
			if ((b0 & 0x70) || !(b1 & 0x80))
				return WS_ERROR;
			unsigned len7 = b1 & 0x7f;
			unsigned need = 6 + (len7 == 126 ? 2 : len7 == 127 ? 8 : 0);
			size_t take = need - s->hlen;
			if (take > n - i)
				take = n - i;
			memcpy(s->hdr + s->hlen, in + i, take);
			s->hlen += (uint8_t)take;
			i += take;
			if (s->hlen < need)
				break;
			uint64_t len = len7;
			if (len7 == 126) {
				len = (uint64_t)s->hdr[2] << 8 | s->hdr[3];
			} else if (len7 == 127) {
				len = 0;
				for (int j = 2; j < 10; j++)
					len = len << 8 | s->hdr[j];
				if (len >> 63) /* the most significant bit must be 0 */
					return WS_ERROR;
			}
			unsigned op = b0 & 0x0f, fin = b0 & 0x80;
			switch (op) {
			case 0: /* continuation: only inside a fragmented message */
				if (!s->in_msg)
					return WS_ERROR;
				if (fin)
					s->in_msg = 0;
				break;
			case 1:
			case 2: /* a new message may not start inside another */
				if (s->in_msg)
					return WS_ERROR;
				if (!fin)
					s->in_msg = 1;
				break;
			case 8:
			case 9:
			case 10: /* control: unfragmented, at most 125 bytes (§5.5) */
				if (!fin || len > 125 || (op == 8 && len == 1))
					return WS_ERROR;
				break;
			default:
				return WS_ERROR;
			}
			memcpy(s->key, s->hdr + need - 4, 4);
			s->moff = 0;
			s->hlen = 0;
			s->left = len;
			s->drop = op == 10; /* pongs are not answered */
			s->close = op == 8;
			if (!s->drop) {
				/* A ping is answered with a pong of the same payload
				 * (§5.5.2); everything else is echoed as it came. */
				out[o++] = (uint8_t)(fin | (op == 9 ? 10 : op));
				if (len < 126) {
					out[o++] = (uint8_t)len;
				} else if (len <= 0xffff) {
					out[o++] = 126;
					out[o++] = (uint8_t)(len >> 8);
					out[o++] = (uint8_t)len;
				} else {
					out[o++] = 127;
					for (int j = 7; j >= 0; j--)
						out[o++] = (uint8_t)(len >> (8 * j));
				}
			}
			if (len == 0 && s->close) {
				*outlen = o;
				return WS_CLOSE;
			}
			continue;
		}
		size_t m = s->left < n - i ? (size_t)s->left : n - i;
		if (!s->drop) {
			unmask(out + o, in + i, m, s->key, s->moff);
			o += m;
		}
		s->moff = (uint8_t)((s->moff + m) & 3);
		s->left -= m;
		i += m;
		if (s->left == 0 && s->close) {
			*outlen = o;
			return WS_CLOSE;
		}
	}
	*outlen = o;
	return WS_OK;
}

/* ---- self-test: known answers, so a broken digest shows up alone ---- */

int ws_selftest(void)
{
	uint8_t d[20];
	char hex[41], b64[64];
	ws_sha1((const uint8_t *)"abc", 3, d);
	for (int i = 0; i < 20; i++)
		snprintf(hex + 2 * i, 3, "%02x", d[i]);
	if (strcmp(hex, "a9993e364706816aba3e25717850c26c9cd0d89d") != 0) {
		fprintf(stderr, "selftest: sha1(abc) = %s\n", hex);
		return 1;
	}
	/* 56 bytes: the length no longer fits the first block. */
	const char *two = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
	ws_sha1((const uint8_t *)two, strlen(two), d);
	for (int i = 0; i < 20; i++)
		snprintf(hex + 2 * i, 3, "%02x", d[i]);
	if (strcmp(hex, "84983e441c3bd26ebaae4aa1f95129e5e54670f1") != 0) {
		fprintf(stderr, "selftest: sha1(two blocks) = %s\n", hex);
		return 1;
	}
	/* The example of RFC 6455 §1.3. */
	const char *req = "GET /chat HTTP/1.1\r\nHost: server.example.com\r\nUpgrade: websocket\r\n"
			  "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
			  "Sec-WebSocket-Version: 13\r\n\r\n";
	char resp[WS_RESPONSE_MAX];
	size_t rl = 0;
	if (ws_handshake(req, strlen(req), resp, &rl) != (int)strlen(req) ||
	    !memmem(resp, rl, "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n", 52)) {
		fprintf(stderr, "selftest: handshake answer wrong\n");
		return 1;
	}
	ws_base64((const uint8_t *)"ab", 2, b64);
	if (strcmp(b64, "YWI=") != 0) {
		fprintf(stderr, "selftest: base64(ab) = %s\n", b64);
		return 1;
	}
	return 0;
}

/* ---- command line and sockets ---- */

static void usage(const char *prog)
{
	fprintf(stderr, "usage: %s [-addr 127.0.0.1:PORT | -port PORT] [-threads N (0: one per CPU)] [-selftest]\n", prog);
	exit(2);
}

static int number(const char *s, int lo, int hi, const char *prog)
{
	char *e;
	errno = 0;
	long v = strtol(s, &e, 10);
	if (errno || *s == 0 || *e != 0 || v < lo || v > hi)
		usage(prog);
	return (int)v;
}

void ws_parse_args(int argc, char **argv, struct ws_args *a)
{
	a->port = 9001;
	a->threads = 1;
	for (int i = 1; i < argc; i++) {
		const char *f = argv[i];
		if (f[0] == '-' && f[1] == '-')
			f++; /* -flag and --flag, as Go's flag package takes them */
		if (strcmp(f, "-selftest") == 0)
			exit(ws_selftest());
		if (i + 1 >= argc)
			usage(argv[0]);
		const char *v = argv[++i];
		if (strcmp(f, "-port") == 0) {
			a->port = number(v, 0, 65535, argv[0]);
		} else if (strcmp(f, "-threads") == 0) {
			a->threads = number(v, 0, 1024, argv[0]);
		} else if (strcmp(f, "-addr") == 0) {
			/* Floors listen on loopback only: the host may be left out or
			 * be 127.0.0.1, nothing else. */
			const char *c = strrchr(v, ':');
			if (!c || !(c == v || (c - v == 9 && memcmp(v, "127.0.0.1", 9) == 0))) {
				fprintf(stderr, "%s: -addr must be 127.0.0.1:PORT\n", argv[0]);
				exit(2);
			}
			a->port = number(c + 1, 0, 65535, argv[0]);
		} else {
			usage(argv[0]);
		}
	}
	if (a->threads == 0) {
		long n = sysconf(_SC_NPROCESSORS_ONLN);
		a->threads = n > 0 ? (int)n : 1;
	}
}

int ws_listen(int port, int nonblock)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | (nonblock ? SOCK_NONBLOCK : 0), 0);
	if (fd < 0)
		return -1;
	int one = 1;
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	/* SO_REUSEPORT lets one listener per thread share the port; the kernel
	 * spreads new connections over them. */
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) < 0 ||
	    bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0 || listen(fd, 4096) < 0) {
		int e = errno;
		close(fd);
		errno = e;
		return -1;
	}
	return fd;
}

int ws_local_port(int fd)
{
	struct sockaddr_in sa;
	socklen_t l = sizeof sa;
	if (getsockname(fd, (struct sockaddr *)&sa, &l) < 0)
		return -1;
	return ntohs(sa.sin_port);
}

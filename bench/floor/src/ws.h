/*
 * ws.h: the WebSocket parts both floor servers share: the RFC 6455 opening
 * handshake and a streaming frame transducer that turns masked client
 * frames into the unmasked server frames an echo sends back.
 *
 * The transducer never reassembles a message: it copies each frame's
 * header (with the mask key dropped) as soon as the header is complete and
 * unmasks payload bytes as they arrive. So a connection keeps at most one
 * partial frame header between reads (struct ws_state, 32 bytes) whatever
 * the message size, and one read's answers never exceed that read plus
 * WS_OUT_SLACK bytes.
 */
#ifndef FLOOR_WS_H
#define FLOOR_WS_H

#include <stddef.h>
#include <stdint.h>

/* Longest opening handshake request accepted; longer ones close. */
#define WS_HANDSHAKE_MAX 4096

/*
 * Extra output room one read may need beyond its own length: a frame header
 * begun in an earlier read (at most 13 bytes held) is answered with up to 10
 * bytes in the read that completes it.
 */
#define WS_OUT_SLACK 16

/* Longest 101 response ws_handshake writes. */
#define WS_RESPONSE_MAX 160

struct ws_state {
	uint64_t left;  /* payload bytes of the current frame still to come */
	uint8_t hdr[14];/* the header being collected */
	uint8_t hlen;   /* bytes of hdr collected; 0 between frames */
	uint8_t key[4]; /* mask key of the current frame */
	uint8_t moff;   /* position in the mask of the next payload byte */
	uint8_t drop;   /* the current frame is a pong: its payload is dropped */
	uint8_t close;  /* the current frame is a Close */
	uint8_t in_msg; /* a fragmented data message is open */
};

enum {
	WS_OK = 0,     /* all input consumed */
	WS_CLOSE = 1,  /* a Close frame ended: echo what was written, then close */
	WS_ERROR = -1, /* malformed input: close without answering */
};

/*
 * ws_echo consumes n bytes of client frames and appends the answers to
 * out, which must have room for n + WS_OUT_SLACK bytes; *outlen receives
 * the bytes written. After WS_CLOSE the rest of the input is ignored.
 */
int ws_echo(struct ws_state *s, const uint8_t *in, size_t n, uint8_t *out, size_t *outlen);

/*
 * ws_handshake looks at the request bytes received so far. It returns 0
 * while the header is incomplete, -1 when the request is malformed or
 * too long, and otherwise the length of the request header (bytes after it
 * are already frames), with the 101 response in resp (WS_RESPONSE_MAX
 * bytes of room) and its length in *resplen.
 */
int ws_handshake(const char *req, size_t n, char *resp, size_t *resplen);

/* The 400 answer to a malformed request (its length is strlen). */
extern const char ws_bad_request[];

/* sha1 and base64 are exposed for the self-test (floor-* -selftest). */
void ws_sha1(const uint8_t *data, size_t n, uint8_t digest[20]);
size_t ws_base64(const uint8_t *in, size_t n, char *out);
int ws_selftest(void);

/*
 * Command line shared by both servers: -addr 127.0.0.1:PORT (or -port
 * PORT) and -threads N (0: one per online CPU). Exits on bad arguments.
 */
struct ws_args {
	int port;
	int threads;
};
void ws_parse_args(int argc, char **argv, struct ws_args *a);

/* ws_listen opens a listening socket on 127.0.0.1:port with SO_REUSEPORT;
 * nonblock selects O_NONBLOCK. Returns the fd or -1 (errno set). */
int ws_listen(int port, int nonblock);
int ws_local_port(int fd);

#endif

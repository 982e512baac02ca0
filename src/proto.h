/* proto.h: messages between pdfspoold and pdfspool-worker.
 *
 * The daemon and a worker talk over an AF_UNIX SOCK_SEQPACKET socketpair, the
 * worker's end being fd 3. Every message is one packet holding one JSON object
 * (jansson) with "v": PROTO_VERSION. Packets are at most PROTO_MAX_PACKET bytes.
 *
 * worker -> daemon, once at start:   {"v":1,"type":"hello","pid":N}
 * daemon -> worker:                  {"v":1,"type":"job","id":"<opaque>",
 *                                     "pdf":"/abs/path/file.pdf",
 *                                     "out":"/abs/dir/for/outputs",
 *                                     "thumbnail_size":256}
 * worker -> daemon, one per job:     {"v":1,"type":"result","id":"<same>",
 *                                     "ok":true|false, "pages":N,
 *                                     "error":null|"reason a person understands"}
 * daemon -> worker:                  {"v":1,"type":"quit"}   (or just close the socket)
 *
 * Paths ("pdf", "out") are JSON strings when they are valid UTF-8, else
 * {"hex": "<the path's bytes in hex>"} (names_to_json_exact): file names are bytes.
 *
 * On "job" the worker opens the PDF once and writes into "out" (which exists
 * and is empty): meta.json, text.txt, thumb.png, each fsync'ed. It writes
 * nothing anywhere else.
 */
#pragma once
#include <jansson.h>

#define PROTO_VERSION 1
#define PROTO_MAX_PACKET (64 * 1024)
#define PROTO_WORKER_FD 3

/* Send one JSON object as one packet. Returns 0 or -errno. */
int proto_send(int fd, json_t *msg);
/* Receive one packet and parse it. Returns 0, -EPIPE on orderly close, or -errno
 * (-EBADMSG for a packet that is not a JSON object of our version). */
int proto_recv(int fd, json_t **ret);

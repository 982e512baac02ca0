/* proto.h: messages between pdfspoold and pdfspool-worker.
 *
 * The daemon and a worker talk over an AF_UNIX SOCK_SEQPACKET socketpair, the
 * worker's end being fd 3. Every message is one packet holding one JSON object
 * (jansson) with "v": PROTO_VERSION. Packets are at most PROTO_MAX_PACKET bytes.
 *
 * worker -> daemon, once at start:   {"v":2,"type":"hello","pid":N}
 * daemon -> worker:                  {"v":2,"type":"job","id":"<opaque>",
 *                                     "pdf":"/abs/path/file.pdf",
 *                                     "out":"/abs/dir/for/outputs",
 *                                     "thumbnail_size":256,
 *                                     "staged":true,         (optional)
 *                                     "outputs":{...},       (optional)
 *                                     "password":"...",      (optional)
 *                                     "limits":{"cpu_seconds":N,"file_size":N,
 *                                               "open_files":N}}   (0: none)
 *                                    + the PDF's descriptor (SCM_RIGHTS, exactly one)
 * worker -> daemon, one per job:     {"v":2,"type":"result","id":"<same>",
 *                                     "ok":true|false, "pages":N,
 *                                     "error":null|"reason a person understands",
 *                                     "text_layer":"none"|"partial"|"full", (when ok)
 *                                     "resource_error":"<strerror text>",  (only then)
 *                                     "errno":N}                           (only then)
 * worker -> daemon, when it must die: {"v":2,"type":"fatal","reason":"..."}, then it
 *                                    exits (PROTO_EXIT_FORBIDDEN_CALL after a
 *                                    forbidden system call); the reason is its job's
 * daemon -> worker:                  {"v":2,"type":"quit"}   (or just close the socket)
 *
 * "pdf" is only the name mupdf's diagnostics show: the worker reads the PDF from
 * the descriptor that comes with the job, which the daemon opened itself beneath
 * the claim, without following links, and checked against what registration took
 * (fs_open_taken). The worker never opens the input by name, and refuses a job
 * that comes without a descriptor (a protocol error: it exits with status 2).
 * Version 2 (was 1): a version-1 worker would open "pdf" by path, which is
 * exactly what must not happen any more, so the two refuse each other.
 *
 * "outputs" is the job's profile (profile_outputs_to_json: an output name ->
 * bool, "thumbs.size" -> int, ...): the worker makes just those; without it,
 * the default profile's (meta.json, text.txt, thumb.png, facts, tables).
 * "password" opens an encrypted PDF: it travels only here, never in argv, a
 * file or a log line.
 * "staged": "out" is a staging folder that nobody reads before the daemon moves
 * its files into place: the worker writes its files under their own names and
 * syncs them all with one syncfs (extract_pdf's STAGED). Without it, each
 * output goes through a temporary name, fsync and rename.
 *
 * "out" is a path (the daemon made it, empty): the worker writes meta.json,
 * text.txt, thumb.png there (synced as "staged" says), and nothing anywhere else.
 * Paths are JSON strings when they are valid UTF-8, else {"hex": "<the bytes in
 * hex>"} (names_to_json_exact): file names are bytes.
 *
 * A result with "ok": false says whose fault it is. Without "resource_error" the
 * PDF is (damaged, encrypted, no pages, more memory than the worker's RLIMIT_AS
 * allows): the job fails. With "resource_error" the worker could not write an
 * output (opening, writing, syncing or renaming a file in "out" failed: ENOSPC,
 * EDQUOT, EIO, EMFILE, ENFILE, ENOMEM...): "errno" is the error's number and
 * "resource_error" its strerror text; that is the spool's trouble, not the PDF's,
 * and the daemon may defer the job rather than fail it.
 *
 * Descriptors: a packet carries at most one; the daemon accepts none from a worker.
 */
#pragma once
#include <jansson.h>

#define PROTO_VERSION 2
#define PROTO_MAX_PACKET (64 * 1024)
#define PROTO_WORKER_FD 3
/* A worker's exit status after a forbidden system call (sandbox.c). */
#define PROTO_EXIT_FORBIDDEN_CALL 3
#define PROTO_MAX_FDS 4        /* room to notice a packet that brings more than one */

/* Send one JSON object as one packet. Returns 0 or -errno. */
int proto_send(int fd, json_t *msg);
/* The same with PASS_FD (unless negative) passed along in that packet (SCM_RIGHTS). */
int proto_send_fd(int fd, json_t *msg, int pass_fd);
/* Receive one packet and parse it. Returns 0, -EPIPE on orderly close, or -errno
 * (-EBADMSG for a packet that is not a JSON object of our version). */
int proto_recv(int fd, json_t **ret);
/* The same, and the descriptor that came with the packet in *ret_fd (O_CLOEXEC), or
 * -1 when none came. A packet with more than one is -EBADMSG (all closed); so is one
 * with a descriptor when RET_FD is NULL. */
int proto_recv_fd(int fd, json_t **ret, int *ret_fd);

/* proto.c: one JSON object per SOCK_SEQPACKET packet between pdfspoold and its
 * workers (see proto.h for the messages). Both sides link this file, so it knows
 * nothing about jobs: it only moves and checks packets. */
#include "proto.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

int proto_send(int fd, json_t *msg) {
        char *text;
        size_t len;
        ssize_t n;
        int r;

        if (fd < 0 || !json_is_object(msg))
                return -EINVAL;

        text = json_dumps(msg, JSON_COMPACT);
        if (!text)
                return -ENOMEM;
        len = strlen(text);
        if (len > PROTO_MAX_PACKET) {
                free(text);
                return -EMSGSIZE;
        }

        /* A seqpacket send is all or nothing; MSG_NOSIGNAL so a dead peer is an
         * error (-EPIPE) rather than a SIGPIPE that kills the sender. */
        do
                n = send(fd, text, len, MSG_NOSIGNAL);
        while (n < 0 && errno == EINTR);
        r = n < 0 ? -errno : 0;
        if (r == 0 && (size_t) n != len)
                r = -EIO;

        free(text);
        return r;
}

int proto_recv(int fd, json_t **ret) {
        /* static: 64 KiB is too much stack for a worker under a small RLIMIT_AS. The
         * buffer is only used within this call, and neither side receives from two
         * threads. */
        static char buf[PROTO_MAX_PACKET];
        json_error_t error;
        json_t *msg, *v;
        ssize_t n;

        if (fd < 0 || !ret)
                return -EINVAL;

        /* MSG_TRUNC makes recv report the packet's real length, so an oversized
         * packet is refused instead of being parsed cut short. */
        do
                n = recv(fd, buf, sizeof(buf), MSG_TRUNC);
        while (n < 0 && errno == EINTR);
        if (n < 0)
                return -errno;
        if (n == 0)
                return -EPIPE;
        if ((size_t) n > sizeof(buf))
                return -EMSGSIZE;

        msg = json_loadb(buf, (size_t) n, JSON_REJECT_DUPLICATES, &error);
        if (!msg)
                return -EBADMSG;

        v = json_object_get(msg, "v");
        if (!json_is_object(msg) || !json_is_integer(v) || json_integer_value(v) != PROTO_VERSION) {
                json_decref(msg);
                return -EBADMSG;
        }

        *ret = msg;
        return 0;
}

/* fuzz-proto: libFuzzer target for the worker protocol's receiving side
 * (proto_recv_fd, src/proto.c), which both the daemon and the worker run on
 * every packet the other sends. Built by ./configure CC=clang --enable-fuzzing.
 *
 * The first byte says how many descriptors ride along (0, 1 or 2, over
 * SCM_RIGHTS); the rest is one SOCK_SEQPACKET packet. An accepted message must
 * be a JSON object of our version with at most one descriptor, must survive
 * proto_send and proto_recv unchanged, and no descriptor may leak. */
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int send_packet(int fd, const uint8_t *data, size_t size, int n_fds) {
        union {
                struct cmsghdr align;
                char buf[CMSG_SPACE(sizeof(int) * 2)];
        } control;
        int fds[2] = { 0, 0 };                  /* stdin: always open */
        struct iovec iov = { .iov_base = (void *) data, .iov_len = size };
        struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };

        if (n_fds > 0) {
                memset(&control, 0, sizeof(control));
                mh.msg_control = control.buf;
                mh.msg_controllen = CMSG_SPACE(sizeof(int) * n_fds);
                struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
                c->cmsg_level = SOL_SOCKET;
                c->cmsg_type = SCM_RIGHTS;
                c->cmsg_len = CMSG_LEN(sizeof(int) * n_fds);
                memcpy(CMSG_DATA(c), fds, sizeof(int) * n_fds);
        }
        return sendmsg(fd, &mh, MSG_NOSIGNAL) < 0 ? -1 : 0;
}

static int open_fds(void) {
        int n = 0;
        for (int fd = 0; fd < 1024; fd++)
                if (fcntl(fd, F_GETFD) >= 0)
                        n++;
        return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        int sv[2], passed = -1, r, before;
        json_t *msg = NULL, *again = NULL;

        if (size < 1 || size - 1 > PROTO_MAX_PACKET)
                return 0;
        if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
                abort();
        before = open_fds();
        if (send_packet(sv[0], data + 1, size - 1, data[0] % 3) < 0)
                abort();
        r = proto_recv_fd(sv[1], &msg, &passed);
        if (r == 0) {
                json_t *v = json_object_get(msg, "v");
                if (!json_is_object(msg) || json_integer_value(v) != PROTO_VERSION || data[0] % 3 == 2)
                        abort();
                if ((passed >= 0) != (data[0] % 3 == 1))
                        abort();
                /* what was accepted goes back out and in again unchanged (when it
                 * surely fits: re-encoding may make it longer) */
                if (size < PROTO_MAX_PACKET / 8 && (proto_send(sv[0], msg) < 0 || proto_recv(sv[1], &again) < 0 || !json_equal(msg, again)))
                        abort();
        } else if (passed >= 0 || msg)
                abort();                        /* a refusal hands nothing out */
        if (passed >= 0)
                close(passed);
        if (open_fds() != before)               /* a refused descriptor was closed */
                abort();
        json_decref(msg);
        json_decref(again);
        close(sv[0]);
        close(sv[1]);
        return 0;
}

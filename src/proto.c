/* proto.c: one JSON object per SOCK_SEQPACKET packet between pdfspoold and its
 * workers (see proto.h for the messages). Both sides link this file, so it knows
 * nothing about jobs: it only moves and checks packets. */
#include "proto.h"

#include <errno.h>
#include <stdlib.h>
#include <unistd.h>
#include <string.h>
#include <sys/socket.h>

int proto_send(int fd, json_t *msg) {
        return proto_send_fd(fd, msg, -1);
}

int proto_send_fd(int fd, json_t *msg, int pass_fd) {
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
        union {
                struct cmsghdr align;
                char buf[CMSG_SPACE(sizeof(int))];
        } control = { 0 };
        struct iovec iov = { .iov_base = text, .iov_len = len };
        struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
        if (pass_fd >= 0) {
                /* The descriptor travels in the same packet as its job: it cannot be
                 * matched with another message. */
                mh.msg_control = control.buf;
                mh.msg_controllen = sizeof(control.buf);
                struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
                c->cmsg_level = SOL_SOCKET;
                c->cmsg_type = SCM_RIGHTS;
                c->cmsg_len = CMSG_LEN(sizeof(int));
                memcpy(CMSG_DATA(c), &pass_fd, sizeof(int));
        }
        do
                n = sendmsg(fd, &mh, MSG_NOSIGNAL);
        while (n < 0 && errno == EINTR);
        r = n < 0 ? -errno : 0;
        if (r == 0 && (size_t) n != len)
                r = -EIO;

        free(text);
        return r;
}

int proto_recv(int fd, json_t **ret) {
        return proto_recv_fd(fd, ret, NULL);
}

/* Every descriptor that came with a packet; the first is kept in *ret_fd when
 * wanted, all others are closed. Returns how many came, or -EBADMSG when some
 * were lost (the control buffer was too small). */
static int take_fds(struct msghdr *mh, int *ret_fd) {
        int count = 0;

        for (struct cmsghdr *c = CMSG_FIRSTHDR(mh); c; c = CMSG_NXTHDR(mh, c)) {
                if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
                        continue;
                size_t n = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
                for (size_t i = 0; i < n; i++) {
                        int passed;
                        memcpy(&passed, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
                        if (count++ == 0 && ret_fd)
                                *ret_fd = passed;
                        else
                                close(passed);
                }
        }
        return mh->msg_flags & MSG_CTRUNC ? -EBADMSG : count;
}

int proto_recv_fd(int fd, json_t **ret, int *ret_fd) {
        /* static: 64 KiB is too much stack for a worker under a small RLIMIT_AS. The
         * buffer is only used within this call, and neither side receives from two
         * threads. */
        static char buf[PROTO_MAX_PACKET];
        union {
                struct cmsghdr align;
                char buf[CMSG_SPACE(sizeof(int) * PROTO_MAX_FDS)];
        } control;
        struct iovec iov = { .iov_base = buf, .iov_len = sizeof(buf) };
        struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = control.buf,
                             .msg_controllen = sizeof(control.buf) };
        json_error_t error;
        json_t *msg, *v;
        ssize_t n;
        int passed = -1, count;

        if (fd < 0 || !ret)
                return -EINVAL;

        /* MSG_TRUNC makes recvmsg report the packet's real length, so an oversized
         * packet is refused instead of being parsed cut short. */
        do
                n = recvmsg(fd, &mh, MSG_TRUNC | MSG_CMSG_CLOEXEC);
        while (n < 0 && errno == EINTR);
        if (n < 0)
                return -errno;
        count = take_fds(&mh, &passed);
        if (count < 0 || count > 1 || (count == 1 && !ret_fd)) {
                /* More than one, or one where none belongs: not our protocol. */
                if (passed >= 0)
                        close(passed);
                return n == 0 ? -EPIPE : -EBADMSG;
        }
        if (n == 0 || (size_t) n > sizeof(buf) || !(msg = json_loadb(buf, (size_t) n, JSON_REJECT_DUPLICATES, &error))) {
                if (passed >= 0)
                        close(passed);
                return n == 0 ? -EPIPE : (size_t) n > sizeof(buf) ? -EMSGSIZE : -EBADMSG;
        }

        v = json_object_get(msg, "v");
        if (!json_is_object(msg) || !json_is_integer(v) || json_integer_value(v) != PROTO_VERSION) {
                json_decref(msg);
                if (passed >= 0)
                        close(passed);
                return -EBADMSG;
        }

        *ret = msg;
        if (ret_fd)
                *ret_fd = passed;
        return 0;
}

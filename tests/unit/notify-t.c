/* notify-t.c: what the daemon says to its service manager, read from a
 * datagram socket bound as NOTIFY_SOCKET, as systemd's own tests do. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "notify.h"
#include "tap.h"

static int receive(int fd, char *buf, size_t size) {
        struct timeval tv = { .tv_sec = 5 };
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
        ssize_t n = recv(fd, buf, size - 1, 0);
        buf[n > 0 ? n : 0] = 0;
        return (int) n;
}

int main(void) {
        char path[] = "/tmp/notify-t.XXXXXX";
        char *dir = mkdtemp(path);
        char sock[64], buf[4096];
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);

        snprintf(sock, sizeof(sock), "%s/notify", dir);
        snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", sock);
        ok(bind(fd, (struct sockaddr *) &sa, sizeof(sa)) == 0, "bound a datagram socket");
        setenv("NOTIFY_SOCKET", sock, 1);

        notify_ready();
        ok(receive(fd, buf, sizeof(buf)) > 0 && strcmp(buf, "READY=1") == 0, "READY=1");
        notify_status("2 batches, 3/10 jobs done, 0 failed, 4.0 pages/s");
        ok(receive(fd, buf, sizeof(buf)) > 0 && strcmp(buf, "STATUS=2 batches, 3/10 jobs done, 0 failed, 4.0 pages/s") == 0,
           "STATUS= line");
        notify_status("2 batches, 3/10 jobs done, 0 failed, 4.0 pages/s");
        notify_status("2 batches, 4/10 jobs done, 0 failed, 4.0 pages/s");
        ok(receive(fd, buf, sizeof(buf)) > 0 && strstr(buf, "4/10"), "an unchanged STATUS= is not sent again");
        notify_reloading();
        ok(receive(fd, buf, sizeof(buf)) > 0 && strncmp(buf, "RELOADING=1\nMONOTONIC_USEC=", 27) == 0,
           "RELOADING=1 with MONOTONIC_USEC");
        notify_extend_timeout(30000000);
        ok(receive(fd, buf, sizeof(buf)) > 0 && strcmp(buf, "EXTEND_TIMEOUT_USEC=30000000") == 0, "EXTEND_TIMEOUT_USEC");
        notify_stopping();
        ok(receive(fd, buf, sizeof(buf)) > 0 && strcmp(buf, "STOPPING=1") == 0, "STOPPING=1");
        close(fd);
        unlink(sock);
        rmdir(dir);
        return done_testing();
}

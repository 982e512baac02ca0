/* fsutil-t.c: atomic replace, moves, copies, the writer check. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fsutil.h"
#include "tap.h"
#include "util.h"

int main(void) {
        char tmpl[] = "/tmp/fsutil-t.XXXXXX";
        char *dir = mkdtemp(tmpl);
        int dfd = open(dir, O_RDONLY | O_DIRECTORY);
        char *data;
        size_t len;

        signal(SIGIO, SIG_IGN);
        ok(fs_write_atomic(dfd, "a.json", "one", 3, 0640, (gid_t) -1, true) == 0, "atomic write");
        ok(fs_write_atomic(dfd, "a.json", "second", 6, 0640, (gid_t) -1, false) == 0, "atomic replace");
        ok(fs_read_file(dfd, "a.json", 100, &data, &len) == 0 && len == 6 && strcmp(data, "second") == 0,
           "reader sees the whole new content");
        free(data);
        is_int(fs_read_file(dfd, "a.json", 3, &data, &len), -EFBIG, "read limit enforced");
        struct stat st;
        ok(fstatat(dfd, "a.json", &st, 0) == 0 && (st.st_mode & 0777) == 0640, "mode applied");

        ok(symlinkat("/etc/passwd", dfd, "link") == 0, "symlink made");
        ok(fs_read_file(dfd, "link", 100000, &data, &len) == -ELOOP, "reading never follows a symlink");

        ok(fs_mkdirat_p(dfd, "x/y/z", 0755) == 0, "mkdir -p");
        ok(fs_mkdirat_p(dfd, "x/y/z", 0755) == 0, "mkdir -p again is fine");
        ok(fs_write_atomic(dfd, "x/y/z/f", "data", 4, 0644, (gid_t) -1, true) == 0, "write in a sub-folder");
        ok(symlinkat("/etc", dfd, "x/y/evil") == 0, "symlink to /etc inside the tree");

        char *src = xasprintf("%s/x", dir), *dst = xasprintf("%s/copy", dir);
        ok(fs_copy_tree(AT_FDCWD, src, AT_FDCWD, dst) == 0, "copy a tree");
        ok(fs_read_file(dfd, "copy/y/z/f", 100, &data, &len) == 0 && strcmp(data, "data") == 0, "file copied");
        free(data);
        ok(fstatat(dfd, "copy/y/evil", &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(st.st_mode),
           "symlink copied as a link, not followed");
        char *moved = xasprintf("%s/moved", dir);
        ok(fs_move(dst, moved, true) == 0, "move");
        ok(access(dst, F_OK) < 0 && access(moved, F_OK) == 0, "source gone, destination there");
        ok(fs_move(src, moved, true) == -EEXIST, "move never replaces with noreplace");

        ok(fs_remove_tree(dfd, "moved") == 0, "remove a tree");
        ok(access("/etc/passwd", F_OK) == 0, "remove_tree did not follow the link out");

        /* The writer check: a file open for writing by someone is not complete. */
        int w = openat(dfd, "w.pdf", O_WRONLY | O_CREAT, 0644);
        pid_t pid = fork();
        if (pid == 0) {
                pause();
                _exit(0);
        }
        close(w); /* the child still holds it open for writing */
        is_int(fs_has_writer(dfd, "w.pdf"), 1, "file held open for writing by another process: writer seen");
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
        is_int(fs_has_writer(dfd, "w.pdf"), 0, "after it closed: no writer");

        ok(fs_link_or_copy(dfd, "a.json", dfd, "b.json", 0644) == 0, "link or copy");
        ok(fs_read_file(dfd, "b.json", 100, &data, &len) == 0 && strcmp(data, "second") == 0, "same content");
        free(data);

        fs_remove_tree(AT_FDCWD, dir);
        close(dfd);
        free(src);
        free(dst);
        free(moved);
        return done_testing();
}

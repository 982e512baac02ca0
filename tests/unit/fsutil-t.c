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
        ok(fs_write_atomic(dfd, "a.json", "one", 3, 0640, (gid_t) -1, FS_WRITE_SYNC_DIR) == 0, "atomic write");
        ok(fs_write_atomic(dfd, "a.json", "second", 6, 0640, (gid_t) -1, 0) == 0, "atomic replace");
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
        ok(fs_write_atomic(dfd, "x/y/z/f", "data", 4, 0644, (gid_t) -1, FS_WRITE_SYNC_DIR) == 0, "write in a sub-folder");
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

        /* A copy from a descriptor is a new inode with one link, the mode asked for. */
        int in = openat(dfd, "a.json", O_RDONLY);
        struct stat sa, sb;
        ok(fs_copy_fd(in, dfd, "b.json", 0604, (gid_t) -1, true) == 0, "copy from a descriptor");
        ok(fs_read_file(dfd, "b.json", 100, &data, &len) == 0 && strcmp(data, "second") == 0, "same content");
        free(data);
        ok(fstatat(dfd, "a.json", &sa, 0) == 0 && fstatat(dfd, "b.json", &sb, 0) == 0 && sa.st_ino != sb.st_ino &&
           sb.st_nlink == 1 && (sb.st_mode & 07777) == 0604, "copy: another inode, one link, its own mode");
        is_int(fs_copy_fd(in, dfd, "b.json", 0644, (gid_t) -1, false), -EEXIST, "copy never replaces");
        close(in);

        /* Opening beneath a folder never follows a link, nor leaves it. */
        ok(fs_mkdirat_p(dfd, "root/sub", 0755) == 0 && fs_write_atomic(dfd, "root/sub/f.pdf", "pdf", 3, 0644,
                                                                          (gid_t) -1, 0) == 0, "tree for opens");
        ok(symlinkat("sub", dfd, "root/link") == 0 && symlinkat("f.pdf", dfd, "root/sub/flink") == 0, "links in it");
        int root = openat(dfd, "root", O_RDONLY | O_DIRECTORY);
        int fd = fs_open_beneath(root, "sub/f.pdf", O_RDONLY);
        ok(fd >= 0, "open beneath");
        struct fs_ident taken = { .known = false };
        struct stat sf;
        ok(fd >= 0 && fstat(fd, &sf) == 0, "stat what was taken");
        fs_ident_from_stat(&taken, &sf);
        if (fd >= 0)
                close(fd);
        /* -ELOOP from openat2; the fallback's O_DIRECTORY|O_NOFOLLOW says -ENOTDIR. */
        int k = fs_open_beneath(root, "link/f.pdf", O_RDONLY);
        ok(k == -ELOOP || k == -ENOTDIR, "a folder that is a link is not followed");
        is_int(fs_open_beneath(root, "sub/flink", O_RDONLY), -ELOOP, "a file that is a link is not followed");
        is_int(fs_open_beneath(root, "../a.json", O_RDONLY), -EXDEV, "\"..\" does not leave");
        is_int(fs_open_beneath(root, "/etc/passwd", O_RDONLY), -EXDEV, "an absolute path does not leave");
        const char *why;
        fd = fs_open_taken(root, "sub/f.pdf", &taken, &why);
        ok(fd >= 0, "the file as taken opens");
        if (fd >= 0)
                close(fd);
        is_int(fs_open_taken(root, "sub/flink", &taken, &why), -ESTALE, "a link where the file was: refused");
        ok(why && strcmp(why, "changed after it was taken: now a symbolic link") == 0, "and said so");
        is_int(fs_open_taken(root, "link/f.pdf", &taken, &why), -ESTALE, "a link on the way: refused");
        ok(why && strstr(why, "a folder on its path"), "and said so");
        ok(fs_write_atomic(dfd, "root/sub/f.pdf", "other", 5, 0644, (gid_t) -1, 0) == 0, "file replaced");
        is_int(fs_open_taken(root, "sub/f.pdf", &taken, &why), -ESTALE, "another file where it was: refused");
        ok(why && strcmp(why, "changed after it was taken: now a different file") == 0, "and said so");
        ok(linkat(root, "sub/f.pdf", root, "f2.pdf", 0) == 0, "second link");
        struct fs_ident unknown = { .known = false };
        is_int(fs_open_taken(root, "sub/f.pdf", &unknown, &why), -ESTALE, "a hard link is refused even unrecorded");
        is_int(fs_set_owner(root, "f2.pdf", 0600, (gid_t) -1), -EMLINK, "a hard-linked file is never re-moded");
        ok(fstatat(root, "f2.pdf", &sf, 0) == 0 && (sf.st_mode & 0777) == 0644, "its mode is unchanged");

        /* A tree copy leaves a hard-linked file out and puts a marker in its place. */
        char *rsrc = xasprintf("%s/root", dir), *rdst = xasprintf("%s/rootcopy", dir);
        ok(fs_copy_tree(AT_FDCWD, rsrc, AT_FDCWD, rdst) == 0, "copy a tree with hard links");
        ok(fstatat(dfd, "rootcopy/f2.pdf", &sf, AT_SYMLINK_NOFOLLOW) == 0 &&
           fs_is_hardlink_marker(dfd, "rootcopy/f2.pdf", &sf), "the hard link became a marker, not a copy");
        ok(fstatat(dfd, "rootcopy/sub/flink", &sf, AT_SYMLINK_NOFOLLOW) == 0 &&
           !fs_is_hardlink_marker(dfd, "rootcopy/sub/flink", &sf), "an ordinary symlink is no marker");
        close(root);
        free(rsrc);
        free(rdst);

        fs_remove_tree(AT_FDCWD, dir);
        close(dfd);
        free(src);
        free(dst);
        free(moved);
        return done_testing();
}

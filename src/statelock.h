/* statelock.h: one daemon per state directory.
 *
 * pdfspoold holds an exclusive open file description lock (fcntl F_OFD_SETLK,
 * F_WRLCK, on the whole file) on STATELOCK_FILE in its state_dir for its whole
 * life; the kernel (or an NFSv4 server) drops it when the last descriptor of
 * that open file is closed, also after kill -9. The lock, not the file, is the
 * truth: the file only names the holder ({"pid", "host", "started"}), written
 * in place once the lock is held. A reader asks with F_OFD_GETLK, which needs
 * no write access and takes nothing. */
#pragma once
#include <stdbool.h>
#include <sys/types.h>

/* Hidden: queue names never start with '.', so it never meets a queue's folder. */
#define STATELOCK_FILE ".pdfspoold.lock"

struct statelock_holder {
        bool known;             /* the file named a holder (it may still be being written) */
        long long pid;
        char host[256];
};

/* Create STATE_DIR if needed (0750), open its lock file and take the lock
 * without waiting; then write this process's pid and host into it. Returns the
 * lock's fd (keep it open: closing it releases the lock), -EBUSY when another
 * process holds it (with what its file says in *RET_HOLDER when not NULL), or
 * -errno. Nothing else in STATE_DIR is touched. */
int statelock_take(const char *state_dir, struct statelock_holder *ret_holder);

/* The holder named is a process of this host that no longer exists: the lock is
 * still held only by what it left behind (a helper that dies with it, or an
 * exec'd child that took the descriptor along), and is let go soon. */
bool statelock_holder_gone(const struct statelock_holder *h);

/* Is STATE_DIR's lock held? 1 (holder in *RET_HOLDER when not NULL), 0 when
 * not held or there is no lock file, -errno when it could not be told. */
int statelock_query(const char *state_dir, struct statelock_holder *ret_holder);

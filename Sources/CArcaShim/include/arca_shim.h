#ifndef ARCA_SHIM_H
#define ARCA_SHIM_H

#include <sys/types.h>

// Linux calls Swift cannot make directly: variadic ones (prctl, syscall) and the child side of a
// fork, which must run only async-signal-safe code in a multi-threaded process (FUSE threads).

/// What the service runs as, set in the child between fork and exec.
struct arca_spawn_identity {
    uid_t uid;
    gid_t gid;
    const gid_t *groups;
    int group_count;
    int set_identity;      // 0: keep the caller's uid/gid/groups
    int no_new_privs;      // 1: prctl(PR_SET_NO_NEW_PRIVS)
    int drop_sys_admin;    // 1: CAP_SYS_ADMIN out of the bounding, permitted, effective and inheritable sets
};

/// Forks and execs `path` with `argv`/`envp` in `cwd` (may be NULL) as `identity`, with every signal
/// at its default disposition and none blocked. Returns the child's pid, or -errno when the child
/// could not be set up or exec failed (reported back through a close-on-exec pipe).
pid_t arca_spawn(const char *path, char *const argv[], char *const envp[], const char *cwd,
                 const struct arca_spawn_identity *identity);

/// prctl(PR_SET_CHILD_SUBREAPER, 1): orphans below us are reparented to us, not to PID 1.
int arca_set_child_subreaper(void);

/// 1 if CAP_SYS_ADMIN is in this process's effective set, 0 if not, -errno on error.
int arca_has_sys_admin(void);

/// pivot_root(2), which glibc does not wrap.
int arca_pivot_root(const char *new_root, const char *put_old);

#endif

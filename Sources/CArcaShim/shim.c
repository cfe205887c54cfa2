#define _GNU_SOURCE
#include "arca_shim.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static int drop_sys_admin(void) {
    if (prctl(PR_CAPBSET_DROP, CAP_SYS_ADMIN, 0, 0, 0) != 0 && errno != EINVAL) return -1;
    struct __user_cap_header_struct header = { _LINUX_CAPABILITY_VERSION_3, 0 };
    struct __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3];
    memset(data, 0, sizeof(data));
    if (syscall(SYS_capget, &header, data) != 0) return -1;
    int word = CAP_TO_INDEX(CAP_SYS_ADMIN);
    __u32 mask = CAP_TO_MASK(CAP_SYS_ADMIN);
    data[word].effective &= ~mask;
    data[word].permitted &= ~mask;
    data[word].inheritable &= ~mask;
    return (int)syscall(SYS_capset, &header, data);
}

// Runs in the forked child: async-signal-safe calls only.
static void child(int report, const char *path, char *const argv[], char *const envp[], const char *cwd,
                  const struct arca_spawn_identity *identity) {
    sigset_t none;
    sigemptyset(&none);
    for (int sig = 1; sig < NSIG; sig++) signal(sig, SIG_DFL);
    sigprocmask(SIG_SETMASK, &none, NULL);
    if (cwd && chdir(cwd) != 0) goto fail;
    if (identity->drop_sys_admin && drop_sys_admin() != 0) goto fail;
    if (identity->set_identity) {
        if (setgroups((size_t)identity->group_count, identity->groups) != 0) goto fail;
        if (setgid(identity->gid) != 0) goto fail;
        if (setuid(identity->uid) != 0) goto fail;
    }
    if (identity->no_new_privs && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) goto fail;
    execve(path, argv, envp);
fail:;
    int error = errno;
    ssize_t ignored = write(report, &error, sizeof(error));
    (void)ignored;
    _exit(127);
}

pid_t arca_spawn(const char *path, char *const argv[], char *const envp[], const char *cwd,
                 const struct arca_spawn_identity *identity) {
    int pipefd[2];
    if (pipe2(pipefd, O_CLOEXEC) != 0) return -errno;
    pid_t pid = fork();
    if (pid < 0) {
        int error = errno;
        close(pipefd[0]);
        close(pipefd[1]);
        return -error;
    }
    if (pid == 0) {
        close(pipefd[0]);
        child(pipefd[1], path, argv, envp, cwd, identity);
    }
    close(pipefd[1]);
    int error = 0;
    ssize_t n;
    do { n = read(pipefd[0], &error, sizeof(error)); } while (n < 0 && errno == EINTR);
    close(pipefd[0]);
    if (n == (ssize_t)sizeof(error)) {
        // Set-up or exec failed: the child exits 127 at once; reap it here.
        while (waitpid(pid, NULL, 0) < 0 && errno == EINTR) {}
        return -error;
    }
    return pid;
}

int arca_set_child_subreaper(void) {
    return prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0 ? 0 : -errno;
}

int arca_has_sys_admin(void) {
    struct __user_cap_header_struct header = { _LINUX_CAPABILITY_VERSION_3, 0 };
    struct __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3];
    if (syscall(SYS_capget, &header, data) != 0) return -errno;
    return (data[CAP_TO_INDEX(CAP_SYS_ADMIN)].effective & CAP_TO_MASK(CAP_SYS_ADMIN)) ? 1 : 0;
}

int arca_pivot_root(const char *new_root, const char *put_old) {
    return syscall(SYS_pivot_root, new_root, put_old) == 0 ? 0 : -errno;
}

/* host_process.c — see host_process.h. */
#define _GNU_SOURCE
#include "host_process.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

/* Reads a whole stream from its start into a NUL-terminated heap string. */
static char *slurp(FILE *f)
{
    rewind(f);
    size_t cap = 4096, len = 0;
    char *buf = malloc(cap);
    assert_non_null(buf);
    size_t n;
    while ((n = fread(buf + len, 1, cap - len - 1, f)) > 0) {
        len += n;
        if (cap - len - 1 == 0) {
            cap *= 2;
            buf = realloc(buf, cap);
            assert_non_null(buf);
        }
    }
    buf[len] = '\0';
    return buf;
}

void host_run(const char *const *args, const char *env_assignment, host_result *res)
{
    size_t n = 0;
    while (args[n])
        n++;
    const char **argv = calloc(n + 2, sizeof *argv);
    assert_non_null(argv);
    argv[0] = HIVE_HOST_BIN;
    memcpy(argv + 1, args, n * sizeof *argv);

    /* Temporary files, not pipes: the host may write a lot to both streams. */
    FILE *out = tmpfile(), *err = tmpfile();
    assert_non_null(out);
    assert_non_null(err);
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        dup2(fileno(out), STDOUT_FILENO);
        dup2(fileno(err), STDERR_FILENO);
        if (env_assignment)
            putenv((char *)env_assignment);
        execv(HIVE_HOST_BIN, (char *const *)argv);
        fprintf(stderr, "cannot run %s\n", HIVE_HOST_BIN);
        _exit(127);
    }
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    res->exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    res->signal = WIFSIGNALED(status) ? WTERMSIG(status) : 0;
    res->out = slurp(out);
    res->err = slurp(err);
    fclose(out);
    fclose(err);
    free(argv);
}

void host_result_dump(const host_result *res)
{
    fprintf(stderr, "---- hive-host exit %d signal %d\n---- stdout:\n%s\n---- stderr:\n%s\n----\n",
            res->exit_code, res->signal, res->out, res->err);
}

void host_result_free(host_result *res)
{
    free(res->out);
    free(res->err);
    res->out = res->err = NULL;
}

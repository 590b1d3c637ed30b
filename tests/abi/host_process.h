/*
 * host_process.h — run the built hive-host as a child process and capture
 * what it printed, so tests check the host black-box, the way a user sees it.
 */
#ifndef HIVE_ABI_HOST_PROCESS_H
#define HIVE_ABI_HOST_PROCESS_H

typedef struct host_result {
    int exit_code; /* -1 when the host died of a signal */
    int signal;    /* the signal, or 0 */
    char *out;     /* stdout, NUL-terminated, never NULL */
    char *err;     /* stderr, NUL-terminated, never NULL */
} host_result;

/* Runs HIVE_HOST_BIN with `args` (NULL-terminated, without argv[0]).
 * `env_assignment` ("NAME=value") is added to the child's environment when not
 * NULL. Fails the current cmocka test if the process cannot be run. */
void host_run(const char *const *args, const char *env_assignment, host_result *res);

/* Prints the command's output to stderr; tests call it before failing. */
void host_result_dump(const host_result *res);

void host_result_free(host_result *res);

#endif

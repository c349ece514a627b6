// glibc's GNU extensions for starting a child process, which Swift's Glibc module does not import
// (they need _GNU_SOURCE): the only C behind ChildProcesses.
#ifndef CSPAWN_H
#define CSPAWN_H
#include <spawn.h>

/// pipe2(fds, O_CLOEXEC): both ends close themselves in any child that does not dup2 them.
int cspawn_pipe_cloexec(int fds[2]);
/// posix_spawn_file_actions_addclosefrom_np: the child closes every descriptor from `from` up.
int cspawn_add_close_from(posix_spawn_file_actions_t *actions, int from);
/// posix_spawn_file_actions_addchdir_np: the child starts in `path`.
int cspawn_add_change_directory(posix_spawn_file_actions_t *actions, const char *path);
#endif

// Why `cni install` could not write into the folder, in words that say what to do: the person reading it is an
// operator at a node (or a DaemonSet's log), not someone reading an errno table.
type Errno = NodeJS.ErrnoException & { scratch?: string };

export class InstallError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "InstallError";
  }
}

/** The error of a system call of `command` on `path` (in folder `dir`) explained, with the fix. */
export function explain(e: unknown, dir: string, path: string, command = "cni install"): InstallError {
  const err = e as Errno;
  const code = err.code ?? "";
  const scratch = err.scratch ?? `a scratch file in ${dir}`;
  switch (code) {
    case "ENOENT":
      return new InstallError(`${dir} does not exist: create it (mkdir -p ${dir}) or name another folder with --dest`);
    case "ENOTDIR":
      return new InstallError(`${dir} is not a directory: --dest must name the folder the runtime's CNI_PATH lists`);
    case "EROFS":
      return new InstallError(
        `${dir} is on a read-only filesystem: remount it read-write (in a DaemonSet, the hostPath volume of the init container must not be readOnly)`,
      );
    case "EACCES":
    case "EPERM":
      return new InstallError(`no permission to write ${path}: run ${command} as root (the runtime's plugin folder is root's)`);
    case "ENOSPC":
    case "EDQUOT":
      return new InstallError(`no space left for ${path} on the filesystem of ${dir}: free some space and run ${command} again`);
    case "EXDEV":
      return new InstallError(
        `${path} is on another filesystem than ${scratch}, so it cannot be replaced atomically: ` +
          `it is probably a mount point of its own; unmount it or install into the folder it comes from`,
      );
    case "EBUSY":
      return new InstallError(`${path} is a mount point (a file mounted over it) and cannot be replaced: unmount it first`);
    case "EISDIR":
      return new InstallError(`${path} is a directory: remove it, a plugin's name must be a file`);
    default:
      return new InstallError(`cannot write ${path}: ${err.message ?? String(e)}`);
  }
}

/**
 * What to say when the agent's or the hub's data directory cannot be used at start (created when missing,
 * then checked to be a directory this user can write): the directory, why, and the setting to change. It
 * said only the system's "EEXIST: file already exists, mkdir '/srv/x'" (or ENOTDIR, ENOENT).
 */

/** The error for `dataDir`, from the failure `err` of making it ready; `variable` names its setting. */
export function dataDirError(dataDir: string, err: unknown, variable: string): Error {
  const e = err as { code?: string; message?: string };
  const why = e.code === "EEXIST"
    ? "it is a file, not a directory"
    : e.code === "ENOTDIR"
    ? "a part of its path is a file, not a directory"
    : e.code === "EACCES" || e.code === "EPERM" || e.code === "EROFS"
    ? `this user may not write there (${e.code})`
    : e.code === "ENOENT"
    ? "it cannot be created there (ENOENT)"
    : String(e.message ?? err);
  return new Error(
    `cannot use the data directory ${dataDir}: ${why}; set data (--data, ${variable}) to a ` +
      "directory this user can create or write",
  );
}

/** A stand-in failure for a path that exists and is not a directory (mkdir's own, recursive, says nothing). */
export const NOT_A_DIRECTORY = { code: "EEXIST", message: "not a directory" };

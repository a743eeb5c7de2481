/**
 * Deno's own notices on a command's stderr, which are not the command's words: a `deno run` started while
 * another deno process holds the project's node_modules lock prints `Blocking waiting for file lock on
 * node_modules directory` (coloured) before the program starts. Tests that run several commands at once (or
 * beside a CI run's other deno processes) compare stderr without it.
 */
const LOCK_WAIT = new RegExp(
  `^(?:${"\u001b"}\\[[0-9;]*m)*Blocking(?:${"\u001b"}\\[[0-9;]*m)* waiting for file lock on [^\\n]*\\n?`,
  "gm",
);

/** `stderr` without Deno's lock-wait notices. */
export function withoutDenoNotices(stderr: string): string {
  return stderr.replace(LOCK_WAIT, "");
}

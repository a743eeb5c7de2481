/**
 * Which build a program is: its release version, the commit it was built from (short hash) and that commit's
 * date (UTC), and whether the tree had changes not committed: `0.1.0+140c00aa (2026-12-06, modified)`, or
 * `0.1.0 (unknown commit)` where nothing says (a tarball without `.git`, no stamp). The string is what an
 * agent's hello carries as `agentVersion`: every hub since the first takes any string of up to 64 characters
 * there, so an older hub accepts it as it accepted `0.1.0`.
 *
 * From a checkout the commit is asked of git (two short commands at start, about 10 ms, in a child process:
 * nothing of it stays in the program's memory); a built program (`deno task build`: the compiled binary, the
 * bundle, the container image) reads the stamp the build wrote beside its entry point ({@link STAMP_FILE}).
 * The I/O is the caller's: shared does none.
 */
import { z } from "zod";

/** The name of the stamp a build writes beside the program's entry point. */
export const STAMP_FILE = "build.json";

/** The most an agent's hello may carry as its version (shared/tunnel/hello.ts, since the first hub). */
export const MAX_BUILD_TEXT = 64;

export const BuildInfo = z.object({
  version: z.string().min(1).max(24),
  /** The commit's short hash; null: not known (no `.git`, no stamp). */
  commit: z.string().regex(/^[0-9a-f]{7,40}$/).nullable(),
  /** The commit's date, UTC, `YYYY-MM-DD`. */
  date: z.string().regex(/^\d{4}-\d{2}-\d{2}$/).nullable(),
  /** Whether tracked files differed from the commit (untracked ones are not counted, as `git describe --dirty`). */
  modified: z.boolean(),
});
export type BuildInfo = z.infer<typeof BuildInfo>;

/** `0.1.0+140c00aa (2026-12-06, modified)`, `0.1.0+140c00aa (2026-12-06)`, or `0.1.0 (unknown commit)`. */
export function formatBuild(b: BuildInfo): string {
  if (!b.commit) return `${b.version} (unknown commit${b.modified ? ", modified" : ""})`;
  return `${b.version}+${b.commit.slice(0, 8)} (${b.date ?? "unknown date"}${
    b.modified ? ", modified" : ""
  })`;
}

const FORMATTED = /^(\S+?)\+([0-9a-f]{7,40}) \((\d{4}-\d{2}-\d{2}|unknown date)(, modified)?\)$/;

/** The build a {@link formatBuild} text names with its commit; undefined for any other (`0.1.0`, older agents). */
export function parseBuild(text: string | undefined): BuildInfo | undefined {
  const m = text ? FORMATTED.exec(text) : null;
  if (!m) return undefined;
  return { version: m[1], commit: m[2], date: m[3] === "unknown date" ? null : m[3], modified: !!m[4] };
}

/** What {@link readBuild} reads through; each answers undefined when it cannot. */
export interface BuildSources {
  /**
   * Runs git on the checkout the program is started from (its own `.git`, not one found above it), with
   * `TZ=UTC`: the standard output, or undefined when git fails or is missing, or there is no `.git`.
   */
  git(args: string[]): Promise<string | undefined>;
  /** The text of the stamp beside the entry point, if there is one. */
  stamp(): Promise<string | undefined>;
}

/** What {@link gitOn} needs to run a program and read its output (the caller's I/O: shared does none). */
export type RunProgram = (
  command: string,
  options: { args: string[]; env: Record<string, string>; stdin: "null"; stdout: "piped"; stderr: "null" },
) => Promise<{ success: boolean; stdout: Uint8Array }>;

/**
 * {@link BuildSources.git} on the checkout at `root` (a `file:` URL ending in `/`): its own `.git` only (a
 * folder with none, say a bundle under a checkout, is not taken for that checkout), whoever owns it
 * (`safe.directory`: a service user running a checkout root installed).
 */
export function gitOn(root: URL, run: RunProgram): BuildSources["git"] {
  return async (args) => {
    if (root.protocol !== "file:") return undefined;
    const dir = decodeURIComponent(root.pathname);
    try {
      const out = await run("git", {
        args: ["--git-dir", `${dir}.git`, "--work-tree", dir, "-c", `safe.directory=${dir}`, ...args],
        env: { TZ: "UTC" },
        stdin: "null",
        stdout: "piped",
        stderr: "null",
      });
      return out.success ? new TextDecoder().decode(out.stdout) : undefined;
    } catch {
      return undefined; // no git, or no permission to run it
    }
  };
}

/** The git arguments that give the commit's short hash and its UTC date, one a line. */
export const GIT_COMMIT_ARGS = [
  "log",
  "-1",
  "--abbrev=8",
  "--format=%h%n%cd",
  "--date=format-local:%Y-%m-%d",
];
/** The git arguments that list changed tracked files (none: not modified). */
export const GIT_STATUS_ARGS = ["status", "--porcelain", "--untracked-files=no"];

/** The build of `version` from a checkout's git, else from a stamp, else with an unknown commit. */
export async function readBuild(version: string, sources: BuildSources): Promise<BuildInfo> {
  const [head, status] = await Promise.all([sources.git(GIT_COMMIT_ARGS), sources.git(GIT_STATUS_ARGS)]);
  const [commit, date] = (head ?? "").trim().split("\n");
  if (head !== undefined && status !== undefined && /^[0-9a-f]{7,40}$/.test(commit ?? "")) {
    return {
      version,
      commit,
      date: /^\d{4}-\d{2}-\d{2}$/.test(date ?? "") ? date : null,
      modified: !!status.trim(),
    };
  }
  const text = await sources.stamp();
  if (text !== undefined) {
    try {
      return BuildInfo.parse(JSON.parse(text));
    } catch {
      // A stamp that is not one: said below as an unknown commit rather than stopping the program.
    }
  }
  return { version, commit: null, date: null, modified: false };
}

/** `{ version, commit, date, modified, build }` for `--version --json`, health and manifests. */
export function buildJson(b: BuildInfo): BuildInfo & { build: string } {
  return { ...b, build: formatBuild(b) };
}

/** The metric both programs export, always 1, its labels naming the build (Prometheus' `*_build_info` idiom). */
export const BUILD_INFO_METRIC = {
  name: "conduit_build_info",
  help:
    "Which build runs: its release version, commit (short hash, or unknown), the commit's date (UTC) and " +
    "whether the tree it was built from had changes not committed; always 1",
  labelNames: ["version", "commit", "date", "modified"] as const,
};

/** {@link BUILD_INFO_METRIC}'s labels for `b`. */
export function buildInfoLabels(b: BuildInfo): Record<"version" | "commit" | "date" | "modified", string> {
  return {
    version: b.version,
    commit: b.commit ?? "unknown",
    date: b.date ?? "unknown",
    modified: String(b.modified),
  };
}

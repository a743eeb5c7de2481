/**
 * The agent's entry for `deno compile` and the bundle (deploy/build.ts, deploy/bundle.ts): `main.ts` with
 * its parts imported by literal specifiers, so that both tools see and include them, and the agent's lazy
 * parts likewise (lazy_parts_packaged.ts). Started from source, `main.ts` and `loadPart` name them by
 * computed URLs instead, which Deno does not load before they are taken.
 */
import { type Parts, runMain } from "./start.ts";
import { usePackagedParts } from "./lazy_part.ts";
import { PACKAGED_PARTS } from "./lazy_parts_packaged.ts";
import { silenceBundledDependencyWarnings } from "./packaged_warnings.ts";

const parts: Parts = {
  agent: async () => (await import("./run.ts")).runAgent,
  subcommands: {
    check: async () => (await import("./cli/check_command.ts")).checkCommand,
    node: async () => (await import("./cli/node_command.ts")).nodeCommand,
    queue: async () => (await import("./cli/queue_command.ts")).queueCommand,
    conflicts: async () => (await import("./cli/conflicts_command.ts")).conflictsCommand,
    erase: async () => (await import("./cli/erase_command.ts")).eraseCommand,
    route: async () => (await import("./cli/route_command.ts")).routeCommand,
    backup: async () => (await import("./cli/backup_command.ts")).backupCommand,
    restore: async () => (await import("./cli/backup_command.ts")).restoreCommand,
    deid: async () => (await import("./cli/deid_command.ts")).deidCommand,
    enroll: async () => (await import("./cli/enroll_command.ts")).enrollCommand,
  },
};

if (import.meta.main) {
  silenceBundledDependencyWarnings(); // DEP0005 from bundled npm code, which Deno counts as ours
  usePackagedParts(PACKAGED_PARTS); // the agent's own lazy parts, by literal specifiers too (lazy_part.ts)
  await runMain(parts);
}

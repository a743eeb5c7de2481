/**
 * `deno task agent [flags]`: runs the site agent. With no flags and no file it is a standalone
 * DICOM archive node on port 11112. Subcommands (`check`, `node`, `queue`, `conflicts`, `erase`, `route`, `deid`, `backup`, `restore`,
 * `enroll`) and the agent itself
 * are loaded when asked for, so that `agent deid` need not load the DIMSE stack, the database or the
 * configuration schema.
 *
 * They are named by computed URLs: Deno loads the whole module graph of every `import()` written with a
 * literal specifier before the program starts, taken or not (0.33 s for `agent deid --help` that way,
 * 0.15 s this way). `main_packaged.ts` is the same entry with literal specifiers, for `deno compile` and
 * the bundle, which must see every part to include it.
 */
import { type Parts, runMain } from "./start.ts";

const here = (file: string) => new URL(file, import.meta.url).href;

const parts: Parts = {
  agent: async () => (await import(here("./run.ts"))).runAgent,
  subcommands: {
    check: async () => (await import(here("./cli/check_command.ts"))).checkCommand,
    node: async () => (await import(here("./cli/node_command.ts"))).nodeCommand,
    queue: async () => (await import(here("./cli/queue_command.ts"))).queueCommand,
    conflicts: async () => (await import(here("./cli/conflicts_command.ts"))).conflictsCommand,
    erase: async () => (await import(here("./cli/erase_command.ts"))).eraseCommand,
    route: async () => (await import(here("./cli/route_command.ts"))).routeCommand,
    backup: async () => (await import(here("./cli/backup_command.ts"))).backupCommand,
    restore: async () => (await import(here("./cli/backup_command.ts"))).restoreCommand,
    deid: async () => (await import(here("./cli/deid_command.ts"))).deidCommand,
    enroll: async () => (await import(here("./cli/enroll_command.ts"))).enrollCommand,
  },
};

if (import.meta.main) await runMain(parts);

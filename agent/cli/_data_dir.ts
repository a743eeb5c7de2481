/** How a command that reads the agent's data directory itself (backup, restore, conflicts) finds it. */
import * as fs from "node:fs";
import { loadConfig } from "../config/load.ts";

/** The data directory from --data, else --config / variables / defaults. */
export function dataDirOf(v: { data?: string; config?: string }): string {
  const flags: Record<string, string> = {};
  if (v.config) flags.config = v.config;
  if (v.data) flags.data = v.data;
  return loadConfig({ flags, env: Deno.env.toObject(), readFile: (p) => fs.readFileSync(p, "utf8") })
    .config.data;
}

/** How a command that reads the agent's data directory itself (backup, restore, conflicts) finds it. */
import { commandLineConfig } from "../config/load.ts";

/** The data directory from --data, else --config / variables / defaults. */
export function dataDirOf(v: { data?: string; config?: string }): string {
  return commandLineConfig(v, ["config", "data"]).data;
}

/**
 * A running agent's configuration changed without a restart: its file rewritten and SIGHUP, the outcome read
 * from its log (docs/operations.md, "Changing nodes and routes without a restart").
 */
import { agentConfigFile, agentConfigText, type AgentProcess } from "./agent.ts";
import { eventually } from "./hub.ts";

export type Line = Record<string, unknown>;

/** The agent's log lines of its configuration (`part: "config"`), in order. */
export const configLines = async (agent: AgentProcess): Promise<Line[]> =>
  (await Deno.readTextFile(agent.logFile)).split("\n").filter((l) => l.startsWith("{"))
    .map((l) => JSON.parse(l) as Line).filter((l) => l.part === "config");

/**
 * Writes the agent's file (`config` as startAgentProcess writes it, or a text as it is) and sends SIGHUP;
 * resolves with the reload's outcome line and, when some key waits for a restart, the line saying so.
 */
export async function reloadAgent(
  agent: AgentProcess,
  config: Record<string, unknown> | string,
): Promise<{ line: Line; atRestart?: Line }> {
  const before = (await configLines(agent)).length;
  await Deno.writeTextFile(
    agentConfigFile(agent.dataDir),
    typeof config === "string" ? config : agentConfigText(config),
  );
  Deno.kill(agent.pid, "SIGHUP");
  const lines = await eventually("the reload's outcome", async () => {
    const added = (await configLines(agent)).slice(before);
    return added.some((l) => l.msg !== AT_RESTART) ? added : undefined;
  });
  return {
    line: lines.find((l) => l.msg !== AT_RESTART)!,
    atRestart: lines.find((l) => l.msg === AT_RESTART),
  };
}

export const AT_RESTART = "configuration changed in the file, takes effect at the next restart";

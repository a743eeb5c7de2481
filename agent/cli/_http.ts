/** How the CLI finds the running agent's loopback HTTP API. */
import * as fs from "node:fs";
import { loadConfig } from "../config/load.ts";

/** A mistake in the command line; the message is for the operator. */
export class CliUsageError extends Error {
  override name = "CliUsageError";
}

/** The agent's HTTP base URL from --config / --http-host / --http-port / variables / defaults. */
export function agentBaseUrl(v: { config?: string; "http-port"?: string; "http-host"?: string }): string {
  const flags: Record<string, string> = {};
  if (v.config) flags.config = v.config;
  if (v["http-port"]) flags["http-port"] = v["http-port"];
  if (v["http-host"]) flags["http-host"] = v["http-host"];
  const { config } = loadConfig({
    flags,
    env: Deno.env.toObject(),
    readFile: (p) => fs.readFileSync(p, "utf8"),
  });
  const host = config.http.host === "0.0.0.0" ? "127.0.0.1" : config.http.host;
  return `http://${host}:${config.http.port}`;
}

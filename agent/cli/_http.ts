/** How the CLI finds the running agent's loopback HTTP API. */
import { commandLineConfig } from "../config/load.ts";

/** A mistake in the command line; the message is for the operator. */
export class CliUsageError extends Error {
  override name = "CliUsageError";
}

/** The agent's HTTP base URL from --config / --http-host / --http-port / variables / defaults. */
export function agentBaseUrl(v: { config?: string; "http-port"?: string; "http-host"?: string }): string {
  const config = commandLineConfig(v, ["config", "http-port", "http-host"]);
  const host = config.http.host === "0.0.0.0" ? "127.0.0.1" : config.http.host;
  return `http://${host}:${config.http.port}`;
}

/** How the CLI finds the running agent's loopback HTTP API. */
import { commandLineConfig } from "../config/load.ts";

/**
 * `fetch` to the running agent's HTTP API, straight to its address: Deno's fetch sends a request through the
 * proxy that `http_proxy`/`HTTP_PROXY` name, loopback too, and on a site whose shell sets them for the hub
 * (docs/operations.md#behind-an-outbound-proxy) every command asked the proxy for 127.0.0.1:8181.
 */
export function agentFetch(url: string | URL, init: RequestInit = {}): Promise<Response> {
  const u = new URL(url);
  let client = clients.get(u.host);
  if (!client) {
    client = Deno.createHttpClient({
      proxy: {
        transport: "tcp",
        hostname: u.hostname.replace(/^\[(.*)\]$/, "$1"),
        port: Number(u.port || 80),
      },
    });
    clients.set(u.host, client);
  }
  return fetch(u, { ...init, client } as RequestInit).then(async (res) => {
    // The agent's API answers JSON; a web page is another program (the hub's console, a mistaken port), whose
    // page read as JSON said only "Unexpected token '<'".
    if ((res.headers.get("content-type") ?? "").toLowerCase().startsWith("text/html")) {
      await res.body?.cancel();
      throw new NotTheAgentError(
        `${u.origin} answered with a web page, not as the agent's API: is that the agent's HTTP port ` +
          "(http.port: give the same --config as the agent, or --http-port)? The hub's port serves its console",
      );
    }
    return res;
  });
}

/** What answered at the agent's address is not the agent (agentFetch). */
export class NotTheAgentError extends Error {
  override name = "NotTheAgentError";
}

/** One client per agent address, for the command's life (a command ends when its requests are done). */
const clients = new Map<string, Deno.HttpClient>();

/** A mistake in the command line; the message is for the operator. */
export class CliUsageError extends Error {
  override name = "CliUsageError";
}

/** The flags every command that asks the running agent over HTTP takes, whatever its subcommand. */
export const AGENT_HTTP_FLAGS = ["config", "http-port", "http-host", "json"] as const;

/** The agent's HTTP base URL from --config / --http-host / --http-port / variables / defaults. */
export function agentBaseUrl(v: { config?: string; "http-port"?: string; "http-host"?: string }): string {
  const config = commandLineConfig(v, ["config", "http-port", "http-host"]);
  const host = config.http.host === "0.0.0.0" ? "127.0.0.1" : config.http.host;
  return `http://${host}:${config.http.port}`;
}

/**
 * How a command that asks the running agent answers a failure it knows: a mistake in the command line
 * (CliUsageError: the message and the usage, exit code 2) or an agent it cannot reach at `url` (fetch's
 * TypeError: where it looked and what to give, exit code 1). Undefined for any other failure.
 */
export function agentCommandFailure(
  command: string,
  usage: string,
  url: string,
  err: unknown,
): number | undefined {
  if (err instanceof CliUsageError) {
    console.error(`${command}: ${err.message}\n${usage}`);
    return 2;
  }
  if (err instanceof NotTheAgentError) {
    console.error(`${command}: ${err.message}`);
    return 1;
  }
  if (err instanceof TypeError) {
    console.error(
      `${command}: cannot reach the agent at ${url} (is it running? give the same --config as the agent, or ` +
        `--http-host and --http-port): ${err.message}`,
    );
    return 1;
  }
  return undefined;
}

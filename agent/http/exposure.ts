/**
 * Whether the agent's HTTP API (no authentication) is reachable beyond its own machine, and the sentence the
 * start's warning and `agent check` say when it is.
 */

/** True for an address only this machine reaches: 127.0.0.0/8, ::1, localhost. */
export function isLoopbackHost(host: string): boolean {
  const h = host.toLowerCase().replace(/^\[(.*)\]$/, "$1");
  return h === "localhost" || h === "::1" || /^127(\.\d{1,3}){3}$/.test(h);
}

/** Why an API on `host` is exposed, or undefined on loopback. */
export function exposureWarning(host: string): string | undefined {
  if (isLoopbackHost(host)) return undefined;
  return `http.host ${host} is not loopback: the HTTP API has no authentication, so whoever reaches ` +
    "this address may erase studies, discard the dead letter and send objects to nodes; keep it on " +
    "127.0.0.1, or behind a proxy or firewall that lets only trusted callers in";
}

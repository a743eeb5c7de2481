/**
 * What to do when the agent or the hub cannot listen on an address at start: the system's reason alone
 * ("Address already in use (os error 98)") says what, not which setting to change.
 */

/** A sentence to add to a listen failure's message, naming `setting` (`port, --port`), or "". */
export function listenHint(err: unknown, setting: string): string {
  const message = String((err as Error)?.message ?? err);
  if (/in use/i.test(message)) {
    return ` (another program listens there, perhaps this one already running: stop it, or choose another ` +
      `port with ${setting})`;
  }
  if (/permission denied|EACCES/i.test(message)) {
    return ` (a port below 1024 needs privileges: choose one from 1024 up with ${setting}, or give the ` +
      `program CAP_NET_BIND_SERVICE)`;
  }
  if (/cannot assign requested address|EADDRNOTAVAIL|not available/i.test(message)) {
    return " (no network interface of this machine has that address: check the host setting)";
  }
  return "";
}

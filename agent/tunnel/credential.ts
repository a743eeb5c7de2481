/**
 * The site credential the hub issued at enrollment, kept in `<data>/hub-credential.json` readable
 * by the agent's user only (0600). It never appears in logs.
 */
import type { HubTls } from "../config/tls_files.ts";
import { tlsHint } from "./tls_hint.ts";
import { envNamesProxy, processEnv, type ProxySetting } from "./proxy.ts";
import { hubRequest } from "./proxy_post.ts";
import * as fs from "node:fs";
import * as path from "node:path";
import { z } from "zod";

const FILE = "hub-credential.json";

const Stored = z.object({
  site: z.string().min(1),
  credential: z.string().min(1),
  hub: z.string().min(1),
  enrolledAt: z.string(),
}).strict();
export type StoredCredential = z.infer<typeof Stored>;

function credentialPath(dataDir: string): string {
  return path.join(dataDir, FILE);
}

export function loadCredential(dataDir: string): StoredCredential | undefined {
  const file = credentialPath(dataDir);
  if (!fs.existsSync(file)) return undefined;
  let json: unknown;
  try {
    json = JSON.parse(fs.readFileSync(file, "utf8"));
  } catch (err) {
    // Cut short or edited by hand: the parser's message alone did not say which file.
    if (!(err instanceof SyntaxError)) throw err;
    throw new Error(`${file} is not a valid credential file (not JSON: ${err.message}); enroll again`);
  }
  const parsed = Stored.safeParse(json);
  if (!parsed.success) throw new Error(`${file} is not a valid credential file; enroll again`);
  return parsed.data;
}

/**
 * Writes the credential atomically and durably with mode 0600: a temporary file (created 0600) written
 * and synced, renamed over the old one, then the directory synced so that the rename survives a crash.
 * A crash at any moment leaves the old file or the new one whole, never a mix or none.
 */
export function saveCredential(dataDir: string, value: StoredCredential): string {
  fs.mkdirSync(dataDir, { recursive: true });
  const file = credentialPath(dataDir);
  const tmp = `${file}.tmp`;
  fs.rmSync(tmp, { force: true });
  try {
    const fd = fs.openSync(tmp, "wx", 0o600);
    try {
      fs.writeSync(fd, JSON.stringify(value, null, 2) + "\n");
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    fs.chmodSync(tmp, 0o600);
    fs.renameSync(tmp, file);
  } catch (err) {
    // A write cut short (disk full) leaves no partial file behind, only the old one if there was one.
    fs.rmSync(tmp, { force: true });
    throw err;
  }
  syncDirectory(dataDir);
  return file;
}

/** Syncs a directory's entries (a rename in it) to disk. */
function syncDirectory(dir: string): void {
  const fd = fs.openSync(dir, "r");
  try {
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

/** A credential handed over for another site than the one this agent enrolled as: nothing is changed. */
export class CredentialRefusedError extends Error {
  override name = "CredentialRefusedError";
}

/**
 * Puts a credential the hub handed over (credential rotation) in place of the stored one, keeping its
 * site, hub and enrollment time; durable when it returns. A credential for another site is refused.
 */
export function replaceCredential(dataDir: string, credential: string): StoredCredential {
  const stored = loadCredential(dataDir);
  if (!stored) throw new Error("this agent holds no credential to replace");
  if (!credential.startsWith(`cts.${stored.site}.`)) {
    throw new CredentialRefusedError(
      `the new credential is not for site ${stored.site}; nothing was changed`,
    );
  }
  const next = { ...stored, credential };
  saveCredential(dataDir, next);
  return next;
}

/** The hub's HTTP base for a tunnel URL: wss://h/tunnel -> https://h/tunnel. */
function httpBase(tunnelUrl: string): string {
  const u = new URL(tunnelUrl);
  u.protocol = u.protocol === "wss:" ? "https:" : u.protocol === "ws:" ? "http:" : u.protocol;
  return u.toString().replace(/\/$/, "");
}

/** The hub answered the enrollment with a refusal (a token unknown, used, revoked or expired: 403). */
export class EnrollmentRefusedError extends Error {
  constructor(message: string, readonly status: number) {
    super(message);
  }
}

/** Swaps a one-time enrollment token for a site credential at the hub. */
export async function enroll(
  tunnelUrl: string,
  token: string,
  tls: HubTls = {},
  /** An outbound HTTP proxy (./proxy.ts): the enrollment goes through it (CONNECT, then TLS to the hub). */
  proxy?: ProxySetting,
): Promise<{ site: string; credential: string }> {
  // Without a proxy of ours, straight to the hub: Deno's fetch would apply a proxy of the environment by its
  // own NO_PROXY rules (no host:port entries, for one), not the tunnel's.
  if (proxy || envNamesProxy(processEnv())) {
    const res = await hubRequest(
      "POST",
      `${httpBase(tunnelUrl)}/enroll`,
      { authorization: `Bearer ${token}` },
      tls,
      proxy,
    );
    return enrollmentAnswer(res.status, res.statusText, res.body);
  }
  const client = tls.caCerts || tls.cert
    ? Deno.createHttpClient({
      ...(tls.caCerts ? { caCerts: tls.caCerts } : {}),
      ...(tls.cert && tls.key ? { cert: tls.cert, key: tls.key } : {}),
    })
    : undefined;
  try {
    const res = await fetch(`${httpBase(tunnelUrl)}/enroll`, {
      method: "POST",
      headers: { authorization: `Bearer ${token}` },
      client,
    } as RequestInit).catch((err) => {
      // Deno's "fetch failed" says why in its cause (the TLS alert, the refused connection).
      let message = (err as Error).message;
      for (let c = (err as Error).cause; c instanceof Error; c = c.cause) message += `: ${c.message}`;
      const hint = tlsHint(message, Boolean(tls.cert)) ||
        (/refused|dns error|lookup|unreachable|timed? ?out|reset/i.test(message)
          ? " (is the hub running, and does this machine reach it at that address? check --hub or hub.url)"
          : "");
      throw new Error(`${message}${hint}`);
    });
    return enrollmentAnswer(res.status, res.statusText, await res.text().catch(() => ""));
  } finally {
    client?.close();
  }
}

/** The credential in the hub's answer to an enrollment (`status`, the body's `text`), or why there is none. */
function enrollmentAnswer(
  status: number,
  statusText: string,
  text: string,
): { site: string; credential: string } {
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch { /* not JSON: said by the status */ }
  if (status === 404) {
    throw new Error(
      "nothing there answers enrollment (404): --hub or hub.url must be the hub's tunnel URL, " +
        "wss://HUB/tunnel (ws:// without TLS)",
    );
  }
  if (status < 200 || status > 299) {
    const said = (body as { error?: unknown } | null)?.error;
    throw new EnrollmentRefusedError(
      `the hub refused the enrollment (${status}): ${typeof said === "string" ? said : statusText}`,
      status,
    );
  }
  const ok = z.object({ site: z.string(), credential: z.string() }).safeParse(body);
  if (!ok.success) throw new Error("the hub's enrollment answer is not understood");
  return ok.data;
}

/**
 * The site credential the hub issued at enrollment, kept in `<data>/hub-credential.json` readable
 * by the agent's user only (0600). It never appears in logs.
 */
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

/** Writes the credential atomically with mode 0600 (the temporary file is created 0600 too). */
export function saveCredential(dataDir: string, value: StoredCredential): string {
  fs.mkdirSync(dataDir, { recursive: true });
  const file = credentialPath(dataDir);
  const tmp = `${file}.tmp`;
  fs.rmSync(tmp, { force: true });
  const fd = fs.openSync(tmp, "wx", 0o600);
  try {
    fs.writeSync(fd, JSON.stringify(value, null, 2) + "\n");
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  fs.chmodSync(tmp, 0o600);
  fs.renameSync(tmp, file);
  return file;
}

/** The hub's HTTP base for a tunnel URL: wss://h/tunnel -> https://h/tunnel. */
function httpBase(tunnelUrl: string): string {
  const u = new URL(tunnelUrl);
  u.protocol = u.protocol === "wss:" ? "https:" : u.protocol === "ws:" ? "http:" : u.protocol;
  return u.toString().replace(/\/$/, "");
}

/** Swaps a one-time enrollment token for a site credential at the hub. */
export async function enroll(
  tunnelUrl: string,
  token: string,
  caCerts?: string[],
): Promise<{ site: string; credential: string }> {
  const client = caCerts ? Deno.createHttpClient({ caCerts }) : undefined;
  try {
    const res = await fetch(`${httpBase(tunnelUrl)}/enroll`, {
      method: "POST",
      headers: { authorization: `Bearer ${token}` },
      client,
    } as RequestInit);
    const body = await res.json().catch(() => ({}));
    if (!res.ok) {
      throw new Error(`the hub refused the enrollment (${res.status}): ${body.error ?? res.statusText}`);
    }
    const ok = z.object({ site: z.string(), credential: z.string() }).safeParse(body);
    if (!ok.success) throw new Error("the hub's enrollment answer is not understood");
    return ok.data;
  } finally {
    client?.close();
  }
}

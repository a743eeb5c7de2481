/**
 * The demo's PACS beside south: Debian's Orthanc when installed (C-STORE, C-FIND, C-MOVE to south, and
 * Orthanc Explorer on an HTTP port), else DCMTK's `storescp` (C-STORE and C-ECHO only), else none, said
 * in a note. On loopback ports, with its data under the demo's directory and its log beside the others.
 */
import * as path from "node:path";

export interface DemoPacs {
  kind: "orthanc" | "storescp";
  aet: string;
  port: number;
  /** Orthanc Explorer, for Orthanc. */
  httpUrl?: string;
  /** The agent's node entry (`nodes.pacs` in south's config). */
  node: { aet: string; host: string; port: number; retrieve: "move" | "get" };
  stop(): Promise<void>;
}

/** The path of a program on `searchPath` (PATH by default; also /usr/sbin, /usr/bin), or undefined. */
export function which(
  name: string,
  searchPath = Deno.env.get("PATH") ?? "/usr/bin:/bin",
): string | undefined {
  for (const dir of searchPath.split(":").concat(["/usr/sbin", "/usr/bin"])) {
    const p = path.join(dir, name);
    try {
      if (Deno.statSync(p).isFile) return p;
    } catch { /* next */ }
  }
  return undefined;
}

async function acceptsTcp(port: number): Promise<boolean> {
  try {
    (await Deno.connect({ hostname: "127.0.0.1", port })).close();
    return true;
  } catch {
    return false;
  }
}

async function waitFor(what: string, check: () => Promise<boolean>, child: Deno.ChildProcess, log: string) {
  let exited = false;
  child.status.then(() => (exited = true));
  const deadline = Date.now() + 30_000;
  while (!(await check())) {
    if (exited || Date.now() > deadline) throw new Error(`demo: ${what} did not start (log: ${log})`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/**
 * Pipes a child's stdout and stderr into a log file as they come. Not `FsFile.writable`: piped into,
 * it kept everything until the child ended, so the demo's logs stayed empty while it ran.
 */
export async function logTo(child: Deno.ChildProcess, log: string): Promise<void> {
  const file = await Deno.open(log, { write: true, create: true, append: true });
  const sink = () =>
    new WritableStream<Uint8Array>({
      async write(chunk) {
        for (let done = 0; done < chunk.length;) done += await file.write(chunk.subarray(done));
      },
    });
  let open = 2;
  const closed = () => --open === 0 && file.close();
  child.stdout.pipeTo(sink()).catch(() => {}).finally(closed);
  child.stderr.pipeTo(sink()).catch(() => {}).finally(closed);
}

async function spawn(bin: string, args: string[], log: string): Promise<Deno.ChildProcess> {
  const child = new Deno.Command(bin, {
    args,
    stdout: "piped",
    stderr: "piped",
    env: { TCP_NODELAY: "1" },
  }).spawn();
  await logTo(child, log);
  return child;
}

const stopper = (child: Deno.ChildProcess) => async () => {
  try {
    child.kill("SIGTERM");
  } catch { /* gone */ }
  await child.status;
};

/**
 * Starts a PACS for south on `port` (and Orthanc's HTTP on `httpPort`), or returns undefined with the
 * reason when neither Orthanc nor storescp is installed.
 */
export async function startDemoPacs(
  dir: string,
  ports: { dimse: number; http: number },
  south: { aet: string; port: number },
): Promise<DemoPacs | string> {
  await Deno.mkdir(dir, { recursive: true });
  const log = `${dir}.log`;
  const bin = which("Orthanc");
  if (bin) {
    const config = {
      Name: "conduit-demo-pacs",
      StorageDirectory: dir,
      IndexDirectory: dir,
      HttpServerEnabled: true,
      HttpPort: ports.http,
      RemoteAccessAllowed: false,
      AuthenticationEnabled: false,
      DicomServerEnabled: true,
      DicomAet: "PACS",
      DicomPort: ports.dimse,
      DicomCheckCalledAet: false,
      DicomAlwaysAllowEcho: true,
      DicomAlwaysAllowStore: true,
      DicomAlwaysAllowFind: true,
      DicomAlwaysAllowGet: true,
      DicomAlwaysAllowMove: true,
      DicomModalities: { south: { AET: south.aet, Host: "127.0.0.1", Port: south.port } },
      SaveJobs: false,
    };
    const file = path.join(dir, "orthanc.json");
    await Deno.writeTextFile(file, JSON.stringify(config, null, 2));
    const child = await spawn(bin, [file], log);
    const httpUrl = `http://127.0.0.1:${ports.http}`;
    await waitFor(
      "Orthanc",
      async () => {
        try {
          const r = await fetch(`${httpUrl}/system`);
          await r.body?.cancel();
          return r.ok && await acceptsTcp(ports.dimse);
        } catch {
          return false;
        }
      },
      child,
      log,
    );
    return {
      kind: "orthanc",
      aet: "PACS",
      port: ports.dimse,
      httpUrl: `${httpUrl}/app/explorer.html`,
      node: { aet: "PACS", host: "127.0.0.1", port: ports.dimse, retrieve: "move" },
      stop: stopper(child),
    };
  }
  const storescp = which("storescp");
  if (storescp) {
    const child = await spawn(
      storescp,
      ["-aet", "PACS", "--output-directory", dir, String(ports.dimse)],
      log,
    );
    await waitFor("storescp", () => acceptsTcp(ports.dimse), child, log);
    return {
      kind: "storescp",
      aet: "PACS",
      port: ports.dimse,
      node: { aet: "PACS", host: "127.0.0.1", port: ports.dimse, retrieve: "get" },
      stop: stopper(child),
    };
  }
  return "no PACS at south: install Orthanc (apt-get install orthanc) or DCMTK (apt-get install dcmtk) " +
    "to try C-MOVE, node echo and the dead letter";
}

/**
 * The reference tools the tests and benchmarks run (DCMTK, Orthanc, dicom3tools, GDCM, Chromium): where
 * they are, why a test must be skipped when one is missing (with the Debian package to install), and
 * running a DCMTK command-line tool to completion. Imported through tests/support/peers.ts.
 */

/** Env for every DCMTK/Orthanc process: disable Nagle so small PDUs are not delayed. */
export const PEER_ENV: Record<string, string> = { TCP_NODELAY: "1" };

/** Path of Debian's Orthanc binary. */
export const ORTHANC_BIN = "/usr/sbin/Orthanc";

/** Path of Debian's Orthanc DICOMweb plugin (package orthanc-dicomweb). */
export const ORTHANC_DICOMWEB_PLUGIN = "/usr/share/orthanc/plugins/libOrthancDicomWeb.so";

/** Debian package that ships each tool we may need, for skip messages. */
const APT_PACKAGE: Record<string, string> = {
  storescp: "dcmtk",
  storescu: "dcmtk",
  echoscu: "dcmtk",
  findscu: "dcmtk",
  movescu: "dcmtk",
  getscu: "dcmtk",
  dcmsend: "dcmtk",
  dcmrecv: "dcmtk",
  dcmdump: "dcmtk",
  dcmodify: "dcmtk",
  dcmconv: "dcmtk",
  dcmqrscp: "dcmtk",
  wlmscpfs: "dcmtk",
  Orthanc: "orthanc",
  [ORTHANC_BIN]: "orthanc",
  [ORTHANC_DICOMWEB_PLUGIN]: "orthanc-dicomweb",
  dciodvfy: "dicom3tools",
  dcdump: "dicom3tools",
  gdcmconv: "libgdcm-tools",
  gdcmscu: "libgdcm-tools",
  gdcminfo: "libgdcm-tools",
  gdcmdump: "libgdcm-tools",
  chromium: "chromium",
  tinyproxy: "tinyproxy",
  prometheus: "prometheus",
  promtool: "prometheus",
};

/** Result of {@link runDcmtk}. */
export interface ToolResult {
  /** Exit code; 124 when killed on timeout. */
  code: number;
  stdout: string;
  stderr: string;
}

function isExecutableFile(path: string): boolean {
  try {
    const info = Deno.statSync(path);
    return info.isFile && ((info.mode ?? 0o111) & 0o111) !== 0;
  } catch {
    return false;
  }
}

function isFile(path: string): boolean {
  try {
    return Deno.statSync(path).isFile;
  } catch {
    return false;
  }
}

/**
 * Resolves a tool name to an executable path: absolute paths as given, else the first match on PATH, then
 * /usr/bin and /usr/sbin. Returns undefined when not found.
 */
export function toolPath(name: string): string | undefined {
  if (name.includes("/")) return isExecutableFile(name) ? name : undefined;
  let pathDirs: string[] = [];
  try {
    pathDirs = (Deno.env.get("PATH") ?? "").split(":").filter((d) => d !== "");
  } catch {
    // no env permission: fall back to the standard directories
  }
  for (const dir of [...pathDirs, "/usr/bin", "/usr/sbin", "/usr/local/bin"]) {
    const candidate = `${dir}/${name}`;
    if (isExecutableFile(candidate)) return candidate;
  }
  return undefined;
}

/**
 * Whether a tool is available: a binary on PATH or in /usr/bin or /usr/sbin. An absolute path (such as
 * {@link ORTHANC_DICOMWEB_PLUGIN}) just has to exist as a file.
 */
export function hasTool(name: string): boolean {
  if (name.startsWith("/")) return isFile(name);
  return toolPath(name) !== undefined;
}

/**
 * Why tests needing `tools` must be skipped, e.g. "needs storescp (apt-get install dcmtk)", or false
 * when all are present. Use as `Deno.test({ name, ignore: !!reason, fn })`.
 */
export function skipReason(...tools: string[]): string | false {
  const missing = tools.filter((t) => !hasTool(t));
  if (missing.length === 0) return false;
  const packages = [...new Set(missing.map((t) => APT_PACKAGE[t]).filter((p): p is string => !!p))];
  const unknown = missing.filter((t) => !APT_PACKAGE[t]);
  const hints: string[] = [];
  if (packages.length > 0) hints.push(`apt-get install ${packages.join(" ")}`);
  if (unknown.length > 0) hints.push(`not found on PATH: ${unknown.join(", ")}`);
  return `needs ${missing.join(", ")} (${hints.join("; ")})`;
}

/**
 * Runs a DCMTK command-line tool (e.g. `echoscu`, `storescu`) to completion with env TCP_NODELAY=1 and
 * collects its output. On timeout (default 60 s) the process is killed and `code` is 124.
 */
export async function runDcmtk(
  tool: string,
  args: string[],
  opts: { timeoutMs?: number } = {},
): Promise<ToolResult> {
  const bin = toolPath(tool);
  if (!bin) throw new Error(skipReason(tool) || `${tool} not found`);
  const timeoutMs = opts.timeoutMs ?? 60_000;
  const child = new Deno.Command(bin, {
    args,
    env: PEER_ENV,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    try {
      child.kill("SIGKILL");
    } catch {
      // already exited
    }
  }, timeoutMs);
  try {
    const out = await child.output();
    const decoder = new TextDecoder();
    const stdout = decoder.decode(out.stdout);
    let stderr = decoder.decode(out.stderr);
    if (timedOut) stderr += `\n[peers] ${tool} killed after ${timeoutMs} ms timeout\n`;
    return { code: timedOut ? 124 : out.code, stdout, stderr };
  } finally {
    clearTimeout(timer);
  }
}

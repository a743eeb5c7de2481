/**
 * What stops an agent before anything is opened: a route that does not compile, a site key or a TLS file that
 * cannot be used, a data directory that cannot be made or written. Each error names the setting.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { dataDirError, entriesError, NOT_A_DIRECTORY, unusableEntries } from "@conduit/shared/data-dir";
import * as os from "node:os";
import type { AgentConfig } from "./config/schema.ts";
import { checkTlsFiles } from "./config/tls_files.ts";
import { KeyFileError, loadKeyFile } from "./config/key_file.ts";
import { compileRoutes } from "./routing/rules.ts";
import { loadProfile } from "./deid/load_profile.ts";

/** Checks what can stop a start (loading the profile table when a route de-identifies); returns the data directory. */
export async function checkBeforeStart(config: AgentConfig): Promise<string> {
  // The profile table is loaded only when a route de-identifies (a transfer's stage loads it when asked).
  if (config.routes.some((r) => r.deid)) await loadProfile();
  compileRoutes(config); // a bad route stops here, before anything is opened (RouteConfigError)
  siteKey(config); // and an unusable site key (KeyFileError)
  checkTlsFiles(config); // and a TLS file that cannot be read or used (TlsFileError)
  const dataDir = path.resolve(config.data);
  try {
    fs.mkdirSync(dataDir, { recursive: true });
    if (!fs.statSync(dataDir).isDirectory()) throw NOT_A_DIRECTORY;
    fs.accessSync(dataDir, fs.constants.W_OK | fs.constants.X_OK);
    // A file made and removed: access() says yes to root on a file system mounted read-only.
    const probe = path.join(dataDir, `.start-probe-${Deno.pid}`);
    fs.writeFileSync(probe, "", { flag: "w", mode: 0o600 });
    fs.rmSync(probe, { force: true });
  } catch (err) {
    throw dataDirError(dataDir, err, "CONDUIT_AGENT_DATA");
  }
  const unusable = unusableEntries(dataDir, fs);
  if (unusable.length) throw entriesError(dataDir, unusable, () => os.userInfo().username);
  return dataDir;
}

/** The site's de-identification key (`deid.keyFile`), if configured; throws KeyFileError naming the key. */
export function siteKey(config: AgentConfig): Uint8Array | undefined {
  if (!config.deid.keyFile) return undefined;
  try {
    return loadKeyFile(config.deid.keyFile);
  } catch (err) {
    if (err instanceof KeyFileError) throw new KeyFileError(`deid.keyFile: ${err.message}`);
    throw err;
  }
}

/**
 * De-identification keys: a file of at least 16 bytes, read once at start. The key's bytes never reach a
 * log, an API answer or the hub; errors name the file and the reason only.
 */
import * as fs from "node:fs";

/** The shortest key accepted, in bytes. */
const MIN_KEY_BYTES = 16;

/** A key file that cannot be used; the message names the file and says why. */
export class KeyFileError extends Error {
  override name = "KeyFileError";
}

/** Reads a key file; throws KeyFileError when it cannot be read or is too short. */
export function loadKeyFile(file: string): Uint8Array {
  let key: Uint8Array;
  try {
    key = fs.readFileSync(file);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new KeyFileError(
      `cannot read the key file ${file}: ${
        code === "ENOENT" ? "no such file" : code === "EACCES" ? "permission denied" : code ?? "unreadable"
      }`,
    );
  }
  if (key.length < MIN_KEY_BYTES) {
    throw new KeyFileError(
      `the key file ${file} holds ${key.length} bytes; it needs at least ${MIN_KEY_BYTES}`,
    );
  }
  return key;
}

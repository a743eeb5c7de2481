/**
 * Text in the legacy encodings Excel's plain "CSV" writes on Windows, made by Debian's python3 codecs: real
 * bytes from another implementation than the one under test (this runtime's TextEncoder writes UTF-8 only,
 * and its TextDecoder is what reads them back).
 */
import type { KnownEncoding } from "@conduit/shared/csv-text";

const PYTHON = "/usr/bin/python3";

/**
 * Python's codec for each encoding, as Windows writes it (Shift_JIS is Windows' cp932, EUC-KR its cp949,
 * Excel's "Unicode Text" UTF-16 with its byte order mark).
 */
export const CODECS: Record<Exclude<KnownEncoding, "utf-8">, string> = {
  "utf-16": "utf-16", // with its byte order mark, little-endian (as Windows writes it)
  shift_jis: "cp932",
  gbk: "gbk",
  "euc-kr": "cp949",
  "windows-1251": "cp1251",
  "windows-1253": "cp1253",
  "windows-1252": "cp1252",
};

/** `text` in `encoding`'s bytes; throws when python3 cannot write it (a character that encoding has not). */
export async function encodeLegacy(text: string, encoding: keyof typeof CODECS): Promise<Uint8Array> {
  const child = new Deno.Command(PYTHON, {
    args: [
      "-c",
      `import sys; sys.stdout.buffer.write(sys.stdin.buffer.read().decode("utf-8").encode("${
        CODECS[encoding]
      }"))`,
    ],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const writer = child.stdin.getWriter();
  await writer.write(new TextEncoder().encode(text));
  await writer.close();
  const out = await child.output();
  if (!out.success) {
    throw new Error(`python3 could not write ${encoding}: ${new TextDecoder().decode(out.stderr)}`);
  }
  return out.stdout;
}

/**
 * Test objects made at test time by a Python script with pydicom (Debian's python3-pydicom, installed for
 * /usr/bin/python3 only: a python3 first on PATH may be another): whether it can run here, and running it.
 */

/** The python3 that has pydicom. */
const PYTHON = "/usr/bin/python3";

/** Why pydicom cannot run here (no /usr/bin/python3, or no pydicom for it), or undefined when it can. */
export async function pydicomSkip(): Promise<string | undefined> {
  try {
    const r = await new Deno.Command(PYTHON, { args: ["-c", "import pydicom"], stderr: "null" }).output();
    return r.success ? undefined : `no pydicom for ${PYTHON}`;
  } catch {
    return `no ${PYTHON}`;
  }
}

/** Runs the Python `script` with `args` (its sys.argv[1:]); a failure throws with what the script wrote to stderr. */
export async function runPydicom(script: string, args: string[]): Promise<void> {
  const r = await new Deno.Command(PYTHON, { args: ["-c", script, ...args], stderr: "piped" }).output();
  if (!r.success) throw new Error(`pydicom: ${new TextDecoder().decode(r.stderr)}`);
}

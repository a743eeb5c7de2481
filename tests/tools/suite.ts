/**
 * Runs `deno test` with a temporary folder of its own as TMPDIR, removed when the run ends (pass or fail):
 * tests and the peers they start (storescp, Orthanc, Chromium, agents, hubs) make their scratch folders
 * under TMPDIR, and many do not remove them (19 GB in /tmp after a morning of runs here). Resolves with
 * the run's exit code. Used by `deno task test` (run_tests.ts) and `deno task test:pg` (test_pg.ts).
 */
export async function runTestsInOwnTmp(args: string[], env: Record<string, string> = {}): Promise<number> {
  const root = await Deno.makeTempDir({ prefix: "conduit-test-" });
  const child = new Deno.Command(Deno.execPath(), {
    args: ["test", ...args],
    env: { ...env, TMPDIR: root },
    stdin: "null",
    stdout: "inherit",
    stderr: "inherit",
  }).spawn();
  // An interrupt reaches the run too (same process group); wait for it to end, then clean up.
  const forward = (signal: Deno.Signal) => () => {
    try {
      child.kill(signal);
    } catch { /* ended already */ }
  };
  const listeners = (["SIGINT", "SIGTERM"] as const).map((s) => [s, forward(s)] as const);
  for (const [s, f] of listeners) Deno.addSignalListener(s, f);
  const { code } = await child.status;
  for (const [s, f] of listeners) Deno.removeSignalListener(s, f);
  // Peers a test left running may still write for a moment: a few tries.
  for (let attempt = 0;; attempt++) {
    try {
      await Deno.remove(root, { recursive: true });
      break;
    } catch (err) {
      if (err instanceof Deno.errors.NotFound) break;
      if (attempt >= 4) {
        console.error(`could not remove the run's temporary folder ${root}: ${(err as Error).message}`);
        break;
      }
      await new Promise((r) => setTimeout(r, 500));
    }
  }
  return code;
}

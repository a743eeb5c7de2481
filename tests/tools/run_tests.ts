/**
 * `deno task test [deno test args...]`: the suite, with a temporary folder of its own. Every test, and
 * every peer a test starts (storescp, Orthanc, Chromium, agents, hubs), makes its scratch files under
 * TMPDIR; this run gives them one folder and removes it when the suite ends, pass or fail, so a run leaves
 * nothing in /tmp (before: several GB per full run from the tests that do not clean up after themselves,
 * 19 GB after a morning of runs). Arguments go to `deno test` (a file, `--filter ...`).
 */
const root = await Deno.makeTempDir({ prefix: "conduit-test-" });
const child = new Deno.Command(Deno.execPath(), {
  args: ["test", "-A", "--permit-no-files", "--parallel", ...Deno.args],
  env: { TMPDIR: root },
  stdin: "inherit",
  stdout: "inherit",
  stderr: "inherit",
}).spawn();
// An interrupt reaches the suite too (same process group); this run waits for it to end, then cleans up.
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  Deno.addSignalListener(signal, () => {
    try {
      child.kill(signal);
    } catch { /* ended already */ }
  });
}
const { code } = await child.status;
// Peers a test left running may still write for a moment: a few tries.
for (let attempt = 0;; attempt++) {
  try {
    await Deno.remove(root, { recursive: true });
    break;
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) break;
    if (attempt >= 4) {
      console.error(`could not remove the suite's temporary folder ${root}: ${(err as Error).message}`);
      break;
    }
    await new Promise((r) => setTimeout(r, 500));
  }
}
Deno.exit(code);

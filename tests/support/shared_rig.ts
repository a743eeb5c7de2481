/**
 * One rig (a hub, agents, files) shared by the tests of a file: made by the first test that needs it,
 * stopped by the file's last test. Deno runs a file's tests in order, one at a time, so the rig is never
 * made twice; a set-up that fails fails every test that needs it, with the same error. Under `--filter`
 * each test has a rig of its own (FILTERED).
 */
export interface SharedRig<R> {
  /** A test that gets the rig (made on first use); `ignore`d also when the test alone cannot run here. */
  test(name: string, fn: (rig: R) => Promise<void>, options?: { ignore?: boolean }): void;
  /** The rig, made if no test has made it yet. */
  get(): Promise<R>;
  /** The file's last test: stops the rig if a test made it. */
  tearDown(name: string): void;
}

/**
 * Whether this test run picks tests by name (`deno test --filter`, read from the process's own command line):
 * the file's tearDown may then not run, and a rig left running with an in-process hub crashes the process at
 * exit (tests/tools/shared_rig_test.ts), so each picked test makes and stops a rig of its own.
 */
const FILTERED = (() => {
  try {
    return Deno.readTextFileSync("/proc/self/cmdline").split("\0").some((a) =>
      a === "--filter" || a.startsWith("--filter=")
    );
  } catch {
    return false;
  }
})();

export function sharedRig<R>(options: {
  /** Why the file's tests cannot run here (a missing tool), or undefined. */
  skip?: string | false;
  setUp(): Promise<R>;
  stop(rig: R): Promise<void>;
}): SharedRig<R> {
  let made: Promise<R> | undefined;
  const get = () => (made ??= options.setUp());
  const define = (name: string, fn: () => Promise<void>, ignore = false) =>
    Deno.test({
      name,
      ignore: Boolean(options.skip) || ignore,
      sanitizeOps: false,
      sanitizeResources: false,
      fn,
    });
  return {
    get,
    test: (name, fn, testOptions) =>
      define(name, async () => {
        if (!FILTERED) return await fn(await get());
        try {
          await fn(await get());
        } finally {
          const rig = await made?.catch(() => undefined);
          made = undefined;
          if (rig) await options.stop(rig);
        }
      }, testOptions?.ignore),
    tearDown: (name) =>
      define(name, async () => {
        const rig = await made?.catch(() => undefined);
        made = undefined;
        if (rig) await options.stop(rig);
      }),
  };
}

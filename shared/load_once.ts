/**
 * A loader called at most once at a time and once for good: the first call starts `load`, the calls made
 * while it runs share that same promise, and its value is kept. A failure is not kept: the calls that
 * shared it get the error, and the next call starts `load` again, so a transient failure fails those
 * requests rather than every later one until a restart.
 *
 * Deno itself keeps a module that failed to load failed for the life of the process (a missing file, an
 * error while it evaluates: measured with Deno 2.9.6), so an `import()` inside `load` fails the same way
 * again; what `load` does after the import (building a handler from it) is what a second call retries.
 */
export function loadOnce<T>(load: () => Promise<T>): () => Promise<T> {
  let loading: Promise<T> | undefined;
  return () =>
    loading ??= (async () => await load())().catch((err) => {
      loading = undefined;
      throw err;
    });
}

/**
 * How both programs run as a process (`agent/start.ts`, `hub/main.ts`). A failure inside a library
 * callback (an unhandled rejection, an uncaught exception) is logged and the process goes on: one
 * association or site must not end the others. A failure of `main` itself (a part that cannot be loaded,
 * a port in use) is logged as `failed` and ends the process with exit code 1, so that a supervisor sees it
 * (systemd's `Restart=on-failure`); until 2026-12-03 the handler took that one too, and a hub whose port
 * was taken went on without serving, an agent whose part could not load exited 0.
 */
import type { Logger } from "./log.ts";

const reasonOf = (err: unknown) => String((err as Error)?.message ?? err);

/** Runs `main` as the process and exits with its code (1 when it throws). */
export async function runAsProcess(main: () => Promise<number>, log: Logger, failed: string): Promise<never> {
  globalThis.addEventListener("unhandledrejection", (e) => {
    e.preventDefault();
    log.error("unhandled rejection", { reason: reasonOf(e.reason) });
  });
  globalThis.addEventListener("error", (e) => {
    e.preventDefault();
    log.error("uncaught exception", { reason: String(e.message) });
  });
  let code: number;
  try {
    code = await main();
  } catch (err) {
    log.error(failed, { reason: reasonOf(err) });
    code = 1;
  }
  Deno.exit(code);
}

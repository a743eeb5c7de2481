/**
 * How both programs run as a process (`agent/start.ts`, `hub/main.ts`). A failure inside a library
 * callback (an unhandled rejection, an uncaught exception) is logged and the process goes on: one
 * association or site must not end the others. A failure of `main` itself (a part that cannot be loaded,
 * a port in use) is logged as `failed` and ends the process with exit code 1, so that a supervisor sees it
 * (systemd's `Restart=on-failure`); until 2026-12-03 the handler took that one too, and a hub whose port
 * was taken went on without serving, an agent whose part could not load exited 0. Every file and folder either
 * makes is kept from other users of the machine (umask 027 at least, added to the one it was given): the
 * archive, the index and the hub's database hold patient data, password hashes and the audit log.
 */
import type { Logger } from "./log.ts";

const reasonOf = (err: unknown) => String((err as Error)?.message ?? err);

/**
 * The bits every process of Conduit leaves out of the files it makes: write for the group, everything for
 * others (files 0640 and folders 0750 at most). A stricter umask given to the process (systemd's `UMask=0077`)
 * is kept.
 */
export const PRIVATE_UMASK = 0o027;

/** Runs `main` as the process and exits with its code (1 when it throws). */
export async function runAsProcess(main: () => Promise<number>, log: Logger, failed: string): Promise<never> {
  Deno.umask(Deno.umask() | PRIVATE_UMASK);
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

/**
 * How long a stopping program waits for its HTTP requests in progress (a STOW-RS upload, a WADO-RS
 * retrieve, a console's live updates over SSE, which never end by themselves) before it exits anyway.
 */
export const HTTP_STOP_GRACE_MS = 5_000;

/**
 * `server.shutdown()` (no new connections; waits for the requests in progress), for at most `graceMs`.
 * Resolves false when requests were still open then: the caller goes on stopping, and `Deno.exit` at the
 * end of {@link runAsProcess} closes their connections. Until 2026-12-04 the hub waited for them without a
 * limit: a client sending slowly kept a SIGTERM'd hub up for two minutes.
 */
export async function shutdownWithin(
  server: { shutdown(): Promise<void> },
  graceMs = HTTP_STOP_GRACE_MS,
): Promise<boolean> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    return await Promise.race([
      server.shutdown().then(() => true),
      new Promise<boolean>((resolve) => timer = setTimeout(() => resolve(false), graceMs)),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** How soon after a stop signal the same one counts as its duplicate (a process group's and a forwarder's). */
export const SAME_SIGNAL_MS = 300;

/**
 * Resolves at the first SIGINT or SIGTERM, logging `<what> stopping` with the signal. A second one while
 * the program stops ends it at once (`stopping at once`, exit code 128 + the signal's number: 130, 143),
 * as a second Ctrl-C does elsewhere: no clean-stop mark, so an agent's next start checks its data as after a
 * crash. Until 2026-12-04 the second signal did nothing, and the stop said nothing until it had finished.
 * The same signal again within {@link SAME_SIGNAL_MS} is the first one delivered twice, not a second ask:
 * a SIGTERM sent to the process group of `deno task agent` reaches the agent directly and again through
 * `deno task`, which forwards it (until 2026-12-07 that made every such stop a crash-like one).
 */
export function untilStopSignal(log: Logger, what: string): Promise<Deno.Signal> {
  return new Promise((resolve) => {
    let stopping: { signal: Deno.Signal; at: number } | undefined;
    const on = (signal: "SIGINT" | "SIGTERM") => () => {
      if (stopping && stopping.signal === signal && performance.now() - stopping.at < SAME_SIGNAL_MS) return;
      if (stopping) {
        log.warn(`${what} stopping at once`, { signal });
        Deno.exit(signal === "SIGINT" ? 130 : 143);
      }
      stopping = { signal, at: performance.now() };
      log.info(`${what} stopping`, { signal });
      resolve(signal);
    };
    Deno.addSignalListener("SIGINT", on("SIGINT"));
    Deno.addSignalListener("SIGTERM", on("SIGTERM"));
  });
}

/**
 * A turn of the event loop: synchronous work (a file copy, a native database call) resolves in microtasks,
 * and a signal listener runs only between turns. A command that checks its {@link stopSignal} after such
 * work awaits this first.
 */
export function eventLoopTurn(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, 0));
}

/**
 * Before a step that cannot be taken back (a backup kept, a restore's swap of hub.db): turns of the event loop
 * over `ms`, so that a signal which came during the synchronous work before it (a native open waiting on a
 * lock, a VACUUM) reaches its listener first. One turn ({@link eventLoopTurn}) was not always enough: under
 * load, a Ctrl-C sent while `hub admin backup` waited to open hub.db reached its listener only after the copy
 * had been kept (the command then said so and exited 0; tests/cli/backup_signal_test.ts failed once so). The
 * signal is pending in the process before that work returns; what takes more than one turn is its way from
 * the runtime's signal driver to the listener.
 */
export async function signalsSettled(ms = 20): Promise<void> {
  await eventLoopTurn();
  await new Promise((resolve) => setTimeout(resolve, ms));
  await eventLoopTurn();
}

/**
 * For a command that works through many things (a de-identification over a directory): the first SIGINT or
 * SIGTERM aborts the returned signal, with the signal's name as its reason, so the command stops at its next
 * step and says what it did; a second one ends the process at once (exit code 130 or 143). `exitCode` is
 * the signal's (130, 143) once one came, for the command to end with; `dispose` stops listening (the signals'
 * default action again).
 *
 * @param onStop called at the first signal: the command says it is stopping
 */
export function stopSignal(
  onStop: (signal: "SIGINT" | "SIGTERM") => void,
): { signal: AbortSignal; exitCode(): number | undefined; dispose(): void } {
  const controller = new AbortController();
  const code = (signal: unknown) => signal === "SIGINT" ? 130 : 143;
  const on = (signal: "SIGINT" | "SIGTERM") => () => {
    if (controller.signal.aborted) Deno.exit(code(signal));
    controller.abort(signal);
    onStop(signal);
  };
  const listeners = [["SIGINT", on("SIGINT")], ["SIGTERM", on("SIGTERM")]] as const;
  for (const [signal, listener] of listeners) Deno.addSignalListener(signal, listener);
  return {
    signal: controller.signal,
    exitCode: () => controller.signal.aborted ? code(controller.signal.reason) : undefined,
    dispose: () => {
      for (const [signal, listener] of listeners) Deno.removeSignalListener(signal, listener);
    },
  };
}

/**
 * Calls `reload` at each SIGHUP (`systemctl reload`, `kill -HUP`), logging `<what> reloading`: what nginx and
 * haproxy do, to take renewed certificates without a restart. Until 2026-12-05 a SIGHUP ended the program
 * (the signal's default action). Returns the function that stops listening. Nothing on Windows (no SIGHUP).
 */
export function onReloadSignal(log: Logger, what: string, reload: () => unknown): () => void {
  if (Deno.build.os === "windows") return () => {};
  const on = () => {
    log.info(`${what} reloading`, { signal: "SIGHUP" });
    try {
      reload();
    } catch (err) {
      log.error(`${what} reload failed`, { reason: reasonOf(err) });
    }
  };
  Deno.addSignalListener("SIGHUP", on);
  return () => Deno.removeSignalListener("SIGHUP", on);
}

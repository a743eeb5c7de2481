/**
 * The agent's heartbeats on a tunnel session: a ping every `heartbeatMs` (none while one is unanswered), and
 * the session closed once a ping has gone unanswered for `timeoutMs`, so a half-open link is found within
 * heartbeat + timeout. Unanswered time is checked four times a second (one session costs nothing to check;
 * the hub, holding thousands, checks once a second). A check that comes right after the agent's own event
 * loop was held judges nothing for one period (`StallGuard`): the hub's answer then waits in the socket, and
 * the timers run before it is read. Until 2026-12-06 each ping had its own timer, and a stall as long as the
 * timeout (a long synchronous database call, a machine out of CPU) closed a session whose hub had answered.
 */
import { Reason, type Session } from "@conduit/shared/tunnel";
import { StallGuard } from "@conduit/shared/stall-guard";
import type { Logger } from "@conduit/shared/log";

export interface HeartbeatOptions {
  heartbeatMs: number;
  timeoutMs: number;
  log: Logger;
}

/** Starts the heartbeats; the function returned stops them. */
export function keepBeating(session: Session, o: HeartbeatOptions): () => void {
  const checkMs = Math.min(250, o.timeoutMs / 4);
  const stalls = new StallGuard(checkMs);
  const beat = setInterval(() => session.beat(), o.heartbeatMs);
  const check = setInterval(() => {
    if (!stalls.mayJudge() || session.isClosed || session.beatUnansweredMs <= o.timeoutMs) return;
    o.log.warn("the hub missed a heartbeat; dropping the session", { timeoutMs: o.timeoutMs });
    session.close(Reason.HeartbeatTimeout, "no answer to ping");
  }, checkMs);
  return () => {
    clearInterval(beat);
    clearInterval(check);
  };
}

/**
 * The console's one client for all hub calls: tRPC over the session cookie, with the session's CSRF
 * token on every mutation, and subscriptions over SSE (same origin: the cookie goes along).
 */
import { createTRPCClient, httpBatchLink, httpSubscriptionLink, splitLink } from "@trpc/client";
import type { Action, AppRouter } from "@conduit/hub/api";
import type { ResourceFetcher } from "solid-js";

export type { Action };

export interface Me {
  user: string;
  role: "viewer" | "operator" | "admin";
  csrf: string;
  /** What the user's role allows, from the hub's role matrix: the console shows only these. */
  actions: Action[];
  /**
   * How the hub names its programs' commands (hub/auth/routes.ts): `deno task agent` from source; and the
   * tunnel URL an agent takes (from the hub's `publicUrl`; `wss://HUB/tunnel` without it).
   */
  commands: { agent: string; hub: string; tunnel?: string };
  /** Whether the hub has the viewer to serve (hub/viewer.ts; absent from a hub older than this console). */
  viewerInstalled?: boolean;
}

/** The commands the console's hints name, as the hub runs ({@link Me}); the repository's until a login. */
let commands: Me["commands"] = { agent: "deno task agent", hub: "deno task hub" };

/** The command that runs the agent or the hub where this hub is installed, for the console's hints. */
export const commandOf = (program: "agent" | "hub"): string => commands[program];

/** The tunnel URL an agent is told to take (a hub older than this console gives none: the placeholder). */
export const hubTunnelUrl = (): string => commands.tunnel ?? "wss://HUB/tunnel";

let viewer = true;

/**
 * Whether the hub serves the viewer, as its last login or `/auth/me` said (a hub that does not say: assumed
 * so, as before): without it "Open in viewer" is disabled, saying how to build it.
 */
export const viewerInstalled = (): boolean => viewer;

/** The title of a disabled "Open in viewer": why, and what to do. */
export const VIEWER_MISSING =
  "The viewer is not installed on the hub: run deno task build:viewer (or deno task " +
  "build) where the hub runs, then reload this page";

/** Whether the user may do `action` (a button the hub would refuse is not shown). */
export type May = (action: Action) => boolean;

let csrf = "";

/**
 * When the user last did something in the console (a key, a click, a tap). Every call tells the hub how
 * long ago that was (`X-Conduit-Last-Input`): the screens refresh by themselves, and a tab left open must not
 * keep its session past the hub's idle time (`console.sessionIdleMinutes`).
 */
let lastInput = Date.now();
for (const type of ["keydown", "pointerdown", "wheel"]) {
  globalThis.addEventListener?.(type, () => lastInput = Date.now(), { capture: true, passive: true });
}
const inputHeader = () => ({
  "x-conduit-last-input": String(Math.max(0, Math.round(Date.now() - lastInput))),
});

/** Whether the hub said the session expired (unused too long, or 12 hours old) at the last look. */
let expired = false;
export const sessionExpired = (): boolean => expired;

let ended: ((expired: boolean) => void) | undefined;
/**
 * Calls `handler` when the hub answers 401 to a call of the console: its session ended (expired, logged
 * out in another tab, the user disabled), `expired` saying whether it was by age or disuse (the hub's
 * `/auth/me` says so). The console then shows its login, and the same screen after.
 */
export function onSessionEnded(handler: (expired: boolean) => void): void {
  ended = handler;
}
/** Tells the console its session ended (a 401 seen outside the batch link, as on a subscription). */
export function sessionEnded(): void {
  if (!csrf) return;
  csrf = "";
  sessionUser = "";
  // Why: asked once (an expired session's row is still there to say so); the login shows meanwhile either way.
  void me().catch(() => undefined).finally(() => ended?.(expired));
}

export const api = createTRPCClient<AppRouter>({
  links: [
    splitLink({
      condition: (op) => op.type === "subscription",
      true: httpSubscriptionLink({ url: "/trpc" }),
      false: httpBatchLink({
        url: "/trpc",
        headers: () => ({ ...inputHeader(), ...(csrf ? { "x-csrf-token": csrf } : {}) }),
        fetch: async (url, init) => {
          const res = await fetch(url, { ...init, credentials: "same-origin" });
          if (res.status === 401) sessionEnded();
          // Logged in again in another tab: the cookie is the new session's, the token the old one's.
          // Take the new session's token and send the call once more.
          if (res.status === 403 && init?.method === "POST" && /CSRF token/.test(await res.clone().text())) {
            const before = csrf;
            const now = await me();
            if (now && now.user !== sessionUser) return (globalThis.location.reload(), res);
            if (now && csrf !== before) {
              const headers = new Headers(init.headers as HeadersInit);
              headers.set("x-csrf-token", csrf);
              return await fetch(url, { ...init, headers, credentials: "same-origin" });
            }
          }
          return res;
        },
      }),
    }),
  ],
});

/** The user of the session the console runs in ("" before a login). */
let sessionUser = "";

/**
 * The session's user, or undefined when there is none (401). Throws, with the hub's sentence, when the hub
 * could not say (503 while it cannot reach its database): the session may well be valid.
 */
export async function me(): Promise<Me | undefined> {
  const res = await fetch("/auth/me", { credentials: "same-origin", headers: inputHeader() });
  expired = res.status === 401 && res.headers.get("x-conduit-session") === "expired";
  if (res.status >= 500) {
    const body = await res.json().catch(() => ({}));
    throw new Error(body.detail ?? `the hub answered ${res.status}`);
  }
  if (!res.ok) return undefined;
  const m = await res.json() as Me;
  csrf = m.csrf;
  sessionUser ||= m.user;
  if (m.commands) commands = m.commands;
  viewer = m.viewerInstalled ?? true;
  return m;
}

export async function login(user: string, password: string): Promise<Me> {
  const res = await fetch("/auth/login", {
    method: "POST",
    credentials: "same-origin",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ user, password }),
  });
  const body = await res.json();
  if (!res.ok) throw new Error(body.detail ?? body.error ?? `login failed (${res.status})`);
  csrf = body.csrf;
  sessionUser = body.user;
  if (body.commands) commands = body.commands;
  viewer = body.viewerInstalled ?? true;
  return body as Me;
}

export async function logout(): Promise<void> {
  await fetch("/auth/logout", {
    method: "POST",
    credentials: "same-origin",
    headers: { "x-csrf-token": csrf },
  });
  csrf = "";
  sessionUser = "";
}

/** Why the hub could not be asked at a screen's last refresh, and since when. */
export interface Down {
  reason: string;
  since: number;
}

/**
 * A fetcher for a resource its screen refreshes by itself (every few seconds): when the hub cannot be
 * asked (a restart, the network, a loaded machine) it keeps what the hub said last for the same source
 * and tells `setDown` why, so a list left open comes back by itself instead of failing the screen. With
 * nothing to keep (the first answer, or another page), it answers `undefined`.
 */
export function keepLast<S, T>(
  call: (source: S) => Promise<T>,
  setDown: (change: (d: Down | undefined) => Down | undefined) => void,
): ResourceFetcher<S, T | undefined> {
  let keptFor: { source: S } | undefined;
  return async (source, { value }) => {
    try {
      const answer = await call(source);
      keptFor = { source };
      setDown(() => undefined);
      return answer;
    } catch (err) {
      const reason = (err as Error).message;
      setDown((d) => d ?? { reason, since: Date.now() });
      return keptFor && keptFor.source === source ? value : undefined;
    }
  };
}

/**
 * Sites (`/sites`): state, and (admins) adding sites, rotating their credentials and revoking them (after a
 * confirmation); a site's page (`/sites/{name}`):
 * its nodes with echo, its dead letter with replay, its conflicts (objects received again with other bytes)
 * with, for a copy kept beside the stored object, Keep stored / Keep received (after a confirmation), and
 * (admins) its uplink and downlink caps.
 */
import { createEffect, createMemo, createResource, createSignal, For, on, onCleanup, Show } from "solid-js";
import { api, type May } from "../api.ts";
import { count, instant } from "../format.ts";
import { Link, path } from "../router.tsx";
import { SitesTable } from "../tables.tsx";
import { CopyButton, createConfirm, Dialog, Pager, Scroll, State, Uid } from "../widgets.tsx";

/** Conflicts shown on one page of a site's Conflicts section. */
const CONFLICTS_PAGE = 20;

export function Sites(props: { current?: string; may: May }) {
  const [sites, { refetch }] = createResource(() => api.sites.list.query());
  // Sites come and go on their own: their states refreshed every 5 s, like the dashboard's.
  const timer = setInterval(() => void refetch(), 5000);
  onCleanup(() => clearInterval(timer));
  const current = () => props.current;
  const site = () => sites()?.find((s) => s.site === current());
  const [enrolled, setEnrolled] = createSignal<{ site: string; token: string; expiresAt: string }>();
  // Its nodes and dead letter are read from its agent: asked only while it is online (and again when it
  // comes back); null when the asking failed (the error says why), not an empty list.
  const online = () => (site()?.state === "online" ? current() : undefined);
  const [nodes] = createResource(
    online,
    (site) => api.site.nodes.query({ site }).catch((e) => (setError(e.message), null)),
  );
  const [dead, { refetch: refetchDead }] = createResource(
    () => (props.may("transfer") ? online() : undefined),
    (site) => api.site.deadLetter.query({ site }).catch((e) => (setError(e.message), null)),
  );
  // Its conflicts, a page at a time (the page goes back to the first for another site); the reason they could
  // not be read (an agent too old to list them) is said in their section, not as the page's error. A page
  // after the first is the one `before` the last conflict of the page before, so that conflicts arriving
  // meanwhile do not shift it; an agent too old for that cursor is paged by offset.
  const [conflictsPage, setConflictsPage] = createSignal(0);
  const [conflictsError, setConflictsError] = createSignal("");
  /** Per page, the id its conflicts come before (page 0: none), kept as the user pages to older ones. */
  let conflictCursors: (number | undefined)[] = [];
  let conflictsByOffset = false;
  const [conflicts, { refetch: refetchConflicts }] = createResource(
    () => (props.may("transfer") && online() ? { site: online()!, page: conflictsPage() } : undefined),
    async ({ site, page }) => {
      setConflictsError("");
      const ask = () => {
        const before = conflictsByOffset ? undefined : conflictCursors[page];
        return api.site.conflicts.query({
          site,
          limit: CONFLICTS_PAGE + 1,
          ...(before !== undefined ? { before } : page ? { offset: page * CONFLICTS_PAGE } : {}),
        });
      };
      try {
        return await ask();
      } catch (e) {
        if (conflictsByOffset || !/cannot list conflicts by before/.test((e as Error).message)) {
          setConflictsError((e as Error).message);
          return null;
        }
        conflictsByOffset = true;
        return await ask().catch((e) => (setConflictsError(e.message), null));
      }
    },
  );
  /** To page `page` of the conflicts; an older page starts before the last conflict shown. */
  const goToConflicts = (page: number) => {
    const shown = conflicts()?.conflicts;
    if (page === conflictsPage() + 1 && shown?.length) {
      conflictCursors[page] = shown[Math.min(shown.length, CONFLICTS_PAGE) - 1].id;
    }
    setConflictsPage(page);
  };
  createEffect(on(current, () => {
    conflictCursors = [];
    conflictsByOffset = false;
    setConflictsPage(0);
  }, { defer: true }));
  const [message, setMessage] = createSignal("");
  const [error, setError] = createSignal("");
  let newSite!: HTMLInputElement;

  /** One change at a time: a double click on Add site adds it once, without an error after the success. */
  let running = false;
  const run = async (what: () => Promise<string>) => {
    if (running) return;
    running = true;
    setError("");
    setMessage("");
    try {
      setMessage(await what());
      refetch();
    } catch (err) {
      setError((err as Error).message);
    } finally {
      running = false;
    }
  };

  const confirm = createConfirm();

  return (
    <>
      {confirm.view()}
      <section class="card">
        <h2>Sites</h2>
        <SitesTable
          sites={sites()}
          actions={(s) => (
            <>
              <Link class="button small" href={path("sites", s.site)}>Details</Link>{" "}
              <Show when={props.may("manage") && s.state !== "revoked"}>
                <button
                  type="button"
                  class="small"
                  onClick={() =>
                    confirm.ask({
                      question: `Revoke the site ${s.site}?`,
                      detail: "Its agent is disconnected at once and refused until it is enrolled again.",
                      yes: "Revoke the site",
                      run: () =>
                        run(
                          async () => (await api.site.revoke.mutate({ site: s.site }), `${s.site} revoked`),
                        ),
                    })}
                >
                  Revoke
                </button>
              </Show>{" "}
              <Show when={props.may("manage") && (s.state === "online" || s.state === "offline")}>
                <button
                  type="button"
                  class="small"
                  onClick={() =>
                    confirm.ask({
                      question: `Rotate the credential of the site ${s.site}?`,
                      detail:
                        "Its connected agent is given a new credential and keeps working; the old one is " +
                        "refused once the agent uses the new one, or after the hub's grace period.",
                      yes: "Rotate the credential",
                      run: () =>
                        run(async () => {
                          const r = await api.site.rotate.mutate({ site: s.site });
                          if (r.outcome !== "confirmed") throw new Error(r.message);
                          return r.message;
                        }),
                    })}
                >
                  Rotate credential
                </button>
              </Show>
            </>
          )}
        />
        <Show when={props.may("manage")}>
          <form
            class="row"
            onSubmit={(e) => {
              e.preventDefault();
              run(async () => {
                const r = await api.site.add.mutate({ site: newSite.value });
                setEnrolled({ site: r.site, token: r.enrollmentToken, expiresAt: r.expiresAt });
                newSite.value = "";
                return `${r.site} added: it waits for its agent to enroll`;
              });
            }}
          >
            <label>
              New site<input
                name="site"
                ref={newSite}
                required
                maxLength={64}
                pattern="[a-z0-9][a-z0-9\-]*"
              />
            </label>
            <button type="submit">Add site</button>
          </form>
        </Show>
        <p role="status">{message()}</p>
        <p class="error" role="alert">{error()}</p>
      </section>
      <Show when={enrolled()}>
        {(e) => (
          <Dialog title={`Enrollment token for ${e().site}`} onClose={() => setEnrolled(undefined)}>
            <p>
              Shown once, valid until {instant(e().expiresAt)}. On the site, start the agent with it:
            </p>
            <p class="secret">
              <code>{e().token}</code> <CopyButton text={e().token} label="Copy the token" />
            </p>
            <p class="hint">
              <code>deno task agent --site {e().site} --hub wss://HUB/tunnel --enroll {e().token}</code>
            </p>
          </Dialog>
        )}
      </Show>
      <Show when={current()}>
        <section class="card" aria-label={`Site ${current()}`}>
          <p class="crumbs">
            <Link href="/sites">Sites</Link> › {current()}
          </p>
          <Show
            when={site()}
            fallback={
              <Show when={sites()}>
                <p class="empty">No site named {current()}.</p>
              </Show>
            }
          >
            {(s) => (
              <p>
                <strong>{s().site}</strong>: <State value={s().state} kind="site" />
                {s().lastSeenAt ? `, last seen ${instant(s().lastSeenAt)}` : ""}
                {s().agentVersion ? `, agent ${s().agentVersion}` : ""}
                {s().rotationUnconfirmed
                  ? ", credential rotation unconfirmed (the old and the new credential are accepted)"
                  : s().rotatedAt
                  ? `, credential rotated ${instant(s().rotatedAt)}`
                  : ""}
                {`, uplink cap ${s().uplinkMbps ? `${s().uplinkMbps} Mbit/s` : "none"}`}
                {`, downlink cap ${s().downlinkMbps ? `${s().downlinkMbps} Mbit/s` : "none"}`}
              </p>
            )}
          </Show>
          <Show when={props.may("manage") && site() && site()!.state !== "revoked"}>
            <CapForm
              way="uplink"
              value={site()?.uplinkMbps ?? null}
              hint="Everything the hub relays from this site (all its transfers and routes) shares it, in turn."
              run={run}
              save={async (mbps) => {
                const at = current()!;
                await api.site.setUplink.mutate({ site: at, uplinkMbps: mbps });
                return mbps === null ? `${at}: no uplink cap` : `${at}: uplink capped at ${mbps} Mbit/s`;
              }}
            />
            <CapForm
              way="downlink"
              value={site()?.downlinkMbps ?? null}
              hint="Everything the hub relays to this site (transfers and routes from every site) shares it, in turn."
              run={run}
              save={async (mbps) => {
                const at = current()!;
                await api.site.setDownlink.mutate({ site: at, downlinkMbps: mbps });
                return mbps === null ? `${at}: no downlink cap` : `${at}: downlink capped at ${mbps} Mbit/s`;
              }}
            />
          </Show>
          <Show when={site()}>
            {(s) => (
              <Show
                when={s().state === "online"}
                fallback={<p class="empty">{unreachable(s().site, s().state)}</p>}
              >
                <h2>{current()}: nodes</h2>
                <Show
                  when={nodes()?.length}
                  fallback={
                    <p class="empty">
                      {readOrEmpty(
                        nodes(),
                        "Its nodes could not be read (the error is above).",
                        "No node configured at this site (nodes: in its agent config).",
                      )}
                    </p>
                  }
                >
                  <Scroll>
                    <table aria-label="Nodes">
                      <thead>
                        <tr>
                          <th>Node</th>
                          <th>AE title</th>
                          <th>Address</th>
                          <th>Retrieve</th>
                          <th></th>
                        </tr>
                      </thead>
                      <tbody>
                        <For each={nodes()}>
                          {(n) => (
                            <tr>
                              <td>{n.name}</td>
                              <td>{n.aet}</td>
                              <td>{n.host}:{n.port}</td>
                              <td>{n.retrieve === "move" ? "C-MOVE" : "C-GET"}</td>
                              <td>
                                <Show when={props.may("transfer")}>
                                  <button
                                    type="button"
                                    onClick={() =>
                                      run(async () => {
                                        const r = await api.sites.echo.mutate({
                                          site: current()!,
                                          node: n.name,
                                        });
                                        // A node that does not answer is an error, announced as one.
                                        if (!r.ok) {
                                          throw new Error(`${n.name} did not answer C-ECHO: ${r.error}`);
                                        }
                                        return `${n.name} answered C-ECHO (${r.ms} ms)`;
                                      })}
                                  >
                                    Echo
                                  </button>
                                </Show>
                              </td>
                            </tr>
                          )}
                        </For>
                      </tbody>
                    </table>
                  </Scroll>
                </Show>
                <Show when={props.may("transfer")}>
                  <h2>{current()}: dead letter</h2>
                  <Show
                    when={dead()?.length}
                    fallback={
                      <p class="empty">
                        {readOrEmpty(
                          dead(),
                          "Its dead letter could not be read (the error is above).",
                          "Nothing in the dead letter.",
                        )}
                      </p>
                    }
                  >
                    <button
                      type="button"
                      onClick={() =>
                        run(async () => {
                          const r = await api.site.replay.mutate({
                            site: current()!,
                            ids: dead()!.map((x) => x.id),
                          });
                          refetchDead();
                          return `${count(r.replayed, "row")} back in the queue`;
                        })}
                    >
                      Replay all
                    </button>
                    <Scroll>
                      <table aria-label="Dead letter">
                        <thead>
                          <tr>
                            <th>Destination</th>
                            <th>Route</th>
                            <th>Object</th>
                            <th>Attempts</th>
                            <th>Last error</th>
                          </tr>
                        </thead>
                        <tbody>
                          <For each={dead()}>
                            {(r) => (
                              <tr>
                                <td>{r.destination}</td>
                                <td>{r.route}</td>
                                <td>
                                  <Uid value={r.sopInstanceUid} what="SOP Instance UID" />
                                </td>
                                <td>{r.attempts}</td>
                                <td class="error">{r.lastError}</td>
                              </tr>
                            )}
                          </For>
                        </tbody>
                      </table>
                    </Scroll>
                  </Show>
                </Show>
                <Show when={props.may("transfer")}>
                  <h2>{current()}: conflicts</h2>
                  <p class="hint">
                    Objects received again with other bytes under a SOP Instance UID already archived; what
                    was kept follows the agent's archive.duplicates. A copy kept beside the stored object
                    (keepBoth) is resolved here: keep the stored object (the copy is deleted) or the received
                    one (it replaces the stored object and is routed again).
                  </p>
                  <Show
                    when={conflicts()?.conflicts.length}
                    fallback={
                      <p class="empty">
                        {readOrEmpty(
                          conflicts(),
                          `Its conflicts could not be read: ${conflictsError()}`,
                          "No conflict recorded: no object was received again with other bytes.",
                        )}
                      </p>
                    }
                  >
                    <Scroll>
                      <table aria-label="Conflicts">
                        <thead>
                          <tr>
                            <th>Received</th>
                            <th>Object</th>
                            <th>Policy</th>
                            <th>Calling AE</th>
                            <th>SHA-256 stored / received</th>
                            <th>Kept copy</th>
                            <th>Resolved</th>
                          </tr>
                        </thead>
                        <tbody>
                          <For each={conflicts()!.conflicts.slice(0, CONFLICTS_PAGE)}>
                            {(c) => (
                              <tr>
                                <td>{instant(c.receivedAt)}</td>
                                <td>
                                  <Uid value={c.sopInstanceUid} what="SOP Instance UID" />
                                </td>
                                <td title={POLICY[c.policy]}>{c.policy}</td>
                                <td>{c.callingAet || "—"}</td>
                                <td>
                                  <code title={c.storedSha256}>{c.storedSha256.slice(0, 16)}</code>
                                  <br />
                                  <code title={c.receivedSha256}>{c.receivedSha256.slice(0, 16)}</code>
                                </td>
                                <td class="kept-path">
                                  <Show when={c.keptPath} fallback="—">
                                    <code>{c.keptPath}</code>
                                  </Show>
                                </td>
                                <td>
                                  <Show
                                    when={!c.resolvedAt && c.policy === "keepBoth" && c.keptPath}
                                    fallback={resolutionOf(c)}
                                  >
                                    <Show when={c.resolution}>
                                      <p>Under way: keep {c.resolution}</p>
                                    </Show>
                                    <div class="row">
                                      <For each={["stored", "received"] as const}>
                                        {(keep) => (
                                          <button
                                            type="button"
                                            class="small"
                                            onClick={() =>
                                              confirm.ask({
                                                question: keep === "stored"
                                                  ? `Keep the stored object of conflict ${c.id}?`
                                                  : `Keep the received copy of conflict ${c.id}?`,
                                                detail: keep === "stored"
                                                  ? `The copy received again (${
                                                    c.receivedSha256.slice(0, 16)
                                                  }) is deleted; the archived object stays as it is.`
                                                  : `The archived object (${
                                                    c.storedSha256.slice(0, 16)
                                                  }) is replaced by the copy received again, which is ` +
                                                    "indexed and routed again under the current routes.",
                                                yes: keep === "stored" ? "Keep stored" : "Keep received",
                                                run: () =>
                                                  run(async () => {
                                                    await api.site.resolveConflict.mutate({
                                                      site: current()!,
                                                      id: c.id,
                                                      keep,
                                                    });
                                                    refetchConflicts();
                                                    return `Conflict ${c.id} resolved: the ${keep} object kept`;
                                                  }),
                                              })}
                                          >
                                            {keep === "stored" ? "Keep stored" : "Keep received"}
                                          </button>
                                        )}
                                      </For>
                                    </div>
                                  </Show>
                                </td>
                              </tr>
                            )}
                          </For>
                        </tbody>
                      </table>
                    </Scroll>
                    <Pager
                      label="Pages of conflicts"
                      what="conflicts"
                      page={conflictsPage()}
                      size={CONFLICTS_PAGE}
                      fetched={conflicts()?.conflicts.length}
                      loading={conflicts.loading}
                      goTo={goToConflicts}
                    />
                    <p class="hint">{count(conflicts()!.total, "conflict")} recorded in all.</p>
                  </Show>
                </Show>
              </Show>
            )}
          </Show>
        </section>
      </Show>
    </>
  );
}

/** A conflict's Resolved cell: how and when, or a dash for one nothing was kept aside of. */
function resolutionOf(c: { resolution?: string | null; resolvedAt?: string | null }): string {
  if (!c.resolution || !c.resolvedAt) return "—";
  return `Kept ${c.resolution}, ${instant(c.resolvedAt)}`;
}

/** What each archive.duplicates policy did with the object received again. */
const POLICY: Record<string, string> = {
  keepFirst: "the stored object stayed; the new one was discarded",
  keepLast: "the new object replaced the stored one and was routed again",
  keepBoth: "the stored object stayed; the new one was kept beside it",
};

/** Why a site's nodes, dead letter and conflicts are not shown: they are read from its agent, which is not online. */
function unreachable(site: string, state: string): string {
  if (state === "pending") {
    return `${site} waits for its agent to enroll: its nodes, dead letter and conflicts show once it has.`;
  }
  if (state === "revoked") {
    return `${site} is revoked: its agent is refused, so its nodes, dead letter and conflicts cannot be read.`;
  }
  return `${site} is offline: its nodes, dead letter and conflicts are read from its agent, and show when it is back.`;
}

/** A site's uplink or downlink cap, Mbit/s (empty: none): checked here, so the reason shows in words. */
function CapForm(props: {
  way: "uplink" | "downlink";
  value: number | null;
  hint: string;
  /** The screen's one-change-at-a-time runner, which shows the outcome or the error. */
  run: (what: () => Promise<string>) => void;
  /** Saves the cap (null: none); says what was done. */
  save: (mbps: number | null) => Promise<string>;
}) {
  const Way = () => props.way === "uplink" ? "Uplink" : "Downlink";
  // The field is set only when the cap itself changes: the screen fetches its sites every 5 s, and setting it
  // on each fetch wiped what an admin was typing.
  const shown = createMemo(() => props.value ?? "");
  return (
    <form
      class="row"
      aria-label={`${Way()} cap`}
      noValidate
      onSubmit={(e) => {
        e.preventDefault();
        const value = new FormData(e.currentTarget).get(props.way)?.toString().trim() ?? "";
        const mbps = value ? Number(value) : null;
        props.run(() => {
          if (mbps !== null && !(mbps >= 0.1 && mbps <= 100_000)) {
            throw new Error(`The ${props.way} cap is in Mbit/s, from 0.1 to 100000 (empty: none).`);
          }
          return props.save(mbps);
        });
      }}
    >
      <label>
        {Way()} cap (Mbit/s)<input
          name={props.way}
          type="number"
          min="0.1"
          max="100000"
          step="any"
          placeholder="none"
          value={shown()}
        />
      </label>
      <button type="submit">Set the {props.way} cap</button>
      <span class="hint">{props.hint}</span>
    </form>
  );
}

/** What a section says instead of its table: that it could not be read (null), that it is empty, or nothing yet. */
function readOrEmpty(value: unknown, failed: string, empty: string): string {
  return value === null ? failed : value ? empty : "";
}

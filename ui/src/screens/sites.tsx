/**
 * Sites (`/sites`): state, and (admins) adding sites, rotating their credentials and revoking them (after a
 * confirmation); a site's page (`/sites/{name}`):
 * its nodes with echo, its dead letter with replay and discard and its rows for a removed node
 * (./site_dead_letter.tsx), its conflicts (./site_conflicts.tsx), and (admins) its uplink and downlink caps.
 */
import { createMemo, createResource, createSignal, onCleanup, Show } from "solid-js";
import { api, commandOf, hubTunnelUrl, type May } from "../api.ts";
import { instant, readOrEmpty } from "../format.ts";
import { mbpsOf } from "../limits.ts";
import { Link, path } from "../router.tsx";
import { SitesTable } from "../tables.tsx";
import { SiteConflicts } from "./site_conflicts.tsx";
import { SiteDeadLetter } from "./site_dead_letter.tsx";
import { Table } from "../table.tsx";
import { CopyButton, createConfirm, Dialog, State } from "../widgets.tsx";
import { clearInvalid, markInvalid } from "../field_error.ts";

/** A form's field a refusal is about: marked, described by the screen's error and focused. */
type RefusedField = { form: HTMLFormElement; name: string };

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
  const [message, setMessage] = createSignal("");
  const [error, setError] = createSignal("");
  let newSite!: HTMLInputElement;

  /**
   * One change at a time: a double click on Add site adds it once, without an error after the success. A
   * form's change names its field: a refusal marks it.
   */
  let running = false;
  const run = async (what: () => Promise<string>, at?: RefusedField) => {
    if (running) return;
    running = true;
    setError("");
    setMessage("");
    if (at) clearInvalid(at.form);
    try {
      setMessage(await what());
      refetch();
    } catch (err) {
      setError((err as Error).message);
      if (at) markInvalid(at.form, at.name, "sites-error");
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
              <Link class="button small" href={path("sites", s.site)} aria-label={`Details of ${s.site}`}>
                Details
              </Link>{" "}
              <Show when={props.may("manage") && s.state !== "revoked"}>
                <button
                  type="button"
                  class="small"
                  aria-label={`Revoke the site ${s.site}`}
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
                  aria-label={`Rotate credential of ${s.site}`}
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
              }, { form: e.currentTarget, name: "site" });
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
        <p class="error" role="alert" id="sites-error">{error()}</p>
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
              <code>{commandOf("agent")} --site {e().site} --hub {hubTunnelUrl()} --enroll {e().token}</code>
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
                  <Table
                    label="Nodes"
                    rows={nodes()}
                    columns={[
                      { header: "Node", cell: (n) => n.name },
                      { header: "AE title", cell: (n) => n.aet },
                      { header: "Address", cell: (n) => `${n.host}:${n.port}` },
                      { header: "Retrieve", cell: (n) => (n.retrieve === "move" ? "C-MOVE" : "C-GET") },
                      {
                        header: "",
                        cell: (n) => (
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
                        ),
                      },
                    ]}
                  />
                </Show>
                <Show when={props.may("transfer")}>
                  <SiteDeadLetter site={current()!} online={online()} ask={confirm.ask} run={run} />
                </Show>
                <Show when={props.may("transfer")}>
                  <SiteConflicts site={current()!} online={online()} ask={confirm.ask} run={run} />
                </Show>
              </Show>
            )}
          </Show>
        </section>
      </Show>
    </>
  );
}

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
  run: (what: () => Promise<string>, at?: RefusedField) => void;
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
        const value = new FormData(e.currentTarget).get(props.way)?.toString() ?? "";
        props.run(() => props.save(mbpsOf(value, `${props.way} cap`)), {
          form: e.currentTarget,
          name: props.way,
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

/** Sites: state, nodes with echo, the dead letter with replay, and (admins) adding and revoking sites. */
import { createResource, createSignal, For, Show } from "solid-js";
import { api, type May } from "../api.ts";
import { SitesTable } from "../tables.tsx";

export function Sites(props: { may: May }) {
  const [sites, { refetch }] = createResource(() => api.sites.list.query());
  const [current, setCurrent] = createSignal<string | undefined>();
  const [nodes] = createResource(
    current,
    (site) => api.site.nodes.query({ site }).catch((e) => (setError(e.message), [])),
  );
  const [dead, { refetch: refetchDead }] = createResource(
    () => (props.may("transfer") ? current() : undefined),
    (site) => api.site.deadLetter.query({ site }).catch((e) => (setError(e.message), [])),
  );
  const [message, setMessage] = createSignal("");
  const [error, setError] = createSignal("");
  let newSite!: HTMLInputElement;

  const run = async (what: () => Promise<string>) => {
    setError("");
    setMessage("");
    try {
      setMessage(await what());
      refetch();
    } catch (err) {
      setError((err as Error).message);
    }
  };

  return (
    <>
      <section class="card">
        <h2>Sites</h2>
        <SitesTable
          sites={sites()}
          actions={(s) => (
            <>
              <button type="button" onClick={() => setCurrent(s.site)} disabled={s.state !== "online"}>
                Details
              </button>{" "}
              <Show when={props.may("manage") && s.state !== "revoked"}>
                <button
                  type="button"
                  onClick={() =>
                    confirm(
                      `Revoke ${s.site}? Its agent is disconnected and refused until enrolled again.`,
                    ) &&
                    run(async () => (await api.site.revoke.mutate({ site: s.site }), `${s.site} revoked`))}
                >
                  Revoke
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
                return `Enrollment token for ${r.site} (shown once, valid until ${r.expiresAt}): ${r.enrollmentToken}`;
              });
            }}
          >
            <label>
              New site<input name="site" ref={newSite} required pattern="[A-Za-z0-9][A-Za-z0-9._\-]*" />
            </label>
            <button type="submit">Add site</button>
          </form>
        </Show>
        <p role="status">{message()}</p>
        <p class="error" role="alert">{error()}</p>
      </section>
      <Show when={current()}>
        <section class="card" aria-label={`Site ${current()}`}>
          <h2>{current()}: nodes</h2>
          <Show
            when={nodes()?.length}
            fallback={<p class="empty">No node configured at this site (nodes: in its agent config).</p>}
          >
            <table>
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
                      <td>{n.retrieve}</td>
                      <td>
                        <Show when={props.may("transfer")}>
                          <button
                            type="button"
                            onClick={() =>
                              run(async () => {
                                const r = await api.sites.echo.mutate({ site: current()!, node: n.name });
                                return r.ok
                                  ? `${n.name} answered C-ECHO (${(r as { ms?: number }).ms} ms)`
                                  : `${n.name}: ${(r as { error?: string }).error}`;
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
          </Show>
          <Show when={props.may("transfer")}>
            <h2>{current()}: dead letter</h2>
            <Show when={dead()?.length} fallback={<p class="empty">Nothing in the dead letter.</p>}>
              <button
                type="button"
                onClick={() =>
                  run(async () => {
                    const r = await api.site.replay.mutate({
                      site: current()!,
                      ids: dead()!.map((x) => x.id),
                    });
                    refetchDead();
                    return `${r.replayed} rows back in the queue`;
                  })}
              >
                Replay all
              </button>
              <table>
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
                        <td>{r.sopInstanceUid}</td>
                        <td>{r.attempts}</td>
                        <td class="error">{r.lastError}</td>
                      </tr>
                    )}
                  </For>
                </tbody>
              </table>
            </Show>
          </Show>
        </section>
      </Show>
    </>
  );
}

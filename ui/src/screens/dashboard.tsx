/** Every site with its state, and the latest transfers. Refreshes every 5 s. */
import { createResource, For, onCleanup, Show } from "solid-js";
import { api } from "../api.ts";

export function Dashboard(props: { onOpenTransfer: (id: string) => void }) {
  const [sites, { refetch: refetchSites }] = createResource(() => api.sites.list.query());
  const [jobs, { refetch: refetchJobs }] = createResource(() => api.transfers.list.query({ limit: 10 }));
  const timer = setInterval(() => (refetchSites(), refetchJobs()), 5000);
  onCleanup(() => clearInterval(timer));
  return (
    <>
      <section class="card">
        <h2>Sites</h2>
        <Show when={!sites.error} fallback={<p class="error">Cannot list sites: {String(sites.error)}</p>}>
          <Show
            when={sites()?.length}
            fallback={<p class="empty">No site yet: add one with `deno task hub admin site add NAME`.</p>}
          >
            <table>
              <thead>
                <tr>
                  <th>Site</th>
                  <th>State</th>
                  <th>Last seen</th>
                  <th>Agent</th>
                  <th>Queue</th>
                  <th>Round trip</th>
                </tr>
              </thead>
              <tbody>
                <For each={sites()}>
                  {(s) => (
                    <tr data-site={s.site}>
                      <td>{s.site}</td>
                      <td class={`state-${s.state}`}>{s.state}</td>
                      <td>{s.lastSeenAt ? new Date(s.lastSeenAt).toLocaleString() : "never"}</td>
                      <td>{s.agentVersion ?? "–"}</td>
                      <td>{s.queueDepth ?? "–"}</td>
                      <td>{s.rttMs === null ? "–" : `${s.rttMs} ms`}</td>
                    </tr>
                  )}
                </For>
              </tbody>
            </table>
          </Show>
        </Show>
      </section>
      <section class="card">
        <h2>Recent transfers</h2>
        <Show
          when={jobs()?.length}
          fallback={<p class="empty">No transfer yet: pick studies in the Explorer.</p>}
        >
          <table>
            <thead>
              <tr>
                <th>From</th>
                <th>To</th>
                <th>Status</th>
                <th>Objects</th>
                <th></th>
              </tr>
            </thead>
            <tbody>
              <For each={jobs()}>
                {(j) => (
                  <tr>
                    <td>{j.source.site}{j.source.node ? ` / ${j.source.node}` : ""}</td>
                    <td>{j.destination.site}{j.destination.node ? ` / ${j.destination.node}` : ""}</td>
                    <td class={`state-${j.status}`}>{j.status}</td>
                    <td>{j.totals.done} / {j.totals.objects}</td>
                    <td>
                      <button type="button" onClick={() => props.onOpenTransfer(j.id)}>Open</button>
                    </td>
                  </tr>
                )}
              </For>
            </tbody>
          </table>
        </Show>
      </section>
    </>
  );
}

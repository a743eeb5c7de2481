/** Every site with its state, and the latest transfers. Refreshes every 5 s. */
import { createResource, onCleanup, Show } from "solid-js";
import { api } from "../api.ts";
import { SitesTable, TransfersTable } from "../tables.tsx";

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
            fallback={
              <p class="empty">No site yet: add one in Sites, or with `deno task hub admin site add NAME`.</p>
            }
          >
            <SitesTable sites={sites()} />
          </Show>
        </Show>
      </section>
      <section class="card">
        <h2>Recent transfers</h2>
        <Show
          when={jobs()?.length}
          fallback={<p class="empty">No transfer yet: pick studies in the Explorer.</p>}
        >
          <TransfersTable jobs={jobs()} onOpen={props.onOpenTransfer} />
        </Show>
      </section>
    </>
  );
}

/** Every site with its state, and the latest transfers. Refreshes every 5 s. */
import { createResource, onCleanup, Show } from "solid-js";
import { api } from "../api.ts";
import { SitesTable, TransfersTable } from "../tables.tsx";
import { Link } from "../router.tsx";

export function Dashboard() {
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
              <p class="empty">
                No site yet: add one in <Link href="/sites">Sites</Link>, or with{" "}
                <code>deno task hub admin site add NAME</code>.
              </p>
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
          fallback={
            <p class="empty">
              No transfer yet: pick studies in the <Link href="/explorer">Explorer</Link>.
            </p>
          }
        >
          <TransfersTable jobs={jobs()} />
        </Show>
      </section>
    </>
  );
}

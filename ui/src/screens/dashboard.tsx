/** Every site with its state, and the latest transfers. Refreshes every 5 s. */
import { createResource, createSignal, onCleanup, Show } from "solid-js";
import { instant } from "../format.ts";
import { api, commandOf, type Down, keepLast } from "../api.ts";
import { SitesTable, TransfersTable } from "../tables.tsx";
import { Link } from "../router.tsx";

export function Dashboard() {
  /** Why the hub could not be asked at the last refresh (undefined when it answered), and since when. */
  const [down, setDown] = createSignal<Down | undefined>();
  // A dashboard left open on a wall comes back by itself after a hub restart: it keeps what it was told.
  const [sites, { refetch: refetchSites }] = createResource(
    true,
    keepLast((_: true) => api.sites.list.query(), setDown),
  );
  const [jobs, { refetch: refetchJobs }] = createResource(
    true,
    keepLast((_: true) => api.transfers.summaries.query({ limit: 10 }), setDown),
  );
  const timer = setInterval(() => (refetchSites(), refetchJobs()), 5000);
  onCleanup(() => clearInterval(timer));
  return (
    <>
      <Show when={down()}>
        {(d) => (
          <p class="error" role="alert">
            Cannot reach the hub ({d().reason}) since{" "}
            {instant(d().since)}: what it said last (if anything) is shown, and it is asked again every 5
            seconds.
          </p>
        )}
      </Show>
      <section class="card">
        <h2>Sites</h2>
        <Show
          when={sites()?.length}
          fallback={sites() && (
            <p class="empty">
              No site yet: add one in <Link href="/sites">Sites</Link>, or with{" "}
              <code>{commandOf("hub")} admin site add NAME</code>.
            </p>
          )}
        >
          <SitesTable sites={sites()} />
        </Show>
      </section>
      <section class="card">
        <h2>Recent transfers</h2>
        <Show
          when={jobs()?.length}
          fallback={jobs() && (
            <p class="empty">
              No transfer yet: pick studies in the <Link href="/explorer">Explorer</Link>.
            </p>
          )}
        >
          <TransfersTable jobs={jobs()} />
        </Show>
      </section>
    </>
  );
}

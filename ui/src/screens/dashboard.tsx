/** Every site with its state, and the latest transfers. Refreshes every 5 s. */
import { createResource, createSignal, onCleanup, Show } from "solid-js";
import { instant } from "../format.ts";
import { api } from "../api.ts";
import { SitesTable, TransfersTable } from "../tables.tsx";
import { Link } from "../router.tsx";

export function Dashboard() {
  /** Why the hub could not be asked at the last refresh ("" when it answered), and since when. */
  const [down, setDown] = createSignal<{ reason: string; since: number } | undefined>();
  /**
   * Asks the hub; when it cannot be reached (a restart, the network), keeps what it said last and says
   * so: a dashboard left open on a wall comes back by itself.
   */
  const ask = <T,>(call: () => Promise<T>) => async (_: unknown, { value }: { value?: T }): Promise<T> => {
    try {
      const answer = await call();
      setDown(undefined);
      return answer;
    } catch (err) {
      setDown((d) => d ?? { reason: (err as Error).message, since: Date.now() });
      if (value === undefined) throw err;
      return value;
    }
  };
  const [sites, { refetch: refetchSites }] = createResource(true, ask(() => api.sites.list.query()));
  const [jobs, { refetch: refetchJobs }] = createResource(
    true,
    ask(() => api.transfers.list.query({ limit: 10 })),
  );
  const timer = setInterval(() => (refetchSites(), refetchJobs()), 5000);
  onCleanup(() => clearInterval(timer));
  return (
    <>
      <Show when={down()}>
        {(d) => (
          <p class="error" role="alert">
            Cannot reach the hub ({d().reason}) since{" "}
            {instant(d().since)}: what it said last is shown, and it is asked again every 5 seconds.
          </p>
        )}
      </Show>
      <section class="card">
        <h2>Sites</h2>
        <Show
          when={!sites.error}
          fallback={<p class="error" role="alert">Cannot list sites: {(sites.error as Error)?.message}</p>}
        >
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
          when={!jobs.error && jobs()?.length}
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

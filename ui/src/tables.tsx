/** Tables more than one screen shows: sites and transfers. */
import { For, type JSX, Show } from "solid-js";
import type { api } from "./api.ts";
import { caps, count, instant } from "./format.ts";
import { Link, path } from "./router.tsx";
import { sparkPoints } from "./sparkline.ts";
import { Scroll, State } from "./widgets.tsx";

type Site = Awaited<ReturnType<typeof api.sites.list.query>>[number];
type Job = Awaited<ReturnType<typeof api.transfers.summaries.query>>[number];

const endpoint = (e: { site: string; node?: string }) => (e.node ? `${e.site} / ${e.node}` : e.site);

function rate(bytesPerSecond: number): string {
  if (bytesPerSecond >= 1e6) return `${(bytesPerSecond / 1e6).toFixed(1)} MB/s`;
  if (bytesPerSecond >= 1e3) return `${(bytesPerSecond / 1e3).toFixed(0)} kB/s`;
  return `${bytesPerSecond} B/s`;
}

/** A small line of the tunnel's recent throughput, with the latest rate as text for everyone. */
export function Sparkline(props: { values: number[] }) {
  const w = 96, h = 20;
  const points = () => sparkPoints(props.values, w, h);
  // No samples yet (a site that never connected): a dash like the other empty cells, no empty chart.
  return (
    <Show when={props.values.length} fallback="–">
      <span class="spark">
        <svg width={w} height={h} aria-hidden="true">
          <polyline points={points()} fill="none" stroke="currentColor" stroke-width="1.5" />
        </svg>{" "}
        {rate(props.values[props.values.length - 1])}
      </span>
    </Show>
  );
}

/**
 * Sites with their state, each name a link to its page, and their uplink and downlink caps; `actions` adds a
 * last column.
 */
export function SitesTable(props: { sites: Site[] | undefined; actions?: (s: Site) => JSX.Element }) {
  return (
    <Scroll>
      <table aria-label="Sites">
        <thead>
          <tr>
            <th>Site</th>
            <th>State</th>
            <th>Last seen</th>
            <th>Agent</th>
            <th>Queue</th>
            <th>Round trip</th>
            <th>Traffic (2 min)</th>
            <th title="The site's uplink and downlink caps (an admin sets them on the site's page)">Caps</th>
            {props.actions && <th></th>}
          </tr>
        </thead>
        <tbody>
          <For each={props.sites}>
            {(s) => (
              <tr data-site={s.site}>
                <td>
                  <Link href={path("sites", s.site)}>{s.site}</Link>
                </td>
                <td>
                  <State value={s.state} kind="site" />
                </td>
                <td>{s.lastSeenAt ? instant(s.lastSeenAt) : "never"}</td>
                <td>{s.agentVersion ?? "–"}</td>
                <td>
                  {s.queueDepth ?? "–"}
                  <Show when={s.committing}>
                    {(n) => (
                      <span
                        class="hint"
                        title="Stored at a node that commits (Storage Commitment), waiting for its report"
                      >
                        {` (${count(n(), "object")} waiting for commitment)`}
                      </span>
                    )}
                  </Show>
                </td>
                <td>{s.rttMs === null ? "–" : `${s.rttMs} ms`}</td>
                <td>
                  <Sparkline values={s.throughput} />
                </td>
                <td class="caps">{caps(s.uplinkMbps, s.downlinkMbps)}</td>
                {props.actions && <td>{props.actions(s)}</td>}
              </tr>
            )}
          </For>
        </tbody>
      </table>
    </Scroll>
  );
}

/** Transfer jobs, each a link to its page. */
export function TransfersTable(props: { jobs: Job[] | undefined }) {
  return (
    <Scroll>
      <table aria-label="Transfers">
        <thead>
          <tr>
            <th>Created</th>
            <th>From</th>
            <th>To</th>
            <th>Status</th>
            <th>Studies</th>
            <th>Objects</th>
            <th></th>
          </tr>
        </thead>
        <tbody>
          <For each={props.jobs}>
            {(j) => (
              <tr data-transfer={j.id}>
                <td>{instant(j.createdAt)}</td>
                <td>{endpoint(j.source)}</td>
                <td>{endpoint(j.destination)}</td>
                <td>
                  <State value={j.status} />
                </td>
                <td>{j.totals.studies}</td>
                <td>{j.totals.done} of {j.totals.objects}</td>
                <td>
                  <Link
                    href={path("transfers", j.id)}
                    aria-label={`Open the transfer of ${instant(j.createdAt)}`}
                  >
                    Open
                  </Link>
                </td>
              </tr>
            )}
          </For>
        </tbody>
      </table>
    </Scroll>
  );
}

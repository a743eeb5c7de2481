/** Tables more than one screen shows: sites and transfers. */
import { type JSX, Show } from "solid-js";
import type { api } from "./api.ts";
import { caps, count, instant } from "./format.ts";
import { Link, path } from "./router.tsx";
import { sparkPoints } from "./sparkline.ts";
import { Table } from "./table.tsx";
import { State } from "./widgets.tsx";

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
    <Table
      label="Sites"
      rows={props.sites}
      row={(s) => ({ "data-site": s.site })}
      columns={[
        { header: "Site", cell: (s) => <Link href={path("sites", s.site)}>{s.site}</Link> },
        { header: "State", cell: (s) => <State value={s.state} kind="site" /> },
        { header: "Last seen", cell: (s) => (s.lastSeenAt ? instant(s.lastSeenAt) : "never") },
        { header: "Agent", cell: (s) => s.agentVersion ?? "–" },
        {
          header: "Queue",
          cell: (s) => (
            <>
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
              <Show when={s.held}>
                {(n) => (
                  <span
                    class="hint"
                    title="Due later: a route's forwarding hours or a transfer's window holds them until it opens"
                  >
                    {` (${count(n(), "object")} held by a time window)`}
                  </span>
                )}
              </Show>
            </>
          ),
        },
        { header: "Round trip", cell: (s) => (s.rttMs === null ? "–" : `${s.rttMs} ms`) },
        { header: "Traffic (2 min)", cell: (s) => <Sparkline values={s.throughput} /> },
        {
          header: "Caps",
          title: "The site's uplink and downlink caps (an admin sets them on the site's page)",
          class: "caps",
          cell: (s) => caps(s.uplinkMbps, s.downlinkMbps),
        },
        { header: "", cell: (s) => props.actions?.(s), when: () => Boolean(props.actions) },
      ]}
    />
  );
}

/** Transfer jobs, each a link to its page. */
export function TransfersTable(props: { jobs: Job[] | undefined }) {
  return (
    <Table
      label="Transfers"
      rows={props.jobs}
      row={(j) => ({ "data-transfer": j.id })}
      columns={[
        { header: "Created", cell: (j) => instant(j.createdAt) },
        { header: "From", cell: (j) => endpoint(j.source) },
        { header: "To", cell: (j) => endpoint(j.destination) },
        { header: "Status", cell: (j) => <State value={j.status} /> },
        { header: "Studies", cell: (j) => j.totals.studies },
        { header: "Objects", cell: (j) => `${j.totals.done} of ${j.totals.objects}` },
        {
          header: "",
          cell: (j) => (
            <Link href={path("transfers", j.id)} aria-label={`Open the transfer of ${instant(j.createdAt)}`}>
              Open
            </Link>
          ),
        },
      ]}
    />
  );
}

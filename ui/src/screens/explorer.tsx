/**
 * Find studies on one site or all: by patient, accession, date range, modality; on one site, in its
 * archive or on one of its nodes (the PACS behind it, asked by C-FIND). The search lives in the URL
 * (`/explorer?site=north&node=pacs&patient=PAT1`), so Back, reload and a shared link repeat it. Results
 * sort and page; each study opens its page, its series (under it) or the viewer (archives only); selected
 * studies move to another site, from the archive or the node they were found on (one study selected: some
 * of its series, if it has several).
 */
import { createEffect, createMemo, createResource, createSignal, For, on, Show } from "solid-js";
import { api, type May, VIEWER_MISSING, viewerInstalled } from "../api.ts";
import { clearInvalid, markInvalid } from "../field_error.ts";
import { dateOrder, isoDate, localDate } from "../local_dates.ts";
import { count, dicomDate, nameQuery, parseDate, patientKey, personName, studyTitle } from "../format.ts";
import { Link, location, navigate } from "../router.tsx";
import { type Study, studyOf, studyPage, text, viewerUrl } from "../studies.ts";
import { type Column, Table } from "../table.tsx";
import { TransferDialog } from "./transfer_dialog.tsx";

const PAGE = 25;
/** The search fields, as they appear in the query string. */
const FIELDS = ["site", "node", "patient", "accession", "from", "to", "modality"] as const;
type Field = (typeof FIELDS)[number];
const SORT_KEYS = ["site", "patient", "patientId", "date", "modalities", "description", "instances"] as const;
type SortKey = (typeof SORT_KEYS)[number];

const sortValue = (s: Study, k: SortKey): string =>
  k === "patient" ? personName(s.patientName) : k === "instances" ? s.instances.padStart(9, "0") : s[k];

/**
 * The studies selected in each search (by its fields), while the console is open: opening a study's page
 * and coming Back to the search finds them still selected.
 */
const kept = new Map<string, Set<string>>();

export function Explorer(props: { may: May; onTransfer: (id: string) => void }) {
  // The site picker; without an answer the form still searches every site.
  const [sites] = createResource(() => api.sites.list.query().catch(() => []));
  /** The site chosen in the form (before Search): its nodes are offered beside its archive. */
  const [formSite, setFormSite] = createSignal("");
  const [nodes] = createResource(
    () => formSite() || undefined,
    (site) => api.site.nodes.query({ site }).catch(() => [] as { name: string }[]),
  );
  const [hits, setHits] = createSignal<Study[]>([]);
  const [error, setError] = createSignal("");
  /** Sites a search over all sites did not include, with why. */
  const [leftOut, setLeftOut] = createSignal("");
  const [busy, setBusy] = createSignal(false);
  const [searched, setSearched] = createSignal(false);
  const [selected, setSelected] = createSignal<Set<string>>(new Set());
  const q = () => location().search;
  const field = (f: Field) => q().get(f) ?? "";
  createEffect(() => setFormSite(field("site") === "all" ? "" : field("site")));
  /** The node the results were found on (none: the sites' archives). */
  const node = () => (field("site") && field("site") !== "all" ? field("node") : "");
  /**
   * `sort=date` sorts up, `sort=-date` down (the newest first, without a `sort`); the column's button
   * turns one into the other. A sort that names no column (a link typed or cut) is the default.
   */
  const sortParam = () => {
    const asked = q().get("sort") ?? "";
    return (SORT_KEYS as readonly string[]).includes(asked.replace(/^-/, "")) ? asked : "-date";
  };
  const sortKey = () => sortParam().replace(/^-/, "") as SortKey;
  const descending = () => sortParam().startsWith("-");
  /** The page asked for, or the last there is (a link to page 9 of a search that now has 2 shows page 2). */
  const page = () => Math.min(Math.max(0, Math.floor(Number(q().get("page") ?? 1) - 1) || 0), pages() - 1);
  /** The same search with some parameters changed (a new entry in the history). */
  const withParams = (changes: Record<string, string | undefined>, replace = false) => {
    const next = new URLSearchParams(q());
    for (const [k, v] of Object.entries(changes)) {
      if (v) next.set(k, v);
      else next.delete(k);
    }
    navigate(`/explorer?${next}`, { replace });
  };

  const submit = (e: Event) => {
    e.preventDefault();
    const el = e.currentTarget as HTMLFormElement;
    const form = new FormData(el);
    const next = new URLSearchParams();
    clearInvalid(el);
    for (const f of FIELDS) {
      let v = String(form.get(f) ?? "").trim();
      // From and To are typed in the user's order (dd/mm/yyyy in Britain), kept in the URL as ISO dates.
      if (f === "from" || f === "to") {
        try {
          v = isoDate(v, navigator.language, f === "from" ? "From" : "To");
        } catch (err) {
          setError((err as Error).message);
          return markInvalid(el, f, "explorer-error");
        }
      }
      if (v) next.set(f, v);
    }
    if (!next.has("site")) next.set("site", "all");
    if (next.get("site") === "all") next.delete("node");
    if (q().get("sort")) next.set("sort", q().get("sort")!);
    const url = `/explorer?${next}`;
    if (url === globalThis.location.pathname + globalThis.location.search) void search();
    else navigate(url);
  };

  const key = (h: Study) => `${h.site}|${h.uid}`;
  /** The search's fields, as one string: what a selection is kept under. */
  const searchKey = () => FIELDS.map(field).join("\n");
  const choose = (s: Set<string>) => (setSelected(s), kept.set(searchKey(), s));

  /**
   * The From or To date of the search as DICOM's YYYYMMDD ("" when not given). A date field never holds
   * anything else, but a link can: such a date is refused in words, not searched by string order.
   */
  const dateOf = (label: "From" | "To") => {
    const value = field(label === "From" ? "from" : "to");
    const ymd = value.replaceAll("-", "");
    if (value && !(/^\d{4}-\d{2}-\d{2}$/.test(value) && parseDate(ymd))) {
      throw new Error(`The ${label} date "${value}" is not a date: give one as YYYY-MM-DD, or none.`);
    }
    return ymd;
  };

  const search = async () => {
    setBusy(true);
    setError("");
    const filters: Record<string, string> = {};
    const patient = field("patient");
    if (patient) {
      if (patientKey(patient) === "PatientID") filters.PatientID = patient;
      else filters.PatientName = nameQuery(patient);
    }
    if (field("accession")) filters.AccessionNumber = field("accession");
    // "CT, MR", "ct mr" or "CT/MR": a study with any of them (DICOM's list, \-separated).
    const modalities = field("modality").toUpperCase().split(/[\s,;/\\]+/).filter(Boolean);
    if (modalities.length) filters.ModalitiesInStudy = modalities.join("\\");
    const site = field("site") === "all" ? "" : field("site");
    try {
      if (field("from") || field("to")) filters.StudyDate = `${dateOf("From")}-${dateOf("To")}`;
      const { studies, leftOut } = await api.query.studies.query({
        ...(site ? { site } : {}),
        ...(site && node() ? { node: node() } : {}),
        filters,
      });
      setLeftOut(leftOut.map((l) => `${l.site} (${l.reason})`).join(", "));
      const found = studies.map((f) => studyOf(f.site, f.study));
      setHits(found);
      const keys = new Set(found.map(key));
      setSelected(new Set([...kept.get(searchKey()) ?? []].filter((k) => keys.has(k))));
      setSearched(true);
    } catch (err) {
      // The results of the search before are not this search's: they go, the reason stays.
      setHits([]);
      setLeftOut("");
      setSelected(new Set<string>());
      setSearched(false);
      setError((err as Error).message);
    } finally {
      setBusy(false);
    }
  };
  // A URL with search fields runs its search (on arrival, reload, Back, or a new search).
  createEffect(on(searchKey, (fields) => {
    if (fields.replaceAll("\n", "")) void search();
    else (setHits([]), setSearched(false));
  }));

  const sorted = createMemo(() => {
    const k = sortKey(), sign = descending() ? -1 : 1;
    return [...hits()].sort((a, b) => sign * sortValue(a, k).localeCompare(sortValue(b, k)));
  });
  const pages = () => Math.max(1, Math.ceil(hits().length / PAGE));
  const shown = createMemo(() => sorted().slice(page() * PAGE, (page() + 1) * PAGE));
  /** The studies selected, in the order the table shows them (the order the transfer names them in). */
  const chosen = () => sorted().filter((h) => selected().has(key(h)));
  const sources = () => [...new Set(chosen().map((h) => h.site))];
  /** One study selected: its series, which the transfer dialog offers to pick from (none if unlisted). */
  const [chosenSeries] = createResource(
    () => (chosen().length === 1 ? chosen()[0] : undefined),
    (h) =>
      api.query.series.query({ site: h.site, ...(node() ? { node: node() } : {}), studyInstanceUid: h.uid })
        .catch(() => []),
  );

  const [open, setOpen] = createSignal<string | undefined>();
  /** The open study's series: undefined while they load, or why they could not be listed. */
  const [series, setSeries] = createSignal<Record<string, unknown>[] | string | undefined>();
  const showSeries = async (h: Study) => {
    if (open() === key(h)) return setOpen(undefined);
    setOpen(key(h));
    setSeries(undefined);
    let listed: Record<string, unknown>[] | string;
    try {
      listed = await api.query.series.query({
        site: h.site,
        ...(node() ? { node: node() } : {}),
        studyInstanceUid: h.uid,
      });
    } catch (err) {
      listed = `Cannot list the series: ${(err as Error).message}`;
    }
    // Another study opened meanwhile keeps its own.
    if (open() === key(h)) setSeries(listed);
  };

  return (
    <>
      <form class="row" onSubmit={submit} aria-label="Find studies">
        <label>
          Site
          <select
            name="site"
            value={field("site") === "all" ? "" : field("site")}
            onChange={(e) => setFormSite(e.currentTarget.value)}
          >
            <option value="">All sites</option>
            <For each={sites()}>
              {(s) => <option value={s.site} selected={s.site === field("site")}>{s.site}</option>}
            </For>
          </select>
        </label>
        <Show when={formSite()}>
          <label>
            Where
            <select name="node" value={field("node")}>
              <option value="">its archive</option>
              <For each={nodes()}>
                {(n) => (
                  <option value={n.name} selected={n.name === field("node")}>
                    node {n.name}
                  </option>
                )}
              </For>
            </select>
          </label>
        </Show>
        <label>
          Patient ID or name<input name="patient" value={field("patient")} />
        </label>
        <label>
          Accession<input name="accession" value={field("accession")} />
        </label>
        <label>
          From<input
            name="from"
            inputMode="numeric"
            size="10"
            placeholder={dateOrder(navigator.language).hint}
            value={localDate(field("from"), navigator.language)}
          />
        </label>
        <label>
          To<input
            name="to"
            inputMode="numeric"
            size="10"
            placeholder={dateOrder(navigator.language).hint}
            value={localDate(field("to"), navigator.language)}
          />
        </label>
        <label>
          Modality<input name="modality" size="4" value={field("modality")} />
        </label>
        <button class="primary" type="submit" disabled={busy()}>Search</button>
      </form>
      <p class="error" role="alert" id="explorer-error">{error()}</p>
      <Show when={leftOut()}>
        <p class="warning" role="status">Not searched: {leftOut()}</p>
      </Show>
      <Show
        when={hits().length}
        fallback={
          <Show
            when={searched()}
            fallback={
              <Show when={!error() && !busy()}>
                <p class="empty">
                  Search with every field empty to list all the studies there, newest first; fill some to
                  narrow it.
                </p>
              </Show>
            }
          >
            <p class="empty">No study matches; widen the search.</p>
          </Show>
        }
      >
        {/* Why View is disabled, said once above the rows (a disabled button's tooltip never shows to a keyboard). */}
        <Show when={!node() && !viewerInstalled()}>
          <p class="hint" id="viewer-missing">{VIEWER_MISSING}.</p>
        </Show>
        <Table
          label="Studies"
          rows={shown()}
          row={(h) => ({ "data-study": h.uid, "data-site": h.site })}
          select={{
            key,
            selected,
            choose,
            among: hits(),
            label: (h) => `Select ${studyTitle(h)}`,
            all: `Select all ${count(hits().length, "study", "studies")}`,
          }}
          sort={{
            key: sortKey(),
            descending: descending(),
            by: (k) =>
              withParams({ sort: sortKey() === k && !descending() ? `-${k}` : k, page: undefined }, true),
          }}
          columns={[
            {
              header: "Patient",
              sort: "patient",
              cell: (h) => (
                <Link
                  href={studyPage(h.site, h.uid, node() || undefined)}
                  aria-label={`Open ${studyTitle(h)}`}
                >
                  {personName(h.patientName) || "Unnamed patient"}
                </Link>
              ),
            },
            { header: "ID", sort: "patientId", cell: (h) => h.patientId },
            { header: "Date", sort: "date", cell: (h) => dicomDate(h.date) },
            { header: "Modalities", sort: "modalities", cell: (h) => h.modalities },
            { header: "Description", sort: "description", cell: (h) => h.description },
            { header: "Objects", sort: "instances", cell: (h) => h.instances },
            { header: "Site", sort: "site", cell: (h) => (node() ? `${h.site} / ${node()}` : h.site) },
            {
              header: <span class="sr-only">Actions</span>,
              class: "actions",
              cell: (h) => (
                <>
                  <button
                    type="button"
                    class="small"
                    aria-expanded={open() === key(h)}
                    aria-label={`Series of ${studyTitle(h)}`}
                    onClick={() => showSeries(h)}
                  >
                    Series
                  </button>
                  <Show when={!node()}>
                    <Show
                      when={viewerInstalled()}
                      fallback={
                        <button
                          type="button"
                          class="small"
                          disabled
                          title={VIEWER_MISSING}
                          aria-describedby="viewer-missing"
                          aria-label={`View ${studyTitle(h)} in the viewer`}
                        >
                          View
                        </button>
                      }
                    >
                      <a
                        class="button small"
                        href={viewerUrl(h.site, h.uid)}
                        target="_blank"
                        rel="noopener"
                        aria-label={`View ${studyTitle(h)} in the viewer`}
                      >
                        View
                      </a>
                    </Show>
                  </Show>
                </>
              ),
            },
          ]}
          after={(h) => (
            <Show when={open() === key(h)}>
              <tr class="under">
                <td></td>
                <td colSpan={8}>
                  <SeriesTable series={series()} />
                </td>
              </tr>
            </Show>
          )}
        />
        <div class="row">
          <button type="button" disabled={page() === 0} onClick={() => withParams({ page: String(page()) })}>
            Previous
          </button>
          <span>
            Page {page() + 1} of {pages()} ({count(hits().length, "study", "studies")})
          </span>
          <button
            type="button"
            disabled={page() + 1 >= pages()}
            onClick={() => withParams({ page: String(page() + 2) })}
          >
            Next
          </button>
        </div>
        <Show when={props.may("transfer")} fallback={<p class="empty">Your role cannot move studies.</p>}>
          <TransferDialog
            studies={chosen().map((h) => h.uid)}
            sources={sources()}
            sourceNode={node() || undefined}
            series={chosen().length === 1 && !chosenSeries.loading ? chosenSeries() : undefined}
            sites={(sites() ?? []).filter((s) => s.state !== "pending" && s.state !== "revoked").map((s) =>
              s.site
            )}
            onTransfer={props.onTransfer}
          />
        </Show>
      </Show>
    </>
  );
}

/** A study's series: number, modality, description, objects (while they load, or why they cannot). */
export function SeriesTable(props: { series: Record<string, unknown>[] | string | undefined }) {
  return (
    <Table
      label="Series"
      columns={SERIES_COLUMNS}
      rows={Array.isArray(props.series) ? props.series : []}
      row={(s) => ({ "data-series": text(s, "0020000E") })}
      status={typeof props.series === "string"
        ? { text: props.series, error: true }
        : { text: props.series ? "The site lists no series." : "Loading…" }}
    />
  );
}

const SERIES_COLUMNS: Column<Record<string, unknown>>[] = [
  { header: "Series", cell: (s) => text(s, "00200011") },
  { header: "Modality", cell: (s) => text(s, "00080060") },
  { header: "Description", cell: (s) => text(s, "0008103E") },
  { header: "Objects", cell: (s) => text(s, "00201209") },
];

/**
 * Find studies on one site or all: by patient, accession, date range, modality; sort and page the
 * results; select studies and move them to another site.
 */
import { createMemo, createResource, createSignal, For, Show } from "solid-js";
import { api, dicomValue, type May } from "../api.ts";
import { TransferDialog } from "./transfer_dialog.tsx";

interface Hit {
  site: string;
  uid: string;
  patientId: string;
  patientName: string;
  date: string;
  modalities: string;
  description: string;
  instances: string;
}

const PAGE = 25;

export function Explorer(props: { may: May; onTransfer: (id: string) => void }) {
  const [sites] = createResource(() => api.sites.list.query());
  const [hits, setHits] = createSignal<Hit[]>([]);
  const [error, setError] = createSignal("");
  /** Sites a search over all sites did not include, with why. */
  const [leftOut, setLeftOut] = createSignal("");
  const [busy, setBusy] = createSignal(false);
  const [searched, setSearched] = createSignal(false);
  const [sortKey, setSortKey] = createSignal<keyof Hit>("date");
  const [page, setPage] = createSignal(0);
  const [selected, setSelected] = createSignal<Set<string>>(new Set());
  let site!: HTMLSelectElement, patient!: HTMLInputElement, accession!: HTMLInputElement;
  let from!: HTMLInputElement, to!: HTMLInputElement, modality!: HTMLInputElement;

  const search = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setError("");
    const filters: Record<string, string> = {};
    if (patient.value) filters[/^\d/.test(patient.value) ? "PatientID" : "PatientName"] = patient.value;
    if (accession.value) filters.AccessionNumber = accession.value;
    if (modality.value) filters.ModalitiesInStudy = modality.value.toUpperCase();
    const d = (v: string) => v.replaceAll("-", "");
    if (from.value || to.value) filters.StudyDate = `${d(from.value)}-${d(to.value)}`;
    try {
      const { studies, leftOut } = await api.query.studies.query({
        ...(site.value ? { site: site.value } : {}),
        filters,
      });
      setLeftOut(leftOut.map((l) => `${l.site} (${l.reason})`).join(", "));
      setHits(studies.map((f) => ({
        site: f.site,
        uid: dicomValue(f.study, "0020000D"),
        patientId: dicomValue(f.study, "00100020"),
        patientName: dicomValue(f.study, "00100010"),
        date: dicomValue(f.study, "00080020"),
        modalities: dicomValue(f.study, "00080061"),
        description: dicomValue(f.study, "00081030"),
        instances: dicomValue(f.study, "00201208"),
      })));
      setSelected(new Set<string>());
      setPage(0);
      setSearched(true);
    } catch (err) {
      setError((err as Error).message);
    } finally {
      setBusy(false);
    }
  };

  const sorted = createMemo(() =>
    [...hits()].sort((a, b) => String(a[sortKey()]).localeCompare(String(b[sortKey()])))
  );
  const shown = createMemo(() => sorted().slice(page() * PAGE, (page() + 1) * PAGE));
  const key = (h: Hit) => `${h.site}|${h.uid}`;
  const toggle = (h: Hit) => {
    const s = new Set(selected());
    if (s.has(key(h))) s.delete(key(h));
    else s.add(key(h));
    setSelected(s);
  };
  const chosen = () => hits().filter((h) => selected().has(key(h)));
  const sources = () => [...new Set(chosen().map((h) => h.site))];

  const [open, setOpen] = createSignal<string | undefined>();
  const [series, setSeries] = createSignal<Record<string, unknown>[]>([]);
  const showSeries = async (h: Hit) => {
    if (open() === key(h)) return setOpen(undefined);
    setOpen(key(h));
    setSeries([]);
    try {
      setSeries(await api.query.series.query({ site: h.site, studyInstanceUid: h.uid }));
    } catch (err) {
      setError((err as Error).message);
    }
  };

  const header = (k: keyof Hit, label: string) => (
    <th>
      <button type="button" onClick={() => setSortKey(k)} aria-pressed={sortKey() === k}>{label}</button>
    </th>
  );

  return (
    <>
      <form class="row" onSubmit={search} aria-label="Find studies">
        <label>
          Site
          <select name="site" ref={site}>
            <option value="">All sites</option>
            <For each={sites()}>{(s) => <option value={s.site}>{s.site}</option>}</For>
          </select>
        </label>
        <label>
          Patient ID or name<input name="patient" ref={patient} />
        </label>
        <label>
          Accession<input name="accession" ref={accession} />
        </label>
        <label>
          From<input name="from" type="date" ref={from} />
        </label>
        <label>
          To<input name="to" type="date" ref={to} />
        </label>
        <label>
          Modality<input name="modality" size="4" ref={modality} />
        </label>
        <button class="primary" type="submit" disabled={busy()}>Search</button>
      </form>
      <p class="error" role="alert">{error()}</p>
      <Show when={leftOut()}>
        <p class="warning" role="status">Not searched: {leftOut()}</p>
      </Show>
      <Show
        when={hits().length}
        fallback={
          <Show when={searched()}>
            <p class="empty">No study matches; widen the search.</p>
          </Show>
        }
      >
        <table aria-label="Studies">
          <thead>
            <tr>
              <th>
                <span class="sr-only">Select</span>
              </th>
              {header("site", "Site")}
              {header("patientName", "Patient")}
              {header("patientId", "ID")}
              {header("date", "Date")}
              {header("modalities", "Modalities")}
              {header("description", "Description")}
              {header("instances", "Objects")}
              <th></th>
            </tr>
          </thead>
          <tbody>
            <For each={shown()}>
              {(h) => (
                <tr data-study={h.uid}>
                  <td>
                    <input
                      type="checkbox"
                      aria-label={`Select ${h.patientName} ${h.date}`}
                      checked={selected().has(key(h))}
                      onChange={() => toggle(h)}
                    />
                  </td>
                  <td>{h.site}</td>
                  <td>{h.patientName}</td>
                  <td>{h.patientId}</td>
                  <td>{h.date}</td>
                  <td>{h.modalities}</td>
                  <td>{h.description}</td>
                  <td>{h.instances}</td>
                  <td>
                    <button type="button" aria-expanded={open() === key(h)} onClick={() => showSeries(h)}>
                      Series
                    </button>
                  </td>
                </tr>
              )}
            </For>
          </tbody>
        </table>
        <Show when={open()}>
          <table aria-label="Series">
            <thead>
              <tr>
                <th>Series</th>
                <th>Modality</th>
                <th>Description</th>
                <th>Objects</th>
              </tr>
            </thead>
            <tbody>
              <For each={series()}>
                {(s) => (
                  <tr>
                    <td>{dicomValue(s, "00200011")}</td>
                    <td>{dicomValue(s, "00080060")}</td>
                    <td>{dicomValue(s, "0008103E")}</td>
                    <td>{dicomValue(s, "00201209")}</td>
                  </tr>
                )}
              </For>
            </tbody>
          </table>
        </Show>
        <div class="row">
          <button type="button" disabled={page() === 0} onClick={() => setPage(page() - 1)}>Previous</button>
          <span>
            Page {page() + 1} of {Math.max(1, Math.ceil(hits().length / PAGE))} ({hits().length} studies)
          </span>
          <button
            type="button"
            disabled={(page() + 1) * PAGE >= hits().length}
            onClick={() => setPage(page() + 1)}
          >
            Next
          </button>
        </div>
        <Show when={props.may("transfer")} fallback={<p class="empty">Your role cannot move studies.</p>}>
          <TransferDialog
            studies={chosen().map((h) => h.uid)}
            sources={sources()}
            sites={(sites() ?? []).map((s) => s.site)}
            onTransfer={props.onTransfer}
          />
        </Show>
      </Show>
    </>
  );
}

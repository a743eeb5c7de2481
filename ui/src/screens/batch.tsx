/**
 * Batch: choose a CSV or XLSX of searches, preview its rows with their errors, start it, follow it,
 * download the results; the batches started before, the newest first, each opening as it was started.
 */
import { saveFrom, saveText } from "../download.ts";
import { createEffect, createResource, createSignal, For, on, onCleanup, Show } from "solid-js";
import { toBase64 } from "@conduit/shared/base64";
import { batchTemplateCsv } from "@conduit/shared/batch-columns";
import { CSV_ENCODINGS, type CsvEncoding, ENCODING_NAMES } from "@conduit/shared/csv-text";
import { api } from "../api.ts";
import { auditActor, bytes, count, instant } from "../format.ts";
import { Link, location, navigate } from "../router.tsx";
import { Table } from "../table.tsx";
import { createConfirm, Pager } from "../widgets.tsx";
import { type DeidChoice, DeidFields } from "./deid_fields.tsx";
import { clearInvalid, fieldOf, markInvalid } from "../field_error.ts";

/** Batches a page of the list shows. */
const LIST_PAGE = 20;

/** A batch's state in words, and the class that colours it. */
const STATES: Record<string, [string, string]> = {
  running: ["running", "pending"],
  done: ["done", "success"],
  canceled: ["canceled", "warning"],
  failed: ["failed", "failure"],
};
const stateOf = (status: string) => STATES[status] ?? [status, "pending"];

/** The largest file the hub takes: 50,000,000 characters of base64 (hub/api/batch.ts). */
const MAX_FILE_BYTES = 37_500_000;

export function Batch(props: { onTransfer: (id: string) => void }) {
  const [sites] = createResource(() => api.sites.list.query());
  /** The batch started, in the URL (`/batch?id=...`): a reload or Back shows it again. */
  const id = () => location().search.get("id") ?? undefined;
  const [status, { refetch }] = createResource(id, (batch) => api.batch.status.query({ id: batch }));
  const [error, setError] = createSignal("");
  const [preview, setPreview] = createSignal<Preview | undefined>();
  const [kindValue, setKindValue] = createSignal("query");
  const [sourceValue, setSourceValue] = createSignal("");
  const [destinationValue, setDestinationValue] = createSignal("");
  /** A CSV's encoding: `auto` lets the hub detect it (the preview says which it read). */
  const [encodingValue, setEncodingValue] = createSignal<CsvEncoding>("auto");
  /**
   * A batch being started: Start waits for it, so a double click starts one batch, not two. Once started
   * (its id in the URL) Start stays disabled until another file is chosen (the hub refuses the same batch
   * while it runs, too).
   */
  const [busy, setBusy] = createSignal(false);
  let deid!: DeidChoice;
  let poll: ReturnType<typeof setInterval> | undefined;
  onCleanup(() => clearInterval(poll));
  let file!: HTMLInputElement, kind!: HTMLSelectElement, form!: HTMLFormElement;
  /**
   * An error said, and the form's field it is about marked, described by it and focused: the source or the
   * destination when it names them, else the file.
   */
  const refuse = (message: string) => {
    setError(message);
    const field = fieldOf(
      message,
      {
        destination: /destination/i,
        source: /(one site|online to search)/i,
        encoding: /(encoding|not UTF-8|byte order mark)/i,
      },
      "file",
    );
    markInvalid(form, field, "batch-error");
  };
  const unrefuse = () => (setError(""), clearInvalid(form));
  /** Sources: enrolled sites (one waiting to enroll or revoked has nothing to search). */
  const sources = () => (sites() ?? []).filter((s) => s.state !== "pending" && s.state !== "revoked");
  /** Destinations: enrolled sites, never the source. */
  const destinations = () => sources().filter((s) => s.site !== sourceValue());
  // A destination the new source made impossible is no longer chosen.
  createEffect(() => {
    if (destinationValue() && !destinations().some((s) => s.site === destinationValue())) {
      setDestinationValue("");
    }
  });
  /** Why Start cannot run yet, or "". */
  const missing = () =>
    kindValue() !== "transfer"
      ? ""
      : !sourceValue()
      ? "A transfer takes its studies from one site: choose it."
      : !destinationValue()
      ? "Choose the destination."
      : "";
  // A batch in the URL is followed until it is done.
  createEffect(on(id, (batch) => {
    clearInterval(poll);
    if (!batch) return;
    poll = setInterval(async () => {
      try {
        await refetch();
        if (status.error || (status() && status()!.status !== "running")) clearInterval(poll);
      } catch {
        clearInterval(poll); // the resource shows its error
      }
    }, 1000);
  }));

  /**
   * The chosen file, base64, with the encoding chosen for a CSV; undefined when none; throws with a sentence
   * when the hub would refuse it.
   */
  const read = async (): Promise<
    { filename: string; contentBase64: string; encoding: CsvEncoding } | undefined
  > => {
    const f = file.files?.[0];
    if (!f) return undefined;
    const encoding = encodingValue(); // the one chosen now: the file is read meanwhile
    if (f.size > MAX_FILE_BYTES) {
      throw new Error(
        `${f.name} is ${bytes(f.size)}: a batch file may be up to ${
          bytes(MAX_FILE_BYTES)
        }; split it in parts.`,
      );
    }
    return {
      filename: f.name,
      contentBase64: toBase64(new Uint8Array(await f.arrayBuffer())),
      encoding,
    };
  };

  /**
   * The preview of the file chosen, in the encoding chosen. Only the latest one asked is shown: choosing
   * encodings by keyboard asks one preview per step, and an earlier one's answer (a refusal of UTF-8) could
   * come last and leave its error over the preview of the encoding chosen.
   */
  let previewAsked = 0;
  const showPreview = async () => {
    const asked = ++previewAsked;
    unrefuse();
    setPreview(undefined);
    navigate("/batch");
    try {
      const content = await read();
      if (!content) return;
      const answer = await api.batch.preview.mutate(content);
      if (asked === previewAsked) setPreview(answer);
    } catch (err) {
      if (asked === previewAsked) refuse((err as Error).message);
    }
  };

  const upload = async (e: Event) => {
    e.preventDefault();
    if (busy()) return;
    previewAsked++; // a preview still on its way no longer counts
    unrefuse();
    if (missing()) return refuse(missing());
    setBusy(true);
    try {
      const content = await read();
      if (!content) return refuse("Choose a .csv or .xlsx file.");
      const searched = sourceValue()
        ? [sourceValue()]
        : (sites() ?? []).filter((s) => s.state === "online").map((s) => s.site);
      if (!searched.length) {
        return refuse("No site is online to search: choose one, or wait until one connects.");
      }
      const pseudonymize = kind.value === "transfer" ? deid.request() : undefined;
      const r = await api.batch.upload.mutate({
        kind: kind.value as "query" | "transfer",
        ...content,
        sites: searched,
        ...(kind.value === "transfer" ? { destination: { site: destinationValue() } } : {}),
        ...(pseudonymize ? { deid: pseudonymize } : {}),
      });
      navigate(`/batch?id=${encodeURIComponent(r.id)}`);
    } catch (err) {
      refuse((err as Error).message);
    } finally {
      setBusy(false);
    }
  };

  const confirm = createConfirm();
  /** Cancel the batch followed, once the user says so: the question names the file. */
  const askCancel = (filename: string, rows: number) =>
    confirm.ask({
      question: `Cancel the batch of ${count(rows, "row")} from ${filename}?`,
      detail:
        "What it found so far stays in its results; the rows not searched yet are not, and no transfer is made.",
      yes: "Cancel the batch",
      no: "Keep it running",
      run: async () => {
        setError("");
        try {
          await api.batch.cancel.mutate({ id: id()! });
        } catch (err) {
          setError((err as Error).message);
        }
        await refetch();
      },
    });

  const download = async (format: "csv" | "xlsx") => {
    try {
      // Streamed by the hub as it reads the results.
      await saveFrom(
        `/api/batches/${encodeURIComponent(id()!)}/results.${format}`,
        `batch-${id()}.${format}`,
      );
    } catch (err) {
      setError((err as Error).message);
    }
  };

  return (
    <>
      {confirm.view()}
      <section class="card">
        <h2>Batch</h2>
        <p class="empty">
          One row per search; columns Patient ID, Patient Name, Birth Date, Accession Number, Study Date (a
          date or a-b), Modality, Study Instance UID, Series Instance UID (with the study's UID: a transfer
          moves only that series of it), and Pseudonym: for a transfer pseudonymized at the source, the
          patient of each study a row finds becomes that pseudonym (Patient ID and Name).{" "}
          <button
            type="button"
            onClick={() => saveText("batch-template.csv", batchTemplateCsv(), "text/csv")}
          >
            Download a template (CSV)
          </button>
        </p>
        <form class="row" ref={form} onSubmit={upload}>
          <label>
            File<input name="file" type="file" accept=".csv,.txt,.xlsx" ref={file} onChange={showPreview} />
          </label>
          <label>
            Encoding (CSV)
            <select
              name="encoding"
              onChange={(e) => {
                setEncodingValue(e.currentTarget.value as CsvEncoding);
                // The file chosen is read again in that encoding.
                if (file.files?.length) void showPreview();
              }}
            >
              <For each={CSV_ENCODINGS}>{(e) => <option value={e}>{ENCODING_NAMES[e]}</option>}</For>
            </select>
          </label>
          <label>
            Kind
            <select name="kind" ref={kind} onChange={(e) => setKindValue(e.currentTarget.value)}>
              <option value="query">Query</option>
              <option value="transfer">Transfer</option>
            </select>
          </label>
          <label>
            Site (source)
            <select name="source" onChange={(e) => setSourceValue(e.currentTarget.value)}>
              <option value="" disabled={kindValue() === "transfer"}>All online sites</option>
              <For each={sources()}>{(s) => <option value={s.site}>{s.site}</option>}</For>
            </select>
          </label>
          <Show when={kindValue() === "transfer"}>
            <label>
              Destination
              <select name="destination" onChange={(e) => setDestinationValue(e.currentTarget.value)}>
                <option value="" selected={!destinationValue()}>Choose a site</option>
                <For each={destinations()}>
                  {(s) => <option value={s.site} selected={s.site === destinationValue()}>{s.site}</option>}
                </For>
              </select>
            </label>
          </Show>
          <button
            class="primary"
            type="submit"
            disabled={!preview() || preview()!.rows === preview()!.badRows || Boolean(missing()) || busy() ||
              Boolean(id())}
          >
            Start
          </button>
          <Show when={preview() && missing()}>
            <span class="hint">{missing()}</span>
          </Show>
        </form>
        <Show when={kindValue() === "transfer"}>
          <DeidFields
            ref={(c) => (deid = c)}
            note="The file's Pseudonym column applies; without it each patient gets the keyed pseudonym."
          />
        </Show>
        <p class="error" role="alert" id="batch-error">{error()}</p>
        <Show when={preview() && !id()}>
          <PreviewTable preview={preview()!} encoding={encodingValue()} />
        </Show>
        <Show when={id() && status.error}>
          <p class="error" role="alert">Cannot follow the batch: {(status.error as Error).message}</p>
        </Show>
        <Show when={id() && !status.error ? status() : undefined}>
          {(s) => (
            <div aria-label="Batch result" data-status={s().status}>
              <p>
                {s().filename}:{" "}
                <span class={`state-${stateOf(s().status)[1]}`}>{stateOf(s().status)[0]}</span>,{" "}
                {s().status === "running" ? `${s().rowsDone} of ${count(s().rows, "row")} searched` : count(
                  s().rows,
                  "row",
                )}, {count(s().matches, "study", "studies")} found, {count(s().errors.length, "row")}{" "}
                with an error
              </p>
              <Show when={s().status === "running"}>
                <div class="row">
                  <button type="button" onClick={() => askCancel(s().filename, s().rows)}>Cancel</button>
                </div>
              </Show>
              <Show when={s().errors.length}>
                <Table
                  label="Rows with an error"
                  rows={s().errors}
                  columns={[
                    { header: "Row", cell: (e) => String(e.row) },
                    { header: "Site", cell: (e) => String(e.site) },
                    { header: "Error", class: "error", cell: (e) => String(e.error) },
                  ]}
                />
              </Show>
              <Show when={s().status !== "running"}>
                <div class="row">
                  <button type="button" onClick={() => download("csv")}>Download CSV</button>
                  <button type="button" onClick={() => download("xlsx")}>Download XLSX</button>
                  <Show when={s().transferId}>
                    <button type="button" onClick={() => props.onTransfer(s().transferId!)}>
                      Open the transfer
                    </button>
                  </Show>
                </div>
              </Show>
            </div>
          )}
        </Show>
      </section>
      {/* status() throws once the resource failed (a batch the hub does not know): read its error first. */}
      <Batches followed={id() ? `${id()} ${status.error ? "unknown" : status()?.status ?? ""}` : ""} />
    </>
  );
}

/**
 * The batches started before (`/batch?batches=2` for older ones), the newest first, refreshed every 5 s, and
 * at once when the batch followed above (`followed`: its id and state) starts or changes state.
 */
function Batches(props: { followed: string }) {
  const page = () => Math.max(0, Math.floor(Number(location().search.get("batches") ?? 1) - 1) || 0);
  const [list, { refetch }] = createResource(
    page,
    (p) => api.batch.list.query({ limit: LIST_PAGE + 1, ...(p ? { offset: p * LIST_PAGE } : {}) }),
  );
  const timer = setInterval(() => void refetch(), 5000);
  createEffect(on(() => props.followed, () => void refetch(), { defer: true }));
  onCleanup(() => clearInterval(timer));
  const goTo = (p: number) => navigate(p ? `/batch?batches=${p + 1}` : "/batch");
  return (
    <section class="card">
      <h2>Batches</h2>
      <Show
        when={list()?.length || page()}
        fallback={<p class="empty">No batch yet.</p>}
      >
        <Table
          label="Batches"
          rows={list()?.slice(0, LIST_PAGE)}
          row={(b) => ({ "data-batch": b.id })}
          columns={[
            { header: "Started", cell: (b) => instant(b.createdAt) },
            { header: "File", cell: (b) => b.filename },
            { header: "Kind", cell: (b) => b.kind },
            {
              header: "Sites",
              cell: (b) => `${b.sites.join(", ")}${b.destination ? ` → ${b.destination.site}` : ""}`,
            },
            {
              header: "Status",
              class: (b) => `state state-${stateOf(b.status)[1]}`,
              cell: (b) => stateOf(b.status)[0].replace(/^./, (c) => c.toUpperCase()),
            },
            { header: "By", cell: (b) => auditActor(b.createdBy) },
            {
              header: "",
              cell: (b) => (
                <Link
                  href={`/batch?id=${encodeURIComponent(b.id)}`}
                  aria-label={`Open the batch ${b.filename} of ${instant(b.createdAt)}`}
                >
                  Open
                </Link>
              ),
            },
          ]}
        />
        <Pager
          label="Pages of batches"
          what="batches"
          page={page()}
          size={LIST_PAGE}
          fetched={list()?.length}
          loading={list.loading}
          goTo={goTo}
        />
      </Show>
    </section>
  );
}

type Preview = Awaited<ReturnType<typeof api.batch.preview.mutate>>;

const PREVIEW_COLUMNS: [string, string][] = [
  ["PatientID", "Patient ID"],
  ["PatientName", "Name"],
  ["PatientBirthDate", "Birth date"],
  ["AccessionNumber", "Accession"],
  ["StudyDate", "Study date"],
  ["ModalitiesInStudy", "Modality"],
];

/**
 * The file's rows as they will be searched; rows that cannot be used say why, and are skipped. A CSV's
 * encoding as read is named (`chosen`: the user's choice, `auto` when the hub detected it), so that names
 * read wrong (mojibake) are seen before the batch starts.
 */
function PreviewTable(props: { preview: Preview; encoding: CsvEncoding }) {
  /** Whether a row names a study (and series) by UID: then a column shows them. */
  const uids = () => props.preview.first.some((r) => r.keys.StudyInstanceUID || r.series);
  return (
    <div aria-label="Preview">
      <p>
        {props.preview.rows === 0
          ? "The file has no rows below its header: nothing to search."
          : props.preview.rows === props.preview.badRows
          ? `${
            count(props.preview.rows, "row")
          }, every one with an error: nothing to search. Mend the file and ` +
            "choose it again."
          : `${
            count(props.preview.rows, "row")
          }, ${props.preview.badRows} with an error (skipped; the others run).`}
        {props.preview.rows > props.preview.first.length
          ? ` The first ${props.preview.first.length} are shown.`
          : ""}
      </p>
      <Show when={props.preview.encoding}>
        {(read) => (
          <p class="hint" aria-label="Encoding read">
            Read as {ENCODING_NAMES[read()]}
            {props.encoding === "auto" ? " (detected)" : ""}: if the names below look wrong, choose the file's
            encoding.
          </p>
        )}
      </Show>
      <Table
        label="Rows"
        rows={props.preview.first}
        row={(r) => ({ "data-row": String(r.row), class: r.error ? "bad-row" : "" })}
        columns={[
          { header: "Row", cell: (r) => r.row },
          ...PREVIEW_COLUMNS.map(([key, label]) => ({
            header: label,
            cell: (r: (typeof props.preview.first)[number]) => r.keys[key] ?? "",
          })),
          {
            header: "Study · series UID",
            class: "uids",
            when: () => Boolean(uids()),
            cell: (r) => [r.keys.StudyInstanceUID, r.series].filter(Boolean).join(" · "),
          },
          { header: "Pseudonym", cell: (r) => r.pseudonym ?? "" },
          { header: "Error", class: "error", cell: (r) => r.error ?? "" },
        ]}
      />
    </div>
  );
}

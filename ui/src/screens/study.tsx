/**
 * A study's page (`/studies/{site}/{uid}`, `?node=` for one of the site's nodes): the patient and the
 * study, where it lives, its series each with a thumbnail (the hub's DICOMweb `thumbnail`, made at the
 * site; a neutral placeholder when there is none), and the actions: transfer, open in the viewer,
 * download as a zip of its Part 10 files streamed from the site, and (an admin, the site's own archive)
 * erase it, or one of its series, there for good, after a confirmation.
 */
import { createResource, createSignal, For, Show } from "solid-js";
import { api, type May, VIEWER_MISSING, viewerInstalled } from "../api.ts";
import { ageAt, count, dicomDate, dicomDateTime, personName, sex, studyTitle } from "../format.ts";
import { Link } from "../router.tsx";
import { NO_IMAGE, viewerHasNothing } from "../viewable.ts";
import { dicomwebRoot, downloadName, downloadUrl, type Study, studyOf, text, viewerUrl } from "../studies.ts";
import { createConfirm, Uid } from "../widgets.tsx";
import { TransferDialog } from "./transfer_dialog.tsx";

export function StudyPage(
  props: { site: string; uid: string; node?: string; may: May; onTransfer: (id: string) => void },
) {
  const where = () => ({ site: props.site, ...(props.node ? { node: props.node } : {}) });
  const [study, { refetch }] = createResource(
    () => [props.site, props.uid, props.node] as const,
    async (): Promise<Study | null> => {
      const { studies } = await api.query.studies.query({
        ...where(),
        filters: { StudyInstanceUID: props.uid },
      });
      return studies.length ? studyOf(props.site, studies[0].study) : null;
    },
  );
  const [series, { refetch: refetchSeries }] = createResource(
    () => [props.site, props.uid, props.node] as const,
    () => api.query.series.query({ ...where(), studyInstanceUid: props.uid }),
  );
  const [sites] = createResource(() => api.sites.list.query());
  // What was read, undefined while it loads or when it failed: a failed resource throws when read, and
  // its reason is shown on its own (an offline site's study page says so, it does not break).
  const got = () => (study.error ? undefined : study());
  const listed = () => (series.error ? undefined : series());
  const nothingToView = () => viewerHasNothing((listed() ?? []).map((x) => text(x, "00080060")));
  const [transferring, setTransferring] = createSignal(false);
  const confirm = createConfirm();
  const [erased, setErased] = createSignal("");
  const [eraseError, setEraseError] = createSignal("");
  /** Asks, then erases the study, or one series of it, at the site (an admin; the site's own archive). */
  const erase = (what: { series?: Record<string, unknown>; objects: number }) => {
    const uid = what.series ? text(what.series, "0020000E") : undefined;
    const name = what.series
      ? `series ${
        [text(what.series, "00200011") && `#${text(what.series, "00200011")}`, text(what.series, "00080060")]
          .filter(Boolean).join(" ")
      }`.trim()
      : "study";
    confirm.ask({
      question: `Erase this ${name} from ${props.site}?`,
      detail: `Its ${count(what.objects, "object")}, with their index entries, queue rows, ` +
        `de-identified copies and conflict records, are removed from the site's archive for good. Copies ` +
        "at other sites and nodes stay. This cannot be undone.",
      yes: `Erase the ${what.series ? "series" : "study"}`,
      run: async () => {
        setEraseError("");
        try {
          const r = await api.site.erase.mutate({
            site: props.site,
            studyInstanceUid: props.uid,
            ...(uid ? { seriesInstanceUid: uid } : {}),
          });
          setErased(
            `Erased from ${props.site}: ${count(r.instances, "object")} (${count(r.files, "file")}), ` +
              `${count(r.queueRows, "queue row")}` + (r.inFlight ? `, ${r.inFlight} of them being sent` : ""),
          );
          refetch();
          refetchSeries();
        } catch (err) {
          setEraseError(`Cannot erase the ${what.series ? "series" : "study"}: ${(err as Error).message}`);
        }
      },
    });
  };
  const mayErase = () => props.may("erase") && !props.node;

  return (
    <>
      <p class="crumbs">
        <Link href="/explorer">Explorer</Link> ›{" "}
        <Link href={`/sites/${encodeURIComponent(props.site)}`}>
          {props.site}
        </Link>
        {props.node ? ` / ${props.node}` : ""} › study
      </p>
      <Show when={study.error}>
        <p class="error" role="alert">
          Cannot read the study at {props.site}: {(study.error as Error).message}
        </p>
      </Show>
      <Show when={erased()}>
        <p role="status">{erased()}</p>
      </Show>
      <Show when={eraseError()}>
        <p class="error" role="alert">{eraseError()}</p>
      </Show>
      {confirm.view()}
      <Show when={got() === null}>
        <section class="card">
          <h2>No such study at {props.site}</h2>
          <p class="empty">
            {props.site}
            {props.node ? ` / ${props.node}` : ""} holds no study with UID{" "}
            <code>{props.uid}</code>. It may have been removed, or be at another site:{" "}
            <Link href="/explorer">search</Link>.
          </p>
        </section>
      </Show>
      <Show when={got()}>
        {(s) => (
          <section class="card study" aria-label="Study">
            <h1>{personName(s().patientName) || "Unnamed patient"}</h1>
            <p class="subtitle">
              {[dicomDateTime(s().date, s().time), s().description].filter(Boolean).join(" · ")}
            </p>
            <div class="facts">
              <dl aria-label="Patient">
                <dt>Patient ID</dt>
                <dd>{s().patientId || "–"}</dd>
                <dt>Birth date</dt>
                <dd>
                  {dicomDate(s().birthDate) || "–"}
                  {ageAt(s().birthDate, s().date) ? ` (${ageAt(s().birthDate, s().date)} at the study)` : ""}
                </dd>
                <dt>Sex</dt>
                <dd>{sex(s().sex) || "–"}</dd>
              </dl>
              <dl aria-label="Study details">
                <dt>Accession</dt>
                <dd>{s().accession || "–"}</dd>
                <dt>Referring physician</dt>
                <dd>{personName(s().referring) || "–"}</dd>
                <dt>Modalities</dt>
                <dd>{s().modalities || "–"}</dd>
                <dt>Contents</dt>
                <dd>
                  {count(Number(s().series || listed()?.length || 0), "series", "series")},{" "}
                  {count(Number(s().instances || 0), "object")}
                </dd>
              </dl>
              <dl aria-label="Location">
                <dt>Site</dt>
                <dd>
                  <Link href={`/sites/${encodeURIComponent(props.site)}`}>{props.site}</Link>
                </dd>
                <dt>Node</dt>
                <dd>{props.node ?? "the site's archive (its agent)"}</dd>
                <dt>Study UID</dt>
                <dd>
                  <Uid value={props.uid} what="Study UID" />
                </dd>
              </dl>
            </div>
            <div class="row actions">
              <Show when={props.may("transfer")}>
                <button
                  type="button"
                  aria-expanded={transferring()}
                  onClick={() => setTransferring(!transferring())}
                >
                  Transfer…
                </button>
              </Show>
              <Show when={!props.node}>
                <Show
                  when={viewerInstalled() && !nothingToView()}
                  fallback={
                    <>
                      <button
                        type="button"
                        disabled
                        title={nothingToView() ?? VIEWER_MISSING}
                        aria-describedby="viewer-missing"
                      >
                        Open in viewer
                      </button>
                      <span class="hint" id="viewer-missing">
                        {viewerInstalled() ? `Nothing to view: ${nothingToView()}` : VIEWER_MISSING}.
                      </span>
                    </>
                  }
                >
                  <a class="button" href={viewerUrl(props.site, props.uid)} target="_blank" rel="noopener">
                    Open in viewer
                  </a>
                </Show>
              </Show>
              <a
                class="button"
                href={downloadUrl(props.site, props.uid, props.node)}
                download={downloadName(s())}
              >
                Download (zip)
              </a>
              <Show when={mayErase()}>
                <button
                  type="button"
                  class="danger"
                  onClick={() => erase({ objects: Number(s().instances || 0) })}
                >
                  Erase…
                </button>
              </Show>
            </div>
            <Show when={transferring()}>
              <TransferDialog
                studies={[props.uid]}
                sources={[props.site]}
                sourceNode={props.node}
                series={listed()}
                sites={(sites() ?? []).filter((x) => x.state !== "pending" && x.state !== "revoked")
                  .map((x) => x.site)}
                onTransfer={props.onTransfer}
              />
            </Show>
          </section>
        )}
      </Show>
      <Show when={series.error}>
        <p class="error" role="alert">Cannot list the series: {(series.error as Error).message}</p>
      </Show>
      <Show when={listed()?.length}>
        <section class="card" aria-label="Series">
          <h2>Series</h2>
          <ul class="series-grid">
            <For each={listed()}>
              {(x) => (
                <SeriesCard
                  root={`${dicomwebRoot(props.site, props.node)}/studies/${encodeURIComponent(props.uid)}`}
                  series={x}
                  onErase={mayErase() && listed()!.length > 1
                    ? () => erase({ series: x, objects: Number(text(x, "00201209") || 0) })
                    : undefined}
                />
              )}
            </For>
          </ul>
        </section>
      </Show>
      <Show when={got() && listed() && !listed()!.length}>
        <p class="empty">The site lists no series for {studyTitle(got()!)}.</p>
      </Show>
    </>
  );
}

/** The reason in a DICOMweb problem answer (`detail`), on one line, or the status. */
async function problemDetail(url: string): Promise<string> {
  try {
    const r = await fetch(url, { credentials: "same-origin" });
    if (r.ok) return "the image did not load";
    const body = await r.json().catch(() => undefined) as { detail?: unknown } | undefined;
    return typeof body?.detail === "string" ? body.detail.replace(/\s+/g, " ").trim() : `HTTP ${r.status}`;
  } catch (err) {
    return (err as Error).message;
  }
}

/** One series: its thumbnail (or a placeholder, with the reason when there is one), number, modality, ... */
function SeriesCard(props: { root: string; series: Record<string, unknown>; onErase?: () => void }) {
  const uid = () => text(props.series, "0020000E");
  const modality = () => text(props.series, "00080060");
  const url = () => `${props.root}/series/${encodeURIComponent(uid())}/thumbnail`;
  const [failed, setFailed] = createSignal(NO_IMAGE.has(modality()));
  const [reason, setReason] = createSignal(
    NO_IMAGE.has(modality()) ? `a ${modality()} series holds no image to show` : "",
  );
  const [loaded, setLoaded] = createSignal(false);
  return (
    <li class="series-card" data-series={uid()}>
      <div class="thumb">
        <Show
          when={!failed()}
          fallback={
            <span
              class="placeholder"
              aria-label="No thumbnail"
              title={reason() ? `No thumbnail: ${reason()}` : "No thumbnail"}
            >
              {modality() || "?"}
            </span>
          }
        >
          <img
            src={url()}
            alt={`Series ${text(props.series, "00200011")} thumbnail`}
            loading="lazy"
            data-loaded={loaded() ? "yes" : undefined}
            onLoad={() => setLoaded(true)}
            onError={() => {
              setFailed(true);
              // An image the site could not make (one it cannot decode, say): the hub's answer says why.
              void problemDetail(url()).then(setReason);
            }}
          />
        </Show>
      </div>
      <Show when={failed() && reason() && !NO_IMAGE.has(modality())}>
        <div class="hint thumb-reason">No thumbnail: {reason()}</div>
      </Show>
      <div>
        <strong>
          {[text(props.series, "00200011") && `#${text(props.series, "00200011")}`, modality()]
            .filter(Boolean).join(" ")}
        </strong>{" "}
        {text(props.series, "0008103E")}
      </div>
      <div class="hint">
        {count(Number(text(props.series, "00201209") || 0), "object")} <Uid value={uid()} what="Series UID" />
      </div>
      <Show when={props.onErase}>
        <div>
          <button type="button" class="danger" onClick={() => props.onErase?.()}>Erase series…</button>
        </div>
      </Show>
    </li>
  );
}

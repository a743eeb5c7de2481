/**
 * Transfers (`/transfers`): the list; a job's page (`/transfers/{id}`) with its studies a page at a time
 * (transfer_tasks.tsx), named by patient, date and description as the source knows them, updating live
 * (the job's totals by subscription, then the page shown); cancel (after a confirmation naming the job)
 * and retry.
 */
import { createEffect, createResource, createSignal, For, on, onCleanup, Show } from "solid-js";
import { api, type Down, keepLast, type May, sessionEnded } from "../api.ts";
import { count, instant, personName, status, studyTitle, windowText } from "../format.ts";
import { Link, location, navigate } from "../router.tsx";
import { lookupStudies, studyPage } from "../studies.ts";
import { TransfersTable } from "../tables.tsx";
import { Table } from "../table.tsx";
import { createConfirm, Pager, State, Uid } from "../widgets.tsx";
import { describeDeid } from "./deid_fields.tsx";
import { createTaskPages, type TaskPage, TaskPager } from "./transfer_tasks.tsx";

/** The job open, without its studies (its totals): its page reads them a page at a time. */
type Job = TaskPage["job"];

/** The states a job ends in. */
const TERMINAL = ["success", "failure", "warning", "canceled"];

/** Jobs a page of the list shows. */
const PAGE = 50;
/** Objects of a study listed at once; the next as many on asking (a study may hold tens of thousands). */
const OBJECTS_PAGE = 1000;

export function Transfers(props: { open?: string; may: May }) {
  // A page of the list (`?page=2`), the newest first; one more job than shown says whether there is a next.
  // On a job's page, `page` is the page of its studies (transfer_tasks.tsx): the list shows its first.
  const page = () =>
    props.open ? 0 : Math.max(0, Math.floor(Number(location().search.get("page") ?? 1) - 1) || 0);
  const [sites, { refetch: refetchSites }] = createResource(() => api.sites.list.query().catch(() => []));
  /** The job's sites that are not online now, each with what that means for the job. */
  const away = () => {
    const j = job();
    if (!j || TERMINAL.includes(j.status)) return [];
    return [[j.source.site, "source"], [j.destination.site, "destination"]].flatMap(([name, role]) => {
      const s = sites()?.find((x) => x.site === name);
      if (!s || s.state === "online") return [];
      const since = s.lastSeenAt ? ` (last seen ${instant(s.lastSeenAt)})` : "";
      return [
        `${name}, the ${role}, is ${status(s.state, "site").toLowerCase()}${since}: ` +
        (role === "source"
          ? "nothing leaves it until its agent connects again."
          : "nothing reaches it until its agent connects again."),
      ];
    });
  };
  // A site can go offline while nothing in the job changes (no progress to report): ask every 5 s.
  const siteTimer = setInterval(() => {
    if (job() && !TERMINAL.includes(job()!.status)) refetchSites();
  }, 5000);
  onCleanup(() => clearInterval(siteTimer));
  // A refresh that fails keeps the list shown and says why; the next one tries again.
  const [listDown, setListDown] = createSignal<Down | undefined>();
  const [list, { refetch }] = createResource(
    page,
    keepLast(
      (p: number) => api.transfers.summaries.query({ limit: PAGE + 1, ...(p ? { offset: p * PAGE } : {}) }),
      setListDown,
    ),
  );
  // The list's jobs move on their own (other users' jobs, jobs not open here): refreshed every 5 s, like
  // the dashboard's.
  const listTimer = setInterval(() => void refetch(), 5000);
  onCleanup(() => clearInterval(listTimer));
  const goTo = (p: number) => navigate(p ? `/transfers?page=${p + 1}` : "/transfers");
  const [openId, setOpenId] = createSignal<string | undefined>();
  const [job, setJob] = createSignal<Job | undefined>();
  const [error, setError] = createSignal("");
  let unsubscribe: (() => void) | undefined;

  const open = (id: string | undefined) => {
    unsubscribe?.();
    setOpenId(id);
    setJob(undefined);
    if (!id) return;
    setError("");
    setObjects(undefined);
    setObjectsOf("");
    const sub = api.transfers.progress.subscribe({ id, tasks: false }, {
      onData: (j) => (setJob(j), refetch(), refetchSites(), pages.refresh()),
      onError: (err) => (err.data?.code === "UNAUTHORIZED" ? sessionEnded() : setError(err.message)),
    });
    unsubscribe = () => sub.unsubscribe();
  };
  createEffect(on(() => props.open, (id) => open(id)));
  onCleanup(() => unsubscribe?.());
  const pages = createTaskPages(openId);
  // The studies of the page named as the source knows them (looked up once per page shown, not at each
  // refresh of the same studies; UIDs where it cannot say).
  const [names] = createResource(
    () => {
      const j = job(), tasks = pages.page()?.tasks;
      return j && tasks ? JSON.stringify([j.source, tasks.map((t) => t.studyInstanceUid)]) : undefined;
    },
    (key: string) => {
      const [{ site, node }, uids] = JSON.parse(key) as [{ site: string; node?: string }, string[]];
      return lookupStudies(site, uids, node);
    },
  );

  const [objects, setObjects] = createSignal<
    { id: number; sopInstanceUid: string; state: string; attempts: number; lastError: string }[] | undefined
  >();
  /** The study whose objects are shown (or being listed), or "". */
  const [objectsOf, setObjectsOf] = createSignal("");
  /** Whether the source may hold more of the study's objects than are shown (the last page was full). */
  const [moreObjects, setMoreObjects] = createSignal(false);
  /** How many objects the study's task counts (null before its source listed them). */
  const [objectsTotal, setObjectsTotal] = createSignal<number | null>(null);
  /** A page of the study's objects, after those shown (`after`: the last one's row) or the first. */
  /** A page being listed: the button waits for it (a double click would list it twice). */
  const [listing, setListing] = createSignal(false);
  const listObjects = async (id: string, study: string, after?: number) => {
    setListing(true);
    try {
      const listed = await api.transfers.objects.query({ id, study, limit: OBJECTS_PAGE, after });
      if (objectsOf() !== study) return;
      setObjects([...(after ? objects() ?? [] : []), ...listed]);
      setMoreObjects(listed.length === OBJECTS_PAGE);
    } catch (err) {
      if (objectsOf() === study && !after) setObjectsOf("");
      setError((err as Error).message);
    } finally {
      setListing(false);
    }
  };
  const showObjects = (id: string, study: string, total: number | null) => {
    if (objectsOf() === study) return (setObjectsOf(""), setObjects(undefined)); // the button closes them
    setObjectsOf(study);
    setObjectsTotal(total);
    setObjects(undefined);
    setMoreObjects(false);
    return listObjects(id, study);
  };

  /** A cancel or retry on its way: the buttons wait for it (a double click is one action). */
  const [acting, setActing] = createSignal(false);
  const act = async (what: "cancel" | "retry") => {
    if (acting()) return;
    setActing(true);
    setError("");
    try {
      setJob(await api.transfers[`${what}Summary`].mutate({ id: openId()! }));
      pages.refresh();
      if (what === "retry") open(openId());
    } catch (err) {
      setError((err as Error).message);
    } finally {
      setActing(false);
    }
  };

  /**
   * Studies of the open job still being canceled (the page's count by state): a retry is refused until they
   * are canceled. The job is over by then and its progress ends, so the page is read again every 2 s while
   * any are, until the cancel has settled at the source.
   */
  const canceling = () => pages.page()?.states.canceling ?? 0;
  /** Why Retry waits, while it does. */
  const retryWaits = () =>
    canceling()
      ? `${count(canceling(), "study is", "studies are")} still being canceled (objects on their way, or a ` +
        "source to tell once it is back): retry once the cancel has settled"
      : undefined;
  createEffect(on(() => canceling() > 0, (waiting) => {
    if (!waiting) return;
    const timer = setInterval(() => pages.refresh(), 2000);
    onCleanup(() => clearInterval(timer));
  }));

  const confirm = createConfirm();
  const endpointName = (e: { site: string; node?: string }) => (e.node ? `${e.site} / ${e.node}` : e.site);
  /**
   * Said to a screen reader (a live region) when the open job's state changes while its page is shown: "The
   * transfer from north to south is now Done." Not on opening a job: its state is on the page then.
   */
  const [said, setSaid] = createSignal("");
  let seen: { id: string; status: string } | undefined;
  createEffect(() => {
    const j = job(), id = openId();
    if (!j || !id) return;
    if (seen?.id === id && seen.status !== j.status) {
      setSaid(
        `The transfer from ${endpointName(j.source)} to ${endpointName(j.destination)} is now ${
          status(j.status)
        }.`,
      );
    }
    seen = { id, status: j.status };
  });
  /** Cancel, once the user says so: the question names the job. */
  const askCancel = (j: Job) =>
    confirm.ask({
      question: `Cancel the transfer of ${count(j.totals.studies, "study", "studies")} from ${
        endpointName(j.source)
      } to ${endpointName(j.destination)}?`,
      detail: `Objects already at ${endpointName(j.destination)} stay there; the others are not sent ` +
        "(Retry what did not get through sends them later).",
      yes: "Cancel the transfer",
      no: "Keep it running",
      run: () => void act("cancel"),
    });

  return (
    <>
      {confirm.view()}
      <p class="sr-only" role="status">{said()}</p>
      <Show when={job()}>
        {(j) => (
          <section class="card" aria-label="Transfer detail" data-status={j().status}>
            <p class="crumbs">
              <Link href="/transfers">Transfers</Link> › {instant(j().createdAt)}
            </p>
            <h2>
              {j().source.site}
              {j().source.node ? ` / ${j().source.node}` : ""} → {j().destination.site}
              {j().destination.node ? ` / ${j().destination.node}` : ""}: <State value={j().status} />
            </h2>
            <p class="hint">
              Started {instant(j().createdAt)} by {j().createdBy.replace(/^(user|token):/, "")}
              {j().status === "in_progress" || j().status === "pending"
                ? ""
                : `, last change ${instant(j().updatedAt)}`}
            </p>
            <p>
              <progress
                max={j().totals.objects || 1}
                value={j().totals.done}
                aria-label="Objects delivered"
              />{" "}
              {j().totals.done} of {count(j().totals.objects, "object")}
            </p>
            <p class="hint" aria-label="Schedule">
              Priority {j().priority}
              {j().window ? ` · window ${windowText(j().window!)}` : ""}
              {j().bandwidthMbps ? ` · cap ${j().bandwidthMbps} Mbit/s` : ""}
              {j().waitingUntil ? ` · waiting for its window until ${instant(j().waitingUntil!)}` : ""}
            </p>
            <Show when={j().deid}>
              {(d) => (
                <>
                  <p aria-label="De-identification">{describeDeid(d())}</p>
                  <Show when={d().custom || d().clinicalTrial}>
                    <details>
                      <summary>Custom profile and trial attributes used</summary>
                      <pre aria-label="Profile and trial attributes used">{JSON.stringify({ custom: d().custom, clinicalTrial: d().clinicalTrial }, null, 2)}</pre>
                    </details>
                  </Show>
                </>
              )}
            </Show>
            <For each={away()}>{(line) => <p class="warning" role="status">{line}</p>}</For>
            <Show when={props.may("transfer")}>
              <div class="row">
                <button
                  type="button"
                  disabled={TERMINAL.includes(j().status) || acting()}
                  onClick={() => askCancel(j())}
                >
                  Cancel
                </button>
                <button
                  type="button"
                  disabled={!["failure", "warning", "canceled"].includes(j().status) || canceling() > 0 ||
                    acting()}
                  title={retryWaits()}
                  aria-describedby={retryWaits() ? "retry-waits" : undefined}
                  onClick={() => act("retry")}
                >
                  Retry what did not get through
                </button>
                {/* Said beside it too: a disabled button takes no focus, so its tooltip never shows to a keyboard. */}
                <Show when={retryWaits()}>
                  <span class="hint" id="retry-waits">{retryWaits()}.</span>
                </Show>
              </div>
            </Show>
            <Show when={pages.down()}>
              {(d) => (
                <p class="error" role="alert">
                  Cannot list the studies ({d().reason}) since{" "}
                  {instant(d().since)}; asked again when the job moves.
                </p>
              )}
            </Show>
            <TaskPager pages={pages} />
            <Table
              label="Tasks"
              rows={pages.page()?.tasks}
              row={(t) => ({ "data-study": t.studyInstanceUid })}
              columns={[
                {
                  header: "Study",
                  cell: (t) => (
                    <>
                      <Show
                        when={names()?.get(t.studyInstanceUid)}
                        fallback={
                          <span class="hint">
                            {names()?.unreachable
                              ? `Not named: ${j().source.site} cannot be asked now (${names()!.unreachable})`
                              : names()?.asked.has(t.studyInstanceUid)
                              ? "A study the source does not list now"
                              : "…"}
                          </span>
                        }
                      >
                        {(s) => (
                          <Link href={studyPage(j().source.site, t.studyInstanceUid, j().source.node)}>
                            {studyTitle(s())}
                          </Link>
                        )}
                      </Show>{" "}
                      <Uid value={t.studyInstanceUid} what="Study UID" />
                      <Show when={t.series}>
                        {(series) => (
                          <div class="hint" aria-label="Series">
                            {count(series().length, "series", "series")} of the study only:{" "}
                            <For each={series()}>{(u) => <Uid value={u} what="Series UID" />}</For>
                          </div>
                        )}
                      </Show>
                    </>
                  ),
                },
                {
                  header: "De-identified as",
                  class: "pseudonymized",
                  when: () => Boolean(j().deid),
                  cell: (t) => (
                    <Show when={t.pseudonymized} fallback="–">
                      {(p) => (
                        <>
                          {personName(p().patientName)} · {p().patientId}{" "}
                          <Uid value={p().studyInstanceUid} what="New study UID" />
                        </>
                      )}
                    </Show>
                  ),
                },
                { header: "Status", cell: (t) => <State value={t.status} /> },
                {
                  header: "Delivered",
                  cell: (t) => `${t.done} of ${t.objects ?? "?"}${t.held ? ` (${t.held} held back)` : ""}`,
                },
                { header: "Error", class: "error", cell: (t) => t.lastError ?? "" },
                {
                  header: "",
                  cell: (t) => (
                    <button
                      type="button"
                      class="small"
                      aria-expanded={objectsOf() === t.studyInstanceUid}
                      aria-label={`Objects of ${
                        names()?.get(t.studyInstanceUid)
                          ? studyTitle(names()!.get(t.studyInstanceUid)!)
                          : `the study ${t.studyInstanceUid}`
                      }`}
                      onClick={() => showObjects(j().id, t.studyInstanceUid, t.objects ?? null)}
                    >
                      Objects
                    </button>
                  ),
                },
              ]}
            />
            <Show when={objectsOf()}>
              <h3>
                Objects of {names()?.get(objectsOf()) ? studyTitle(names()!.get(objectsOf())!) : "the study"}
              </h3>
              <Show when={objects() && !objects()!.length}>
                <p class="empty">
                  None in{" "}
                  {j().source.site}'s queue for this job: nothing was found to send yet, or the source has let
                  go of them.
                </p>
              </Show>
              <Show when={!objects()}>
                <p class="hint">Asking {j().source.site}…</p>
              </Show>
              <Show when={objects()?.length}>
                <p class="hint">
                  {moreObjects() ? "The first " : ""}
                  {count(objects()!.length, "object")}
                  {moreObjects()
                    ? ` of ${objectsTotal() ?? "more"}, in the order ${j().source.site} queued them`
                    : ""}
                </p>
                <Table
                  label="Objects"
                  rows={objects()}
                  columns={[
                    {
                      header: "Object",
                      cell: (o) => <Uid value={o.sopInstanceUid} what="SOP Instance UID" />,
                    },
                    {
                      header: "State",
                      class: (o) =>
                        `state-${
                          o.state === "done" ? "success" : o.state === "dead" ? "failure" : "pending"
                        }`,
                      cell: (o) => status(o.state, "object"),
                    },
                    { header: "Attempts", cell: (o) => o.attempts },
                    { header: "Last error", class: "error", cell: (o) => o.lastError },
                  ]}
                />
                <Show when={moreObjects()}>
                  <button
                    type="button"
                    disabled={listing()}
                    onClick={() => listObjects(j().id, objectsOf(), objects()!.at(-1)!.id)}
                  >
                    Show the next {OBJECTS_PAGE.toLocaleString("en")}
                  </button>
                </Show>
              </Show>
            </Show>
          </section>
        )}
      </Show>
      <p class="error" role="alert">{error()}</p>
      <section class="card">
        <h2>Transfers</h2>
        <Show when={listDown()}>
          {(d) => (
            <p class="error" role="alert">
              Cannot list transfers ({d().reason}) since {instant(d().since)}
              {list() ? ": the list as it was is shown" : ""}; asked again every 5 seconds.
            </p>
          )}
        </Show>
        <Show
          when={list()?.length || page()}
          fallback={list() && (
            <p class="empty">
              No transfer yet: pick studies in the <Link href="/explorer">Explorer</Link>.
            </p>
          )}
        >
          <Show when={list()?.length} fallback={<p class="empty">No transfer on this page.</p>}>
            <TransfersTable jobs={list()?.slice(0, PAGE)} />
          </Show>
          <Pager
            label="Pages of transfers"
            what="transfers"
            page={page()}
            size={PAGE}
            fetched={list()?.length}
            loading={list.loading}
            goTo={goTo}
          />
        </Show>
      </section>
    </>
  );
}

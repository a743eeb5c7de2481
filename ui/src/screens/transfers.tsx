/** Transfers: the list, and one job's tasks updating live (subscription); cancel and retry. */
import { createResource, createSignal, For, onCleanup, Show } from "solid-js";
import { api, type May } from "../api.ts";
import { TransfersTable } from "../tables.tsx";
import { describeDeid } from "./deid_fields.tsx";

type Job = Awaited<ReturnType<typeof api.transfers.get.query>>;

export function Transfers(props: { open?: string; may: May }) {
  const [list, { refetch }] = createResource(() => api.transfers.list.query({ limit: 50 }));
  const [openId, setOpenId] = createSignal(props.open);
  const [job, setJob] = createSignal<Job | undefined>();
  const [error, setError] = createSignal("");
  let unsubscribe: (() => void) | undefined;

  const open = (id: string | undefined) => {
    unsubscribe?.();
    setOpenId(id);
    setJob(undefined);
    if (!id) return;
    const sub = api.transfers.progress.subscribe({ id }, {
      onData: (j) => (setJob(j as Job), refetch()),
      onError: (err) => setError(err.message),
    });
    unsubscribe = () => sub.unsubscribe();
  };
  if (props.open) open(props.open);
  onCleanup(() => unsubscribe?.());

  const [objects, setObjects] = createSignal<
    { sopInstanceUid: string; state: string; attempts: number; lastError: string }[]
  >([]);
  const showObjects = async (id: string, study: string) => {
    try {
      setObjects(await api.transfers.objects.query({ id, study }));
    } catch (err) {
      setError((err as Error).message);
    }
  };

  const act = async (what: "cancel" | "retry") => {
    try {
      const j = await api.transfers[what].mutate({ id: openId()! });
      setJob(j as Job);
      if (what === "retry") open(openId());
    } catch (err) {
      setError((err as Error).message);
    }
  };

  return (
    <>
      <Show when={job()}>
        {(j) => (
          <section class="card" aria-label="Transfer detail" data-status={j().status}>
            <h2>
              {j().source.site} → {j().destination.site}
              {j().destination.node ? ` / ${j().destination.node}` : ""}:{" "}
              <span class={`state-${j().status}`}>{j().status}</span>
            </h2>
            <p>
              <progress
                max={j().totals.objects || 1}
                value={j().totals.done}
                aria-label="Objects delivered"
              />{" "}
              {j().totals.done} of {j().totals.objects} objects
            </p>
            <p class="hint" aria-label="Schedule">
              Priority {j().priority}
              {j().window
                ? ` · window ${j().window!.start}–${j().window!.end}${
                  j().window!.timeZone ? ` ${j().window!.timeZone}` : ""
                }`
                : ""}
              {j().bandwidthMbps ? ` · cap ${j().bandwidthMbps} Mbit/s` : ""}
              {j().waitingUntil
                ? ` · waiting for its window until ${new Date(j().waitingUntil!).toLocaleString()}`
                : ""}
            </p>
            <Show when={j().deid}>
              {(d) => <p aria-label="De-identification">{describeDeid(d())}</p>}
            </Show>
            <Show when={props.may("transfer")}>
              <div class="row">
                <button
                  type="button"
                  disabled={["success", "failure", "warning", "canceled"].includes(j().status)}
                  onClick={() => act("cancel")}
                >
                  Cancel
                </button>
                <button
                  type="button"
                  disabled={!["failure", "warning", "canceled"].includes(j().status)}
                  onClick={() => act("retry")}
                >
                  Retry what did not get through
                </button>
              </div>
            </Show>
            <table aria-label="Tasks">
              <thead>
                <tr>
                  <th>Study</th>
                  <Show when={j().deid}>
                    <th>De-identified as</th>
                  </Show>
                  <th>Status</th>
                  <th>Delivered</th>
                  <th>Error</th>
                  <th></th>
                </tr>
              </thead>
              <tbody>
                <For each={j().tasks}>
                  {(t) => (
                    <tr>
                      <td>{t.studyInstanceUid}</td>
                      <Show when={j().deid}>
                        <td class="pseudonymized">
                          {t.pseudonymized
                            ? `${t.pseudonymized.patientId} · ${t.pseudonymized.patientName} · ${t.pseudonymized.studyInstanceUid}`
                            : "–"}
                        </td>
                      </Show>
                      <td class={`state-${t.status}`}>{t.status}</td>
                      <td>
                        {t.done} / {t.objects ?? "?"}
                        {t.held ? ` (${t.held} held back)` : ""}
                      </td>
                      <td class="error">{t.lastError ?? ""}</td>
                      <td>
                        <button type="button" onClick={() => showObjects(j().id, t.studyInstanceUid)}>
                          Objects
                        </button>
                      </td>
                    </tr>
                  )}
                </For>
              </tbody>
            </table>
            <Show when={objects().length}>
              <table aria-label="Objects">
                <thead>
                  <tr>
                    <th>Object</th>
                    <th>State</th>
                    <th>Attempts</th>
                    <th>Last error</th>
                  </tr>
                </thead>
                <tbody>
                  <For each={objects()}>
                    {(o) => (
                      <tr>
                        <td>{o.sopInstanceUid}</td>
                        <td
                          class={`state-${
                            o.state === "done" ? "success" : o.state === "dead" ? "failure" : "pending"
                          }`}
                        >
                          {o.state}
                        </td>
                        <td>{o.attempts}</td>
                        <td class="error">{o.lastError}</td>
                      </tr>
                    )}
                  </For>
                </tbody>
              </table>
            </Show>
          </section>
        )}
      </Show>
      <p class="error" role="alert">{error()}</p>
      <section class="card">
        <h2>Transfers</h2>
        <Show
          when={list()?.length}
          fallback={<p class="empty">No transfer yet: pick studies in the Explorer.</p>}
        >
          <TransfersTable jobs={list()} onOpen={open} />
        </Show>
      </section>
    </>
  );
}

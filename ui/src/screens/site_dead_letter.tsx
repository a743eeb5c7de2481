/**
 * A site's Dead letter section (on its page, `/sites/{name}`): rows that ran out of attempts, selected with
 * checkboxes (or all at once), then Replay selected (`site.replay`) or Discard selected (`site.discardDead`,
 * after a confirmation naming how many); and its rows waiting for a destination no longer configured (a node
 * removed), each destination with Abandon after a confirmation (`site.abandon`). An agent too old for discard
 * or abandon answers the button (or the section) with the reason.
 */
import { createEffect, createResource, createSignal, on, Show } from "solid-js";
import { api } from "../api.ts";
import { count, readOrEmpty } from "../format.ts";
import { Table } from "../table.tsx";
import { type Question, Uid } from "../widgets.tsx";

export function SiteDeadLetter(props: {
  /** The site whose page this is. */
  site: string;
  /** The site while its agent is online (its queue is read from it), else undefined. */
  online: string | undefined;
  /** Asks before a discard or an abandonment (the page's confirmation). */
  ask: (q: Question) => void;
  /** Runs a change as the page runs its others (one at a time, its message or error shown). */
  run: (what: () => Promise<string>) => Promise<void>;
}) {
  const [deadError, setDeadError] = createSignal("");
  const [dead, { refetch: refetchDead }] = createResource(
    () => props.online,
    (site) => api.site.deadLetter.query({ site }).catch((e) => (setDeadError(e.message), null)),
  );
  // Rows waiting for a removed node: an agent too old to list them says so in their part of the section.
  const [strandedError, setStrandedError] = createSignal("");
  const [stranded, { refetch: refetchStranded }] = createResource(
    () => props.online,
    (site) => api.site.stranded.query({ site }).catch((e) => (setStrandedError(e.message), null)),
  );
  /** The ids of the rows ticked; only rows still listed count. */
  const [ticked, setTicked] = createSignal<ReadonlySet<number>>(new Set());
  const selected = () => (dead() ?? []).filter((r) => ticked().has(r.id)).map((r) => r.id);
  createEffect(on(() => props.site, () => setTicked(new Set<number>()), { defer: true }));
  /** After a change: the ticks cleared and both lists read again. */
  const refresh = () => {
    setTicked(new Set<number>());
    refetchDead();
    refetchStranded();
  };

  return (
    <>
      <h2>{props.site}: dead letter</h2>
      <Show
        when={dead()?.length}
        fallback={
          <p class="empty">
            {readOrEmpty(
              dead(),
              `Its dead letter could not be read: ${deadError()}`,
              "Nothing in the dead letter.",
            )}
          </p>
        }
      >
        <p class="hint">
          Objects a destination refused for good, or that ran out of attempts. Replay queues them again;
          discard deletes their rows for good (no replay after): the objects stay in the site's archive until
          its retention rules remove them.
        </p>
        <div class="row">
          <button
            type="button"
            disabled={!selected().length}
            onClick={() =>
              props.run(async () => {
                const r = await api.site.replay.mutate({ site: props.site, ids: selected() });
                refresh();
                return `${count(r.replayed, "row")} back in the queue`;
              })}
          >
            Replay selected
          </button>
          <button
            type="button"
            disabled={!selected().length}
            onClick={() => {
              const ids = selected();
              props.ask({
                question: `Discard ${count(ids.length, "dead-letter row")} of ${props.site} for good?`,
                detail: "They can no longer be replayed. The objects stay in the site's archive until its " +
                  "retention rules remove them.",
                yes: "Discard",
                run: () =>
                  props.run(async () => {
                    const r = await api.site.discardDead.mutate({ site: props.site, ids });
                    refresh();
                    return `${count(r.discarded, "row")} discarded`;
                  }),
              });
            }}
          >
            Discard selected
          </button>
          <span class="hint">{count(selected().length, "row")} selected</span>
        </div>
        <Table
          label="Dead letter"
          rows={dead()}
          select={{
            key: (r) => r.id,
            selected: ticked,
            choose: setTicked,
            label: (r) => `Select row ${r.id}`,
            all: "Select all",
          }}
          columns={[
            { header: "Destination", cell: (r) => r.destination },
            { header: "Route", cell: (r) => r.route },
            { header: "Object", cell: (r) => <Uid value={r.sopInstanceUid} what="SOP Instance UID" /> },
            { header: "Attempts", cell: (r) => r.attempts },
            { header: "Last error", cell: (r) => r.lastError, class: "error" },
          ]}
        />
      </Show>
      <Show when={stranded() === null || stranded()?.length}>
        <h3>Waiting for a destination no longer configured</h3>
        <Show
          when={stranded()?.length}
          fallback={
            <p class="empty">Its rows waiting for a removed node could not be read: {strandedError()}</p>
          }
        >
          <p class="hint">
            Rows for a node removed from the agent's configuration wait for it to come back. Abandon moves
            them to the dead letter (as "abandoned by the operator", not listed above; the site's `queue
            replay` brings them back).
          </p>
          <Table
            label="Waiting for a removed destination"
            rows={stranded()}
            columns={[
              { header: "Destination", cell: (s) => s.destination },
              { header: "Rows waiting", cell: (s) => s.waiting },
              {
                header: "",
                cell: (s) => (
                  <button
                    type="button"
                    class="small"
                    onClick={() =>
                      props.ask({
                        question: `Abandon the ${count(s.waiting, "row")} waiting for ${s.destination}?`,
                        detail: `${s.destination} is no longer in the configuration of ${props.site}; ` +
                          "its rows go to the dead letter and are not sent unless replayed at the site.",
                        yes: "Abandon",
                        run: () =>
                          props.run(async () => {
                            const r = await api.site.abandon.mutate({
                              site: props.site,
                              destination: s.destination,
                            });
                            refresh();
                            return `${count(r.abandoned, "row")} for ${s.destination} abandoned`;
                          }),
                      })}
                  >
                    Abandon
                  </button>
                ),
              },
            ]}
          />
        </Show>
      </Show>
    </>
  );
}

/**
 * A site's Conflicts section (on its page, `/sites/{name}`): the objects its agent received again with
 * other bytes, a page at a time, and, for a copy kept beside the stored object (keepBoth), Keep stored /
 * Keep received after a confirmation (`site.resolveConflict`).
 */
import { createEffect, createResource, createSignal, For, on, Show } from "solid-js";
import { api } from "../api.ts";
import { count, instant, readOrEmpty } from "../format.ts";
import { Table } from "../table.tsx";
import { Pager, type Question, Uid } from "../widgets.tsx";

/** Conflicts shown on one page of a site's Conflicts section. */
const CONFLICTS_PAGE = 20;

export function SiteConflicts(props: {
  /** The site whose page this is. */
  site: string;
  /** The site while its agent is online (its conflicts are read from it), else undefined. */
  online: string | undefined;
  /** Asks before a resolution (the page's confirmation). */
  ask: (q: Question) => void;
  /** Runs a change as the page runs its others (one at a time, its message or error shown). */
  run: (what: () => Promise<string>) => Promise<void>;
}) {
  // Its conflicts, a page at a time (the page goes back to the first for another site); the reason they could
  // not be read (an agent too old to list them) is said in their section, not as the page's error. A page
  // after the first is the one `before` the last conflict of the page before, so that conflicts arriving
  // meanwhile do not shift it; an agent too old for that cursor is paged by offset.
  const [conflictsPage, setConflictsPage] = createSignal(0);
  const [conflictsError, setConflictsError] = createSignal("");
  /** Per page, the id its conflicts come before (page 0: none), kept as the user pages to older ones. */
  let conflictCursors: (number | undefined)[] = [];
  let conflictsByOffset = false;
  const [conflicts, { refetch: refetchConflicts }] = createResource(
    () => (props.online ? { site: props.online, page: conflictsPage() } : undefined),
    async ({ site, page }) => {
      setConflictsError("");
      const ask = () => {
        const before = conflictsByOffset ? undefined : conflictCursors[page];
        return api.site.conflicts.query({
          site,
          limit: CONFLICTS_PAGE + 1,
          ...(before !== undefined ? { before } : page ? { offset: page * CONFLICTS_PAGE } : {}),
        });
      };
      try {
        return await ask();
      } catch (e) {
        if (conflictsByOffset || !/cannot list conflicts by before/.test((e as Error).message)) {
          setConflictsError((e as Error).message);
          return null;
        }
        conflictsByOffset = true;
        return await ask().catch((e) => (setConflictsError(e.message), null));
      }
    },
  );
  /** To page `page` of the conflicts; an older page starts before the last conflict shown. */
  const goToConflicts = (page: number) => {
    const shown = conflicts()?.conflicts;
    if (page === conflictsPage() + 1 && shown?.length) {
      conflictCursors[page] = shown[Math.min(shown.length, CONFLICTS_PAGE) - 1].id;
    }
    setConflictsPage(page);
  };
  createEffect(on(() => props.site, () => {
    conflictCursors = [];
    conflictsByOffset = false;
    setConflictsPage(0);
  }, { defer: true }));

  return (
    <>
      <h2>{props.site}: conflicts</h2>
      <p class="hint">
        Objects received again with other bytes under a SOP Instance UID already archived; what was kept
        follows the agent's archive.duplicates. A copy kept beside the stored object (keepBoth) is resolved
        here: keep the stored object (the copy is deleted) or the received one (it replaces the stored object
        and is routed again).
      </p>
      <Show
        when={conflicts()?.conflicts.length}
        fallback={
          <p class="empty">
            {readOrEmpty(
              conflicts(),
              `Its conflicts could not be read: ${conflictsError()}`,
              "No conflict recorded: no object was received again with other bytes.",
            )}
          </p>
        }
      >
        <Table
          label="Conflicts"
          rows={conflicts()!.conflicts.slice(0, CONFLICTS_PAGE)}
          columns={[
            { header: "Received", cell: (c) => instant(c.receivedAt) },
            { header: "Object", cell: (c) => <Uid value={c.sopInstanceUid} what="SOP Instance UID" /> },
            { header: "Policy", cellTitle: (c) => POLICY[c.policy], cell: (c) => c.policy },
            { header: "Calling AE", cell: (c) => c.callingAet || "—" },
            {
              header: "SHA-256 stored / received",
              cell: (c) => (
                <>
                  <code title={c.storedSha256}>{c.storedSha256.slice(0, 16)}</code>
                  <br />
                  <code title={c.receivedSha256}>{c.receivedSha256.slice(0, 16)}</code>
                </>
              ),
            },
            {
              header: "Kept copy",
              class: "kept-path",
              cell: (c) => (
                <Show when={c.keptPath} fallback="—">
                  <code>{c.keptPath}</code>
                </Show>
              ),
            },
            {
              header: "Resolved",
              cell: (c) => (
                <Show
                  when={!c.resolvedAt && c.policy === "keepBoth" && c.keptPath}
                  fallback={resolutionOf(c)}
                >
                  <Show when={c.resolution}>
                    <p>Under way: keep {c.resolution}</p>
                  </Show>
                  <div class="row">
                    <For each={["stored", "received"] as const}>
                      {(keep) => (
                        <button
                          type="button"
                          class="small"
                          onClick={() =>
                            props.ask({
                              question: keep === "stored"
                                ? `Keep the stored object of conflict ${c.id}?`
                                : `Keep the received copy of conflict ${c.id}?`,
                              detail: keep === "stored"
                                ? `The copy received again (${
                                  c.receivedSha256.slice(0, 16)
                                }) is deleted; the archived object stays as it is.`
                                : `The archived object (${
                                  c.storedSha256.slice(0, 16)
                                }) is replaced by the copy received again, which is ` +
                                  "indexed and routed again under the current routes.",
                              yes: keep === "stored" ? "Keep stored" : "Keep received",
                              run: () =>
                                props.run(async () => {
                                  await api.site.resolveConflict.mutate({
                                    site: props.site,
                                    id: c.id,
                                    keep,
                                  });
                                  refetchConflicts();
                                  return `Conflict ${c.id} resolved: the ${keep} object kept`;
                                }),
                            })}
                        >
                          {keep === "stored" ? "Keep stored" : "Keep received"}
                        </button>
                      )}
                    </For>
                  </div>
                </Show>
              ),
            },
          ]}
        />
        <Pager
          label="Pages of conflicts"
          what="conflicts"
          page={conflictsPage()}
          size={CONFLICTS_PAGE}
          fetched={conflicts()?.conflicts.length}
          loading={conflicts.loading}
          goTo={goToConflicts}
        />
        <p class="hint">{count(conflicts()!.total, "conflict")} recorded in all.</p>
      </Show>
    </>
  );
}

/** A conflict's Resolved cell: how and when, or a dash for one nothing was kept aside of. */
function resolutionOf(c: { resolution?: string | null; resolvedAt?: string | null }): string {
  if (!c.resolution || !c.resolvedAt) return "—";
  return `Kept ${c.resolution}, ${instant(c.resolvedAt)}`;
}

/** What each archive.duplicates policy did with the object received again. */
const POLICY: Record<string, string> = {
  keepFirst: "the stored object stayed; the new one was discarded",
  keepLast: "the new object replaced the stored one and was routed again",
  keepBoth: "the stored object stayed; the new one was kept beside it",
};

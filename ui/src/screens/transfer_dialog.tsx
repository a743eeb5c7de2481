/**
 * The transfer dialog under the explorer's results and on a study's page: destination site and node,
 * priority, time window and bandwidth cap for the studies selected, and pseudonymization at the source
 * (PS3.15 Basic Profile and options). For one study whose series are listed (a study's page), the series
 * to send: all of them (the whole study) or some.
 */
import { createEffect, createResource, createSignal, For, on, Show } from "solid-js";
import type { Windows } from "@conduit/shared/transfer-window";
import { api } from "../api.ts";
import { count } from "../format.ts";
import { mbpsOf, priorityOf } from "../limits.ts";
import { clearInvalid, markInvalid, windowErrorField } from "../field_error.ts";
import { text } from "../studies.ts";
import { type DeidChoice, DeidFields } from "./deid_fields.tsx";
import { type WindowChoice, WindowFields } from "./window_fields.tsx";

export function TransferDialog(props: {
  studies: string[];
  sources: string[];
  /** The node of the source site the studies are on (a study's page of a node); its archive when absent. */
  sourceNode?: string;
  /** The sites a transfer may go to (enrolled, not revoked); the sources are left out here. */
  sites: string[];
  /** The series of the one study selected (DICOM JSON, as `query.series` gives them): some may be picked. */
  series?: Record<string, unknown>[];
  onTransfer: (id: string) => void;
}) {
  const [destination, setDestination] = createSignal("");
  const [node, setNode] = createSignal("");
  /** Priority and cap as typed: checked when Transfer is pressed, so a bad one is said in words. */
  const [priority, setPriority] = createSignal("");
  const [cap, setCap] = createSignal("");
  const [message, setMessage] = createSignal("");
  /** A transfer being created: the button waits for it, so a double click starts one job, not two. */
  const [busy, setBusy] = createSignal(false);
  let form!: HTMLFormElement;
  let deid!: DeidChoice;
  let windows!: WindowChoice;
  /** The series offered (one study only), and those left out of the transfer. */
  const offeredSeries = () => (props.studies.length === 1 ? props.series ?? [] : []);
  const [leftOut, setLeftOut] = createSignal<ReadonlySet<string>>(new Set());
  // Another study: every series of it is picked again.
  createEffect(on(() => props.studies[0], () => setLeftOut(new Set<string>())));
  const picked = () => offeredSeries().map((x) => text(x, "0020000E")).filter((u) => !leftOut().has(u));
  const pickSeries = (uid: string, on: boolean) =>
    setLeftOut((now) => {
      const next = new Set(now);
      if (on) next.delete(uid);
      else next.add(uid);
      return next;
    });
  /** The destinations offered: never a source of the studies selected. */
  const offered = () => props.sites.filter((s) => !props.sources.includes(s));
  // A destination that a new selection made a source (or that left the list) is no longer chosen.
  createEffect(() => {
    if (destination() && !offered().includes(destination())) (setDestination(""), setNode(""));
  });
  const [nodes] = createResource(destination, async (site) => {
    if (!site) return [];
    try {
      return await api.site.nodes.query({ site });
    } catch {
      return [];
    }
  });

  const transfer = async () => {
    if (busy()) return;
    setMessage("");
    clearInvalid(form);
    if (props.sources.length !== 1) return setMessage("Pick studies from one site at a time.");
    if (!destination()) return setMessage("Choose a destination site.");
    if (offeredSeries().length && !picked().length) return setMessage("Pick at least one series.");
    // A value refused is said, and the field it is about marked, described by the sentence and focused.
    const refused = (err: unknown, name: string, index = 0) => {
      setMessage((err as Error).message);
      markInvalid(form, name, "transfer-error", index);
    };
    let hours: Windows | undefined;
    let rank: number;
    let mbps: number | null;
    try {
      rank = priorityOf(priority());
    } catch (err) {
      return refused(err, "priority");
    }
    try {
      hours = windows.request();
    } catch (err) {
      const at = windowErrorField((err as Error).message);
      return refused(err, at.name, at.index);
    }
    try {
      mbps = mbpsOf(cap(), "bandwidth cap");
    } catch (err) {
      return refused(err, "bandwidth");
    }
    setBusy(true);
    try {
      const pseudonymize = deid.request();
      const { id } = await api.transfers.create.mutate({
        source: { site: props.sources[0], ...(props.sourceNode ? { node: props.sourceNode } : {}) },
        destination: { site: destination(), ...(node() ? { node: node() } : {}) },
        // Every series picked: the whole study (series that arrive later go too).
        ...(picked().length < offeredSeries().length
          ? { series: [{ study: props.studies[0], series: picked() }] }
          : { studies: props.studies }),
        ...(rank ? { priority: rank } : {}),
        ...(hours ? { window: hours } : {}),
        ...(mbps !== null ? { bandwidthMbps: mbps } : {}),
        ...(pseudonymize ? { deid: pseudonymize } : {}),
      });
      props.onTransfer(id);
    } catch (err) {
      setMessage((err as Error).message);
    } finally {
      setBusy(false);
    }
  };

  return (
    <form
      ref={form}
      class="card transfer-dialog"
      aria-label="Transfer"
      noValidate
      onSubmit={(e) => {
        e.preventDefault();
        void transfer();
      }}
    >
      <p class="hint" aria-label="Selection">
        {props.studies.length
          ? `${count(props.studies.length, "study", "studies")} selected`
          : "Select studies above to transfer them."}
      </p>
      <Show when={offeredSeries().length > 1}>
        <fieldset aria-label="Series">
          <legend>Series</legend>
          <div class="options">
            <For each={offeredSeries()}>
              {(x) => {
                const uid = text(x, "0020000E");
                return (
                  <label>
                    <input
                      type="checkbox"
                      name="series"
                      value={uid}
                      checked={!leftOut().has(uid)}
                      onChange={(e) => pickSeries(uid, e.currentTarget.checked)}
                    />{" "}
                    {[
                      text(x, "00200011") && `#${text(x, "00200011")}`,
                      text(x, "00080060"),
                      text(x, "0008103E"),
                    ].filter(Boolean).join(" ") || uid} ({count(Number(text(x, "00201209") || 0), "object")})
                  </label>
                );
              }}
            </For>
          </div>
          <p class="hint" aria-live="polite">
            {picked().length === offeredSeries().length
              ? "Every series: the whole study goes."
              : `${count(picked().length, "series", "series")} of ${offeredSeries().length} go.`}
          </p>
        </fieldset>
      </Show>
      <div class="row">
        <label>
          Destination
          <select name="destination" onChange={(e) => (setDestination(e.currentTarget.value), setNode(""))}>
            <option value="">Choose a site</option>
            <For each={offered()}>
              {(s) => <option value={s}>{s}</option>}
            </For>
          </select>
        </label>
        <label>
          Node
          <select name="node" onChange={(e) => setNode(e.currentTarget.value)} disabled={!destination()}>
            <option value="">The site's archive</option>
            <For each={nodes() ?? []}>{(n) => <option value={n.name}>{n.name}</option>}</For>
          </select>
        </label>
        <label>
          Priority
          <input
            name="priority"
            type="number"
            min="-10"
            max="10"
            value={priority()}
            placeholder="0"
            onInput={(e) => setPriority(e.currentTarget.value)}
          />
        </label>
      </div>
      <details>
        <summary>Schedule and limits</summary>
        <WindowFields ref={(c) => (windows = c)} />
        <div class="row">
          <label>
            Bandwidth cap (Mbit/s)
            <input
              name="bandwidth"
              type="number"
              min="0.1"
              max="100000"
              step="any"
              placeholder="none"
              value={cap()}
              onInput={(e) => setCap(e.currentTarget.value)}
            />
          </label>
        </div>
        <p class="hint">
          Outside the window (or every window, when there are several) nothing moves and the source holds what
          it queued. Times are 24-hour, HH:MM (7:30 and 0730 are read as 07:30), in the time zone given, the
          hub's when none is. A window past midnight belongs to the day it starts: Fri from 19:00 to 07:00
          runs into Saturday morning; 00:00 to 00:00 is whole days. Weeknights and all weekend: Mon to Fri
          from 19:00 to 07:00, then Add a window, Sat and Sun from 00:00 to 00:00. The cap applies to this
          job's objects where they cross the hub; the source site's uplink cap and the destination site's
          downlink cap (Sites) apply as well.
        </p>
      </details>
      <DeidFields ref={(c) => (deid = c)} />
      <div class="row">
        <button
          class="primary"
          type="submit"
          disabled={!props.studies.length || !destination() || busy() ||
            (offeredSeries().length > 0 && !picked().length)}
        >
          Transfer
        </button>
        <Show when={busy()}>
          <span class="hint" role="status">Starting the transfer…</span>
        </Show>
        <Show when={props.studies.length && !destination()}>
          <span class="hint">Choose a destination first.</span>
        </Show>
        <Show when={message()}>
          <span class="error" role="alert" id="transfer-error">{message()}</span>
        </Show>
      </div>
    </form>
  );
}

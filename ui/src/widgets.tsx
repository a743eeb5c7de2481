/**
 * Small pieces several screens use: a UID shown on demand with a copy button, a copy button, a dialog, a
 * question before something destructive.
 */
import { createSignal, type JSX, onMount, Show } from "solid-js";
import { status } from "./format.ts";
import { keepFocusNear } from "./focus_keep.ts";

/** Copies `text` to the clipboard; says "Copied" for a moment, or how to copy by hand when it cannot. */
export function CopyButton(props: { text: string; label?: string }) {
  const [said, setSaid] = createSignal("");
  const copy = async () => {
    try {
      await navigator.clipboard.writeText(props.text);
      setSaid("Copied");
    } catch {
      setSaid("Select the text and copy it");
    }
    setTimeout(() => setSaid(""), 2000);
  };
  return (
    <button type="button" class="small" onClick={copy} aria-label={props.label ?? "Copy"}>
      {said() || "Copy"}
    </button>
  );
}

/** A UID behind a "UID" button: shown on demand, selectable, copyable. */
export function Uid(props: { value: string; what?: string }) {
  const [open, setOpen] = createSignal(false);
  const what = () => props.what ?? "UID";
  return (
    <span class="uid">
      <button
        type="button"
        class="small link"
        aria-expanded={open()}
        aria-label={`${open() ? "Hide" : "Show"} ${what()}`}
        onClick={() => setOpen(!open())}
      >
        {what()}
      </button>
      <Show when={open()}>
        {" "}
        <code>{props.value}</code> <CopyButton text={props.value} label={`Copy ${what()}`} />
      </Show>
    </span>
  );
}

/** A state in words, coloured by its class (`state-success`...). */
export function State(props: { value: string; kind?: "job" | "site" | "object" }) {
  return <span class={`state state-${props.value}`}>{status(props.value, props.kind)}</span>;
}

/** A modal dialog (the browser's `<dialog>`), open while mounted; `onClose` on Escape or its button. */
export function Dialog(props: { title: string; onClose: () => void; children: JSX.Element }) {
  let el!: HTMLDialogElement;
  onMount(() => el.showModal());
  return (
    <dialog ref={el} aria-label={props.title} onClose={() => props.onClose()}>
      <h2>{props.title}</h2>
      {props.children}
      <div class="row end">
        <button type="button" class="primary" onClick={() => el.close()}>Close</button>
      </div>
    </dialog>
  );
}

/** A question asked before something destructive is done (see `createConfirm`). */
export interface Question {
  /** What is done, as a question that names it: "Cancel the transfer of 12 studies from north to south?" */
  question: string;
  /** What follows from it, in a sentence. */
  detail?: string;
  /** The button that does it ("Cancel the transfer"). */
  yes: string;
  /** The button that leaves everything as it is (default "Keep it"). */
  no?: string;
  /** Fields the answer needs (a new password): required ones must be filled before `yes` goes. */
  fields?: () => JSX.Element;
  /** Done on `yes` only, while the dialog's fields can still be read. */
  run: () => void;
}

/**
 * A modal `<dialog>` (role alertdialog, named by its question) before something that cannot be undone:
 * the safe answer has the focus, so Enter or Escape leaves everything as it is; Tab reaches `yes`.
 */
function Confirm(props: Question & { onClose: () => void }) {
  let el!: HTMLDialogElement, no!: HTMLButtonElement;
  let confirmed = false;
  // The control that asked: the focus goes back to it on close, and stays near it if the answer removes it.
  const opener = document.activeElement;
  onMount(() => (el.showModal(), no.focus()));
  return (
    <dialog
      ref={el}
      role="alertdialog"
      aria-label={props.question}
      onClose={() => {
        if (confirmed) {
          props.run();
          keepFocusNear(opener);
        }
        props.onClose();
      }}
    >
      <form
        onSubmit={(e) => {
          e.preventDefault();
          confirmed = true;
          el.close();
        }}
      >
        <h2>{props.question}</h2>
        <Show when={props.detail}>
          <p>{props.detail}</p>
        </Show>
        {props.fields?.()}
        <div class="row end">
          <button type="button" ref={no} onClick={() => el.close()}>{props.no ?? "Keep it"}</button>
          <button type="submit" class="danger">{props.yes}</button>
        </div>
      </form>
    </dialog>
  );
}

/**
 * Confirmation for a screen: `ask(question)` shows it, `view()` is where it is mounted; the question's
 * `run` is called only when its `yes` is pressed.
 */
export function createConfirm(): { ask: (q: Question) => void; view: () => JSX.Element } {
  const [asked, setAsked] = createSignal<Question>();
  return {
    ask: (q) => setAsked(q),
    view: () => (
      <Show when={asked()} keyed>
        {(q) => <Confirm {...q} onClose={() => setAsked(undefined)} />}
      </Show>
    ),
  };
}

/** A table that scrolls sideways on a narrow screen instead of widening the page. */
export function Scroll(props: { children: JSX.Element }) {
  return <div class="scroll">{props.children}</div>;
}

/**
 * Newer and Older under a list shown a page at a time, the newest first, fetched one row beyond the page
 * (so that Older knows whether there are more): "Page 2: transfers 51–100, newest first".
 */
export function Pager(props: {
  /** The navigation's name ("Pages of transfers"). */
  label: string;
  /** What the rows are ("transfers"). */
  what: string;
  /** The page shown, from 0. */
  page: number;
  size: number;
  /** Rows fetched for this page (up to size + 1), undefined while none. */
  fetched: number | undefined;
  loading: boolean;
  goTo: (page: number) => void;
}) {
  return (
    <div class="row" role="navigation" aria-label={props.label}>
      <button type="button" disabled={props.page === 0} onClick={() => props.goTo(props.page - 1)}>
        Newer
      </button>
      <span>
        Page {props.page + 1}
        {props.fetched && !props.loading
          ? `: ${props.what} ${props.page * props.size + 1}–${
            props.page * props.size + Math.min(props.fetched, props.size)
          }, newest first`
          : ""}
      </span>
      <button
        type="button"
        disabled={props.loading || (props.fetched ?? 0) <= props.size}
        onClick={() => props.goTo(props.page + 1)}
      >
        Older
      </button>
    </div>
  );
}

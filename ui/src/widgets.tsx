/** Small pieces several screens use: a UID shown on demand with a copy button, a copy button, a dialog. */
import { createSignal, type JSX, onMount, Show } from "solid-js";
import { status } from "./format.ts";

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

/** A table that scrolls sideways on a narrow screen instead of widening the page. */
export function Scroll(props: { children: JSX.Element }) {
  return <div class="scroll">{props.children}</div>;
}

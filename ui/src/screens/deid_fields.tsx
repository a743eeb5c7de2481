/**
 * "Pseudonymize at the source": the PS3.15 Basic Profile with its options and the burned-in text policy,
 * for the transfer dialog and the batch screen. The source de-identifies with its own key; the hub and
 * the console never see one.
 */
import { createSignal, For, Show } from "solid-js";
import {
  DEID_OPTION_TITLES,
  DEID_OPTIONS,
  type DeidOption,
  optionsProblem,
  type TransferDeidRequest,
} from "@conduit/shared/deid";

/** The fields' state, read by the form that holds them. */
export interface DeidChoice {
  /** The request to send, undefined when not pseudonymizing; throws with a sentence when it cannot be sent. */
  request(): Omit<TransferDeidRequest, "pseudonyms"> | undefined;
}

/** A short description of a job's de-identification, for its detail. */
export function describeDeid(d: { options: string[]; allowBurnedIn: boolean; pseudonyms?: number }): string {
  const options = d.options.length
    ? ` with ${d.options.map((o) => DEID_OPTION_TITLES[o as DeidOption] ?? o).join(", ")}`
    : ", no option";
  return `De-identified at the source: PS3.15 Basic Profile${options}; burned-in text ${
    d.allowBurnedIn ? "let through" : "held back"
  }${d.pseudonyms ? `; pseudonyms for ${d.pseudonyms} patient${d.pseudonyms === 1 ? "" : "s"}` : ""}.`;
}

export function DeidFields(props: { ref: (choice: DeidChoice) => void; note?: string }) {
  const [on, setOn] = createSignal(false);
  const [options, setOptions] = createSignal<DeidOption[]>([]);
  const [allowBurnedIn, setAllowBurnedIn] = createSignal(false);
  props.ref({
    request() {
      if (!on()) return undefined;
      // In the standard's order, so the same choice always reads the same.
      const chosen = DEID_OPTIONS.filter((o) => options().includes(o));
      const problem = optionsProblem(chosen);
      if (problem) throw new Error(problem);
      return {
        profile: "basic",
        ...(chosen.length ? { options: chosen } : {}),
        ...(allowBurnedIn() ? { allowBurnedIn: true } : {}),
      };
    },
  });
  const toggle = (o: DeidOption, checked: boolean) =>
    setOptions((now) => (checked ? [...now, o] : now.filter((x) => x !== o)));
  return (
    <fieldset aria-label="De-identification">
      <legend>De-identification</legend>
      <label>
        <input
          type="checkbox"
          name="pseudonymize"
          checked={on()}
          onChange={(e) => setOn(e.currentTarget.checked)}
        />{" "}
        Pseudonymize at the source
      </label>
      <Show when={on()}>
        <label>
          Profile
          <select name="profile" disabled>
            <option value="basic">PS3.15 Basic Application Level Confidentiality Profile</option>
          </select>
        </label>
        <div class="options" role="group" aria-label="Options">
          <For each={[...DEID_OPTIONS]}>
            {(o) => (
              <label>
                <input
                  type="checkbox"
                  name={`option-${o}`}
                  checked={options().includes(o)}
                  onChange={(e) => toggle(o, e.currentTarget.checked)}
                />{" "}
                {DEID_OPTION_TITLES[o]}
              </label>
            )}
          </For>
        </div>
        <label>
          <input
            type="checkbox"
            name="allowBurnedIn"
            checked={allowBurnedIn()}
            onChange={(e) => setAllowBurnedIn(e.currentTarget.checked)}
          />{" "}
          Send objects that may carry burned-in text
        </label>
      </Show>
      <p class="hint">
        The source site de-identifies every object with its own key before anything leaves it (its agent needs
        deid.keyFile); the hub never holds the key. Objects that may carry burned-in text are held back unless
        allowed. {props.note ?? ""}
      </p>
    </fieldset>
  );
}

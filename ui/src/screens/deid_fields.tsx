/**
 * "Pseudonymize at the source": the PS3.15 Basic Profile with its options and the burned-in text policy,
 * a custom profile (a profile file's JSON, pasted or uploaded, checked by the hub as it is given) and
 * Clinical Trial attributes, for the transfer dialog and the batch screen. The source de-identifies with
 * its own key; the hub and the console never see one.
 */
import { createSignal, For, Show } from "solid-js";
import {
  DEID_OPTION_TITLES,
  DEID_OPTIONS,
  type DeidOption,
  optionsProblem,
  type TransferDeidRequest,
  TRIAL_ATTRIBUTES,
  trialProblem,
} from "@conduit/shared/deid";
import { api } from "../api.ts";

/** The trial attributes a transfer gives (Subject ID is each patient's pseudonym). */
const TRIAL_FIELDS = TRIAL_ATTRIBUTES.filter((a) => a.key !== "subjectId");
const REQUIRED = new Set(["sponsorName", "protocolId", "siteId"]);
const PLACEHOLDER =
  '{ "name": "trial-42", "actions": { "InstitutionName": { "action": "D", "value": "SITE 3" } } }';

/** The custom profile's JSON text as an object, or throws with a sentence. */
function parseCustom(text: string): Record<string, unknown> {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new Error(`The custom profile is not JSON: ${(err as Error).message}`);
  }
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) {
    throw new Error("The custom profile must be a JSON object, as a profile file holds.");
  }
  return raw as Record<string, unknown>;
}

/** The fields' state, read by the form that holds them. */
export interface DeidChoice {
  /** The request to send, undefined when not pseudonymizing; throws with a sentence when it cannot be sent. */
  request(): Omit<TransferDeidRequest, "pseudonyms"> | undefined;
}

/** A short description of a job's de-identification, for its detail. */
export function describeDeid(
  d: {
    options: string[];
    allowBurnedIn: boolean;
    pseudonyms?: number;
    custom?: Record<string, unknown>;
    clinicalTrial?: Record<string, string | undefined>;
  },
): string {
  const options = d.options.length
    ? ` with ${d.options.map((o) => DEID_OPTION_TITLES[o as DeidOption] ?? o).join(", ")}`
    : ", no option";
  const custom = d.custom
    ? `; custom profile ${typeof d.custom.name === "string" ? `"${d.custom.name}"` : "(unnamed)"}`
    : "";
  const trial = d.clinicalTrial
    ? `; clinical trial ${d.clinicalTrial.protocolId}, site ${d.clinicalTrial.siteId}${
      d.clinicalTrial.timePointId ? `, time point ${d.clinicalTrial.timePointId}` : ""
    }`
    : "";
  return `De-identified at the source: PS3.15 Basic Profile${options}${custom}; burned-in text ${
    d.allowBurnedIn ? "let through" : "held back"
  }${
    d.pseudonyms ? `; pseudonyms for ${d.pseudonyms} patient${d.pseudonyms === 1 ? "" : "s"}` : ""
  }${trial}.`;
}

export function DeidFields(props: { ref: (choice: DeidChoice) => void; note?: string }) {
  const [on, setOn] = createSignal(false);
  const [options, setOptions] = createSignal<DeidOption[]>([]);
  const [allowBurnedIn, setAllowBurnedIn] = createSignal(false);
  const [customText, setCustomText] = createSignal("");
  /** The hub's verdict on the custom profile as it now reads: a summary, or why it is refused. */
  const [check, setCheck] = createSignal<{ ok: string } | { error: string } | undefined>();
  const [trial, setTrial] = createSignal<Record<string, string>>({});
  const trialGiven = () => Object.values(trial()).some((v) => v.trim());
  const trialRequest = () =>
    Object.fromEntries(Object.entries(trial()).map(([k, v]) => [k, v.trim()]).filter(([, v]) => v));
  props.ref({
    request() {
      if (!on()) return undefined;
      // In the standard's order, so the same choice always reads the same.
      const chosen = DEID_OPTIONS.filter((o) => options().includes(o));
      const problem = optionsProblem(chosen);
      if (problem) throw new Error(problem);
      const custom = customText().trim() ? parseCustom(customText()) : undefined;
      const clinicalTrial = trialGiven() ? trialRequest() : undefined;
      const trialIssue = clinicalTrial && trialProblem(clinicalTrial);
      if (trialIssue) throw new Error(trialIssue);
      return {
        profile: "basic",
        ...(chosen.length ? { options: chosen } : {}),
        ...(allowBurnedIn() ? { allowBurnedIn: true } : {}),
        ...(custom ? { custom } : {}),
        ...(clinicalTrial ? { clinicalTrial: clinicalTrial as TransferDeidRequest["clinicalTrial"] } : {}),
      };
    },
  });
  /** Has the hub check the custom profile as it now reads (the check `transfers.create` makes). */
  let checked = 0;
  const checkCustom = async () => {
    const text = customText();
    const mine = ++checked;
    if (!text.trim()) return setCheck(undefined);
    let verdict: { ok: string } | { error: string };
    try {
      const { custom } = await api.transfers.checkDeid.mutate({
        deid: { profile: "basic", custom: parseCustom(text) },
      });
      verdict = {
        ok: `Custom profile "${custom!.name}": ${custom!.entries} entr${custom!.entries === 1 ? "y" : "ies"}${
          custom!.options.length ? `, options ${custom!.options.join(", ")}` : ""
        }. Checked by the hub.`,
      };
    } catch (err) {
      verdict = { error: (err as Error).message };
    }
    if (mine === checked) setCheck(verdict);
  };
  const upload = async (file: File | undefined) => {
    if (!file) return;
    setCustomText(await file.text());
    await checkCustom();
  };
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
        <details open={Boolean(customText())}>
          <summary>Custom profile</summary>
          <label>
            Profile file (JSON: name, method, options, actions)
            <textarea
              name="customProfile"
              rows={5}
              spellcheck={false}
              placeholder={PLACEHOLDER}
              value={customText()}
              onInput={(e) => (setCustomText(e.currentTarget.value), setCheck(undefined))}
              onChange={() => void checkCustom()}
            />
          </label>
          <label>
            Or load a file{" "}
            <input
              type="file"
              name="customProfileFile"
              accept=".json,application/json"
              onChange={(e) => void upload(e.currentTarget.files?.[0])}
            />
          </label>
          <Show when={check()} keyed>
            {(v) =>
              "ok" in v
                ? <p class="hint" role="status" aria-label="Custom profile check">{v.ok}</p>
                : <p class="error" role="alert" aria-label="Custom profile check">{v.error}</p>}
          </Show>
          <p class="hint">
            The format of a profile file (tag ranges, private attributes by creator, replacement values); its
            entries win over the Basic Profile.
          </p>
        </details>
        <details open={trialGiven()}>
          <summary>Clinical trial attributes</summary>
          <div class="options" role="group" aria-label="Clinical trial attributes">
            <For each={TRIAL_FIELDS}>
              {(a) => (
                <label>
                  {a.title.replace("Clinical Trial ", "")}
                  {REQUIRED.has(a.key) ? " *" : ""}
                  <input
                    name={`trial-${a.key}`}
                    maxLength={a.vr === "ST" ? 1024 : 64}
                    value={trial()[a.key] ?? ""}
                    onInput={(e) => {
                      const v = e.currentTarget.value;
                      setTrial((now) => ({ ...now, [a.key]: v }));
                    }}
                  />
                </label>
              )}
            </For>
          </div>
          <p class="hint">
            Set on every object (PS3.3 C.7.1.3, C.7.2.3, C.7.3.2); * required together. The Subject ID is each
            patient's pseudonymous ID.
          </p>
        </details>
      </Show>
      <p class="hint">
        The source site de-identifies every object with its own key before anything leaves it (its agent needs
        deid.keyFile); the hub never holds the key. Objects that may carry burned-in text are held back unless
        allowed. {props.note ?? ""}
      </p>
    </fieldset>
  );
}

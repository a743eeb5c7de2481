/**
 * Admin: users (add; change a role, reset a password, disable or enable), API tokens, and the audit log.
 * Whatever cannot be undone at once (a role change, a password reset, a disable, a token revoke) asks first.
 */
import { saveBase64 } from "../download.ts";
import { createResource, createSignal, For, Show } from "solid-js";
import { api, commandOf } from "../api.ts";
import { auditAction, auditActionChoices, auditActor, auditDetail, instant } from "../format.ts";
import { Link, location, navigate, path } from "../router.tsx";
import { Table } from "../table.tsx";
import { CopyButton, createConfirm, Dialog, Pager } from "../widgets.tsx";
import { clearInvalid, fieldOf, markInvalid } from "../field_error.ts";
import { dateOrder, isoDateTime, localDateTime } from "../local_dates.ts";

/** Audit entries a page shows. */
const AUDIT_PAGE = 100;

/** The audit filter's fields, as the URL's query names them (`/admin?actor=user:alice&action=site.`). */
const AUDIT_FILTER = ["actor", "action", "target", "from", "to"] as const;
type AuditFilter = Partial<Record<(typeof AUDIT_FILTER)[number], string>>;

/** Who, as typed: a bare name is a user's (`alice` is `user:alice`); `token:ID`, `cli`, `hub` as they are. */
function actorOf(typed: string): string {
  const v = typed.trim();
  if (!v || v.includes(":") || ["cli", "hub", "anonymous"].includes(v)) return v;
  return `user:${v}`;
}

/** A datetime-local value (the browser's time zone) as an ISO instant; "" when empty or invalid. */
function isoOf(local: string): string {
  const ms = local ? new Date(local).getTime() : NaN;
  return Number.isFinite(ms) ? new Date(ms).toISOString() : "";
}

/** An ISO instant as a datetime-local value, in the browser's time zone ("" when it is none). */
function localOf(iso: string | undefined): string {
  const d = iso ? new Date(iso) : undefined;
  if (!d || !Number.isFinite(d.getTime())) return "";
  const p = (n: number) => String(n).padStart(2, "0");
  const date = [d.getFullYear(), p(d.getMonth() + 1), p(d.getDate())].join("-");
  const time = [d.getHours(), d.getMinutes(), ...(d.getSeconds() ? [d.getSeconds()] : [])].map(p).join(":");
  return `${date}T${time}`;
}

export function Admin(props: { user: string }) {
  const [users, { refetch: refetchUsers }] = createResource(() => api.users.list.query());
  const [tokens, { refetch: refetchTokens }] = createResource(() => api.tokens.list.query());
  // The audit log a page at a time (`/admin?audit=2`), newest first, filtered as the query says (who, what,
  // on what, from, to: a filtered view is a link to share); one more entry says there is a next page.
  const auditPage = () => Math.max(0, Math.floor(Number(location().search.get("audit") ?? 1) - 1) || 0);
  const auditFilter = (): AuditFilter => {
    const f: AuditFilter = {};
    for (const k of AUDIT_FILTER) {
      const v = location().search.get(k);
      if (v) f[k] = v;
    }
    return f;
  };
  const [auditError, setAuditError] = createSignal("");
  const [auditNote, setAuditNote] = createSignal("");
  let auditForm!: HTMLFormElement;
  /**
   * An audit error said, and the filter's field it is about marked: the hub names it ("the input was
   * refused: from: not an ISO 8601 instant ...").
   */
  const auditRefused = (message: string) => {
    setAuditError(message);
    const field = /(?:^|: )(actor|action|target|from|to): /.exec(message)?.[1];
    if (field && auditForm) markInvalid(auditForm, field, "audit-error");
  };
  const [audit, { refetch: refetchAudit }] = createResource(
    () => ({ page: auditPage(), filter: auditFilter() }),
    ({ page, filter }) =>
      api.audit.list.query({
        limit: AUDIT_PAGE + 1,
        ...(page ? { offset: page * AUDIT_PAGE } : {}),
        ...filter,
      }).then((rows) => (setAuditError(""), auditForm && clearInvalid(auditForm), rows), (err) => {
        // A link with a filter the hub refuses (a hand-edited time) says why; the screen stays.
        auditRefused((err as Error).message);
        return [];
      }),
  );
  /** The audit log's page `p` of `filter` (by default the one shown). */
  const auditTo = (p: number, filter = auditFilter()) => {
    const q = new URLSearchParams();
    for (const k of AUDIT_FILTER) if (filter[k]) q.set(k, filter[k]!);
    if (p) q.set("audit", String(p + 1));
    navigate(q.size ? `/admin?${q}` : "/admin");
  };
  const filterAudit = (e: Event) => {
    e.preventDefault();
    const form = new FormData(auditForm);
    const text = (k: string) => String(form.get(k) ?? "").trim();
    setAuditNote("");
    clearInvalid(auditForm);
    // From and Before are typed in the user's order (dd/mm/yyyy hh:mm in Britain), in the browser's time.
    const times: Record<string, string> = {};
    for (const [k, what] of [["from", "From"], ["to", "Before"]] as const) {
      try {
        times[k] = isoOf(isoDateTime(text(k), navigator.language, what));
      } catch (err) {
        setAuditError((err as Error).message);
        return markInvalid(auditForm, k, "audit-error");
      }
    }
    auditTo(0, {
      actor: actorOf(text("actor")),
      action: text("action"),
      target: text("target"),
      ...times,
    });
  };
  const clearAudit = () => {
    auditForm.reset();
    setAuditNote("");
    auditTo(0, {});
  };
  /** The entries the filter shown matches, as a CSV file (the hub writes it: audit.csv). */
  const downloadAudit = async () => {
    setAuditError("");
    setAuditNote("");
    clearInvalid(auditForm);
    try {
      const r = await api.audit.csv.query(auditFilter());
      saveBase64(r.filename, r.contentBase64, "text/csv");
      setAuditNote(
        r.truncated
          ? `${r.filename}: the newest ${r.entries} matching entries, not all of them; narrow the filter, ` +
            `or export with ${commandOf("hub")} admin audit --csv`
          : `${r.filename}: ${r.entries} ${r.entries === 1 ? "entry" : "entries"}`,
      );
    } catch (err) {
      auditRefused((err as Error).message);
    }
  };
  const choices = auditActionChoices();
  const [message, setMessage] = createSignal("");
  const [error, setError] = createSignal("");
  const [created, setCreated] = createSignal<{ id: string; name: string; token: string }>();
  let userName!: HTMLInputElement, userRole!: HTMLSelectElement, userPassword!: HTMLInputElement;
  let tokenName!: HTMLInputElement, tokenRole!: HTMLSelectElement;

  /**
   * One change at a time: a double click on Create token makes one token, not one shown and one not. A
   * form's refusal marks the field `field` names for its sentence (see field_error.ts).
   */
  let running = false;
  const run = async (
    e: Event | undefined,
    what: () => Promise<string>,
    field?: (message: string) => string,
  ) => {
    e?.preventDefault();
    const form = e?.currentTarget instanceof HTMLFormElement ? e.currentTarget : undefined;
    if (running) return;
    running = true;
    setError("");
    setMessage("");
    if (form) clearInvalid(form);
    try {
      setMessage(await what());
      refetchUsers();
      refetchTokens();
      refetchAudit();
    } catch (err) {
      setError((err as Error).message);
      if (form && field) markInvalid(form, field((err as Error).message), "admin-error");
    } finally {
      running = false;
    }
  };
  const roles = (selected = "viewer") => (
    <>
      <option value="viewer" selected={selected === "viewer"}>viewer</option>
      <option value="operator" selected={selected === "operator"}>operator</option>
      <option value="admin" selected={selected === "admin"}>admin</option>
    </>
  );
  const confirm = createConfirm();
  type User = NonNullable<ReturnType<typeof users>>[number];
  /**
   * A user's role, chosen in the dialog that asks (a select in the row would ask at every arrow key that
   * moves through its roles).
   */
  const askRole = (u: User) => {
    let role!: HTMLSelectElement;
    confirm.ask({
      question: `Change the role of ${u.name}?`,
      detail:
        `${u.name} is ${u.role === "viewer" ? "a" : "an"} ${u.role}. A new role holds at once, in their ` +
        "open sessions too: an admin manages users, tokens and sites; an operator transfers and stores; a " +
        "viewer only searches and views.",
      yes: "Change the role",
      no: `Keep ${u.role}`,
      fields: () => (
        <label>
          New role<select ref={role}>{roles(u.role)}</select>
        </label>
      ),
      run: () => {
        const to = role.value as "viewer" | "operator" | "admin";
        if (to === u.role) return setMessage(`${u.name} is ${to} already`);
        void run(undefined, async () => {
          await api.users.setRole.mutate({ name: u.name, role: to });
          // Their own role lowered, the console starts again as what they now are (no Admin screen).
          if (u.name === props.user) globalThis.location.assign("/");
          return `${u.name} is now ${to}`;
        });
      },
    });
  };
  const askPassword = (u: User) => {
    let password!: HTMLInputElement;
    confirm.ask({
      question: `Reset the password of ${u.name}?`,
      detail: `Every session of ${u.name} ends at once; give them the new password.`,
      yes: "Reset the password",
      fields: () => (
        <label>
          New password<input
            type="password"
            ref={password}
            minLength={10}
            maxLength={1024}
            required
            autocomplete="new-password"
          />
        </label>
      ),
      run: () => {
        const value = password.value;
        void run(undefined, async () => {
          const r = await api.users.resetPassword.mutate({ name: u.name, password: value });
          return `password of ${u.name} reset; ${r.sessionsEnded} session(s) ended`;
        });
      },
    });
  };
  const setDisabled = (u: User, disabled: boolean) =>
    run(undefined, async () => {
      await api.users.setDisabled.mutate({ name: u.name, disabled });
      return `user ${u.name} ${disabled ? "disabled" : "enabled"}`;
    });

  return (
    <>
      {confirm.view()}
      <Show when={created()}>
        {(t) => (
          <Dialog title={`API token ${t().name}`} onClose={() => setCreated(undefined)}>
            <p>
              Shown once: copy it now. Scripts send it as <code>Authorization: Bearer …</code>.
            </p>
            <p class="secret">
              <code>{t().token}</code> <CopyButton text={t().token} label="Copy the token" />
            </p>
          </Dialog>
        )}
      </Show>
      <p role="status">{message()}</p>
      <p class="error" role="alert" id="admin-error">{error()}</p>
      <section class="card">
        <h2>Users</h2>
        <Table
          label="Users"
          rows={users()}
          row={(u) => ({ "data-user": u.name })}
          columns={[
            { header: "User", cell: (u) => u.name },
            { header: "Role", cell: (u) => u.role },
            { header: "Since", cell: (u) => instant(u.createdAt) },
            {
              header: "State",
              class: (u) => (u.disabled ? "state-revoked" : "state-online"),
              cell: (u) => (u.disabled ? "disabled" : "active"),
            },
            {
              header: "",
              class: "actions",
              cell: (u) => (
                <>
                  <button
                    type="button"
                    class="small"
                    aria-label={`Change role of ${u.name}`}
                    onClick={() => askRole(u)}
                  >
                    Change role
                  </button>{" "}
                  <button
                    type="button"
                    class="small"
                    aria-label={`Reset password of ${u.name}`}
                    onClick={() => askPassword(u)}
                  >
                    Reset password
                  </button>{" "}
                  <Show when={u.name !== props.user}>
                    <button
                      type="button"
                      class="small"
                      aria-label={`${u.disabled ? "Enable" : "Disable"} the user ${u.name}`}
                      onClick={() =>
                        u.disabled ? void setDisabled(u, false) : confirm.ask({
                          question: `Disable the user ${u.name}?`,
                          detail: `Their sessions end at once and they cannot log in until enabled again.`,
                          yes: "Disable the user",
                          run: () => void setDisabled(u, true),
                        })}
                    >
                      {u.disabled ? "Enable" : "Disable"}
                    </button>
                  </Show>
                </>
              ),
            },
          ]}
        />
        <form
          class="row"
          onSubmit={(e) =>
            run(e, async () => {
              await api.users.add.mutate({
                name: userName.value,
                role: userRole.value as "viewer",
                password: userPassword.value,
              });
              const added = userName.value;
              userName.value = "";
              userRole.value = "viewer";
              userPassword.value = "";
              return `user ${added} added`;
            }, (message) => fieldOf(message, { password: /^(use a )?password\b/i, role: /^role\b/ }, "name"))}
        >
          <label>
            Name<input name="name" ref={userName} required maxLength={64} />
          </label>
          <label>
            Role<select name="role" ref={userRole}>{roles()}</select>
          </label>
          <label>
            Password<input
              name="password"
              type="password"
              ref={userPassword}
              minLength={10}
              maxLength={1024}
              required
              autocomplete="new-password"
            />
          </label>
          <button type="submit">Add user</button>
        </form>
      </section>
      <section class="card">
        <h2>API tokens</h2>
        <Show when={tokens() && tokens()!.length === 0}>
          <p class="empty">
            No API token yet: scripts use one (Authorization: Bearer), made here, shown once.
          </p>
        </Show>
        <Table
          label="Tokens"
          rows={tokens()}
          row={(t) => ({ "data-token": t.id })}
          columns={[
            { header: "Id", cell: (t) => t.id },
            { header: "Name", cell: (t) => t.name },
            { header: "Role", cell: (t) => t.role },
            { header: "Sites", cell: (t) => t.sites?.join(", ") ?? "all" },
            {
              header: "State",
              class: (t) => (t.revoked ? "state-revoked" : "state-online"),
              cell: (t) => (t.revoked ? "revoked" : "active"),
            },
            {
              header: "",
              cell: (t) => (
                <Show when={!t.revoked}>
                  <button
                    type="button"
                    aria-label={`Revoke the token ${t.name} (${t.id})`}
                    onClick={() =>
                      confirm.ask({
                        question: `Revoke the API token ${t.name} (${t.id})?`,
                        detail: "Scripts using it stop working at once; a revoked token cannot be restored.",
                        yes: "Revoke the token",
                        run: () =>
                          void run(undefined, async () => {
                            await api.tokens.revoke.mutate({ id: t.id });
                            return `token ${t.id} revoked`;
                          }),
                      })}
                  >
                    Revoke
                  </button>
                </Show>
              ),
            },
          ]}
        />
        <form
          class="row"
          onSubmit={(e) =>
            run(e, async () => {
              const r = await api.tokens.create.mutate({
                name: tokenName.value,
                role: tokenRole.value as "viewer",
              });
              setCreated({ id: r.id, name: tokenName.value, token: r.token });
              // The form is cleared, its role back to the least one, for the next token.
              tokenName.value = "";
              tokenRole.value = "viewer";
              return `token ${r.id} created`;
            }, (message) => fieldOf(message, { role: /^role\b/ }, "name"))}
        >
          <label>
            Name<input name="name" ref={tokenName} required maxLength={64} />
          </label>
          <label>
            Role<select name="role" ref={tokenRole}>{roles()}</select>
          </label>
          <button type="submit">Create token</button>
        </form>
      </section>
      <section class="card">
        <h2>Audit</h2>
        <form class="row" ref={auditForm} aria-label="Filter the audit log" onSubmit={filterAudit}>
          <label>
            Who<input
              name="actor"
              list="audit-actors"
              placeholder="alice, token:ID, cli"
              value={auditFilter().actor ?? ""}
            />
          </label>
          <datalist id="audit-actors">
            <For each={users()}>{(u) => <option value={`user:${u.name}`} />}</For>
            <For each={tokens()}>{(t) => <option value={`token:${t.id}`}>{t.name}</option>}</For>
            <option value="cli">admin CLI</option>
            <option value="anonymous">not logged in</option>
          </datalist>
          <label>
            What<select name="action" aria-label="What">
              <option value="" selected={!auditFilter().action}>Anything</option>
              <Show
                when={auditFilter().action &&
                  ![...choices.groups, ...choices.actions].some(([v]) => v === auditFilter().action)}
              >
                <option value={auditFilter().action} selected>{auditFilter().action}</option>
              </Show>
              <optgroup label="Kinds">
                <For each={choices.groups}>
                  {([v, words]) => <option value={v} selected={auditFilter().action === v}>{words}</option>}
                </For>
              </optgroup>
              <optgroup label="Actions">
                <For each={choices.actions}>
                  {([v, words]) => <option value={v} selected={auditFilter().action === v}>{words}</option>}
                </For>
              </optgroup>
            </select>
          </label>
          <label>
            On<input
              name="target"
              placeholder="a user, site, transfer or token"
              value={auditFilter().target ?? ""}
            />
          </label>
          <label>
            From<input
              name="from"
              size="19"
              placeholder={`${dateOrder(navigator.language).hint} hh:mm`}
              value={localDateTime(localOf(auditFilter().from), navigator.language)}
            />
          </label>
          <label>
            Before<input
              name="to"
              size="19"
              placeholder={`${dateOrder(navigator.language).hint} hh:mm`}
              value={localDateTime(localOf(auditFilter().to), navigator.language)}
            />
          </label>
          <button type="submit">Filter</button>
          <button type="button" onClick={clearAudit}>Clear</button>
          <button type="button" onClick={() => void downloadAudit()}>Download CSV</button>
        </form>
        <p role="status">{auditNote()}</p>
        <p class="error" role="alert" id="audit-error">{auditError()}</p>
        <Show when={audit() && audit()!.length === 0}>
          <p class="empty">
            {Object.keys(auditFilter()).length ? "No entry matches this filter." : "No entries yet."}
          </p>
        </Show>
        <Table
          label="Audit"
          rows={audit()?.slice(0, AUDIT_PAGE)}
          columns={[
            { header: "When", cell: (a) => instant(a.at) },
            { header: "Who", cell: (a) => auditActor(a.actor) },
            { header: "What", cell: (a) => auditAction(a.action) },
            { header: "On", cell: (a) => <AuditTarget action={a.action} target={a.target} /> },
            { header: "Detail", class: "detail", cell: (a) => auditDetail(a.action, a.detail) },
          ]}
        />
        <Pager
          label="Pages of the audit log"
          what="entries"
          page={auditPage()}
          size={AUDIT_PAGE}
          fetched={audit()?.length}
          loading={audit.loading}
          goTo={auditTo}
        />
      </section>
    </>
  );
}

/** What an audit entry is about: a transfer, site or batch as a link to its page, anything else as text. */
function AuditTarget(props: { action: string; target: string | null }) {
  const page = () => {
    const kind = props.action.split(".")[0];
    if (!props.target) return undefined;
    if (kind === "transfer") return path("transfers", props.target);
    if (kind === "site") return path("sites", props.target);
    if (kind === "batch") return `/batch?id=${encodeURIComponent(props.target)}`;
  };
  return (
    <Show when={page()} fallback={props.target ?? ""}>
      <Link href={page()!}>{props.target}</Link>
    </Show>
  );
}

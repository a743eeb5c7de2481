/**
 * Admin: users (add; change a role, reset a password, disable or enable), API tokens, and the audit log.
 * Whatever cannot be undone at once (a role change, a password reset, a disable, a token revoke) asks first.
 */
import { createResource, createSignal, For, Show } from "solid-js";
import { api } from "../api.ts";
import { auditAction, auditActor, instant } from "../format.ts";
import { Link, location, navigate, path } from "../router.tsx";
import { CopyButton, createConfirm, Dialog, Pager, Scroll } from "../widgets.tsx";

/** Audit entries a page shows. */
const AUDIT_PAGE = 100;

export function Admin(props: { user: string }) {
  const [users, { refetch: refetchUsers }] = createResource(() => api.users.list.query());
  const [tokens, { refetch: refetchTokens }] = createResource(() => api.tokens.list.query());
  // The audit log a page at a time (`/admin?audit=2`), newest first; one more entry says there is a next.
  const auditPage = () => Math.max(0, Math.floor(Number(location().search.get("audit") ?? 1) - 1) || 0);
  const [audit, { refetch: refetchAudit }] = createResource(
    auditPage,
    (p) => api.audit.list.query({ limit: AUDIT_PAGE + 1, ...(p ? { offset: p * AUDIT_PAGE } : {}) }),
  );
  const auditTo = (p: number) => navigate(p ? `/admin?audit=${p + 1}` : "/admin");
  const [message, setMessage] = createSignal("");
  const [error, setError] = createSignal("");
  const [created, setCreated] = createSignal<{ id: string; name: string; token: string }>();
  let userName!: HTMLInputElement, userRole!: HTMLSelectElement, userPassword!: HTMLInputElement;
  let tokenName!: HTMLInputElement, tokenRole!: HTMLSelectElement;

  /** One change at a time: a double click on Create token makes one token, not one shown and one not. */
  let running = false;
  const run = async (e: Event | undefined, what: () => Promise<string>) => {
    e?.preventDefault();
    if (running) return;
    running = true;
    setError("");
    setMessage("");
    try {
      setMessage(await what());
      refetchUsers();
      refetchTokens();
      refetchAudit();
    } catch (err) {
      setError((err as Error).message);
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
      <p class="error" role="alert">{error()}</p>
      <section class="card">
        <h2>Users</h2>
        <Scroll>
          <table aria-label="Users">
            <thead>
              <tr>
                <th>User</th>
                <th>Role</th>
                <th>Since</th>
                <th>State</th>
                <th></th>
              </tr>
            </thead>
            <tbody>
              <For each={users()}>
                {(u) => (
                  <tr data-user={u.name}>
                    <td>{u.name}</td>
                    <td>{u.role}</td>
                    <td>{instant(u.createdAt)}</td>
                    <td class={u.disabled ? "state-revoked" : "state-online"}>
                      {u.disabled ? "disabled" : "active"}
                    </td>
                    <td class="actions">
                      <button
                        type="button"
                        class="small"
                        aria-label={`Change the role of ${u.name}`}
                        onClick={() => askRole(u)}
                      >
                        Change role
                      </button>{" "}
                      <button
                        type="button"
                        class="small"
                        aria-label={`Reset the password of ${u.name}`}
                        onClick={() => askPassword(u)}
                      >
                        Reset password
                      </button>{" "}
                      <Show when={u.name !== props.user}>
                        <button
                          type="button"
                          class="small"
                          onClick={() =>
                            u.disabled ? void setDisabled(u, false) : confirm.ask({
                              question: `Disable the user ${u.name}?`,
                              detail:
                                `Their sessions end at once and they cannot log in until enabled again.`,
                              yes: "Disable the user",
                              run: () => void setDisabled(u, true),
                            })}
                        >
                          {u.disabled ? "Enable" : "Disable"}
                        </button>
                      </Show>
                    </td>
                  </tr>
                )}
              </For>
            </tbody>
          </table>
        </Scroll>
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
            })}
        >
          <label>
            Name<input ref={userName} required />
          </label>
          <label>
            Role<select ref={userRole}>{roles()}</select>
          </label>
          <label>
            Password<input
              type="password"
              ref={userPassword}
              minLength={10}
              required
              autocomplete="new-password"
            />
          </label>
          <button type="submit">Add user</button>
        </form>
      </section>
      <section class="card">
        <h2>API tokens</h2>
        <Scroll>
          <table aria-label="Tokens">
            <thead>
              <tr>
                <th>Id</th>
                <th>Name</th>
                <th>Role</th>
                <th>Sites</th>
                <th>State</th>
                <th></th>
              </tr>
            </thead>
            <tbody>
              <For each={tokens()}>
                {(t) => (
                  <tr data-token={t.id}>
                    <td>{t.id}</td>
                    <td>{t.name}</td>
                    <td>{t.role}</td>
                    <td>{t.sites?.join(", ") ?? "all"}</td>
                    <td class={t.revoked ? "state-revoked" : "state-online"}>
                      {t.revoked ? "revoked" : "active"}
                    </td>
                    <td>
                      <Show when={!t.revoked}>
                        <button
                          type="button"
                          onClick={() =>
                            confirm.ask({
                              question: `Revoke the API token ${t.name} (${t.id})?`,
                              detail:
                                "Scripts using it stop working at once; a revoked token cannot be restored.",
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
                    </td>
                  </tr>
                )}
              </For>
            </tbody>
          </table>
        </Scroll>
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
            })}
        >
          <label>
            Name<input ref={tokenName} required />
          </label>
          <label>
            Role<select ref={tokenRole}>{roles()}</select>
          </label>
          <button type="submit">Create token</button>
        </form>
      </section>
      <section class="card">
        <h2>Audit</h2>
        <Scroll>
          <table aria-label="Audit">
            <thead>
              <tr>
                <th>When</th>
                <th>Who</th>
                <th>What</th>
                <th>On</th>
              </tr>
            </thead>
            <tbody>
              <For each={audit()?.slice(0, AUDIT_PAGE)}>
                {(a) => (
                  <tr>
                    <td>{instant(a.at)}</td>
                    <td>{auditActor(a.actor)}</td>
                    <td>{auditAction(a.action)}</td>
                    <td>
                      <AuditTarget action={a.action} target={a.target} />
                    </td>
                  </tr>
                )}
              </For>
            </tbody>
          </table>
        </Scroll>
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

/** What an audit entry is about: a transfer or a site as a link to its page, anything else as text. */
function AuditTarget(props: { action: string; target: string | null }) {
  const page = () => {
    const kind = props.action.split(".")[0];
    if (!props.target) return undefined;
    if (kind === "transfer") return path("transfers", props.target);
    if (kind === "site") return path("sites", props.target);
  };
  return (
    <Show when={page()} fallback={props.target ?? ""}>
      <Link href={page()!}>{props.target}</Link>
    </Show>
  );
}

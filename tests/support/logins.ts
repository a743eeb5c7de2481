/** Logins sent at once, for the login throttle's tests (tests/console/hardening_test.ts, login_race_pg_test.ts). */
import assert from "node:assert/strict";

/** 30 wrong passwords for one user from one address, all sent at once: the statuses, sorted. */
export async function loginsAtOnce(hub: { port: number }, user: string): Promise<number[]> {
  const base = `http://127.0.0.1:${hub.port}`;
  const answers = await Promise.all(Array.from({ length: 30 }, async (_, i) => {
    // A connection each, so that the hub has every attempt in hand at once.
    const client = Deno.createHttpClient({});
    try {
      const res = await fetch(`${base}/auth/login`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ user, password: `guess number ${i}` }),
        client,
      });
      await res.body?.cancel();
      return res.status;
    } finally {
      client.close();
    }
  }));
  return answers.sort();
}

export function checkedAtMostFive(statuses: number[]) {
  const checked = statuses.filter((s) => s === 401).length;
  assert.ok(checked <= 5, `${checked} of 30 passwords were checked: ${statuses.join(" ")}`);
  assert.equal(statuses.filter((s) => s === 429).length, 30 - checked);
}

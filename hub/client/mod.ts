/**
 * The typed automation client: `createConduitClient({ url, token })` gives the hub's tRPC API with
 * its types, e.g. `await client.transfers.create.mutate({ source: { site: "north" },
 * destination: { site: "south" }, studies: [uid] })` then `client.transfers.get.query({ id })`, or
 * `client.transfers.progress.subscribe({ id }, { onData })` for updates over SSE.
 */
import { createTRPCClient, httpBatchLink, httpSubscriptionLink, splitLink } from "@trpc/client";
import { EventSource } from "eventsource";
import type { AppRouter } from "../api/router.ts";

export type { AppRouter };

export function createConduitClient(options: { url: string; token: string }) {
  const url = `${options.url.replace(/\/$/, "")}/trpc`;
  const authorization = `Bearer ${options.token}`;
  return createTRPCClient<AppRouter>({
    links: [
      splitLink({
        condition: (op) => op.type === "subscription",
        // The browser's EventSource cannot send headers; this one can (the token stays out of URLs).
        true: httpSubscriptionLink({
          url,
          EventSource,
          eventSourceOptions: () => ({
            fetch: (input: string | URL | Request, init?: RequestInit) =>
              fetch(input, {
                ...init,
                headers: { ...(init?.headers as Record<string, string>), authorization },
              }),
          }),
        }),
        false: httpBatchLink({ url, headers: () => ({ authorization }) }),
      }),
    ],
  });
}

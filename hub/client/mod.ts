/**
 * The typed automation client: `createConduitClient({ url, token })` gives the hub's tRPC API with
 * its types, e.g. `await client.transfers.create.mutate({ source: { site: "north" },
 * destination: { site: "south" }, studies: [uid] })` then `client.transfers.get.query({ id })`.
 */
import { createTRPCClient, httpBatchLink } from "@trpc/client";
import type { AppRouter } from "../api/router.ts";

export type { AppRouter };

export function createConduitClient(options: { url: string; token: string }) {
  return createTRPCClient<AppRouter>({
    links: [
      httpBatchLink({
        url: `${options.url.replace(/\/$/, "")}/trpc`,
        headers: () => ({ authorization: `Bearer ${options.token}` }),
      }),
    ],
  });
}

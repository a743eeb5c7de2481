/**
 * Nodes that share an AE title. A C-MOVE names its destination by AE title alone, so of two nodes with one
 * title the first configured gets every C-MOVE to it (agent/retrieve/locate.ts): worth a warning at start and
 * in `agent check`, not a refusal (one PACS reached at two addresses is a legitimate pair of nodes).
 */
export function sharedNodeAets(nodes: Record<string, { aet: string }>): { aet: string; nodes: string[] }[] {
  const byAet = new Map<string, string[]>();
  for (const [name, node] of Object.entries(nodes)) {
    const names = byAet.get(node.aet) ?? [];
    names.push(name);
    byAet.set(node.aet, names);
  }
  return [...byAet].filter(([, names]) => names.length > 1).map(([aet, names]) => ({ aet, nodes: names }));
}

/** The warning's words for one shared title. */
export function sharedAetText(shared: { aet: string; nodes: string[] }): string {
  return `nodes ${
    shared.nodes.join(", ")
  } share the AE title ${shared.aet}: a C-MOVE to ${shared.aet} goes ` +
    `to ${shared.nodes[0]} (the first configured)`;
}

/**
 * Nodes that ask for Storage Commitment whose AE title `dimse.allowedCallingAets` does not allow: the node
 * sends its report on an association it opens to the agent as that title, which is rejected, and the rows wait
 * in `committing` until they are stored again (QA 2026-12-07: `agent check` said all was well). Worth a
 * warning at start, at a reload and in `agent check`.
 */
export function refusedCommitmentNodes(
  config: {
    nodes: Record<string, { aet: string; storageCommitment?: boolean }>;
    dimse: { allowedCallingAets: string[] };
  },
): { node: string; aet: string }[] {
  const allowed = config.dimse.allowedCallingAets;
  if (allowed.includes("*")) return [];
  return Object.entries(config.nodes)
    .filter(([, n]) => n.storageCommitment && !allowed.includes(n.aet))
    .map(([node, n]) => ({ node, aet: n.aet }));
}

/** The warning's words for one such node. */
export function refusedCommitmentText(r: { node: string; aet: string }): string {
  return `node ${r.node} asks for Storage Commitment, and its reports come on associations it opens as ` +
    `${r.aet}, which dimse.allowedCallingAets does not allow: add ${r.aet} to it`;
}

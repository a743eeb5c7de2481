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

/**
 * Load order: plugins sorted so each comes after what it depends on.
 * Hand-written (Kahn's algorithm, a few lines) because the errors must name
 * the missing plugin or the whole cycle, which generic toposort packages don't.
 */

export interface Node {
  id: string;
  dependsOn: readonly string[];
}

export interface OrderResult<T extends Node> {
  /** Loadable nodes, dependencies first. */
  order: T[];
  /** Nodes that cannot load, with the reason. */
  failed: { node: T; reason: string }[];
}

/**
 * Orders `nodes`. `available` are ids already running (dependencies outside
 * this set that are satisfied). A node whose dependency is missing, failed,
 * or part of a cycle is reported in `failed` and nothing that depends on it loads.
 */
export function orderPlugins<T extends Node>(
  nodes: readonly T[],
  available: ReadonlySet<string> = new Set(),
): OrderResult<T> {
  const byId = new Map(nodes.map((n) => [n.id, n]));
  const failed = new Map<string, string>();
  const fail = (id: string, reason: string): void => {
    if (!failed.has(id)) failed.set(id, reason);
  };

  for (const n of nodes) {
    for (const d of n.dependsOn) {
      if (d === n.id) fail(n.id, 'depends on itself');
      else if (!byId.has(d) && !available.has(d)) {
        fail(n.id, `depends on "${d}", which is not installed or not running`);
      }
    }
  }

  // Cycles: depth-first search, reporting each cycle as a → b → a.
  const state = new Map<string, 'visiting' | 'done'>();
  const stack: string[] = [];
  const visit = (id: string): void => {
    state.set(id, 'visiting');
    stack.push(id);
    for (const d of byId.get(id)?.dependsOn ?? []) {
      if (!byId.has(d) || d === id) continue;
      const s = state.get(d);
      if (s === 'visiting') {
        const cycle = [...stack.slice(stack.indexOf(d)), d];
        for (const c of cycle) fail(c, `dependency cycle: ${cycle.join(' → ')}`);
      } else if (s === undefined) visit(d);
    }
    stack.pop();
    state.set(id, 'done');
  };
  for (const n of nodes) if (!state.has(n.id)) visit(n.id);

  // Kahn's algorithm over what is left, in the given order for stable output.
  const order: T[] = [];
  const placed = new Set<string>();
  let progress = true;
  while (progress) {
    progress = false;
    for (const n of nodes) {
      if (placed.has(n.id) || failed.has(n.id)) continue;
      const bad = n.dependsOn.find((d) => failed.has(d));
      if (bad !== undefined) {
        fail(n.id, `depends on "${bad}", which failed`);
        progress = true;
        continue;
      }
      if (n.dependsOn.every((d) => placed.has(d) || (available.has(d) && !byId.has(d)))) {
        order.push(n);
        placed.add(n.id);
        progress = true;
      }
    }
  }
  return {
    order,
    failed: nodes
      .filter((n) => failed.has(n.id))
      .map((n) => ({ node: n, reason: failed.get(n.id)! })),
  };
}

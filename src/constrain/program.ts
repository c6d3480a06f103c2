// A grammar (ast.ts) lowered to a flat program for the byte automaton (matcher.ts): every rule's alternatives are
// runs of elements ending in END; an element is a byte set (a terminal) or a reference to a rule. Repetitions
// become right-recursive rules, so the matcher never meets left recursion (gbnf.ts refuses it in user grammars).
import { type Budget, type ByteSet, ConstraintError, type Grammar, type Node } from "./ast.ts";

export const END = -1;
/** A reference to rule r is encoded as −2 − r. */
export const refOf = (r: number): number => -2 - r;
export const ruleOf = (e: number): number => -2 - e;

export interface Program {
  /** The elements: ≥ 0 a byte set's index, END, or a rule reference. */
  elements: Int32Array;
  /** Byte sets, 8 words each. */
  sets: Uint32Array;
  /** Each rule's alternatives: the element index where each starts. */
  alts: Int32Array[];
  /** The start rule. */
  root: number;
}

/** Elements a program may hold (positions must fit the matcher's 20-bit keys). */
export const MAX_ELEMENTS = 1 << 19;

export function lower(g: Grammar, budget: Budget): Program {
  const elements: number[] = [];
  const setIds = new Map<string, number>();
  const sets: number[] = [];
  const ruleIds = new Map<string, number>();
  const alts: number[][] = [];
  const pending: { id: number; node: Node }[] = [];
  const charge = (n: number) => {
    budget.charge(n);
    if (elements.length + n > MAX_ELEMENTS) throw new ConstraintError(`the constraint is too large to compile (over ${MAX_ELEMENTS} automaton elements)`, 413);
  };

  const setId = (s: ByteSet): number => {
    const key = s.join(",");
    let id = setIds.get(key);
    if (id === undefined) { id = sets.length / 8; sets.push(...s); setIds.set(key, id); }
    return id;
  };
  const newRule = (): number => { alts.push([]); return alts.length - 1; };
  const named = (name: string): number => {
    let id = ruleIds.get(name);
    if (id === undefined) {
      id = newRule();
      ruleIds.set(name, id);
      const body = g.rules.get(name);
      if (!body) throw new ConstraintError(`rule ${name} is not defined`);
      pending.push({ id, node: body });
    }
    return id;
  };
  /** Adds an alternative to rule r: the given run of elements, then END. */
  const addAlt = (r: number, run: number[]) => {
    charge(run.length + 1);
    alts[r].push(elements.length);
    elements.push(...run, END);
  };

  // a node's elements inline (a run); nested alternatives and repetitions become rules
  const inline = (n: Node, out: number[], depth: number): void => {
    if (depth > 512) throw new ConstraintError("the constraint is nested too deeply to compile", 413);
    budget.charge(1);
    switch (n.k) {
      case "set": out.push(setId(n.set)); return;
      case "seq": for (const x of n.items) inline(x, out, depth + 1); return;
      case "ref": out.push(refOf(named(n.name))); return;
      case "alt": {
        // alternatives that are all single byte sets are one set
        if (n.items.every((x) => x.k === "set")) {
          const u = new Uint32Array(8);
          for (const x of n.items) for (let w = 0; w < 8; w++) u[w] |= (x as { set: ByteSet }).set[w];
          out.push(setId(u));
          return;
        }
        const r = newRule();
        for (const x of n.items) { const run: number[] = []; inline(x, run, depth + 1); addAlt(r, run); }
        out.push(refOf(r));
        return;
      }
      case "rep": {
        const { min, max } = n;
        if (max === 0) return;
        // the repeated unit: one element (a byte set or a rule holding the item)
        const run: number[] = [];
        inline(n.item, run, depth + 1);
        let unit: number;
        if (run.length === 1) unit = run[0];
        else { const r = newRule(); addAlt(r, run); unit = refOf(r); }
        charge(min);
        for (let k = 0; k < min; k++) out.push(unit);
        if (max === Infinity) {
          const s = newRule();
          addAlt(s, [unit, refOf(s)]);
          addAlt(s, []);
          out.push(refOf(s));
        } else if (max > min) {
          // optional copies: O1 ::= unit | ε; Oj ::= unit O(j−1) | ε
          let prev = -1;
          for (let j = 1; j <= max - min; j++) {
            const o = newRule();
            addAlt(o, prev < 0 ? [unit] : [unit, refOf(prev)]);
            addAlt(o, []);
            prev = o;
          }
          out.push(refOf(prev));
        }
        return;
      }
    }
  };

  const root = named(g.root);
  while (pending.length) {
    const { id, node } = pending.pop()!;
    const items = node.k === "alt" && !node.items.every((x) => x.k === "set") ? node.items : [node];
    for (const x of items) { const run: number[] = []; inline(x, run, 0); addAlt(id, run); }
  }
  return { elements: Int32Array.from(elements), sets: Uint32Array.from(sets), alts: alts.map((a) => Int32Array.from(a)), root };
}

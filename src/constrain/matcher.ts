// The byte automaton: a pushdown automaton over a Program (program.ts), run as a set of stacks, advanced one
// byte at a time (the approach of llama.cpp's grammar sampler, over bytes instead of tokens). A stack is a chain of
// positions, interned, so equal stacks are one id and a state (a set of stacks) is compared by its ids. States are
// immutable: a decode keeps the state before every byte and rolls back by taking an earlier one.
// Work is bounded: a step expands at most MAX_STEP_WORK configurations and keeps at most MAX_STACKS stacks (the
// first ones, in a fixed order), and a stack deeper than MAX_DEPTH is dropped (JSON nested that deep is refused).
import { END, type Program, ruleOf } from "./program.ts";

export const MAX_STACKS = 4096;
export const MAX_STEP_WORK = 200_000;
export const MAX_DEPTH = 1024;
/** States kept for reuse per matcher (a generation meets the same states again and again: inside a string, say). */
const MAX_CACHED_STATES = 65_536;

export class MatchState {
  /** Bytes allowed next (256 bits), made on first use. */
  private maskBits: Uint32Array | null = null;
  /** Transitions already taken from this state (null: the byte is rejected). */
  readonly next = new Map<number, MatchState | null>();
  constructor(readonly stacks: Int32Array, readonly accepting: boolean, private readonly matcher: Matcher) {}

  /** The bytes that may come next. */
  get mask(): Uint32Array {
    if (!this.maskBits) this.maskBits = this.matcher.maskOf(this);
    return this.maskBits;
  }

  allows(b: number): boolean { return (this.mask[b >>> 5] & (1 << (b & 31))) !== 0; }

  /** The match is complete and nothing may follow: the output must end here. */
  get done(): boolean { return this.accepting && this.mask.every((w) => w === 0); }

  /** The state after byte b, or null when b is not allowed here. */
  advance(b: number): MatchState | null {
    const hit = this.next.get(b);
    if (hit !== undefined) return hit;
    const s = this.allows(b) ? this.matcher.step(this, b) : null;
    this.next.set(b, s);
    return s;
  }
}

export class Matcher {
  private readonly nodePos: number[] = [];
  private readonly nodeParent: number[] = [];
  private readonly nodeDepth: number[] = [];
  private readonly nodeIds = new Map<number, number>();
  private readonly states = new Map<string, MatchState>();
  readonly start: MatchState;
  /** Steps that hit a work bound (a diagnostic; 0 for every grammar this server writes). */
  truncatedSteps = 0;

  constructor(readonly program: Program) {
    const { alts, root } = program;
    this.start = this.closure(Array.from(alts[root], (a) => [a, -1] as [number, number]));
  }

  /** The bytes allowed by any stack of a state: the union of the byte sets at the stacks' tops. */
  maskOf(s: MatchState): Uint32Array {
    const m = new Uint32Array(8), { elements, sets } = this.program;
    for (const id of s.stacks) {
      const o = elements[this.nodePos[id]] * 8;
      for (let w = 0; w < 8; w++) m[w] |= sets[o + w];
    }
    return m;
  }

  /** The state after byte b (allowed by s). */
  step(s: MatchState, b: number): MatchState {
    const { elements, sets } = this.program, word = b >>> 5, bit = 1 << (b & 31);
    const seeds: [number, number][] = [];
    for (const id of s.stacks) {
      const pos = this.nodePos[id];
      if (sets[elements[pos] * 8 + word] & bit) seeds.push([pos + 1, this.nodeParent[id]]);
    }
    return this.closure(seeds);
  }

  private intern(pos: number, parent: number): number {
    const key = pos + (parent + 1) * 1048576;
    let id = this.nodeIds.get(key);
    if (id === undefined) {
      id = this.nodePos.length;
      this.nodePos.push(pos);
      this.nodeParent.push(parent);
      this.nodeDepth.push(parent < 0 ? 1 : this.nodeDepth[parent] + 1);
      this.nodeIds.set(key, id);
    }
    return id;
  }

  /**
   * Expands configurations (position, parent stack) until each stack's top is a byte set: a rule reference pushes
   * its continuation (none when the reference ends its alternative: a tail call, so right recursion does not grow
   * the stack) and opens every alternative; END returns to the parent. A configuration seen before in the same
   * step is not expanded again, which ends loops through rules that match the empty string.
   */
  private closure(seeds: [number, number][]): MatchState {
    const { elements, alts } = this.program;
    const seen = new Set<number>(), out = new Set<number>(), todo = seeds.reverse();
    let accepting = false, work = 0;
    while (todo.length) {
      if (++work > MAX_STEP_WORK || out.size >= MAX_STACKS) { this.truncatedSteps++; break; }
      let [pos, parent] = todo.pop()!;
      // END pops to the parent's position (repeatedly)
      while (elements[pos] === END) {
        if (parent < 0) { accepting = true; pos = -1; break; }
        pos = this.nodePos[parent];
        parent = this.nodeParent[parent];
      }
      if (pos < 0) continue;
      const key = pos + (parent + 1) * 1048576;
      if (seen.has(key)) continue;
      seen.add(key);
      const e = elements[pos];
      if (e >= 0) { out.add(this.intern(pos, parent)); continue; }
      const r = ruleOf(e);
      let cont = parent;
      if (elements[pos + 1] !== END) {
        if (parent >= 0 && this.nodeDepth[parent] >= MAX_DEPTH) continue;
        cont = this.intern(pos + 1, parent);
      }
      const a = alts[r];
      for (let k = a.length - 1; k >= 0; k--) todo.push([a[k], cont]);
    }
    const stacks = Int32Array.from(out).sort();
    const key = `${accepting ? 1 : 0}:${stacks.join(",")}`;
    const hit = this.states.get(key);
    if (hit) return hit;
    const st = new MatchState(stacks, accepting, this);
    if (this.states.size < MAX_CACHED_STATES) this.states.set(key, st);
    return st;
  }

  /** Whether the whole byte string matches (a convenience for tests and validation). */
  matches(text: Uint8Array | string): boolean {
    const b = typeof text === "string" ? new TextEncoder().encode(text) : text;
    let s: MatchState | null = this.start;
    for (const x of b) { s = s.advance(x); if (!s) return false; }
    return s.accepting;
  }
}

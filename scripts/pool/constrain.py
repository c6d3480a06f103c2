"""Structured output on the PyTorch worker: the byte automaton of a response format, run from the program the edge
compiled (src/constrain/program.ts, sent as request.constraint by src/backends/wire.ts), and the guide that applies it
to the model's next-byte distributions. Python twins of src/constrain/matcher.ts and src/engine/decode/guide.ts,
step for step, so the same request gives the same greedy bytes on both workers (docs/engine.md, "Constrained
decoding"): ending the output is one more outcome, weighted by the mass of the bytes the automaton rejects.
"""
import math

import torch

END = -1                # an element: the end of an alternative
END_OUTPUT = -1         # an outcome: the output ends here
MAX_STACKS, MAX_STEP_WORK, MAX_DEPTH, MAX_CACHED_STATES = 4096, 200_000, 1024, 65_536


class State:
    """A set of stacks (interned ids), immutable; transitions and the mask are made on first use."""

    __slots__ = ("stacks", "accepting", "matcher", "_mask", "_allowed", "next")

    def __init__(self, stacks, accepting, matcher):
        self.stacks, self.accepting, self.matcher = stacks, accepting, matcher
        self._mask = self._allowed = None
        self.next = {}

    @property
    def mask(self):
        """The bytes that may come next, as a 256-bit int."""
        if self._mask is None:
            self._mask = self.matcher.mask_of(self)
        return self._mask

    @property
    def allowed(self):
        """The mask as a bool tensor (256,)."""
        if self._allowed is None:
            m = self.mask
            self._allowed = torch.tensor([(m >> b) & 1 == 1 for b in range(256)])
        return self._allowed

    def allows(self, b):
        return (self.mask >> b) & 1 == 1

    @property
    def done(self):
        return self.accepting and self.mask == 0

    def advance(self, b):
        if b in self.next:
            return self.next[b]
        s = self.matcher.step(self, b) if self.allows(b) else None
        self.next[b] = s
        return s


class Matcher:
    def __init__(self, program):
        self.elements = list(program["elements"]) + [END]          # a trailing END guards pos + 1
        words = program["sets"]
        self.sets = [sum((words[i * 8 + w] & 0xFFFFFFFF) << (32 * w) for w in range(8)) for i in range(len(words) // 8)]
        self.alts = [list(a) for a in program["alts"]]
        self.node_pos, self.node_parent, self.node_depth, self.node_ids = [], [], [], {}
        self.states = {}
        self.truncated_steps = 0
        self.start = self._closure([(a, -1) for a in self.alts[program["root"]]])

    def mask_of(self, s):
        m = 0
        for i in s.stacks:
            m |= self.sets[self.elements[self.node_pos[i]]]
        return m

    def step(self, s, b):
        seeds = []
        for i in s.stacks:
            pos = self.node_pos[i]
            if (self.sets[self.elements[pos]] >> b) & 1:
                seeds.append((pos + 1, self.node_parent[i]))
        return self._closure(seeds)

    def _intern(self, pos, parent):
        key = (pos, parent)
        i = self.node_ids.get(key)
        if i is None:
            i = len(self.node_pos)
            self.node_pos.append(pos)
            self.node_parent.append(parent)
            self.node_depth.append(1 if parent < 0 else self.node_depth[parent] + 1)
            self.node_ids[key] = i
        return i

    def _closure(self, seeds):
        el, alts = self.elements, self.alts
        seen, out, order, todo = set(), set(), [], list(reversed(seeds))
        accepting, work = False, 0
        while todo:
            work += 1
            if work > MAX_STEP_WORK or len(out) >= MAX_STACKS:
                self.truncated_steps += 1
                break
            pos, parent = todo.pop()
            while el[pos] == END:
                if parent < 0:
                    accepting, pos = True, -1
                    break
                pos, parent = self.node_pos[parent], self.node_parent[parent]
            if pos < 0:
                continue
            if (pos, parent) in seen:
                continue
            seen.add((pos, parent))
            e = el[pos]
            if e >= 0:
                i = self._intern(pos, parent)
                if i not in out:
                    out.add(i)
                    order.append(i)
                continue
            r = -2 - e
            cont = parent
            if el[pos + 1] != END:
                if parent >= 0 and self.node_depth[parent] >= MAX_DEPTH:
                    continue
                cont = self._intern(pos + 1, parent)
            for a in reversed(alts[r]):
                todo.append((a, cont))
        stacks = tuple(sorted(out))
        key = (accepting, stacks)
        hit = self.states.get(key)
        if hit is not None:
            return hit
        st = State(stacks, accepting, self)
        if len(self.states) < MAX_CACHED_STATES:
            self.states[key] = st
        return st

    def matches(self, data):
        s = self.start
        for b in data:
            s = s.advance(b)
            if s is None:
                return False
        return s.accepting


def check_program(p, max_elements):
    """A wire program's shape and bounds; returns an error sentence or None."""
    if not isinstance(p, dict):
        return "request.constraint must be an object"
    el, sets, alts, root = p.get("elements"), p.get("sets"), p.get("alts"), p.get("root")
    ints = lambda xs: isinstance(xs, list) and all(isinstance(x, int) and not isinstance(x, bool) for x in xs)
    if not (ints(el) and ints(sets) and isinstance(alts, list) and all(ints(a) for a in alts)) or not isinstance(root, int):
        return "request.constraint must hold elements, sets, alts (integer lists) and root"
    if len(el) + sum(len(a) for a in alts) > max_elements or len(sets) % 8 or len(sets) > 8 * max_elements:
        return f"request.constraint is over {max_elements} elements"
    n_sets, n_rules = len(sets) // 8, len(alts)
    if not 0 <= root < n_rules or any(not (-2 - n_rules < e < n_sets) for e in el):
        return "request.constraint refers to a rule or a set it does not hold"
    if any(not 0 <= a < len(el) for alt in alts for a in alt) or (el and el[-1] != END):
        return "request.constraint has an alternative outside its elements"
    return None


class Guide:
    """The automaton applied to one request's decoding (guide.ts): the state after the committed bytes, whether the
    output has ended, and the constrained greedy pick and sampling distribution."""

    def __init__(self, program):
        self.matcher = Matcher(program)
        self.state = self.matcher.start
        self.finished = False
        self.count = 0

    def commit(self, data):
        for b in data:
            self.state = self.state.advance(b)
        self.count += len(data)

    def greedy(self, logits, st):
        """The allowed byte with the highest logit (first of equals), or END_OUTPUT where the rejected bytes' softmax
        mass is larger than its probability (where the automaton accepts), or where nothing is allowed."""
        row = logits.double().cpu()
        allowed = st.allowed
        if not bool(allowed.any()):
            return END_OUTPUT
        best = int(row.masked_fill(~allowed, -math.inf).argmax())
        if not st.accepting:
            return best
        e = (row - row.max()).exp()
        rejected = float(e[~allowed].sum())
        return END_OUTPUT if rejected > float(e[best]) else best

    def distribution(self, sampler, logits, st, with_end=True):
        """(p (256,) f64, end probability): the request's sampling distribution restricted to the allowed bytes and
        the end (guide.ts distribution)."""
        if sampler.greedy:
            g = self.greedy(logits, st)
            if g == END_OUTPUT and not with_end:
                g = self._best_allowed(logits, st)
            p = torch.zeros(256, dtype=torch.float64)
            if g != END_OUTPUT:
                p[g] = 1.0
            return p, (1.0 if g == END_OUTPUT else 0.0)
        p = sampler.distribution(logits).clone()
        allowed = st.allowed
        rejected = float(p[~allowed].sum())
        p[~allowed] = 0
        end = rejected if st.accepting and with_end else 0.0
        z = float(p.sum()) + end
        if not z > 0:
            b = self._best_allowed(logits, st)
            p.zero_()
            if b < 0:
                return p, 1.0
            p[b] = 1.0
            return p, 0.0
        return p / z, end / z

    def draw(self, sampler, p, end):
        if sampler.greedy:
            b = int(torch.argmax(p))
            return b if p[b] > 0 else END_OUTPUT
        if end > 0 and sampler.uniform() < end:
            return END_OUTPUT
        if float(p.sum()) <= 0:
            return END_OUTPUT
        return sampler.draw(p / p.sum())

    def pick(self, sampler, logits, st, with_end=True):
        if sampler.greedy:
            g = self.greedy(logits, st)
            return self._best_allowed(logits, st) if g == END_OUTPUT and not with_end else g
        p, end = self.distribution(sampler, logits, st, with_end)
        return self.draw(sampler, p, end)

    @staticmethod
    def _best_allowed(logits, st):
        allowed = st.allowed
        if not bool(allowed.any()):
            return -1
        return int(logits.double().cpu().masked_fill(~allowed, -math.inf).argmax())


def logprob_of(row, byte, top):
    """The log-probability record of `byte` under a logits row (logprobs.ts): log-softmax, the top `top` bytes most
    likely first (ties: the lower byte first)."""
    lp = torch.log_softmax(row.double().cpu(), -1)
    rec = {"byte": int(byte), "logprob": float(lp[byte]), "top": []}
    if top > 0:
        vals, idx = torch.sort(row.double().cpu(), descending=True, stable=True)
        rec["top"] = [{"byte": int(i), "logprob": float(lp[i])} for i in idx[:top].tolist()]
    return rec

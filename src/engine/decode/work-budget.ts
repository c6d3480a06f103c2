// The work one request may do, so that no knob combination holds a model for long (docs/api.md, "Bounded work"):
// a budget in decoder rows (docs/design.md §4's cost: decoder passes × the rows each pass reads) of ROWS_PER_BYTE
// per byte of max_tokens, plus one largest block. A draft is charged its worst case before it is made; a row
// verified by the whole model (entropy, encoder, global, decoder) or a draft pass of a single row costs
// ROW_COST_WHOLE batched decoder rows (measured on the Wasm engine: 64-row verification ≈ 8 denoising passes).
//   BLT-DV: B × min(steps, B) denoising rows + B verified rows; BLT-S: k − 1 single-row drafts + k verified rows.
// A draft that does not fit what is left becomes an AR step: greedy output is AR's either way, and sampling keeps
// AR's distribution. BLT-D needs no check: ≤ B passes of B rows per block of B bytes is at most 64 rows per byte,
// inside the budget by construction. The PyTorch pool worker charges the same (scripts/pool/decode.py), so both
// backends make the same choices.
import { MAX_BLOCK } from "./context.ts";

export const ROWS_PER_BYTE = 64;
export const ROW_COST_WHOLE = 8;

export class WorkBudget {
  spentRows = 0;
  readonly limitRows: number;

  constructor(maxNewBytes: number) {
    this.limitRows = ROWS_PER_BYTE * maxNewBytes + MAX_BLOCK * (MAX_BLOCK + ROW_COST_WHOLE);
  }

  /** Charges `rows` when they fit what is left; false (nothing charged) when they do not. */
  take(rows: number): boolean {
    if (this.spentRows + rows > this.limitRows) return false;
    this.spentRows += rows;
    return true;
  }

  /** A BLT-DV draft: `steps` denoising passes over a block of B, then B rows verified. */
  takeBlockDraft(B: number, steps: number): boolean { return this.take(B * steps + ROW_COST_WHOLE * B); }

  /** A BLT-S draft of k bytes: k − 1 single-row decoder passes, then k rows verified. */
  takeDraft(k: number): boolean { return this.take(ROW_COST_WHOLE * (2 * k - 1)); }
}

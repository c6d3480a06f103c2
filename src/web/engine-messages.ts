// The messages between the page (worker-backend.ts) and the engine's Web Worker (engine-worker.ts). Requests
// and events cross by structured clone (Uint8Arrays included); each decode has an id the page picks.
import type { DecodeEvent, DecodeRequest } from "../protocol.ts";
import type { LoadedInfo, LoadOptions, LoadProgress } from "./browser-engine.ts";

export type ToEngine =
  | { type: "load"; options: LoadOptions }
  | { type: "decode"; id: number; request: DecodeRequest }
  | { type: "abort"; id: number };

export type FromEngine =
  | { type: "progress"; progress: LoadProgress }
  | { type: "loaded"; info: LoadedInfo }
  | { type: "load-error"; message: string }
  | { type: "event"; id: number; event: DecodeEvent };

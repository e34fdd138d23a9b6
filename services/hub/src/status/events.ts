/** A change the hub tells SSE clients about. */
export type HubEvent =
  | {
      type: "report";
      cluster: string;
      app: string;
      revision: string;
      observedGeneration: number;
      phase: string;
      health: string;
      atMs: number;
    }
  | { type: "heartbeat"; cluster: string; agentVersion: string; atMs: number }
  | {
      type: "desired";
      cluster: string;
      app: string;
      revision: string;
      generation: number;
      rolloutId: string;
      atMs: number;
    }
  | { type: "cluster-state"; cluster: string; state: string; previous: string; atMs: number }
  | { type: "registry"; kind: string; name: string; action: string; atMs: number }
  | {
      type: "rollout";
      rolloutId: string;
      app: string;
      environment: string;
      /** What happened: an engine action kind or event type (WaveStarted, ClusterFailed, Paused, ...). */
      event: string;
      /** The rollout's state after it. */
      state: string;
      message?: string;
      wave?: string;
      cluster?: string;
      revision?: string;
      generation?: number;
      /** With `Created`: what the rollout changes. */
      changed?: ("revision" | "settings")[];
      /** With `Created`: the settings fields that changed, secret-looking values masked. */
      diff?: { path: string; from?: string; to?: string }[];
      /** `api` for commands, so the leader steps at once; `engine` for the leader's own steps. */
      origin: "api" | "engine";
      atMs: number;
    };

export type HubEventType = HubEvent["type"];

/** Fans events out to every replica, so an SSE client sees the fleet whichever replica it hit. */
export interface EventBus {
  emit(event: HubEvent): Promise<void>;
  /** Calls `listener` for every event from any replica; returns the unsubscribe function. */
  subscribe(listener: (event: HubEvent) => void): () => void;
  /** Asks the leader's tracker to poll `repo` now (`*`: every repo). */
  nudge(repo: string): Promise<void>;
  onNudge(listener: (repo: string) => void): () => void;
  close(): Promise<void>;
}

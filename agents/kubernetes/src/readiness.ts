/**
 * What `/readyz` answers. The agent is ready when it can do its job in this cluster:
 *
 * - **kubernetes**: the API server answered the agent's last probe (`GET /version`, sent on every
 *   heartbeat tick), and that answer is recent;
 * - **loop**: the agent's periodic loop (heartbeats, report retries, the probe above) ran
 *   recently, so its timers are firing.
 *
 * - **nats**: the agent is connected to NATS, or was cut off no longer than one heartbeat
 *   interval ago. It keeps enforcing the last desired states without the hub, but an agent
 *   that cannot hear the hub or report to it is not doing all of its job, and a probe is what
 *   makes that visible (an agent cut off from NATS used to stay ready and silent).
 *
 * "Recent" is within {@link READINESS_MISSED_INTERVALS} heartbeat intervals.
 */

/** Heartbeat intervals that may pass without a loop tick or an API answer before the agent is not ready. */
export const READINESS_MISSED_INTERVALS = 3;

/** One condition of readiness. */
export interface ReadinessCheck {
  ok: boolean;
  message: string;
}

/** The answer of `/readyz`. */
export interface Readiness {
  ready: boolean;
  checks: { kubernetes: ReadinessCheck; loop: ReadinessCheck; nats: ReadinessCheck };
}

/** What the agent observed, as Unix milliseconds (0: never). */
export interface ReadinessSignals {
  /** Last time the Kubernetes API server answered the probe. */
  kubeAnsweredAtMs: number;
  /** Error of the last probe, when it failed; empty when it succeeded. */
  kubeError: string;
  /** Last time the periodic loop ran. */
  loopAtMs: number;
  natsConnected: boolean;
  /** When the agent last lost (or has not yet made) its NATS connection; 0 while connected. */
  natsDownSinceMs: number;
}

function age(nowMs: number, atMs: number): string {
  return atMs > 0 ? `${Math.max(0, Math.round((nowMs - atMs) / 100) / 10)}s ago` : "never";
}

/** Readiness from the signals, at `nowMs`, for an agent beating every `intervalMs`. */
export function assessReadiness(s: ReadinessSignals, nowMs: number, intervalMs: number): Readiness {
  const window = READINESS_MISSED_INTERVALS * intervalMs;
  const fresh = (atMs: number) => atMs > 0 && nowMs - atMs <= window;
  let kubernetes: ReadinessCheck;
  if (s.kubeError) {
    kubernetes = {
      ok: false,
      message: `API server unreachable: ${s.kubeError} (last answer ${age(nowMs, s.kubeAnsweredAtMs)})`,
    };
  } else if (!fresh(s.kubeAnsweredAtMs)) {
    kubernetes = { ok: false, message: `no answer from the API server since ${age(nowMs, s.kubeAnsweredAtMs)}` };
  } else {
    kubernetes = { ok: true, message: `API server answered ${age(nowMs, s.kubeAnsweredAtMs)}` };
  }
  const loop: ReadinessCheck = fresh(s.loopAtMs)
    ? { ok: true, message: `ran ${age(nowMs, s.loopAtMs)}` }
    : { ok: false, message: `has not run since ${age(nowMs, s.loopAtMs)}` };
  const nats: ReadinessCheck = s.natsConnected
    ? { ok: true, message: "connected" }
    : nowMs - s.natsDownSinceMs <= intervalMs
      ? { ok: true, message: `reconnecting, cut off ${age(nowMs, s.natsDownSinceMs)}` }
      : {
          ok: false,
          message: `cannot reach NATS since ${age(nowMs, s.natsDownSinceMs)}: no desired states in, no reports out`,
        };
  return { ready: kubernetes.ok && loop.ok && nats.ok, checks: { kubernetes, loop, nats } };
}

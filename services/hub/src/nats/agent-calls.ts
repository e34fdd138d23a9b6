/**
 * The hub's requests to agents on the operator's behalf (`app diff`, `app refresh`): a signed
 * `AgentRequest` on each cluster's RPC subject, answered by a signed `AgentResponse` that is
 * verified with that cluster's own agent key. Clusters are asked concurrently; each answers for
 * itself, and one that does not answer in time or answers with a bad signature is reported as
 * such without failing the others.
 */
import type { AgentAnswer, AppDiff, AppRefresh, ObjectDiff } from "@flotilla/api";
import {
  AGENT_REQUEST,
  AGENT_RESPONSE,
  type AgentResponse,
  KeyRing,
  open,
  publicKeyFromPem,
  rpcSubject,
  type SigningKey,
  seal,
} from "@flotilla/proto";
import type { NatsConnection } from "nats";
import { NotFoundError } from "../errors.js";
import type { DesiredStore, ObjectReader } from "../store.js";

/** How long the hub waits for one agent's answer by default: a refresh renders and applies. */
export const DEFAULT_AGENT_CALL_TIMEOUT_MS = 30_000;

/** Sends one request to a cluster's agent and resolves with the raw reply. */
export interface AgentChannel {
  request(cluster: string, data: Uint8Array, timeoutMs: number): Promise<Uint8Array>;
}

/** An {@link AgentChannel} over NATS request/reply. */
export function natsAgentChannel(nc: NatsConnection): AgentChannel {
  return {
    async request(cluster, data, timeoutMs) {
      return (await nc.request(rpcSubject(cluster), data, { timeout: timeoutMs })).data;
    },
  };
}

export interface AgentCallsOptions {
  objects: ObjectReader;
  /** Only read: which clusters the app is published to. */
  desired: Pick<DesiredStore, "listDesired">;
  channel: AgentChannel;
  hubKey: SigningKey;
  /** @default DEFAULT_AGENT_CALL_TIMEOUT_MS */
  timeoutMs?: number;
}

type Command = { diff: { app: string } } | { refresh: { app: string } };

/** Why a call got no usable answer, in words an operator acts on. */
export function callFailure(err: unknown, timeoutMs: number): string {
  const e = err as { code?: string; message?: string };
  if (e.code === "TIMEOUT" || /timeout/i.test(e.message ?? "")) {
    return `the agent did not answer within ${timeoutMs / 1000}s: is it running and connected to NATS?`;
  }
  if (e.code === "503" || /no responders/i.test(e.message ?? "")) {
    return "no agent listens for this cluster: is it running and connected to NATS?";
  }
  return `no usable answer: ${e.message ?? String(err)}`;
}

export class AgentCalls {
  readonly #timeoutMs: number;

  constructor(private readonly o: AgentCallsOptions) {
    this.#timeoutMs = o.timeoutMs ?? DEFAULT_AGENT_CALL_TIMEOUT_MS;
  }

  /** Live differences of `app` on every cluster it is published to. */
  async diff(app: string): Promise<AppDiff> {
    const answers = await this.#askAll(app, { diff: { app } });
    return {
      app,
      clusters: answers.map(({ answer, response }) => ({ ...answer, objects: objectsOf(response) })),
    };
  }

  /** Asks every agent of `app` to reconcile it now. */
  async refresh(app: string): Promise<AppRefresh> {
    const answers = await this.#askAll(app, { refresh: { app } });
    return { app, clusters: answers.map(({ answer }) => answer) };
  }

  async #askAll(
    app: string,
    command: Command,
  ): Promise<{ answer: AgentAnswer; response: AgentResponse | undefined }[]> {
    if (!(await this.o.objects.getObject("App", app))) throw new NotFoundError("app", app);
    const published = (await this.o.desired.listDesired({ app })).filter((d) => !d.removed);
    const clusters = await this.o.objects.getObjects(
      "Cluster",
      published.map((d) => d.cluster),
    );
    const request = seal(AGENT_REQUEST, command, this.o.hubKey);
    const answers = await Promise.all(
      published
        .map((d) => d.cluster)
        .sort()
        .map(async (cluster) => {
          const record = clusters.get(cluster);
          if (!record)
            return { answer: { cluster, ok: false, message: "cluster is no longer registered" }, response: undefined };
          try {
            const reply = await this.o.channel.request(cluster, request, this.#timeoutMs);
            const ring = new KeyRing([publicKeyFromPem(record.agentPublicKey)]);
            const response = open(AGENT_RESPONSE, reply, ring).message;
            return { answer: { cluster, ok: response.ok, message: response.message }, response };
          } catch (err) {
            return { answer: { cluster, ok: false, message: callFailure(err, this.#timeoutMs) }, response: undefined };
          }
        }),
    );
    return answers;
  }
}

function objectsOf(response: AgentResponse | undefined): ObjectDiff[] {
  return (response?.diffs ?? []).map((d) => ({
    group: d.ref?.group ?? "",
    version: d.ref?.version ?? "",
    kind: d.ref?.kind ?? "",
    namespace: d.ref?.namespace ?? "",
    name: d.ref?.name ?? "",
    fields: [...(d.fields ?? [])],
  }));
}

/**
 * Receivers as the API writes and shows them: the URL and secret sealed with the hub's secret
 * box (bound to the receiver's name) and never answered again; the view shows only the URL's
 * origin and whether a secret is set.
 */
import type { Receiver, ReceiverSpec } from "@flotilla/api";
import { NotFoundError } from "../errors.js";
import type { SecretBox } from "../secrets/secretbox.js";
import type { ReceiverRecord, ReceiverSecrets, ReceiverStore } from "../store.js";

/** Opens a receiver's sealed URL and secret. */
export interface ReceiverSecretsOpener {
  open(record: ReceiverRecord): ReceiverSecrets;
}

const context = (name: string) => `receiver:${name}`;

/** What the API shows of a record. */
export function receiverView(r: ReceiverRecord): Receiver {
  const { sealed: _s, ...view } = r;
  return view;
}

export class Receivers implements ReceiverSecretsOpener {
  constructor(
    private readonly store: ReceiverStore,
    private readonly box: SecretBox,
  ) {}

  /** Creates or replaces a receiver; `created` is true when it is new. */
  async put(name: string, spec: ReceiverSpec): Promise<{ view: Receiver; created: boolean }> {
    const secrets: ReceiverSecrets = { url: spec.url, ...(spec.secret !== undefined ? { secret: spec.secret } : {}) };
    const record: ReceiverRecord = {
      name,
      type: spec.type,
      urlOrigin: new URL(spec.url).origin,
      hasSecret: spec.secret !== undefined,
      ...(spec.events ? { events: spec.events } : {}),
      ...(spec.teams ? { teams: spec.teams } : {}),
      ...(spec.environments ? { environments: spec.environments } : {}),
      sealed: this.box.seal(JSON.stringify(secrets), context(name)),
    };
    const created = await this.store.putReceiver(record);
    return { view: receiverView(record), created };
  }

  async list(): Promise<Receiver[]> {
    return (await this.store.listReceivers()).map(receiverView);
  }

  async delete(name: string): Promise<void> {
    if (!(await this.store.deleteReceiver(name))) throw new NotFoundError("receiver", name);
  }

  async deliveries(name: string, limit: number) {
    if (!(await this.store.getReceiver(name))) throw new NotFoundError("receiver", name);
    return this.store.listDeliveries(name, limit);
  }

  open(record: ReceiverRecord): ReceiverSecrets {
    return JSON.parse(this.box.open(record.sealed, context(record.name))) as ReceiverSecrets;
  }
}

/**
 * Receivers as the API writes and shows them: the URL and secret sealed with the hub's secret
 * box (bound to the receiver's name) and never answered again; the view shows only the URL's
 * origin and whether a secret is set.
 */
import type { Receiver, ReceiverSpec } from "@flotilla/api";
import {
  ResolveError,
  type Resolver,
  type RuleSettings,
  resolveRepoUrl,
  STRICT_RULES,
  systemResolver,
  UrlRefusedError,
  type UrlRules,
} from "@flotilla/netguard";
import { NotFoundError, ValidationError } from "../errors.js";
import type { SecretBox } from "../secrets/secretbox.js";
import type { ReceiverRecord, ReceiverSecrets, ReceiverStore } from "../store.js";

/** Opens a receiver's sealed URL and secret. */
export interface ReceiverSecretsOpener {
  open(record: ReceiverRecord): ReceiverSecrets;
}

const context = (name: string) => `receiver:${name}`;

/** The settings that let receiver URLs reach HTTP or non-public hosts, named in refusals. */
export const RECEIVER_RULE_SETTINGS: RuleSettings = {
  allowHttp: "FLOTILLA_NOTIFY_ALLOW_HTTP",
  allowedHosts: "FLOTILLA_NOTIFY_ALLOWED_HOSTS",
};

/**
 * Checks a receiver URL with the address rules Git URLs pass (packages/netguard): https, no
 * credentials in it, and every address its host resolves to public unless the hub's settings
 * admit it. Resolves the addresses checked. Throws UrlRefusedError or ResolveError.
 */
export async function checkReceiverUrl(
  url: string,
  rules: UrlRules,
  resolver: Resolver = systemResolver,
): Promise<string[]> {
  return (await resolveRepoUrl(url, { ...rules, settings: RECEIVER_RULE_SETTINGS }, resolver)).addresses;
}

/** Scheme, host and port of a URL: what may be shown of a receiver's. */
function originOf(url: string): string {
  return URL.canParse(url) ? new URL(url).origin : "(not a URL)";
}

/** What the API shows of a record. */
export function receiverView(r: ReceiverRecord): Receiver {
  const { sealed: _s, ...view } = r;
  return view;
}

export class Receivers implements ReceiverSecretsOpener {
  constructor(
    private readonly store: ReceiverStore,
    private readonly box: SecretBox,
    /** What receiver URLs may reach; the strict rules (HTTPS to public addresses) when not given. */
    private readonly rules: UrlRules = STRICT_RULES,
    private readonly resolver: Resolver = systemResolver,
  ) {}

  /**
   * Creates or replaces a receiver; `created` is true when it is new. A URL the address rules
   * refuse is a 400 naming why (a name that does not resolve now is let through: every delivery
   * checks again).
   */
  async put(name: string, spec: ReceiverSpec): Promise<{ view: Receiver; created: boolean }> {
    await this.check(spec);
    return this.write(name, spec);
  }

  /**
   * Checks a receiver's URL with the address rules, as `put` does: a refused URL is a
   * ValidationError on `field`, naming `where` (an apply's document) when given.
   */
  async check(spec: Pick<ReceiverSpec, "url">, field = "url", where = ""): Promise<void> {
    try {
      await checkReceiverUrl(spec.url, this.rules, this.resolver);
    } catch (err) {
      // The reason only: the URL's path may be the secret (a Slack webhook's is).
      if (err instanceof UrlRefusedError) {
        throw new ValidationError(field, `receiver URL ${originOf(spec.url)} is refused: ${err.reason}`, where);
      }
      if (!(err instanceof ResolveError)) throw err;
    }
  }

  /** Seals and stores a receiver that {@link check} passed; `created` is true when it is new. */
  async write(name: string, spec: ReceiverSpec): Promise<{ view: Receiver; created: boolean }> {
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

  async get(name: string): Promise<Receiver> {
    const record = await this.store.getReceiver(name);
    if (!record) throw new NotFoundError("receiver", name);
    return receiverView(record);
  }

  /** The spec a receiver was written with (URL and secret opened), as an apply compares it; undefined when none. */
  async spec(name: string): Promise<ReceiverSpec | undefined> {
    const record = await this.store.getReceiver(name);
    if (!record) return undefined;
    const { name: _n, urlOrigin: _o, hasSecret: _h, sealed: _s, ...route } = record;
    return { ...route, ...this.open(record) };
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

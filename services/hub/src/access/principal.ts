import type { Actor, Role } from "@flotilla/api";

/** Who a verified token speaks for. */
export interface Principal {
  /** The token's id; `bootstrap` for the configured admin token. */
  tokenId: string;
  role: Role;
  /** The team a member acts for or a viewer is limited to. */
  team?: string;
  /** When the token stops working; undefined: never. */
  expiresAtMs?: number;
}

/** The principal as the audit trail names it. */
export function actorOf(p: Principal): Actor {
  return { tokenId: p.tokenId, role: p.role, ...(p.team ? { team: p.team } : {}) };
}

/** `member token 0123… of team web`, for messages. */
export function describePrincipal(p: Principal): string {
  return `${p.role} token ${p.tokenId}${p.team ? ` of team ${JSON.stringify(p.team)}` : ""}`;
}

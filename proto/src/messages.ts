import { flotilla } from "./gen/flotilla.js";

/** The generated protobufjs namespace for package `flotilla.v1`. */
export const v1 = flotilla.v1;

export type DesiredState = flotilla.v1.DesiredState;
export type DesiredStateInit = flotilla.v1.DesiredState.$Properties;
export type TeamPolicy = flotilla.v1.TeamPolicy;
export type HealthRule = flotilla.v1.HealthRule;
export type Source = flotilla.v1.Source;
export type SourceInit = flotilla.v1.Source.$Properties;
export type Report = flotilla.v1.Report;
export type ReportInit = flotilla.v1.Report.$Properties;
export type ResourceStatus = flotilla.v1.ResourceStatus;
export type ResourceStatusInit = flotilla.v1.ResourceStatus.$Properties;
export type ObjectRef = flotilla.v1.ObjectRef;
export type ObjectRefInit = flotilla.v1.ObjectRef.$Properties;
export type ErrorInfoInit = flotilla.v1.ErrorInfo.$Properties;
export type CredentialsRequest = flotilla.v1.CredentialsRequest;
export type CredentialsRequestInit = flotilla.v1.CredentialsRequest.$Properties;
export type CredentialsResponse = flotilla.v1.CredentialsResponse;
export type CredentialsResponseInit = flotilla.v1.CredentialsResponse.$Properties;
export type HubKeySet = flotilla.v1.HubKeySet;
export type HubKeySetInit = flotilla.v1.HubKeySet.$Properties;
export type Heartbeat = flotilla.v1.Heartbeat;
export type HeartbeatInit = flotilla.v1.Heartbeat.$Properties;
export type AgentRequest = flotilla.v1.AgentRequest;
export type AgentRequestInit = flotilla.v1.AgentRequest.$Properties;
export type AgentResponse = flotilla.v1.AgentResponse;
export type AgentResponseInit = flotilla.v1.AgentResponse.$Properties;

export const Health = flotilla.v1.Health;
export type Health = flotilla.v1.Health;
export const SyncPhase = flotilla.v1.SyncPhase;
export type SyncPhase = flotilla.v1.SyncPhase;
export const SourceType = flotilla.v1.SourceType;
export type SourceType = flotilla.v1.SourceType;
export const ErrorCode = flotilla.v1.ErrorCode;
export type ErrorCode = flotilla.v1.ErrorCode;
export const ResourceSync = flotilla.v1.ResourceSync;
export type ResourceSync = flotilla.v1.ResourceSync;
export const PayloadType = flotilla.v1.PayloadType;
export type PayloadType = flotilla.v1.PayloadType;

/** Order of health from best to worst; an app's health is the worst of its objects. */
const HEALTH_RANK: Record<Health, number> = {
  [Health.HEALTH_HEALTHY]: 0,
  [Health.HEALTH_SUSPENDED]: 1,
  [Health.HEALTH_PROGRESSING]: 2,
  [Health.HEALTH_MISSING]: 3,
  [Health.HEALTH_DEGRADED]: 4,
  [Health.HEALTH_UNKNOWN]: 5,
  [Health.HEALTH_UNSPECIFIED]: 5,
};

/** The worst of several healths; Healthy when there are none (an app with no objects). */
export function worstHealth(healths: Iterable<Health>): Health {
  let worst: Health = Health.HEALTH_HEALTHY;
  for (const h of healths) if (HEALTH_RANK[h] > HEALTH_RANK[worst]) worst = h;
  return worst;
}

/** Short lowercase names for enums, for logs, metrics labels and the API. */
export function healthName(h: Health): string {
  return (Health[h] ?? "HEALTH_UNKNOWN").slice("HEALTH_".length).toLowerCase();
}

export function syncPhaseName(p: SyncPhase): string {
  return (SyncPhase[p] ?? "SYNC_PHASE_UNSPECIFIED").slice("SYNC_PHASE_".length).toLowerCase();
}

export function errorCodeName(c: ErrorCode): string {
  return (ErrorCode[c] ?? "ERROR_CODE_UNSPECIFIED").slice("ERROR_CODE_".length).toLowerCase();
}

export function sourceTypeName(t: SourceType): string {
  return (SourceType[t] ?? "SOURCE_TYPE_UNSPECIFIED").slice("SOURCE_TYPE_".length).toLowerCase();
}
